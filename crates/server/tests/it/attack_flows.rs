//! The interactive sign-in flows tried as an attacker would: redirect URIs that hide another host, codes
//! redeemed without the client's secret or PKCE verifier, sign-in forms posted from another site or framed,
//! refresh tokens kept after a password reset, documents built from a forged `Host`, random form bodies, and
//! the Graph token of a sign-in that asks only for OpenID scopes, which must open no vault.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use crate::harness::TestServer;
use crate::tools_signin::claims;

const CONFIG: &str = r#"
[[tenant]]
name = "contoso"

[[tenant.app]]
name = "desktop"

[[tenant.app]]
name = "native"
redirect_uris = ["http://localhost/cb"]

[[tenant.app]]
name = "web"
secrets = ["web-secret-0123456789"]
redirect_uris = ["https://web.example/cb"]

[[tenant.app]]
name = "directory-admin"
secrets = ["directory-admin-secret-0123456789"]

[[tenant.role_assignment]]
principal = "directory-admin"
role = "Global Administrator"

[[tenant.user]]
name = "alice"
password = "alice-password-1"

[[tenant.vault]]
name = "billing"

[[tenant.vault.role_assignment]]
principal = "alice"
role = "Key Vault Secrets User"
"#;

const VERIFIER: &str = "flows-verifier-0123456789-0123456789-0123456789";

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, VERIFIER.as_bytes()))
}

/// A browser-like client: it does not follow redirects (the code is read from `Location`) and speaks
/// HTTP/1.1, where the `Host` header is the client's to write.
pub fn browser(server: &TestServer) -> reqwest::Client {
    let ca = std::fs::read(server.dir.path().join("ca.pem")).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .http1_only()
        .resolve("localhost", server.running().address())
        .build()
        .unwrap()
}

fn scope(server: &TestServer) -> String {
    format!("{}/.default offline_access openid", server.resource())
}

/// The authorize request's parameters: `app`, `redirect_uri`, S256 PKCE, then `extra` (which may override).
fn authorize_params(
    server: &TestServer,
    app: &str,
    redirect_uri: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("client_id", server.client_id(app)),
        ("response_type", "code".to_owned()),
        ("redirect_uri", redirect_uri.to_owned()),
        ("scope", scope(server)),
        ("state", "s-1".to_owned()),
        ("code_challenge", challenge()),
        ("code_challenge_method", "S256".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (name, value) in extra {
        params.retain(|(k, _)| k != name);
        if !value.is_empty() {
            params.push(((*name).to_owned(), (*value).to_owned()));
        }
    }
    params
}

fn authorize_url(server: &TestServer, params: &[(String, String)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    format!("{}/contoso/oauth2/v2.0/authorize?{query}", server.authority_host())
}

/// A sign-in page's anti-forgery pair: the cookie (`name=value`, as the browser sends it back) and the
/// form's hidden token.
pub async fn page_tokens(response: reqwest::Response) -> (String, String) {
    let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let page = response.text().await.unwrap();
    let marker = "name=\"strongroom_form\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let token = page[start..].split('"').next().unwrap().to_owned();
    (cookie, token)
}

/// Posts the sign-in form at `url` with `fields`, the cookie and extra headers.
pub async fn post_form(
    client: &reqwest::Client,
    url: &str,
    cookie: &str,
    headers: HeaderMap,
    fields: &[(String, String)],
) -> reqwest::Response {
    client.post(url).header("cookie", cookie).headers(headers).form(fields).send().await.unwrap()
}

/// Signs alice in on the authorize page as a person at a browser does; returns the answer (302 with the
/// code, or a page).
async fn sign_in(server: &TestServer, params: &[(String, String)], password: &str) -> reqwest::Response {
    let client = browser(server);
    let url = authorize_url(server, params);
    let page = client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
    let (cookie, token) = page_tokens(page).await;
    let mut fields = params.to_vec();
    fields.extend([
        ("strongroom_form".to_owned(), token),
        ("username".to_owned(), "alice@contoso".to_owned()),
        ("password".to_owned(), password.to_owned()),
    ]);
    let mut headers = HeaderMap::new();
    headers.insert("origin", HeaderValue::from_str(&server.authority_host()).unwrap());
    headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
    post_form(&client, &url, &cookie, headers, &fields).await
}

fn code_of(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 302);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned()
}

async fn redeem(server: &TestServer, app: &str, code: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let client_id = server.client_id(app);
    let mut form = vec![("grant_type", "authorization_code"), ("client_id", client_id.as_str()), ("code", code)];
    form.extend_from_slice(extra);
    server.token_request("contoso", &form).await
}

fn error_code(body: &Value) -> Option<u64> {
    body["error_codes"][0].as_u64()
}

#[tokio::test]
async fn redirect_uris_that_hide_another_host_behind_user_info_are_refused() {
    let server = TestServer::start(CONFIG).await;
    let client = browser(&server);
    let page = |app: &'static str, redirect: &'static str| {
        let url = authorize_url(&server, &authorize_params(&server, app, redirect, &[]));
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    for (app, attack) in [
        ("desktop", "http://127.0.0.1:80@evil.example/cb"),
        ("desktop", "http://localhost:x@evil.example/"),
        ("desktop", "http://[::1]@evil.example/"),
        ("desktop", "http://localhost/cb#@evil.example"),
        ("native", "http://localhost:1@evil.example/cb"),
        ("native", "http://localhost:5000/other"),
        ("web", "http://localhost:5000/cb"),
        ("web", "https://web.example/cb/../elsewhere"),
        ("web", "https://web.example.evil.example/cb"),
    ] {
        let (status, text) = page(app, attack).await;
        assert_eq!(status, 400, "{app} {attack}: {text}");
        assert!(text.contains("AADSTS50011"), "{app} {attack}: {text}");
    }
    for (app, fine) in [
        ("desktop", "http://localhost:8400"),
        ("desktop", "http://127.0.0.1:5000/cb"),
        ("native", "http://localhost:61234/cb"),
        ("web", "https://web.example/cb"),
    ] {
        assert_eq!(page(app, fine).await.0, 200, "{app} {fine}");
    }
    // The browser goes exactly where the URI, parsed as a browser parses it, points.
    let signed_in =
        sign_in(&server, &authorize_params(&server, "native", "http://localhost:61234/cb", &[]), "alice-password-1")
            .await;
    let location = url::Url::parse(signed_in.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!((location.host_str(), location.port(), location.path()), (Some("localhost"), Some(61234), "/cb"));
}

#[tokio::test]
async fn a_public_client_must_use_pkce_with_s256() {
    let server = TestServer::start(CONFIG).await;
    let client = browser(&server);
    let redirect = "http://localhost:8400/";
    for (reason, extra) in [
        ("no challenge", vec![("code_challenge", ""), ("code_challenge_method", "")]),
        ("plain", vec![("code_challenge", VERIFIER), ("code_challenge_method", "plain")]),
        ("no method means plain", vec![("code_challenge_method", "")]),
        ("too short", vec![("code_challenge", "abc")]),
    ] {
        let url = authorize_url(&server, &authorize_params(&server, "desktop", redirect, &extra));
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 400, "{reason}");
    }
    let params = authorize_params(&server, "desktop", redirect, &[]);
    let code = code_of(&sign_in(&server, &params, "alice-password-1").await);
    let (status, body) = redeem(&server, "desktop", &code, &[("redirect_uri", redirect)]).await;
    assert_eq!((status, error_code(&body)), (400, Some(900144)), "the verifier is required: {body}");
    let code = code_of(&sign_in(&server, &params, "alice-password-1").await);
    let (status, body) = redeem(
        &server,
        "desktop",
        &code,
        &[("redirect_uri", redirect), ("code_verifier", "another-verifier-0123456789-0123456789-01")],
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, Some(70000)), "{body}");
    let code = code_of(&sign_in(&server, &params, "alice-password-1").await);
    let (status, body) =
        redeem(&server, "desktop", &code, &[("redirect_uri", redirect), ("code_verifier", VERIFIER)]).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_confidential_client_redeems_its_code_only_with_its_secret_and_redirect_uri() {
    let server = TestServer::start(CONFIG).await;
    let redirect = "https://web.example/cb";
    let params = authorize_params(&server, "web", redirect, &[]);
    let code = code_of(&sign_in(&server, &params, "alice-password-1").await);
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut form = vec![("code_verifier", VERIFIER)];
        form.extend_from_slice(extra);
        form
    };
    let (status, body) = redeem(&server, "web", &code, &with(&[("redirect_uri", redirect)])).await;
    assert_eq!((status, error_code(&body)), (401, Some(7000218)), "the code alone is not enough: {body}");
    let (status, body) = redeem(
        &server,
        "web",
        &code,
        &with(&[("redirect_uri", redirect), ("client_secret", "wrong-secret-0123456789")]),
    )
    .await;
    assert_eq!((status, error_code(&body)), (401, Some(7000215)), "{body}");
    let (status, body) = redeem(&server, "web", &code, &with(&[("client_secret", "web-secret-0123456789")])).await;
    assert_eq!((status, error_code(&body)), (400, Some(900144)), "the redirect URI must be named: {body}");
    let (status, body) = redeem(
        &server,
        "web",
        &code,
        &with(&[("client_secret", "web-secret-0123456789"), ("redirect_uri", "https://web.example/cb/")]),
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, Some(70000)), "and be the one the code went to: {body}");

    let code = code_of(&sign_in(&server, &params, "alice-password-1").await);
    let proven = with(&[("client_secret", "web-secret-0123456789"), ("redirect_uri", "https://web.example/cb")]);
    let (status, tokens) = redeem(&server, "web", &code, &proven).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let web = server.client_id("web");
    let stolen = [("grant_type", "refresh_token"), ("client_id", web.as_str()), ("refresh_token", refresh)];
    let (status, body) = server.token_request("contoso", &stolen).await;
    assert_eq!((status, error_code(&body)), (401, Some(7000218)), "nor is a refresh token: {body}");
}

#[tokio::test]
async fn a_sign_in_form_posted_from_another_site_is_refused() {
    let server = TestServer::start(CONFIG).await;
    let client = browser(&server);
    let params = authorize_params(&server, "desktop", "http://localhost:8400/", &[]);
    let url = authorize_url(&server, &params);
    let credentials = |token: &str| {
        let mut fields = params.clone();
        fields.extend([
            ("strongroom_form".to_owned(), token.to_owned()),
            ("username".to_owned(), "alice@contoso".to_owned()),
            ("password".to_owned(), "alice-password-1".to_owned()),
        ]);
        fields
    };
    let header = |name: &'static str, value: &'static str| {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        headers
    };
    // A cookie the attacker planted (from a sibling host, or over plain HTTP), and the form to match it.
    let forged = post_form(
        &client,
        &url,
        "strongroom_form=chosen-by-the-attacker",
        HeaderMap::new(),
        &credentials("chosen-by-the-attacker"),
    )
    .await;
    assert_eq!(forged.status(), 400);
    assert!(forged.text().await.unwrap().contains("did not come from this server"));
    // A genuine pair, but the browser says the post came from another site.
    for headers in [
        header("origin", "https://evil.example"),
        header("origin", "null"),
        header("sec-fetch-site", "cross-site"),
        header("sec-fetch-site", "same-site"),
    ] {
        let (cookie, token) = page_tokens(client.get(&url).send().await.unwrap()).await;
        let response = post_form(&client, &url, &cookie, headers.clone(), &credentials(&token)).await;
        assert_eq!(response.status(), 400, "{headers:?}");
        assert!(response.text().await.unwrap().contains("did not come from this server"), "{headers:?}");
    }

    // The device-code page likewise: an attacker's form would approve their own device code as the victim.
    let desktop = server.client_id("desktop");
    let scope = scope(&server);
    let response = client
        .post(format!("{}/contoso/oauth2/v2.0/devicecode", server.authority_host()))
        .form(&[("client_id", desktop.as_str()), ("scope", scope.as_str())])
        .send()
        .await
        .unwrap();
    let device: Value = response.json().await.unwrap();
    let user_code = device["user_code"].as_str().unwrap().to_owned();
    let verification = format!("{}/devicelogin", server.authority_host());
    let fields = |token: &str| {
        vec![
            ("strongroom_form".to_owned(), token.to_owned()),
            ("user_code".to_owned(), user_code.clone()),
            ("username".to_owned(), "alice@contoso".to_owned()),
            ("password".to_owned(), "alice-password-1".to_owned()),
        ]
    };
    let forged =
        post_form(&client, &verification, "strongroom_form=planted", HeaderMap::new(), &fields("planted")).await;
    assert_eq!(forged.status(), 400);
    assert!(forged.text().await.unwrap().contains("did not come from this server"));
    let (cookie, token) = page_tokens(client.get(&verification).send().await.unwrap()).await;
    let cross =
        post_form(&client, &verification, &cookie, header("origin", "https://evil.example"), &fields(&token)).await;
    assert_eq!(cross.status(), 400);
    let (cookie, token) = page_tokens(client.get(&verification).send().await.unwrap()).await;
    let mut same = header("sec-fetch-site", "same-origin");
    same.insert("origin", HeaderValue::from_str(&server.authority_host()).unwrap());
    let genuine = post_form(&client, &verification, &cookie, same, &fields(&token)).await;
    assert_eq!(genuine.status(), 200, "{}", genuine.text().await.unwrap());
}

#[tokio::test]
async fn sign_in_pages_cannot_be_framed_and_their_cookie_is_host_only() {
    let server = TestServer::start(CONFIG).await;
    let client = browser(&server);
    let authorize = authorize_url(&server, &authorize_params(&server, "desktop", "http://localhost:8400/", &[]));
    for url in [authorize, format!("{}/devicelogin", server.authority_host())] {
        let page = client.get(&url).send().await.unwrap();
        let headers = page.headers();
        assert_eq!(headers["x-frame-options"], "DENY", "{url}");
        assert!(headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"), "{url}");
        let cookie = headers["set-cookie"].to_str().unwrap();
        assert!(cookie.starts_with("__Host-") && !cookie.contains("Domain"), "{cookie}");
        for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
    }
}

/// Sets alice's password, or enables or disables her, through Graph as a directory administrator.
async fn update_alice(server: &TestServer, change: Value) {
    let (_, body) = server
        .token_request(
            "contoso",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &server.client_id("directory-admin")),
                ("client_secret", "directory-admin-secret-0123456789"),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    let token = body["access_token"].as_str().unwrap();
    let alice = server.running().state().directory().principals().iter().find(|p| p.name == "alice").unwrap().object_id;
    let response = server
        .http
        .request(Method::PATCH, format!("{}/v1.0/users/{alice}", server.authority_host()))
        .bearer_auth(token)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

async fn password_grant(server: &TestServer, password: &str) -> (u16, Value) {
    let desktop = server.client_id("desktop");
    let scope = scope(server);
    let form = [
        ("grant_type", "password"),
        ("client_id", desktop.as_str()),
        ("username", "alice@contoso"),
        ("password", password),
        ("scope", scope.as_str()),
    ];
    server.token_request("contoso", &form).await
}

async fn refresh(server: &TestServer, token: &str) -> (u16, Value) {
    let desktop = server.client_id("desktop");
    server
        .token_request(
            "contoso",
            &[("grant_type", "refresh_token"), ("client_id", desktop.as_str()), ("refresh_token", token)],
        )
        .await
}

#[tokio::test]
async fn a_password_reset_or_a_disabling_revokes_refresh_tokens_and_codes_for_good() {
    let mut server = TestServer::start(CONFIG).await;
    let redirect = "http://localhost:8400/";
    let params = authorize_params(&server, "desktop", redirect, &[]);
    let (status, tokens) = password_grant(&server, "alice-password-1").await;
    assert_eq!(status, 200, "{tokens}");
    let (_, rotated) = refresh(&server, tokens["refresh_token"].as_str().unwrap()).await;
    let before_reset = rotated["refresh_token"].as_str().unwrap().to_owned();
    let pending_code = code_of(&sign_in(&server, &params, "alice-password-1").await);

    update_alice(&server, json!({"passwordProfile": {"password": "alice-password-2"}})).await;
    let (status, body) = refresh(&server, &before_reset).await;
    assert_eq!((status, error_code(&body)), (400, Some(50173)), "a token rotated before the reset: {body}");
    let (status, body) =
        redeem(&server, "desktop", &pending_code, &[("redirect_uri", redirect), ("code_verifier", VERIFIER)]).await;
    assert_eq!((status, error_code(&body)), (400, Some(50173)), "a code issued before the reset: {body}");

    // Signed in again with the new password: that works, until she is disabled; enabling her again revives
    // nothing.
    let (status, tokens) = password_grant(&server, "alice-password-2").await;
    assert_eq!(status, 200, "{tokens}");
    let (status, renewed) = refresh(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{renewed}");
    update_alice(&server, json!({"accountEnabled": false})).await;
    update_alice(&server, json!({"accountEnabled": true})).await;
    let (status, body) = refresh(&server, renewed["refresh_token"].as_str().unwrap()).await;
    assert_eq!((status, error_code(&body)), (400, Some(50173)), "{body}");

    // The revocation is stored: a restart does not revive a token. (The reset goes back to the configured
    // password, so that the restart's provisioning changes nothing.)
    let (_, tokens) = password_grant(&server, "alice-password-2").await;
    update_alice(&server, json!({"passwordProfile": {"password": "alice-password-1"}})).await;
    server.restart().await;
    let (status, body) = refresh(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!((status, error_code(&body)), (400, Some(50173)), "{body}");
    let (status, tokens) = password_grant(&server, "alice-password-1").await;
    assert_eq!(status, 200, "{tokens}");
    let (status, body) = refresh(&server, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn discovery_and_the_device_code_ignore_a_forged_host() {
    let server = TestServer::start(CONFIG).await;
    let client = browser(&server);
    let authority = server.authority_host();
    let tenant = server.tenant_id("contoso");
    for path in ["contoso/v2.0/.well-known/openid-configuration", "contoso/.well-known/openid-configuration"] {
        let document: Value = client
            .get(format!("{authority}/{path}"))
            .header("host", "evil.example")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for endpoint in ["authorization_endpoint", "token_endpoint", "device_authorization_endpoint", "jwks_uri"] {
            let url = document[endpoint].as_str().unwrap();
            assert!(url.starts_with(&format!("{authority}/{tenant}/")), "{path} {endpoint}: {url}");
        }
    }
    let desktop = server.client_id("desktop");
    let scope = scope(&server);
    let device: Value = client
        .post(format!("{authority}/contoso/oauth2/v2.0/devicecode"))
        .header("host", "evil.example:443")
        .form(&[("client_id", desktop.as_str()), ("scope", scope.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(device["verification_uri"], format!("{authority}/devicelogin"), "{device}");
    assert!(!device["message"].as_str().unwrap().contains("evil"), "{device}");
}

/// Form bodies made of the token endpoint's own fields (real client ids and grant types among random
/// values), and raw bytes.
fn form_body(client_ids: Vec<String>) -> impl Strategy<Value = Vec<u8>> {
    let name = prop::sample::select(vec![
        "grant_type",
        "client_id",
        "client_secret",
        "scope",
        "code",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
        "username",
        "password",
        "device_code",
        "client_assertion",
        "client_assertion_type",
        "resource",
        "claims",
    ]);
    let value = prop_oneof![
        prop::sample::select(vec![
            "client_credentials",
            "password",
            "refresh_token",
            "authorization_code",
            "urn:ietf:params:oauth:grant-type:device_code",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "https://vault.localhost/.default",
            "alice@contoso",
            "eyJhbGciOiJSUzI1NiJ9.e30.",
            "",
        ])
        .prop_map(str::to_owned),
        prop::sample::select(client_ids),
        ".{0,64}",
    ];
    let fields = prop::collection::vec((name, value), 0..8)
        .prop_map(|fields| form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish().into_bytes());
    prop_oneof![3 => fields, 1 => prop::collection::vec(any::<u8>(), 0..256)]
}

#[tokio::test]
async fn random_form_bodies_never_make_the_token_service_fail() {
    let server = TestServer::start(CONFIG).await;
    let ids = ["desktop", "native", "web"].iter().map(|app| server.client_id(app)).collect();
    let strategy = form_body(ids);
    let mut runner = TestRunner::deterministic();
    let authority = server.authority_host();
    let endpoints = ["contoso/oauth2/v2.0/token", "contoso/oauth2/token", "contoso/oauth2/v2.0/devicecode"];
    for case in 0..192 {
        let body = strategy.new_tree(&mut runner).unwrap().current();
        let url = format!("{authority}/{}", endpoints[case % endpoints.len()]);
        let response = server
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(response.status().as_u16() < 500, "{url} {:?}: {}", String::from_utf8_lossy(&body), response.status());
    }
}

/// Approves `user_code` on the device-code page as alice, at a browser.
async fn approve_device_code(server: &TestServer, user_code: &str) {
    let client = browser(server);
    let verification = format!("{}/devicelogin", server.authority_host());
    let (cookie, token) = page_tokens(client.get(&verification).send().await.unwrap()).await;
    let mut headers = HeaderMap::new();
    headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
    headers.insert("origin", HeaderValue::from_str(&server.authority_host()).unwrap());
    let fields = [
        ("strongroom_form", token.as_str()),
        ("user_code", user_code),
        ("username", "alice@contoso"),
        ("password", "alice-password-1"),
    ]
    .map(|(name, value)| (name.to_owned(), value.to_owned()));
    let approved = post_form(&client, &verification, &cookie, headers, &fields).await;
    assert_eq!(approved.status(), 200, "{}", approved.text().await.unwrap());
}

#[tokio::test]
async fn a_sign_in_asking_only_for_openid_scopes_gets_a_graph_token_that_opens_no_vault() {
    let server = TestServer::start(CONFIG).await;
    let redirect = "http://localhost:8400/";
    let desktop = server.client_id("desktop");
    let secrets = |token: String| {
        let server = &server;
        async move {
            let response =
                server.vault_call(Method::GET, "billing", "/secrets?api-version=7.6", Some(&token), None).await;
            response.status().as_u16()
        }
    };
    // Alice's vault token opens the vault: the refusals below are the Graph token's, not hers.
    let params = authorize_params(&server, "desktop", redirect, &[]);
    let code = code_of(&sign_in(&server, &params, "alice-password-1").await);
    let (status, vault) =
        redeem(&server, "desktop", &code, &[("redirect_uri", redirect), ("code_verifier", VERIFIER)]).await;
    assert_eq!(status, 200, "{vault}");
    assert_eq!(secrets(vault["access_token"].as_str().unwrap().to_owned()).await, 200);

    let graph_tokens = |body: &Value, scope: &str| {
        assert_eq!(body["scope"], scope, "{body}");
        let id = claims(body["id_token"].as_str().unwrap());
        assert_eq!(
            (id["aud"].as_str(), id["oid"].as_str()),
            (Some(desktop.as_str()), Some(server.object_id("alice").as_str()))
        );
        let access = claims(body["access_token"].as_str().unwrap());
        assert_eq!(access["aud"], "https://graph.microsoft.com", "{access}");
        body["access_token"].as_str().unwrap().to_owned()
    };
    for scope in ["openid", "openid profile offline_access"] {
        // The authorization-code flow.
        let params = authorize_params(&server, "desktop", redirect, &[("scope", scope)]);
        let code = code_of(&sign_in(&server, &params, "alice-password-1").await);
        let (status, body) = redeem(
            &server,
            "desktop",
            &code,
            &[("redirect_uri", redirect), ("code_verifier", VERIFIER), ("scope", scope)],
        )
        .await;
        assert_eq!(status, 200, "{scope}: {body}");
        let access = graph_tokens(&body, scope);
        assert_eq!(secrets(access).await, 401, "{scope}: a Graph token is not the vault's");

        // The device-code flow.
        let response = server
            .http
            .post(format!("{}/contoso/oauth2/v2.0/devicecode", server.authority_host()))
            .form(&[("client_id", desktop.as_str()), ("scope", scope)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scope}");
        let device: Value = response.json().await.unwrap();
        approve_device_code(&server, device["user_code"].as_str().unwrap()).await;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", desktop.as_str()),
            ("device_code", device["device_code"].as_str().unwrap()),
        ];
        let (status, body) = server.token_request("contoso", &form).await;
        assert_eq!(status, 200, "{scope}: {body}");
        let access = graph_tokens(&body, scope);
        assert_eq!(secrets(access).await, 401, "{scope}: a Graph token is not the vault's");

        // The token requests that sign a user in without a browser: a refresh, and the password grant.
        let refresh = body["refresh_token"].as_str().unwrap().to_owned();
        let form =
            [("grant_type", "refresh_token"), ("client_id", &desktop), ("refresh_token", &refresh), ("scope", scope)];
        let (status, body) = server.token_request("contoso", &form).await;
        assert_eq!(status, 200, "{scope}: {body}");
        assert_eq!(secrets(graph_tokens(&body, scope)).await, 401, "{scope}");
        let form = [
            ("grant_type", "password"),
            ("client_id", &desktop),
            ("username", "alice@contoso"),
            ("password", "alice-password-1"),
            ("scope", scope),
        ];
        let (status, body) = server.token_request("contoso", &form).await;
        assert_eq!(status, 200, "{scope}: {body}");
        assert_eq!(secrets(graph_tokens(&body, scope)).await, 401, "{scope}");
    }
    // An app-only token still names its one resource, as Entra requires of client credentials.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "directory-admin"),
        ("client_secret", "directory-admin-secret-0123456789"),
        ("scope", "openid"),
    ];
    let directory_admin = server.client_id("directory-admin");
    let form = form.map(|(name, value)| (name, if name == "client_id" { directory_admin.as_str() } else { value }));
    let (status, body) = server.token_request("contoso", &form).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "{body}");
}
