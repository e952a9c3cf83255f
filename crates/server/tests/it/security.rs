//! Trying to break in: tokens that are forged, expired, for another audience or another tenant.

use reqwest::Method;
use strongroom_core::token::{AccessClaims, SigningKey};

use crate::harness::{STANDARD_TENANTS, TestServer, vault_error};

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Claims the server would issue to `admin` for the billing vault.
fn genuine_claims(server: &TestServer) -> AccessClaims {
    let tenant = server.tenant_id("contoso");
    let directory = server.running().state().directory();
    let admin = directory.principals().iter().find(|p| p.name == "admin").unwrap();
    let client_id = admin.client_id.unwrap().to_string();
    AccessClaims {
        aud: server.resource(),
        iss: format!("{}/{tenant}/v2.0", server.authority_host()),
        iat: now(),
        nbf: now(),
        exp: now() + 3600,
        tid: tenant,
        oid: admin.object_id.to_string(),
        sub: admin.object_id.to_string(),
        azp: client_id.clone(),
        azpacr: "1".into(),
        appid: client_id,
        appidacr: "1".into(),
        idtyp: "app".into(),
        ver: "2.0".into(),
        uti: "test".into(),
        groups: vec![],
        xms_mirid: None,
        scp: None,
        claim_names: None,
        claim_sources: None,
    }
}

async fn assert_refused(server: &TestServer, token: &str, reason: &str) {
    let response =
        server.vault_call(Method::GET, "billing", "/secrets/seeded?api-version=7.6", Some(token), None).await;
    let challenge = response.headers().get("www-authenticate").map(|h| h.to_str().unwrap().to_owned());
    let (status, error) = vault_error(response).await;
    assert_eq!(status, 401, "{reason}: {error}");
    assert_eq!(error["code"], "Unauthorized", "{reason}");
    assert!(challenge.unwrap_or_default().starts_with("Bearer authorization="), "{reason}: no challenge");
}

#[tokio::test]
async fn forged_expired_misdirected_and_foreign_tokens_are_refused() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    let state = server.running().state();
    let keys = state.keys.get();
    let real_key = keys.current().unwrap();

    // The genuine article works, so the refusals below are about the one thing each changes.
    let genuine = real_key.sign(&genuine_claims(&server)).unwrap();
    let ok = server.vault_call(Method::GET, "billing", "/secrets/seeded?api-version=7.6", Some(&genuine), None).await;
    assert_eq!(ok.status(), 200);

    let other_key = SigningKey::generate().unwrap();
    assert_refused(&server, &other_key.sign(&genuine_claims(&server)).unwrap(), "signed by another key").await;

    let expired = AccessClaims { iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600, ..genuine_claims(&server) };
    assert_refused(&server, &real_key.sign(&expired).unwrap(), "expired").await;

    let elsewhere = AccessClaims { aud: "https://management.azure.com".into(), ..genuine_claims(&server) };
    assert_refused(&server, &real_key.sign(&elsewhere).unwrap(), "another audience").await;

    // A real token of another tenant, obtained the honest way.
    let foreign = server.token("fabrikam", "outsider").await;
    assert_refused(&server, &foreign, "another tenant").await;

    // The same tenant claim with a foreign issuer, and the reverse.
    let fabrikam = server.tenant_id("fabrikam");
    let forged_tid = AccessClaims { tid: fabrikam.clone(), ..genuine_claims(&server) };
    assert_refused(&server, &real_key.sign(&forged_tid).unwrap(), "tid of another tenant").await;
    let forged_iss =
        AccessClaims { iss: format!("{}/{fabrikam}/v2.0", server.authority_host()), ..genuine_claims(&server) };
    assert_refused(&server, &real_key.sign(&forged_iss).unwrap(), "issuer of another tenant").await;

    // Tampering with the payload breaks the signature.
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    parts[1].insert(0, 'e');
    assert_refused(&server, &parts.join("."), "tampered").await;
    assert_refused(&server, "not-a-jwt", "garbage").await;
}

#[tokio::test]
async fn the_challenge_comes_before_anything_else() {
    let server = TestServer::start(STANDARD_TENANTS).await;
    // An SDK's probe: PUT with no body, no token, even an unknown api-version.
    let response = server.vault_call(Method::PUT, "billing", "/secrets/new?api-version=9.9", None, None).await;
    let challenge = response.headers().get("www-authenticate").unwrap().to_str().unwrap().to_owned();
    let tenant = server.tenant_id("contoso");
    assert_eq!(
        challenge,
        format!("Bearer authorization=\"{}/{tenant}\", resource=\"{}\"", server.authority_host(), server.resource())
    );
    assert_eq!(vault_error(response).await.0, 401);

    let response = server.vault_call(Method::GET, "nowhere", "/secrets?api-version=7.6", None, None).await;
    let (status, error) = vault_error(response).await;
    assert_eq!((status, error["code"].as_str().unwrap()), (404, "VaultNotFound"));
}

#[tokio::test]
async fn the_firewall_blocks_unlisted_addresses() {
    let config = STANDARD_TENANTS.replacen(
        "[[tenant.vault.role_assignment]]\nprincipal = \"admin\"",
        "[tenant.vault.network]\ndefault_action = \"deny\"\nip_rules = [\"127.0.0.2/32\"]\n\n[[tenant.vault.role_assignment]]\nprincipal = \"admin\"",
        1,
    );
    let server = TestServer::start(&config).await;
    let token = server.token("contoso", "admin").await;
    let response = server.vault_call(Method::GET, "billing", "/secrets?api-version=7.6", Some(&token), None).await;
    let (status, error) = vault_error(response).await;
    assert_eq!(status, 403);
    assert_eq!(error["innererror"]["code"], "ForbiddenByFirewall");
    assert!(error["message"].as_str().unwrap().contains("Client address: 127.0.0.1"));

    let listed = server.http_from("127.0.0.2".parse().unwrap());
    let url = format!("{}/secrets?api-version=7.6", server.vault_url("billing"));
    let response = listed.get(url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
}
