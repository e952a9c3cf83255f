//! A Managed HSM's security domain over the wire, where the Azure CLI test cannot go: the operators' side done
//! by `strongroom_core::security_domain::restore_blob`, and the refusals — a vault has no security domain, a
//! bad download, an upload without a transfer key, a transfer key used twice, a changed blob, a caller without
//! the HSM's local role.

use reqwest::Method;
use serde_json::{Value, json};
use strongroom_core::certificate::Subject;
use strongroom_core::directory::VaultKind;
use strongroom_core::key::{KeySpec, KeyType, PrivateKey};
use strongroom_core::security_domain::{WrappingCertificate, restore_blob};

use crate::harness::{STANDARD_TENANTS, TestServer, vault_error};

const HSM: &str = "hsm";

fn config() -> String {
    format!("{STANDARD_TENANTS}\n[[tenant.managed_hsm]]\nname = \"{HSM}\"\nadministrators = [\"admin\"]\n")
}

/// The HSM's URL, a client that finds it, and a token of `app` for Managed HSM.
struct Hsm {
    url: String,
    http: reqwest::Client,
}

impl Hsm {
    fn of(server: &TestServer) -> Self {
        let endpoints = server.running().endpoints();
        let host = format!("{HSM}.{}", endpoints.managed_hsm_domain());
        let http = server.http_with("127.0.0.1".parse().unwrap(), &[(host.clone(), server.running().address())]);
        Self { url: format!("https://{host}:{}", endpoints.port()), http }
    }

    async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut request =
            self.http.request(method, format!("{}{path}{separator}api-version=7.5", self.url)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }
}

async fn hsm_token(server: &TestServer, app: &str) -> String {
    let scope = format!("{}/.default", server.running().endpoints().resource_of(VaultKind::ManagedHsm));
    let (client_id, secret) = (server.client_id(app), format!("{app}-secret-0123456789"));
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("client_secret", secret.as_str()),
        ("scope", scope.as_str()),
    ];
    let (status, body) = server.token_request("contoso", &form).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

fn operator(index: usize) -> (WrappingCertificate, PrivateKey) {
    let key =
        PrivateKey::generate(&KeySpec { kty: KeyType::Rsa, size: Some(2048), public_exponent: None, curve: None })
            .unwrap();
    let subject = Subject {
        name: format!("CN=operator {index}"),
        dns_names: vec![],
        emails: vec![],
        upns: vec![],
        uris: vec![],
        ips: vec![],
        ekus: vec![],
        key_usage: vec![],
        validity_months: 1,
    };
    let der = subject.self_signed(&key, 1_700_000_000).unwrap();
    (WrappingCertificate::from_der(&der, index).unwrap(), key)
}

/// The download body the CLI sends for these operators' certificates.
fn certificate_info(operators: &[(WrappingCertificate, PrivateKey)], required: usize) -> Value {
    use base64::Engine;
    let certificates: Vec<Value> = operators
        .iter()
        .map(|(c, _)| json!({"x5c": [base64::engine::general_purpose::STANDARD.encode(c.der())], "kty": "RSA"}))
        .collect();
    json!({"certificates": certificates, "required": required})
}

/// The HSM's transfer key's certificate, as `init-recovery` reads it from `x5c`.
async fn transfer_certificate(hsm: &Hsm, token: &str) -> WrappingCertificate {
    use base64::Engine;
    let response = hsm.call(token, Method::GET, "/securitydomain/upload", None).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["key_format"], "jwk");
    let jwk: Value = serde_json::from_str(answer["transfer_key"].as_str().unwrap()).unwrap();
    let der = base64::engine::general_purpose::STANDARD.decode(jwk["x5c"][0].as_str().unwrap()).unwrap();
    WrappingCertificate::from_der(&der, 0).unwrap()
}

#[tokio::test]
async fn a_quorum_restores_the_security_domain_and_everything_else_is_refused() {
    let server = TestServer::start(&config()).await;
    let hsm = Hsm::of(&server);
    let token = hsm_token(&server, "admin").await;
    let operators: Vec<_> = (0..3).map(operator).collect();

    // Vaults have no security domain.
    let vault_token = server.token("contoso", "admin").await;
    let response = server
        .vault_call(Method::POST, "billing", "/securitydomain/download?api-version=7.5", Some(&vault_token), None)
        .await;
    assert_eq!(response.status(), 404);

    // Before any download: no status, and nothing to upload to.
    let (status, error) =
        vault_error(hsm.call(&token, Method::GET, "/securitydomain/download/pending", None).await).await;
    assert_eq!(status, 404, "{error}");
    let blob = json!({"value": "{}"});
    let (status, error) = vault_error(hsm.call(&token, Method::POST, "/securitydomain/upload", Some(blob)).await).await;
    assert_eq!((status, error["code"].as_str()), (400, Some("BadParameter")), "{error}");

    // Two certificates, or a quorum above their number, are refused; so is a certificate that is not one.
    for body in [
        certificate_info(&operators[..2], 2),
        certificate_info(&operators, 4),
        json!({"certificates": [{"x5c": ["bm90IGEgY2VydGlmaWNhdGU="]}, {}, {}], "required": 2}),
    ] {
        let (status, error) =
            vault_error(hsm.call(&token, Method::POST, "/securitydomain/download", Some(body)).await).await;
        assert_eq!((status, error["code"].as_str()), (400, Some("BadParameter")), "{error}");
    }

    // A caller without the HSM's local administrator role may not download it.
    let nobody = hsm_token(&server, "nobody").await;
    let body = certificate_info(&operators, 2);
    let response = hsm.call(&nobody, Method::POST, "/securitydomain/download", Some(body.clone())).await;
    assert_eq!(response.status(), 403);

    let response = hsm.call(&token, Method::POST, "/securitydomain/download", Some(body)).await;
    assert_eq!(response.status(), 202);
    let poll = response.headers()["azure-asyncoperation"].to_str().unwrap().to_owned();
    assert_eq!(poll, format!("{}/securitydomain/download/pending?api-version=7.5", hsm.url));
    let domain = response.json::<Value>().await.unwrap()["value"].as_str().unwrap().to_owned();
    let response = hsm.call(&token, Method::GET, "/securitydomain/download/pending", None).await;
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "Success");

    // Two operators open it for the transfer key; the HSM takes it back (its own), once per transfer key.
    let transfer = transfer_certificate(&hsm, &token).await;
    let restored = restore_blob(&domain, &operators[1..], &transfer).unwrap();
    let upload = || json!({"value": restored.clone()});
    let response = hsm.call(&token, Method::POST, "/securitydomain/upload", Some(upload())).await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "Success");
    let (status, error) =
        vault_error(hsm.call(&token, Method::POST, "/securitydomain/upload", Some(upload())).await).await;
    assert_eq!(status, 400, "the transfer key was used: {error}");

    // A blob changed on the way is refused.
    let transfer = transfer_certificate(&hsm, &token).await;
    let mut changed: Value = serde_json::from_str(&restore_blob(&domain, &operators, &transfer).unwrap()).unwrap();
    let jwe = changed["EncData"]["data"][0]["compact_jwe"].as_str().unwrap().to_owned();
    let at = jwe.rfind('.').unwrap() - 2;
    let flipped = if &jwe[at..=at] == "A" { "B" } else { "A" };
    changed["EncData"]["data"][0]["compact_jwe"] = json!(format!("{}{flipped}{}", &jwe[..at], &jwe[at + 1..]));
    let body = json!({"value": changed.to_string()});
    let (status, error) = vault_error(hsm.call(&token, Method::POST, "/securitydomain/upload", Some(body)).await).await;
    assert_eq!(status, 400, "{error}");
    assert!(error["message"].as_str().unwrap().contains("integrity"), "{error}");
}
