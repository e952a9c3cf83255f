//! The portal (issue 22), attacked: it signs people in only through the authorize page and sends codes only to
//! itself; its session cookie is `HttpOnly; Secure; SameSite=Strict` and worth nothing after sign-out; a form
//! without the session's anti-forgery token, or from another origin, changes nothing; and what it shows comes
//! through the pipelines, so a person without a role is refused in the vault's words. The audit-log query it
//! reads is refused to those without the right to read a vault's logs.

use std::collections::HashMap;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::attack_flows::{browser, page_tokens, post_form};
use crate::harness::TestServer;

const PORTAL_CLIENT: &str = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c";

/// alice administers vault billing's data; carol is a Global Administrator, which shows no vault; bob owns
/// another tenant.
const CONFIG: &str = r#"
[[tenant]]
name = "contoso"

[[tenant.user]]
name = "alice"
password = "alice-password-1"

[[tenant.user]]
name = "carol"
password = "carol-password-1"

[[tenant.app]]
name = "directory-admin"
secrets = ["directory-admin-secret-0123456789"]

[[tenant.role_assignment]]
principal = "carol"
role = "Global Administrator"

[[tenant.role_assignment]]
principal = "directory-admin"
role = "Global Administrator"

[[tenant.vault]]
name = "billing"

[[tenant.vault.role_assignment]]
principal = "alice"
role = "Key Vault Administrator"

[[tenant]]
name = "fabrikam"

[[tenant.user]]
name = "bob"
password = "bob-password-1"

[[tenant.role_assignment]]
principal = "bob"
role = "Owner"
"#;

/// A browser's cookie jar, by name.
struct Visitor {
    client: reqwest::Client,
    origin: String,
    cookies: HashMap<String, String>,
}

impl Visitor {
    fn new(server: &TestServer) -> Self {
        Self { client: browser(server), origin: server.authority_host(), cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep(&mut self, response: &reqwest::Response) {
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            assert!(set.contains("; Secure; HttpOnly; SameSite=Strict"), "{set}");
            let (name, value) = set.split(';').next().unwrap().split_once('=').unwrap();
            match value.is_empty() {
                true => self.cookies.remove(name),
                false => self.cookies.insert(name.to_owned(), value.to_owned()),
            };
        }
    }

    async fn get(&mut self, path_or_url: &str) -> reqwest::Response {
        let url = if path_or_url.starts_with("https://") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.origin)
        };
        let response = self.client.get(url).header("cookie", self.cookie_header()).send().await.unwrap();
        self.keep(&response);
        response
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)], origin: Option<&str>) -> reqwest::Response {
        let mut request = self.client.post(format!("{}{path}", self.origin)).header("cookie", self.cookie_header());
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.form(fields).send().await.unwrap();
        self.keep(&response);
        response
    }

    /// Signs in as `user` through the portal's sign-in: the authorize page, the form, the callback.
    async fn sign_in(&mut self, user: &str, password: &str) -> reqwest::Response {
        let start = self.get("/portal/signin").await;
        assert_eq!(start.status(), 303);
        let authorize = start.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            authorize.contains("/organizations/oauth2/v2.0/authorize?")
                && authorize.contains("code_challenge_method=S256")
        );
        let page = self.client.get(&authorize).send().await.unwrap();
        let (form_cookie, token) = page_tokens(page).await;
        let params = url::Url::parse(&authorize).unwrap().query_pairs().into_owned().collect::<Vec<_>>();
        let mut fields = params;
        fields.extend([
            ("strongroom_form".to_owned(), token),
            ("username".to_owned(), user.to_owned()),
            ("password".to_owned(), password.to_owned()),
        ]);
        let mut headers = HeaderMap::new();
        headers.insert("origin", HeaderValue::from_str(&self.origin).unwrap());
        let answer = post_form(&self.client, &authorize, &form_cookie, headers, &fields).await;
        if answer.status() != 302 {
            return answer;
        }
        let callback = answer.headers()["location"].to_str().unwrap().to_owned();
        assert!(callback.starts_with(&format!("{}/portal/callback?", self.origin)), "{callback}");
        self.get(&callback).await
    }

    async fn csrf(&mut self, path: &str) -> String {
        let page = self.get(path).await.text().await.unwrap();
        let marker = "name=\"csrf\" value=\"";
        let start = page.find(marker).unwrap() + marker.len();
        page[start..].split('"').next().unwrap().to_owned()
    }
}

#[tokio::test]
async fn people_sign_in_through_the_authorize_page_and_the_session_ends_with_its_cookie() {
    let server = TestServer::start(CONFIG).await;
    let mut alice = Visitor::new(&server);
    let landing = alice.get("/portal/").await;
    assert_eq!(landing.status(), 200);
    assert!(landing.text().await.unwrap().contains("href=\"/portal/signin\""));

    let wrong = alice.sign_in("alice@contoso", "not-her-password").await;
    assert_eq!(wrong.status(), 400, "a wrong password stays on the sign-in page");
    assert!(wrong.text().await.unwrap().contains("role=\"alert\""));
    assert!(!alice.cookies.contains_key("__Host-strongroom-portal"));

    let signed_in = alice.sign_in("alice@contoso", "alice-password-1").await;
    assert_eq!(signed_in.status(), 303);
    assert!(alice.cookies.contains_key("__Host-strongroom-portal"));
    let home = alice.get("/portal/").await;
    let headers = home.headers().clone();
    let page = home.text().await.unwrap();
    assert!(page.contains("href=\"/portal/vaults/billing\""), "alice holds a role in billing: {page}");
    assert!(headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    assert!(headers.contains_key("server-timing"));
    assert!(!page.contains("eyJ"), "no token reaches the page");

    // The session's tokens act: a secret is created through the vault's pipeline, and audited as alice's.
    let csrf = alice.csrf("/portal/vaults/billing/secrets").await;
    let created = alice
        .post(
            "/portal/vaults/billing/secrets",
            &[("csrf", &csrf), ("name", "from-portal"), ("value", "v1"), ("enabled", "true")],
            Some(&server.authority_host()),
        )
        .await;
    assert_eq!(created.status(), 303);
    let directory = server.running().state().directory();
    let alice_id = directory.principals().iter().find(|p| p.name == "alice").unwrap().object_id;
    // The audit writer gathers records for a few milliseconds before writing: wait for the record.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let set = loop {
        let audit = std::fs::read_to_string(server.dir.path().join("audit.log")).unwrap();
        let found = audit.lines().filter_map(|line| serde_json::from_str::<Value>(line).ok()).find(|r| {
            r["OperationName"] == "SecretSet" && r["RequestUri"].as_str().unwrap().contains("/secrets/from-portal")
        });
        match found {
            Some(record) => break record,
            None if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await
            }
            None => panic!("the portal's write was not audited"),
        }
    };
    assert_eq!(
        set["Identity"]["claim"]["http://schemas.microsoft.com/identity/claims/objectidentifier"],
        alice_id.to_string().as_str(),
        "as alice, not as the portal"
    );

    let cookie = alice.cookies["__Host-strongroom-portal"].clone();
    let out = alice.post("/portal/signout", &[("csrf", &csrf)], Some(&server.authority_host())).await;
    assert_eq!(out.status(), 200);
    assert!(!alice.cookies.contains_key("__Host-strongroom-portal"), "the cookie is cleared");
    let replayed = alice
        .client
        .get(format!("{}/portal/vaults/billing/secrets", server.authority_host()))
        .header("cookie", format!("__Host-strongroom-portal={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 401, "a cookie replayed after sign-out opens nothing");
    let posted = alice
        .client
        .post(format!("{}/portal/vaults/billing/secrets", server.authority_host()))
        .header("cookie", format!("__Host-strongroom-portal={cookie}"))
        .form(&[("csrf", csrf.as_str()), ("name", "after-signout"), ("value", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 403);
}

#[tokio::test]
async fn forms_without_the_sessions_token_or_from_elsewhere_change_nothing() {
    let server = TestServer::start(CONFIG).await;
    let mut alice = Visitor::new(&server);
    assert_eq!(alice.sign_in("alice@contoso", "alice-password-1").await.status(), 303);
    let csrf = alice.csrf("/portal/vaults/billing/secrets").await;
    let own = server.authority_host();
    for (fields, origin) in [
        (vec![("name", "forged-1"), ("value", "x")], Some(own.as_str())),
        (vec![("csrf", "forged"), ("name", "forged-2"), ("value", "x")], Some(own.as_str())),
        (vec![("csrf", csrf.as_str()), ("name", "forged-3"), ("value", "x")], Some("https://evil.example")),
    ] {
        let answer = alice.post("/portal/vaults/billing/secrets", &fields, origin).await;
        assert_eq!(answer.status(), 403, "{fields:?} from {origin:?}");
    }
    let listed = alice.get("/portal/vaults/billing/secrets").await.text().await.unwrap();
    assert!(!listed.contains("forged-"), "nothing was created");
}

#[tokio::test]
async fn the_portals_client_receives_codes_only_at_the_portal() {
    let server = TestServer::start(CONFIG).await;
    let client = browser(&server);
    for redirect_uri in
        ["https://evil.example/portal/callback", "http://localhost:8400/", "https://localhost/portal/callback/../x"]
    {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("client_id", PORTAL_CLIENT),
                ("response_type", "code"),
                ("redirect_uri", redirect_uri),
                ("scope", "https://management.azure.com/.default openid"),
                ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        let page = client
            .get(format!("{}/organizations/oauth2/v2.0/authorize?{query}", server.authority_host()))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 400, "{redirect_uri}");
        assert!(page.text().await.unwrap().contains("AADSTS50011"));
    }
    // Another host of the server sends the browser to the login origin, where the portal's cookies live.
    let port = server.running().address().port();
    let other = client
        .get(format!("{}/portal/", server.authority_host()))
        .header("host", format!("management.localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 303);
    assert_eq!(other.headers()["location"], format!("{}/portal/", server.authority_host()).as_str());
}

#[tokio::test]
async fn a_person_without_a_role_is_refused_in_the_vaults_words() {
    let server = TestServer::start(CONFIG).await;
    let mut carol = Visitor::new(&server);
    assert_eq!(carol.sign_in("carol@contoso", "carol-password-1").await.status(), 303);
    let home = carol.get("/portal/").await.text().await.unwrap();
    assert!(!home.contains("/portal/vaults/billing"), "a directory role shows no vault");
    let secrets = carol.get("/portal/vaults/billing/secrets").await;
    assert_eq!(secrets.status(), 403);
    let page = secrets.text().await.unwrap();
    assert!(page.contains("The operation is not allowed by RBAC."), "{page}");
    let overview = carol.get("/portal/vaults/billing").await;
    assert_eq!(overview.status(), 403);
    let overview = overview.text().await.unwrap();
    assert!(overview.contains("does not have authorization to perform action 'Microsoft.KeyVault/vaults/read'"));
    assert!(!overview.contains("Purge protection") && !overview.contains("Resource id"), "only what may be read");
    let audit = carol.get("/portal/vaults/billing/audit").await;
    assert_eq!(audit.status(), 403, "reading the vault's logs needs a right on the vault");
    assert!(audit.text().await.unwrap().contains("does not have authorization to perform action"));
}

const AUDIT_CONFIG: &str = r#"
[[tenant]]
name = "fabrikam"

[[tenant.app]]
name = "outsider"
secrets = ["outsider-secret-0123456789"]

[[tenant.role_assignment]]
principal = "outsider"
role = "Owner"

[[tenant]]
name = "contoso"

[[tenant.app]]
name = "owner"
secrets = ["owner-secret-0123456789"]

[[tenant.app]]
name = "kv-admin"
secrets = ["kv-admin-secret-0123456789"]

[[tenant.role_assignment]]
principal = "owner"
role = "Owner"

[[tenant.vault]]
name = "billing"

[[tenant.vault.role_assignment]]
principal = "kv-admin"
role = "Key Vault Administrator"

[[tenant.vault]]
name = "payroll"

[[tenant.vault.role_assignment]]
principal = "kv-admin"
role = "Key Vault Administrator"
"#;

#[tokio::test]
async fn the_audit_log_query_answers_only_the_vaults_records_to_those_who_may_read_them() {
    let server = TestServer::start(AUDIT_CONFIG).await;
    let vault_token = server.token("contoso", "kv-admin").await;
    for vault in ["billing", "payroll"] {
        let listed =
            server.vault_call(reqwest::Method::GET, vault, "/secrets?api-version=7.5", Some(&vault_token), None).await;
        assert_eq!(listed.status(), 200);
    }
    let contoso = server.tenant_id("contoso");
    let path = format!(
        "/subscriptions/{contoso}/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults/billing\
         /providers/Microsoft.Insights/logs?api-version=2023-07-01&operation=SecretList"
    );
    for (tenant, app, expected) in
        [("contoso", "owner", 200), ("contoso", "kv-admin", 403), ("fabrikam", "outsider", 401)]
    {
        let secret = format!("{app}-secret-0123456789");
        let client_id = server.client_id(app);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", "https://management.azure.com/.default"),
        ];
        let (status, token) = server.token_request(tenant, &form).await;
        assert_eq!(status, 200, "{token}");
        let answer = server
            .http
            .get(format!("{}{path}", server.authority_host()))
            .bearer_auth(token["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap();
        assert_eq!(status, expected, "{app}: {body}");
        if status == 200 {
            let records = body["value"].as_array().unwrap();
            assert!(!records.is_empty());
            assert!(records.iter().all(|r| r["_ResourceId"].as_str().unwrap().ends_with("/vaults/billing")));
            assert!(records.iter().all(|r| r["OperationName"] == "SecretList"));
        }
    }
}

#[tokio::test]
async fn another_tenants_vault_is_not_found() {
    let server = TestServer::start(CONFIG).await;
    let mut bob = Visitor::new(&server);
    assert_eq!(bob.sign_in("bob@fabrikam", "bob-password-1").await.status(), 303);
    for path in ["/portal/vaults/billing", "/portal/vaults/billing/secrets", "/portal/vaults/billing/access"] {
        let page = bob.get(path).await;
        assert_eq!(page.status(), 404, "{path}");
        let page = page.text().await.unwrap();
        assert!(page.contains("There is no vault called 'billing'.") && !page.contains("Purge protection"), "{page}");
    }
}

#[tokio::test]
async fn a_person_disabled_mid_session_is_signed_out_at_once_and_a_new_sign_in_ends_the_old_session() {
    let server = TestServer::start(CONFIG).await;
    let mut alice = Visitor::new(&server);
    assert_eq!(alice.sign_in("alice@contoso", "alice-password-1").await.status(), 303);
    let first = alice.cookies["__Host-strongroom-portal"].clone();
    assert_eq!(alice.sign_in("alice@contoso", "alice-password-1").await.status(), 303);
    let replay = |cookie: String| {
        let client = alice.client.clone();
        let url = format!("{}/portal/vaults/billing/secrets", server.authority_host());
        async move {
            client
                .get(url)
                .header("cookie", format!("__Host-strongroom-portal={cookie}"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(replay(first).await, 401, "signing in again ended the session the browser had");
    let second = alice.cookies["__Host-strongroom-portal"].clone();
    assert_eq!(replay(second.clone()).await, 200);

    // A directory administrator disables alice: her session ends with her next request, though its access
    // tokens have not expired.
    let client_id = server.client_id("directory-admin");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("client_secret", "directory-admin-secret-0123456789"),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let (status, token) = server.token_request("contoso", &form).await;
    assert_eq!(status, 200, "{token}");
    let alice_id =
        server.running().state().directory().principals().iter().find(|p| p.name == "alice").unwrap().object_id;
    let disabled = server
        .http
        .patch(format!("{}/v1.0/users/{alice_id}", server.authority_host()))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&serde_json::json!({ "accountEnabled": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 204);
    assert_eq!(replay(second.clone()).await, 401);
    assert_eq!(replay(second).await, 401, "and stays ended");
}

#[tokio::test]
async fn a_person_without_a_role_learns_nothing_of_the_directory_from_the_access_form() {
    let server = TestServer::start(CONFIG).await;
    let mut carol = Visitor::new(&server);
    assert_eq!(carol.sign_in("carol@contoso", "carol-password-1").await.status(), 303);
    let csrf = carol.csrf("/portal/").await;
    let own = server.authority_host();
    let mut answers = Vec::new();
    for principal in ["nobody@contoso", "alice@contoso"] {
        let fields =
            [("csrf", csrf.as_str()), ("action", "add"), ("role", "x"), ("principal", principal), ("scope", "")];
        let answer = carol.post("/portal/vaults/billing/access", &fields, Some(&own)).await;
        assert_eq!(answer.status(), 403);
        let page = answer.text().await.unwrap();
        assert!(!page.contains("was found in your tenant"), "{page}");
        answers.push(
            page.split("role=\"alert\"")
                .nth(1)
                .unwrap_or_default()
                .split("</div>")
                .next()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(answers[0], answers[1], "the same refusal whether or not the name exists");
}

#[tokio::test]
async fn a_flood_of_started_sign_ins_does_not_push_out_a_persons_own() {
    let server = TestServer::start(CONFIG).await;
    let mut alice = Visitor::new(&server);
    let start = alice.get("/portal/signin").await;
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    let flood = browser(&server);
    for _ in 0..200 {
        let _ = flood.get(format!("{}/portal/signin", server.authority_host())).send().await.unwrap();
    }
    // alice goes on with the sign-in she started: the authorize page, her credentials, the callback.
    let page = alice.client.get(&authorize).send().await.unwrap();
    let (form_cookie, token) = page_tokens(page).await;
    let mut fields = url::Url::parse(&authorize).unwrap().query_pairs().into_owned().collect::<Vec<_>>();
    fields.extend([
        ("strongroom_form".to_owned(), token),
        ("username".to_owned(), "alice@contoso".to_owned()),
        ("password".to_owned(), "alice-password-1".to_owned()),
    ]);
    let mut headers = HeaderMap::new();
    headers.insert("origin", HeaderValue::from_str(&server.authority_host()).unwrap());
    let answer = post_form(&alice.client, &authorize, &form_cookie, headers, &fields).await;
    let callback = answer.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(alice.get(&callback).await.status(), 303, "her sign-in completes");
    assert!(alice.cookies.contains_key("__Host-strongroom-portal"));
}
