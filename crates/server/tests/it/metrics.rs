//! Metrics and health (issue 23, part 2): `/metrics` on `metrics_listen` counts each vault request by vault,
//! activity and status as Key Vault's metrics do, and each token request by grant type and outcome; a name in a
//! request's host that is no vault adds nothing; `/healthz` and `/readyz` answer.

use crate::harness::{STANDARD_TENANTS, TestServer};

/// The value of the sample `series` (name and labels, as written) in a scrape, 0 when absent.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |value| value.parse().unwrap())
}

/// A scrape of `server`'s `/metrics`.
pub async fn scrape(server: &TestServer) -> String {
    let address = server.running().metrics_address().unwrap();
    reqwest::get(format!("http://{address}/metrics")).await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn vault_and_token_requests_move_the_counters_and_health_answers() {
    let server = TestServer::start(&format!(
        "metrics_listen = \"127.0.0.1:0\"\nheader_read_timeout_seconds = 1\n{STANDARD_TENANTS}"
    ))
    .await;
    let address = server.running().metrics_address().unwrap();
    let plain = reqwest::Client::new();
    let scrape = || async {
        let response = plain.get(format!("http://{address}/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        response.text().await.unwrap()
    };
    let hits = r#"strongroom_keyvault_service_api_hit_total{vault="billing",activity_type="secret",activity_name="SecretGet"}"#;
    let ok = r#"strongroom_keyvault_service_api_result_total{vault="billing",activity_type="secret",activity_name="SecretGet",status_code="200",status_code_class="2xx"}"#;
    let refused = r#"strongroom_keyvault_service_api_result_total{vault="billing",activity_type="secret",activity_name="SecretGet",status_code="403",status_code_class="4xx"}"#;
    let grants = r#"strongroom_token_grants_total{grant_type="client_credentials",outcome="success"}"#;
    let before = scrape().await;

    let user = server.token("contoso", "secrets-user").await;
    let reader = server.token("contoso", "reader").await;
    for token in [&user, &user, &reader] {
        let _ = server
            .vault_call(reqwest::Method::GET, "billing", "/secrets/seeded?api-version=7.5", Some(token), None)
            .await;
    }
    let _ =
        server.vault_call(reqwest::Method::GET, "nowhere", "/secrets/seeded?api-version=7.5", Some(&user), None).await;
    let after = scrape().await;

    assert_eq!(sample(&after, hits) - sample(&before, hits), 3.0, "{after}");
    assert_eq!(sample(&after, ok) - sample(&before, ok), 2.0);
    assert_eq!(sample(&after, refused) - sample(&before, refused), 1.0, "Key Vault Reader may not read values");
    assert!(sample(&after, grants) - sample(&before, grants) >= 2.0);
    let latency = r#"strongroom_keyvault_service_api_latency_milliseconds_count{vault="billing",activity_type="secret",activity_name="SecretGet"}"#;
    assert_eq!(sample(&after, latency), sample(&after, hits));
    assert_eq!(sample(&after, r#"strongroom_keyvault_availability_percent{vault="billing"}"#), 100.0);
    assert!(sample(&after, "strongroom_http_connections_open") >= 1.0);
    let cached = r#"strongroom_store_cache_reads_total{result="hit"}"#;
    assert!(sample(&after, cached) > sample(&before, cached), "the second read of a value came from the cache");
    let reads = r#"strongroom_store_operation_duration_seconds_count{kind="read"}"#;
    assert!(sample(&after, reads) > sample(&before, reads), "the first read of a value went to the database");
    assert!(sample(&after, r#"strongroom_store_operation_duration_seconds_sum{kind="read"}"#) > 0.0);
    assert!(after.contains("strongroom_store_failures_total{kind=\"unavailable\"} 0"), "{after}");
    assert!(!after.contains("strongroom_store_pool_connections"), "SQLite keeps no pool");
    assert!(!after.contains("nowhere"), "a host that names no vault adds no series");
    for line in after.lines().filter(|l| l.starts_with("# TYPE ")) {
        let kind = line.rsplit(' ').next().unwrap();
        assert!(["counter", "gauge", "summary"].contains(&kind), "{line}");
    }

    // A client that connects and never says hello is shut out when the handshake's time is up, and counted.
    let handshakes = r#"strongroom_http_timeouts_total{stage="handshake"}"#;
    let silent = tokio::net::TcpStream::connect(server.running().address()).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sample(&scrape().await, handshakes) == sample(&after, handshakes) {
        assert!(std::time::Instant::now() < deadline, "the silent connection was not timed out");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    drop(silent);

    for (path, body) in [("/healthz", "ok\n"), ("/readyz", "ready\n")] {
        let response = plain.get(format!("http://{address}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.text().await.unwrap(), body);
    }
}
