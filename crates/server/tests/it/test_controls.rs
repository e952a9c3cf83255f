//! Test controls (issue 23, part 5) from the management API's side: off unless the installation turns them on,
//! only for those who may change the vault (Owner, Contributor), and a plan that says what it cannot do is
//! refused. The SDKs' side — retries through the faults, the clock moved under a running client — is
//! `tests/python/test_test_controls.py`.

use reqwest::Method;
use serde_json::json;

use crate::attack_directory::{ARM, app_token, call};
use crate::harness::{STANDARD_TENANTS, TestServer};

fn faults_path(server: &TestServer) -> String {
    let tenant = server.tenant_id("contoso");
    format!(
        "/subscriptions/{tenant}/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults/billing/providers/Strongroom.Testing/faults/default"
    )
}

const OWNER: &str = "[[tenant.role_assignment]]\nprincipal = \"admin\"\nrole = \"Owner\"\n";

#[tokio::test]
async fn test_controls_are_off_unless_enabled_and_only_owners_may_use_them() {
    let off = TestServer::start(&format!("{STANDARD_TENANTS}{OWNER}")).await;
    let token = app_token(&off, "contoso", "admin", ARM).await;
    let plan = json!({"properties": {"statusCode": 503, "count": 1}});
    let (status, body) = call(&off, Method::PUT, &faults_path(&off), &token, Some(plan.clone())).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("TestControlsDisabled")), "{body}");

    let on = TestServer::start(&format!("test_controls = true\n{STANDARD_TENANTS}{OWNER}")).await;
    let (owner, administrator) =
        (app_token(&on, "contoso", "admin", ARM).await, app_token(&on, "contoso", "secrets-user", ARM).await);
    let (status, body) = call(&on, Method::PUT, &faults_path(&on), &administrator, Some(plan.clone())).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("AuthorizationFailed")), "{body}");
    let clock = format!("/subscriptions/{}/providers/Strongroom.Testing/clock", on.tenant_id("contoso"));
    let advance = json!({"properties": {"advanceSeconds": 86_400}});
    let (status, _) = call(&on, Method::PUT, &clock, &administrator, Some(advance)).await;
    assert_eq!(status, 403, "a data-plane role may not move the clock");
    assert_eq!(on.clock.offset_seconds(), 0);

    for (bad, why) in [
        (json!({"statusCode": 404}), "only 429, 500 and 503"),
        (json!({"statusCode": 503, "fraction": 1.5}), "a share is at most 1"),
        (json!({"count": 3}), "a count without a status"),
        (json!({"statusCode": 503, "latencyMs": 600_000}), "at most a minute of latency"),
        (json!({"statusCode": 503, "unknown": true}), "unknown fields"),
    ] {
        let (status, body) = call(&on, Method::PUT, &faults_path(&on), &owner, Some(json!({"properties": bad}))).await;
        assert_eq!(status, 400, "{why}: {body}");
    }

    let (status, body) = call(&on, Method::PUT, &faults_path(&on), &owner, Some(plan)).await;
    assert_eq!((status, body["properties"]["count"].as_u64()), (200, Some(1)), "{body}");
    let vault_token = on.token("contoso", "admin").await;
    let answer =
        on.vault_call(Method::GET, "billing", "/secrets/seeded?api-version=7.6", Some(&vault_token), None).await;
    assert_eq!(answer.status().as_u16(), 503);
    assert_eq!(answer.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["innererror"]["code"], "InjectedFault", "{body}");
    let answer =
        on.vault_call(Method::GET, "billing", "/secrets/seeded?api-version=7.6", Some(&vault_token), None).await;
    assert_eq!(answer.status().as_u16(), 200, "the plan was used up");
    let (status, _) = call(&on, Method::GET, &faults_path(&on), &owner, None).await;
    assert_eq!(status, 404, "a used-up plan is gone");

    let (status, body) =
        call(&on, Method::PUT, &clock, &owner, Some(json!({"properties": {"advanceSeconds": 86_400}}))).await;
    assert_eq!((status, body["properties"]["offsetSeconds"].as_i64()), (200, Some(86_400)), "{body}");
    assert_eq!(on.clock.offset_seconds(), 86_400);
    // Tokens issued before the move are a day old by the server's time now: a fresh one is needed.
    let owner = app_token(&on, "contoso", "admin", ARM).await;
    let (status, _) = call(&on, Method::PUT, &clock, &owner, Some(json!({"properties": {"offsetSeconds": -5}}))).await;
    assert_eq!(status, 400, "never behind the system's time");
}
