//! Key Vault's service limits: a vault past its limit answers `429 Throttled` with `Retry-After` and Key Vault's
//! body, other vaults and other kinds of transaction go on, a subscription's vaults share their multiple, and
//! two nodes on one PostgreSQL database hold one limit between them.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use strongroom_store::postgres::create_database;

use super::harness::{STANDARD_TENANTS, TestServer};
use super::storage::postgres_server;

/// A second vault in contoso (the fixture's last tenant), which admin administers.
const LEDGER: &str = "\n[[tenant.vault]]\nname = \"ledger\"\n\n[[tenant.vault.role_assignment]]\nprincipal = \"admin\"\nrole = \"Key Vault Administrator\"\n";

/// `GET /secrets/seeded` on `vault` at api-version 7.6.
async fn read(server: &TestServer, vault: &str, token: &str) -> reqwest::Response {
    server.vault_call(Method::GET, vault, "/secrets/seeded?api-version=7.6", Some(token), None).await
}

/// Reads until the first refusal (at most `most` reads): how many went through, and the refusal.
async fn read_until_refused(server: &TestServer, vault: &str, token: &str, most: usize) -> (usize, reqwest::Response) {
    for admitted in 0..most {
        let response = read(server, vault, token).await;
        if response.status() == 429 {
            return (admitted, response);
        }
        assert!([200, 404].contains(&response.status().as_u16()), "{}", response.status());
    }
    panic!("{most} reads of {vault} and no refusal");
}

/// Checks a refusal's shape: 429, `Retry-After` within the window, Key Vault's error body naming `reason`.
async fn assert_throttled(response: reqwest::Response, reason: &str, window_seconds: u64) -> u64 {
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("x-ms-request-id"), "a Key Vault response still");
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=window_seconds).contains(&retry_after), "Retry-After: {retry_after}");
    let body: Value = response.json().await.unwrap();
    let message = format!("Request was not processed because too many requests were received. Reason: {reason}");
    assert_eq!(body, json!({"error": {"code": "Throttled", "message": message}}));
    retry_after
}

#[tokio::test]
async fn a_vault_past_its_limit_answers_429_with_retry_after_and_other_vaults_go_on() {
    let server = TestServer::start(&format!(
        "[service_limits]\ntransactions = 5\nkey_creates = 2\nsubscription_multiple = 0\n{STANDARD_TENANTS}{LEDGER}"
    ))
    .await;
    let token = server.token("contoso", "admin").await;
    // Requests that are not let in (no token here) are not the vault's transactions: they do not count.
    for _ in 0..10 {
        let anonymous = server.vault_call(Method::GET, "billing", "/secrets/seeded?api-version=7.6", None, None).await;
        assert_eq!(anonymous.status(), 401);
    }

    let (admitted, refused) = read_until_refused(&server, "billing", &token, 50).await;
    assert_eq!(admitted, 5);
    let retry_after = assert_throttled(refused, "VaultRequestTypeLimitReached", 10).await;
    // Refused again, and the refusals themselves do not count (see below: room comes back on time).
    assert_eq!(read(&server, "billing", &token).await.status(), 429);

    // Another vault, and another kind of transaction in the same vault, have budgets of their own.
    for _ in 0..5 {
        assert_eq!(read(&server, "ledger", &token).await.status(), 404);
    }
    let (server_ref, token_ref) = (&server, token.as_str());
    let create = |name: &'static str| async move {
        let path = format!("/keys/{name}/create?api-version=7.6");
        server_ref.vault_call(Method::POST, "billing", &path, Some(token_ref), Some(json!({"kty": "EC"}))).await
    };
    assert_eq!(create("k1").await.status(), 200);
    assert_eq!(create("k2").await.status(), 200);
    assert_throttled(create("k3").await, "VaultRequestTypeLimitReached", 10).await;

    // Once Retry-After has passed, the five reads have left the window.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(read(&server, "billing", &token).await.status(), 200);

    // The audit log records each refusal as Key Vault's diagnostic log would (its writer runs apart: by now it
    // has written them).
    let audit = std::fs::read_to_string(server.dir.path().join("audit.log")).unwrap();
    let throttled = audit
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record["HttpStatusCode"] == 429)
        .collect::<Vec<_>>();
    let operations: Vec<_> = throttled.iter().map(|r| r["OperationName"].as_str().unwrap_or_default()).collect();
    assert_eq!(operations, ["SecretGet", "SecretGet", "KeyCreate"]);
    assert!(throttled.iter().all(|r| r["ResultDescription"] == "Throttled"), "{throttled:?}");
}

#[tokio::test]
async fn a_subscriptions_vaults_share_a_multiple_of_the_vault_limit() {
    let server = TestServer::start(&format!(
        "[service_limits]\ntransactions = 3\nsubscription_multiple = 1\n{STANDARD_TENANTS}{LEDGER}"
    ))
    .await;
    let token = server.token("contoso", "admin").await;
    let (admitted, _) = read_until_refused(&server, "billing", &token, 20).await;
    assert_eq!(admitted, 3);
    // billing and ledger are in contoso's one subscription: ledger has no room left either.
    assert_throttled(read(&server, "ledger", &token).await, "SubscriptionRequestTypeLimitReached", 10).await;
    // fabrikam's vault is in another subscription.
    let outsider = server.token("fabrikam", "outsider").await;
    assert_eq!(read(&server, "fabrikam-vault", &outsider).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_database_hold_one_limit_between_them() {
    let Some(admin) = postgres_server("shared-limits") else { return };
    let url = tokio::task::spawn_blocking(move || create_database(&admin)).await.unwrap().unwrap();
    let tail = format!("storage = \"{url}\"\n[service_limits]\ntransactions = 10\n{STANDARD_TENANTS}");
    let a = TestServer::start(&tail).await;
    let b = TestServer::start_beside(&a, &tail).await;
    // Each node is its own issuer (its port is in the issuer): a token from each.
    let (token_a, token_b) = (a.token("contoso", "admin").await, b.token("contoso", "admin").await);

    for _ in 0..6 {
        assert_eq!(read(&a, "billing", &token_a).await.status(), 200);
    }
    // B hears of A's six within a report or two.
    wait_until_used(&b, 60.0).await;
    // Alone, B would let ten through; together they let ten through in all.
    let (admitted, refused) = read_until_refused(&b, "billing", &token_b, 20).await;
    assert_eq!(admitted, 4);
    assert_throttled(refused, "VaultRequestTypeLimitReached", 10).await;
    // And A hears of B's four: the vault is full on both nodes.
    wait_until_used(&a, 100.0).await;
    assert_throttled(read(&a, "billing", &token_a).await, "VaultRequestTypeLimitReached", 10).await;
}

/// Waits until `server` counts at least `percent` of billing's transactions limit in use, over every node.
async fn wait_until_used(server: &TestServer, percent: f64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = server.running().state();
        let used = state
            .limits
            .saturation(&state.directory())
            .into_iter()
            .find(|(vault, limit, _)| vault == "billing" && *limit == "transactions")
            .map_or(0.0, |(_, _, used)| used);
        if used >= percent {
            return;
        }
        assert!(Instant::now() < deadline, "{used}% of billing's limit seen, {percent}% expected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
