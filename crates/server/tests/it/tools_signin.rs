//! Sign-in for developer tools (issue 20, item 4): Microsoft's first-party public clients exist in every
//! tenant, `organizations` and `common` find the user's own tenant, `consumers` refuses work accounts — and
//! none of it is a side door: no app-only tokens for the first-party clients, no token for one tenant's user
//! that carries another tenant, no grant redeemed in a tenant it was not issued in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::attack_flows::{page_tokens, post_form};
use crate::harness::TestServer;

/// The Azure CLI's client id, and the other first-party public clients.
pub const AZURE_CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const FIRST_PARTY: [&str; 4] = [
    AZURE_CLI,
    "1950a258-227b-4e31-a9cf-717495945fc2",
    "aebc6443-996d-45c2-90f0-388ff96faa56",
    "872cd9fa-d31f-45e0-9eab-6e460a02d1f1",
];
const ARM: &str = "https://management.core.windows.net//.default offline_access openid profile";

pub const CONFIG: &str = r#"
[[tenant]]
name = "contoso"

[[tenant.app]]
name = "payroll"
secrets = ["payroll-secret-0123456789"]

[[tenant.app]]
name = "directory-admin"
secrets = ["directory-admin-secret-0123456789"]

[[tenant.user]]
name = "alice"
password = "alice-password-1"

[[tenant.user]]
name = "carol"
password = "carol-password-1"

[[tenant.role_assignment]]
principal = "directory-admin"
role = "Global Administrator"

[[tenant.role_assignment]]
principal = "carol"
role = "Global Administrator"

[[tenant.role_assignment]]
principal = "alice"
role = "Owner"

[[tenant.vault]]
name = "billing"

[[tenant]]
name = "fabrikam"

[[tenant.app]]
name = "partner"
secrets = ["partner-secret-0123456789"]
sign_in_audience = "multiple_tenants"

[[tenant.app]]
name = "fabrikam-admin"
secrets = ["fabrikam-admin-secret-0123456789"]

[[tenant.user]]
name = "bob"
password = "bob-password-1"

[[tenant.role_assignment]]
principal = "fabrikam-admin"
role = "Global Administrator"
"#;

/// The claims of a JWT, unverified (the server issued it; the test reads what it says).
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// A password sign-in of `username` through the first-party client `client_id` at `authority`.
pub async fn password(
    server: &TestServer,
    authority: &str,
    client_id: &str,
    username: &str,
    password: &str,
    scope: &str,
) -> (u16, Value) {
    let form = [
        ("grant_type", "password"),
        ("client_id", client_id),
        ("username", username),
        ("password", password),
        ("scope", scope),
    ];
    server.token_request(authority, &form).await
}

#[tokio::test]
async fn first_party_clients_sign_users_in_and_tokens_carry_the_users_own_tenant() {
    let server = TestServer::start(CONFIG).await;
    let (contoso, fabrikam) = (server.tenant_id("contoso"), server.tenant_id("fabrikam"));
    for client in FIRST_PARTY {
        for authority in ["organizations", "common", "contoso", contoso.as_str()] {
            let (status, body) = password(&server, authority, client, "alice@contoso", "alice-password-1", ARM).await;
            assert_eq!(status, 200, "{client} at {authority}: {body}");
            let access = claims(body["access_token"].as_str().unwrap());
            assert_eq!(access["tid"], contoso.as_str(), "{client} at {authority}");
            assert_eq!(access["oid"], server.object_id("alice").as_str());
            assert_eq!(access["appid"], client);
            assert_eq!(access["iss"].as_str().unwrap(), format!("{}/{contoso}/v2.0", server.authority_host()));
            assert_eq!(claims(body["id_token"].as_str().unwrap())["tid"], contoso.as_str());
        }
    }
    // The same authority, another user: that user's tenant and nobody else's.
    let (status, body) = password(&server, "organizations", AZURE_CLI, "bob@fabrikam", "bob-password-1", ARM).await;
    assert_eq!(status, 200, "{body}");
    let access = claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        (access["tid"].as_str(), access["oid"].as_str()),
        (Some(fabrikam.as_str()), Some(server.object_id("bob").as_str()))
    );

    // A tenant's authority signs in only its own users, whatever domain the name carries.
    let (status, body) = password(&server, "contoso", AZURE_CLI, "bob@fabrikam", "bob-password-1", ARM).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(50034)), "{body}");
    // Without a domain, organizations cannot know the tenant.
    let (status, body) = password(&server, "organizations", AZURE_CLI, "alice", "alice-password-1", ARM).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(90019)), "{body}");
    let (status, body) = password(&server, "organizations", AZURE_CLI, "alice@contoso", "wrong-password", ARM).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(50126)), "{body}");
    // An unknown client is still unknown.
    let stranger = uuid::Uuid::new_v4().to_string();
    let (status, _) = password(&server, "organizations", &stranger, "alice@contoso", "alice-password-1", ARM).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn refresh_tokens_stay_in_the_tenant_they_were_issued_in() {
    let server = TestServer::start(CONFIG).await;
    let contoso = server.tenant_id("contoso");
    let (_, body) = password(&server, "organizations", AZURE_CLI, "alice@contoso", "alice-password-1", ARM).await;
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    // The CLI asks again per tenant, and for Graph, with the refresh token it got at `organizations`.
    let form = |token: &str, scope: &'static str| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("client_id", AZURE_CLI.to_owned()),
            ("refresh_token", token.to_owned()),
            ("scope", scope.to_owned()),
        ]
    };
    let send = |authority: String, form: Vec<(&'static str, String)>| {
        let server = &server;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            server.token_request(&authority, &pairs).await
        }
    };
    let (status, body) = send(contoso.clone(), form(&refresh, "https://graph.microsoft.com//.default")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims(body["access_token"].as_str().unwrap())["tid"], contoso.as_str());
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = send("organizations".to_owned(), form(&refresh, ARM)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims(body["access_token"].as_str().unwrap())["tid"], contoso.as_str());

    // Taken to another tenant's authority, a refresh token is refused (and used up).
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = send("fabrikam".to_owned(), form(&refresh, "https://graph.microsoft.com//.default")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (status, _) = send("consumers".to_owned(), form(&refresh, "https://graph.microsoft.com//.default")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn first_party_clients_never_get_app_only_tokens() {
    let server = TestServer::start(CONFIG).await;
    let scope = format!("{}/.default", server.resource());
    for client in FIRST_PARTY {
        for authority in ["contoso", "organizations", "common", "consumers"] {
            for secret in [None, Some("guessed-secret-0123456789")] {
                let mut form = vec![("grant_type", "client_credentials"), ("client_id", client), ("scope", &scope)];
                form.extend(secret.map(|s| ("client_secret", s)));
                let (status, body) = server.token_request(authority, &form).await;
                assert_eq!(status, 400, "{client} at {authority}: {body}");
                assert!(body.get("access_token").is_none());
                let code = body["error_codes"][0].as_u64();
                assert!(matches!(code, Some(700025 | 90019)), "{client} at {authority}: {body}");
            }
        }
    }
    // A registered application at a multi-tenant authority names no tenant either.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", &server.client_id("payroll")),
        ("client_secret", "payroll-secret-0123456789"),
        ("scope", &scope),
    ];
    let (status, body) = server.token_request("organizations", &form).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(90019)), "{body}");
}

#[tokio::test]
async fn consumers_refuses_work_accounts_and_the_multi_tenant_authorities_are_discoverable() {
    let server = TestServer::start(CONFIG).await;
    let (status, body) = password(&server, "consumers", AZURE_CLI, "alice@contoso", "alice-password-1", ARM).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(50020)), "{body}");

    let host = server.authority_host();
    for (authority, issuer) in [
        ("organizations", format!("{host}/{{tenantid}}/v2.0")),
        ("common", format!("{host}/{{tenantid}}/v2.0")),
        ("consumers", format!("{host}/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0")),
    ] {
        let url = format!("{host}/{authority}/v2.0/.well-known/openid-configuration");
        let document: Value = server.http.get(url).send().await.unwrap().json().await.unwrap();
        assert_eq!(document["issuer"], issuer.as_str(), "{document}");
        assert_eq!(document["token_endpoint"], format!("{host}/{authority}/oauth2/v2.0/token").as_str());
        let keys = server.http.get(format!("{host}/{authority}/discovery/v2.0/keys")).send().await.unwrap();
        assert_eq!(keys.status(), 200);
    }
    // MSAL's user-realm lookup, at `common`: a tenant's domain is managed, any other unknown.
    for (user, kind) in [("alice@contoso", "Managed"), ("someone@elsewhere.example", "Unknown")] {
        let url = format!("{host}/common/userrealm/{user}?api-version=1.0");
        let realm: Value = server.http.get(url).send().await.unwrap().json().await.unwrap();
        assert_eq!(realm["account_type"], kind, "{realm}");
    }
}

/// The device-code flow as `az login --use-device-code` runs it: the code is asked for at `organizations`,
/// the user signs in on the verification page, and the token is the user's, in the user's tenant.
#[tokio::test]
async fn device_codes_asked_at_organizations_are_decided_by_the_approving_user() {
    let server = TestServer::start(CONFIG).await;
    let host = server.authority_host();
    let response = server
        .http
        .post(format!("{host}/organizations/oauth2/v2.0/devicecode"))
        .form(&[("client_id", AZURE_CLI), ("scope", ARM)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let device: Value = response.json().await.unwrap();
    let device_code = device["device_code"].as_str().unwrap().to_owned();
    let poll = || {
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", AZURE_CLI),
            ("device_code", device_code.as_str()),
        ];
        let server = &server;
        async move { server.token_request("organizations", &form).await }
    };
    let (status, body) = poll().await;
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")), "{body}");

    let verification = format!("{host}/devicelogin");
    let (cookie, token) = page_tokens(server.http.get(&verification).send().await.unwrap()).await;
    let mut headers = HeaderMap::new();
    headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
    headers.insert("origin", HeaderValue::from_str(&host).unwrap());
    let fields = vec![
        ("strongroom_form".to_owned(), token),
        ("user_code".to_owned(), device["user_code"].as_str().unwrap().to_owned()),
        ("username".to_owned(), "bob@fabrikam".to_owned()),
        ("password".to_owned(), "bob-password-1".to_owned()),
    ];
    let approved = post_form(&server.http, &verification, &cookie, headers, &fields).await;
    assert_eq!(approved.status(), 200, "{}", approved.text().await.unwrap());

    let (status, body) = poll().await;
    assert_eq!(status, 200, "{body}");
    let access = claims(body["access_token"].as_str().unwrap());
    assert_eq!(access["tid"], server.tenant_id("fabrikam").as_str());
    assert_eq!(access["oid"], server.object_id("bob").as_str());
    // Once only.
    let (status, _) = poll().await;
    assert_eq!(status, 400);

    // A registered application is not known at `organizations` before anyone signs in.
    let response = server
        .http
        .post(format!("{host}/organizations/oauth2/v2.0/devicecode"))
        .form(&[("client_id", server.client_id("payroll").as_str()), ("scope", ARM)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
