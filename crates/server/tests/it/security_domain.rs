//! A Managed HSM's security domain over the wire, where the Azure CLI test cannot go: the operators' side done
//! by `strongroom_core::security_domain::restore_blob`, and the refusals — a vault has no security domain, a
//! bad download, an upload without a transfer key, a transfer key used twice, a changed blob, a caller without
//! the HSM's local role.

use reqwest::Method;
use serde_json::{Value, json};
use strongroom_core::certificate::Subject;
use strongroom_core::key::{KeySpec, KeyType, PrivateKey};
use strongroom_core::security_domain::{WrappingCertificate, restore_blob};

use crate::harness::{STANDARD_TENANTS, TestServer, vault_error};

const HSM: &str = "hsm";

/// Three HSMs where `admin` is Administrator and Crypto User: `hsm` and `twin`, not activated, and `stranger`,
/// activated at start with a security domain of its own.
fn config() -> String {
    let hsm = |name: &str, activated: bool| {
        format!(
            "\n[[tenant.managed_hsm]]\nname = \"{name}\"\nadministrators = [\"admin\"]\nactivated = {activated}\n\n\
             [[tenant.managed_hsm.role_assignment]]\nprincipal = \"admin\"\nrole = \"Managed HSM Crypto User\"\n"
        )
    };
    format!("{STANDARD_TENANTS}{}{}{}", hsm(HSM, false), hsm("twin", false), hsm("stranger", true))
}

/// A request to the HSM `hsm` with `token`.
async fn call(
    server: &TestServer,
    token: &str,
    method: Method,
    hsm: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let separator = if path.contains('?') { '&' } else { '?' };
    let url = format!("{}{path}{separator}api-version=7.5", server.hsm_url(hsm));
    let mut request = server.http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// The security domain of `hsm` for `operators` with a quorum of two (which activates it when new).
pub(crate) async fn download(
    server: &TestServer,
    token: &str,
    hsm: &str,
    operators: &[(WrappingCertificate, PrivateKey)],
) -> String {
    let body = certificate_info(operators, 2);
    let response = call(server, token, Method::POST, hsm, "/securitydomain/download", Some(body)).await;
    assert_eq!(response.status(), 202);
    response.json::<Value>().await.unwrap()["value"].as_str().unwrap().to_owned()
}

/// Gives `to` the security domain of `from`, as operators restoring one HSM's into another do: a download of
/// `from`, two operators' restore blob for `to`'s transfer key, an upload.
pub(crate) async fn share_security_domain(server: &TestServer, token: &str, from: &str, to: &str) {
    let operators: Vec<_> = (0..3).map(operator).collect();
    let domain = download(server, token, from, &operators).await;
    let transfer = transfer_certificate(server, token, to).await;
    let body = json!({"value": restore_blob(&domain, &operators[..2], &transfer).unwrap()});
    let response = call(server, token, Method::POST, to, "/securitydomain/upload", Some(body)).await;
    assert_eq!(response.status(), 202);
}

pub(crate) fn operator(index: usize) -> (WrappingCertificate, PrivateKey) {
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
async fn transfer_certificate(server: &TestServer, token: &str, hsm: &str) -> WrappingCertificate {
    use base64::Engine;
    let response = call(server, token, Method::GET, hsm, "/securitydomain/upload", None).await;
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
    let token = server.hsm_token("contoso", "admin").await;
    let operators: Vec<_> = (0..3).map(operator).collect();

    // Vaults have no security domain.
    let vault_token = server.token("contoso", "admin").await;
    let response = server
        .vault_call(Method::POST, "billing", "/securitydomain/download?api-version=7.5", Some(&vault_token), None)
        .await;
    assert_eq!(response.status(), 404);

    // Before any download: no status, and nothing to upload to.
    let (status, error) =
        vault_error(call(&server, &token, Method::GET, HSM, "/securitydomain/download/pending", None).await).await;
    assert_eq!(status, 404, "{error}");
    let blob = json!({"value": "{}"});
    let (status, error) =
        vault_error(call(&server, &token, Method::POST, HSM, "/securitydomain/upload", Some(blob)).await).await;
    assert_eq!((status, error["code"].as_str()), (400, Some("BadParameter")), "{error}");

    // Two certificates, or a quorum above their number, are refused; so is a certificate that is not one.
    for body in [
        certificate_info(&operators[..2], 2),
        certificate_info(&operators, 4),
        json!({"certificates": [{"x5c": ["bm90IGEgY2VydGlmaWNhdGU="]}, {}, {}], "required": 2}),
    ] {
        let (status, error) =
            vault_error(call(&server, &token, Method::POST, HSM, "/securitydomain/download", Some(body)).await).await;
        assert_eq!((status, error["code"].as_str()), (400, Some("BadParameter")), "{error}");
    }

    // A caller without the HSM's local administrator role may not download it.
    let nobody = server.hsm_token("contoso", "nobody").await;
    let body = certificate_info(&operators, 2);
    let response = call(&server, &nobody, Method::POST, HSM, "/securitydomain/download", Some(body.clone())).await;
    assert_eq!(response.status(), 403);

    let response = call(&server, &token, Method::POST, HSM, "/securitydomain/download", Some(body)).await;
    assert_eq!(response.status(), 202);
    let poll = response.headers()["azure-asyncoperation"].to_str().unwrap().to_owned();
    assert_eq!(poll, format!("{}/securitydomain/download/pending?api-version=7.5", server.hsm_url(HSM)));
    let domain = response.json::<Value>().await.unwrap()["value"].as_str().unwrap().to_owned();
    let response = call(&server, &token, Method::GET, HSM, "/securitydomain/download/pending", None).await;
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "Success");

    // Two operators open it for the transfer key; the HSM takes it back (its own), once per transfer key.
    let transfer = transfer_certificate(&server, &token, HSM).await;
    let restored = restore_blob(&domain, &operators[1..], &transfer).unwrap();
    let upload = || json!({"value": restored.clone()});
    let response = call(&server, &token, Method::POST, HSM, "/securitydomain/upload", Some(upload())).await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "Success");
    let (status, error) =
        vault_error(call(&server, &token, Method::POST, HSM, "/securitydomain/upload", Some(upload())).await).await;
    assert_eq!(status, 400, "the transfer key was used: {error}");

    // A blob changed on the way is refused.
    let transfer = transfer_certificate(&server, &token, HSM).await;
    let mut changed: Value = serde_json::from_str(&restore_blob(&domain, &operators, &transfer).unwrap()).unwrap();
    let jwe = changed["EncData"]["data"][0]["compact_jwe"].as_str().unwrap().to_owned();
    let at = jwe.rfind('.').unwrap() - 2;
    let flipped = if &jwe[at..=at] == "A" { "B" } else { "A" };
    changed["EncData"]["data"][0]["compact_jwe"] = json!(format!("{}{flipped}{}", &jwe[..at], &jwe[at + 1..]));
    let body = json!({"value": changed.to_string()});
    let (status, error) =
        vault_error(call(&server, &token, Method::POST, HSM, "/securitydomain/upload", Some(body)).await).await;
    assert_eq!(status, 400, "{error}");
    assert!(error["message"].as_str().unwrap().contains("integrity"), "{error}");
}

#[tokio::test]
async fn an_hsm_serves_keys_once_activated_and_its_keys_open_only_in_its_security_domain() {
    let server = TestServer::start(&config()).await;
    let token = server.hsm_token("contoso", "admin").await;
    let aes = json!({"kty": "oct-HSM", "key_size": 256});

    // Not activated: keys, roles, settings and backups are refused; the security domain is served.
    for (method, path) in [
        (Method::POST, "/keys/k/create"),
        (Method::GET, "/keys"),
        (Method::GET, "/providers/Microsoft.Authorization/roleAssignments"),
        (Method::GET, "/settings"),
        (Method::POST, "/backup"),
    ] {
        let (status, error) = vault_error(call(&server, &token, method, HSM, path, Some(aes.clone())).await).await;
        assert_eq!((status, error["innererror"]["code"].as_str()), (403, Some("HsmNotActivated")), "{path}: {error}");
        assert!(error["message"].as_str().unwrap().contains("security-domain download"), "{error}");
    }
    // The local RBAC check still comes first: a stranger learns nothing of the HSM's state.
    let nobody = server.hsm_token("contoso", "nobody").await;
    let (status, error) = vault_error(call(&server, &nobody, Method::GET, HSM, "/keys", None).await).await;
    assert_eq!((status, error["code"].as_str()), (403, Some("AccessDenied")), "{error}");

    // The download activates it.
    let operators: Vec<_> = (0..3).map(operator).collect();
    download(&server, &token, HSM, &operators).await;
    let response = call(&server, &token, Method::POST, HSM, "/keys/k/create", Some(aes)).await;
    assert_eq!(response.status(), 200);
    let plaintext = "dGhlIHJvb3Qgc2VjcmV0IGd1YXJkcyB0aGlz";
    let encrypt = json!({"alg": "A256GCM", "value": plaintext});
    let sealed: Value =
        call(&server, &token, Method::POST, HSM, "/keys/k/encrypt", Some(encrypt)).await.json().await.unwrap();
    let backup: Value = call(&server, &token, Method::POST, HSM, "/keys/k/backup", None).await.json().await.unwrap();
    let restore = json!({"value": backup["value"]});

    // An HSM of another security domain cannot open the key: its backup is refused, and nothing is written.
    let (status, error) =
        vault_error(call(&server, &token, Method::POST, "stranger", "/keys/restore", Some(restore.clone())).await)
            .await;
    assert_eq!((status, error["code"].as_str()), (400, Some("BadParameter")), "{error}");
    assert!(error["message"].as_str().unwrap().contains("another security domain"), "{error}");
    assert_eq!(call(&server, &token, Method::GET, "stranger", "/keys/k", None).await.status(), 404);

    // An HSM given this security domain by a quorum opens it, and the key decrypts what it encrypted.
    share_security_domain(&server, &token, HSM, "twin").await;
    let response = call(&server, &token, Method::POST, "twin", "/keys/restore", Some(restore.clone())).await;
    assert_eq!(response.status(), 200);
    let decrypt = json!({"alg": "A256GCM", "value": sealed["value"], "iv": sealed["iv"], "tag": sealed["tag"]});
    let opened: Value =
        call(&server, &token, Method::POST, "twin", "/keys/k/decrypt", Some(decrypt)).await.json().await.unwrap();
    assert_eq!(opened["value"], plaintext, "{opened}");

    // A key vault (premium, which holds RSA-HSM keys) opens no HSM's key either.
    let rsa = json!({"kty": "RSA-HSM", "key_size": 2048});
    assert_eq!(call(&server, &token, Method::POST, HSM, "/keys/r/create", Some(rsa)).await.status(), 200);
    let backup: Value = call(&server, &token, Method::POST, HSM, "/keys/r/backup", None).await.json().await.unwrap();
    let vault_token = server.token("contoso", "admin").await;
    let restore = json!({"value": backup["value"]});
    let response = server
        .vault_call(Method::POST, "billing", "/keys/restore?api-version=7.5", Some(&vault_token), Some(restore))
        .await;
    let (status, error) = vault_error(response).await;
    assert_eq!(status, 400, "{error}");
    assert!(error["message"].as_str().unwrap().contains("does not open in a key vault"), "{error}");
}

#[tokio::test]
async fn no_spelling_of_a_path_reaches_a_non_activated_hsm_beyond_its_security_domain() {
    let server = TestServer::start(&config()).await;
    let token = server.hsm_token("contoso", "admin").await;
    let aes = json!({"kty": "oct-HSM", "key_size": 256});
    let rbac = "providers/Microsoft.Authorization/roleAssignments";
    // Each spelling the router takes is refused as not activated (403); the others route nowhere (404).
    for (method, path, meant, expected) in [
        (Method::POST, "/keys/K/create/".to_owned(), None, 403),
        (Method::POST, "//keys//k//create".to_owned(), None, 404),
        (Method::GET, "/keys/".to_owned(), None, 403),
        (Method::GET, "/KEYS".to_owned(), None, 404),
        (Method::POST, "/keys/k//sign".to_owned(), None, 403),
        (Method::POST, "/keys/restore".to_owned(), None, 403),
        (Method::POST, "/rng".to_owned(), None, 403),
        (Method::POST, "/keys/k".to_owned(), Some("DELETE"), 403),
        (Method::POST, "/keys/k".to_owned(), Some("PATCH"), 403),
        (Method::GET, format!("///{rbac}"), None, 403),
        (Method::GET, format!("/keys/{rbac}"), None, 403),
        (Method::GET, format!("/keys/k/{rbac}"), None, 403),
        (Method::GET, format!("/keys//{rbac}/"), None, 403),
        (Method::POST, "/securitydomain/download/../../keys/k/create".to_owned(), None, 403),
    ] {
        let url = format!("{}{path}?api-version=7.5", server.hsm_url(HSM));
        let mut request = server.http.request(method, url).bearer_auth(&token).json(&aes);
        if let Some(meant) = meant {
            request = request.header("X-HTTP-METHOD", meant);
        }
        let (status, error) = vault_error(request.send().await.unwrap()).await;
        let inner = error["innererror"]["code"].as_str();
        assert_eq!((status, inner), (expected, (expected == 403).then_some("HsmNotActivated")), "{path}: {error}");
    }
}

#[tokio::test]
async fn downloads_racing_to_activate_a_new_hsm_hand_out_one_root_secret() {
    let server = TestServer::start(&config()).await;
    let token = server.hsm_token("contoso", "admin").await;
    let operators: Vec<_> = (0..3).map(operator).collect();
    // A transfer key asked first leaves the HSM a record of its security domain, but no root yet.
    transfer_certificate(&server, &token, HSM).await;
    let (first, second) =
        tokio::join!(download(&server, &token, HSM, &operators), download(&server, &token, HSM, &operators));
    // Both open to the same root: the twin takes the first, and then the second as its own, not as another's.
    for domain in [first, second] {
        let transfer = transfer_certificate(&server, &token, "twin").await;
        let body = json!({"value": restore_blob(&domain, &operators[..2], &transfer).unwrap()});
        let response = call(&server, &token, Method::POST, "twin", "/securitydomain/upload", Some(body)).await;
        assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    }
}
