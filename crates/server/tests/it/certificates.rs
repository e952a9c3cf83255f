//! Certificates over the wire where the SDK suites cannot go: renewal by the scheduler under a moved clock, and
//! the states of a certificate's operation through its issuance window, as Key Vault's answer.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{STANDARD_TENANTS, TestServer, audited, billing_call, billing_versions};

const DAY: i64 = 86_400;

async fn call(server: &TestServer, token: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    billing_call(server, token, method, path, body).await
}

async fn versions(server: &TestServer, token: &str, name: &str) -> Vec<Value> {
    billing_versions(server, token, "certificates", name).await
}

#[tokio::test]
async fn certificates_renew_and_notify_when_the_scheduler_clock_says_so() {
    // Contoso's operator gives it a certificate authority for its domain: the `team-ca` issuer signs with it.
    let contoso = "name = \"contoso\"\n";
    let config = STANDARD_TENANTS.replacen(
        contoso,
        &format!("{contoso}certificate_authority = {{ domains = [\"contoso.com\"] }}\n"),
        1,
    );
    let mut server = TestServer::start(&config).await;
    let token = server.token("contoso", "admin").await;
    let policy = |name: &str, action: &str, trigger: Value, reuse_key: bool| {
        json!({"policy": {
            "key_props": {"kty": "RSA", "key_size": 2048, "reuse_key": reuse_key},
            "x509_props": {"subject": format!("CN={name}"), "validity_months": 1},
            "lifetime_actions": [{"trigger": trigger, "action": {"action_type": action}}],
            "issuer": {"name": "Self"}
        }})
    };
    let (status, _) =
        call(&server, &token, Method::PUT, "/certificates/issuers/team-ca", Some(json!({"provider": "Strongroom"})))
            .await;
    assert_eq!(status, 200);
    let mut by_team_ca = policy("ca-issued", "AutoRenew", json!({"lifetime_percentage": 80}), false);
    by_team_ca["policy"]["issuer"]["name"] = json!("team-ca");
    by_team_ca["policy"]["x509_props"]["sans"] = json!({"dns_names": ["ca-issued.contoso.com"]});
    for (name, body) in [
        ("renewed", policy("renewed", "AutoRenew", json!({"lifetime_percentage": 80}), false)),
        ("ca-issued", by_team_ca),
        ("kept-key", policy("kept-key", "AutoRenew", json!({"days_before_expiry": 10}), true)),
        ("told", policy("told", "EmailContacts", json!({"days_before_expiry": 10}), false)),
    ] {
        let (status, operation) =
            call(&server, &token, Method::POST, &format!("/certificates/{name}/create"), Some(body)).await;
        assert_eq!(status, 202, "{operation}");
    }
    let (status, refused) = call(
        &server,
        &token,
        Method::POST,
        "/certificates/bad-trigger/create",
        Some(policy("bad", "AutoRenew", json!({"lifetime_percentage": 100}), false)),
    )
    .await;
    assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("BadParameter")));
    let (_, before) = call(&server, &token, Method::GET, "/keys/kept-key", None).await;

    // 25 days on by the server's clock (a month is 30; a restart runs the scheduler): past 80% of the
    // lifetime and inside the last 10 days.
    server.clock.set_offset_seconds(25 * DAY);
    server.restart().await;
    let token = server.token("contoso", "admin").await;
    let mut renewed = Vec::new();
    for _ in 0..50 {
        renewed = versions(&server, &token, "renewed").await;
        if renewed.len() == 2
            && versions(&server, &token, "kept-key").await.len() == 2
            && versions(&server, &token, "ca-issued").await.len() == 2
            // The same pass tells the contacts; its audit record may come after the renewals.
            && audited(&server, "CertificateNearExpiryEmailContacts", "certificates", "told")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(renewed.len(), 2, "the scheduler renewed the certificate");
    assert_eq!(versions(&server, &token, "told").await.len(), 1, "EmailContacts never renews");

    let (_, latest) = call(&server, &token, Method::GET, "/certificates/renewed", None).await;
    let version = latest["id"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let (status, key) = call(&server, &token, Method::GET, &format!("/keys/renewed/{version}"), None).await;
    assert_eq!(status, 200, "the renewal has its key under the same version");
    assert_eq!(key["managed"], true);
    let (status, _) = call(&server, &token, Method::GET, &format!("/secrets/renewed/{version}"), None).await;
    assert_eq!(status, 200, "and its secret");
    let (_, after) = call(&server, &token, Method::GET, "/keys/kept-key", None).await;
    assert_ne!(after["key"]["kid"], before["key"]["kid"], "a new key version");
    assert_eq!(after["key"]["n"], before["key"]["n"], "with the same key: the policy reuses it");

    let event = |operation: &str, name: &str| audited(&server, operation, "certificates", name);
    assert!(event("CertificateAutoRenew", "renewed") && event("CertificateAutoRenew", "kept-key"));
    assert!(event("CertificateAutoRenew", "ca-issued"), "a local-CA issuer's certificate renews too");
    assert!(event("CertificateNearExpiryEmailContacts", "told"));
}

/// A server whose issuers take ten seconds by its clock, and an administrator's token for its vault `billing`.
async fn with_issuance_window() -> (TestServer, String) {
    let server = TestServer::start(&format!("certificate_issuance_seconds = 10\n{STANDARD_TENANTS}")).await;
    let token = server.token("contoso", "admin").await;
    (server, token)
}

fn create_body(issuer: &str) -> Option<Value> {
    Some(json!({"policy": {"x509_props": {"subject": "CN=window.contoso.com"}, "issuer": {"name": issuer}}}))
}

#[tokio::test]
async fn a_pending_certificate_is_readable_and_its_operation_is_cancelled_only_in_progress() {
    let (server, token) = with_issuance_window().await;
    let (status, operation) =
        call(&server, &token, Method::POST, "/certificates/window/create", create_body("Self")).await;
    assert_eq!((status, operation["status"].as_str()), (202, Some("inProgress")), "{operation}");

    // The pending version reads as Key Vault's does: disabled, no certificate yet, naming its operation; with or
    // without the trailing slash the SDKs send.
    for path in ["/certificates/window", "/certificates/window/"] {
        let (status, pending) = call(&server, &token, Method::GET, path, None).await;
        assert_eq!(status, 200, "{pending}");
        assert_eq!(pending["attributes"]["enabled"], false);
        assert!(pending["pending"]["id"].as_str().unwrap().ends_with("/certificates/window/pending"), "{pending}");
        assert!(pending.get("cer").is_none() && pending.get("x5t").is_none(), "{pending}");
        assert_eq!(pending["policy"]["issuer"]["name"], "Self");
    }
    let listed = versions(&server, &token, "window").await;
    assert_eq!(listed.len(), 1, "the pending version is listed");
    let (_, pending) = call(&server, &token, Method::GET, "/certificates/window", None).await;
    assert_eq!(listed[0]["id"], pending["id"]);
    let version = pending["id"].as_str().unwrap().rsplit('/').next().unwrap();
    let (status, by_version) =
        call(&server, &token, Method::GET, &format!("/certificates/window/{version}"), None).await;
    assert_eq!((status, &by_version["pending"]), (200, &pending["pending"]), "{by_version}");

    // A second create while the first is in progress conflicts.
    let (status, refused) =
        call(&server, &token, Method::POST, "/certificates/window/create", create_body("Self")).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("Conflict")), "{refused}");

    let cancel = Some(json!({"cancellation_requested": true}));
    let (status, cancelled) =
        call(&server, &token, Method::PATCH, "/certificates/window/pending", cancel.clone()).await;
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("cancelled")), "{cancelled}");
    assert_eq!(cancelled["cancellation_requested"], true);
    let (status, again) = call(&server, &token, Method::PATCH, "/certificates/window/pending", cancel.clone()).await;
    assert_eq!(status, 403, "{again}");
    assert_eq!(again["error"]["message"], "Pending status must be in progress to allow update.");
    server.clock.set_offset_seconds(60);
    let (_, still) = call(&server, &token, Method::GET, "/certificates/window/pending", None).await;
    assert_eq!(still["status"], "cancelled", "a cancelled request issues nothing");

    let (status, deleted) = call(&server, &token, Method::DELETE, "/certificates/window/pending", None).await;
    assert_eq!((status, deleted["status"].as_str()), (200, Some("cancelled")), "{deleted}");
    let (status, gone) = call(&server, &token, Method::GET, "/certificates/window/pending", None).await;
    assert_eq!((status, gone["error"]["code"].as_str()), (404, Some("PendingCertificateNotFound")), "{gone}");
    let (status, left) = call(&server, &token, Method::GET, "/certificates/window", None).await;
    assert_eq!(status, 200, "the version stays, as Key Vault's does: {left}");
    assert!(left.get("pending").is_none() && left["attributes"]["enabled"] == false, "{left}");

    // A new create replaces it and, once the issuer's time has passed, completes: the operation can no longer
    // change, and can be deleted.
    let (status, _) = call(&server, &token, Method::POST, "/certificates/window/create", create_body("Self")).await;
    assert_eq!(status, 202);
    server.clock.set_offset_seconds(120);
    let (status, issued) = call(&server, &token, Method::GET, "/certificates/window", None).await;
    assert_eq!(status, 200);
    assert!(issued["cer"].is_string() && issued.get("pending").is_none(), "{issued}");
    assert_eq!(issued["attributes"]["enabled"], true);
    assert_eq!(versions(&server, &token, "window").await.len(), 1, "one issued version, no pending one");
    let (_, completed) = call(&server, &token, Method::GET, "/certificates/window/pending", None).await;
    assert_eq!(completed["status"], "completed");
    let (status, refused) = call(&server, &token, Method::PATCH, "/certificates/window/pending", cancel).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("Forbidden")), "{refused}");
    let (status, deleted) = call(&server, &token, Method::DELETE, "/certificates/window/pending", None).await;
    assert_eq!((status, deleted["status"].as_str()), (200, Some("completed")), "{deleted}");
    let (status, _) = call(&server, &token, Method::GET, "/certificates/window/pending", None).await;
    assert_eq!(status, 404);
    let (status, kept) = call(&server, &token, Method::GET, "/certificates/window", None).await;
    assert_eq!((status, &kept["cer"]), (200, &issued["cer"]), "the certificate is untouched");
}

#[tokio::test]
async fn an_issuer_of_a_provider_strongroom_cannot_reach_fails_in_its_operation() {
    let (server, token) = with_issuance_window().await;
    let issuer = Some(json!({"provider": "DigiCert", "credentials": {"account_id": "pki"}}));
    let (status, _) = call(&server, &token, Method::PUT, "/certificates/issuers/digicert", issuer).await;
    assert_eq!(status, 200);
    let (status, operation) =
        call(&server, &token, Method::POST, "/certificates/outside/create", create_body("digicert")).await;
    assert_eq!((status, operation["status"].as_str()), (202, Some("inProgress")), "{operation}");
    server.clock.set_offset_seconds(60);
    let (status, failed) = call(&server, &token, Method::GET, "/certificates/outside/pending", None).await;
    assert_eq!((status, failed["status"].as_str()), (200, Some("failed")), "{failed}");
    assert_eq!(failed["error"]["code"], "CertificateIssuerProviderUnreachable");
    assert_eq!(failed["status_details"], failed["error"]["message"]);
    assert!(failed.get("target").is_none());
    let (status, certificate) = call(&server, &token, Method::GET, "/certificates/outside", None).await;
    assert_eq!((status, &certificate["attributes"]["enabled"]), (200, &json!(false)), "{certificate}");
    let (status, _) = call(&server, &token, Method::POST, "/certificates/outside/create", create_body("Self")).await;
    assert_eq!(status, 202, "a failed operation does not hold the name");
}

#[tokio::test]
async fn a_csr_is_merged_from_the_pem_text_the_javascript_sdk_sends() {
    let (server, token) = with_issuance_window().await;
    let (status, _) = call(&server, &token, Method::POST, "/certificates/csr/create", create_body("Unknown")).await;
    assert_eq!(status, 202);
    let (status, pending) = call(&server, &token, Method::GET, "/certificates/csr/", None).await;
    assert_eq!((status, pending["attributes"]["enabled"].as_bool()), (200, Some(false)), "{pending}");
    let (_, operation) = call(&server, &token, Method::GET, "/certificates/csr/pending", None).await;
    let csr = STANDARD.decode(operation["csr"].as_str().unwrap()).unwrap();

    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::Issuer::new(ca_params, ca_key);
    let request = rcgen::CertificateSigningRequestParams::from_der(&csr.into()).unwrap();
    let leaf = request.signed_by(&ca).unwrap();
    // The sample's way: the PEM file's characters less its first line as the entry's bytes, which the SDK
    // encodes as base64.
    let body: String = leaf.pem().lines().skip(1).collect();
    let x5c = json!([STANDARD.encode(body.as_bytes())]);
    let (status, merged) =
        call(&server, &token, Method::POST, "/certificates/csr/pending/merge", Some(json!({"x5c": x5c}))).await;
    assert_eq!(status, 201, "{merged}");
    assert_eq!(STANDARD.decode(merged["cer"].as_str().unwrap()).unwrap(), leaf.der().to_vec());
    assert_eq!(merged["id"], pending["id"], "the pending version became the certificate");
    let (_, completed) = call(&server, &token, Method::GET, "/certificates/csr/pending", None).await;
    assert_eq!(completed["status"], "completed");
}

#[tokio::test]
async fn restoring_over_a_soft_deleted_certificate_names_the_certificate() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let token = server.token("contoso", "admin").await;
    let (status, _) = call(&server, &token, Method::POST, "/certificates/kept/create", create_body("Self")).await;
    assert_eq!(status, 202);
    let (_, backup) = call(&server, &token, Method::POST, "/certificates/kept/backup", None).await;
    let (status, _) = call(&server, &token, Method::DELETE, "/certificates/kept", None).await;
    assert_eq!(status, 200);
    let (status, refused) =
        call(&server, &token, Method::POST, "/certificates/restore", Some(json!({"value": backup["value"]}))).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(
        refused["error"]["message"],
        "Certificate kept is currently in a deleted but recoverable state, and its name cannot be reused; in this \
         state, the certificate can only be recovered or purged."
    );
    assert_eq!(refused["error"]["innererror"]["code"], "ObjectIsDeletedButRecoverable");
}
