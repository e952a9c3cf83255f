//! Certificates over the wire where the SDK suites cannot go: renewal by the scheduler under a moved clock.

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
