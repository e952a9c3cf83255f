//! Metrics in Prometheus's text format, and health, on the optional plain-HTTP `metrics_listen`.
//!
//! Key Vault's own metrics, per vault — `ServiceApiHit`, `ServiceApiResult` and `ServiceApiLatency` by activity
//! (and status), `Availability` — are counted where each vault request's audit record is written, so that the
//! two always agree; the token service's grants by type and outcome where each sign-in is audited. Gauges
//! (connections, saturation, lock-outs, each vault's use of its service limits) are read when scraped. Labels
//! come only from names the server knows (vaults that exist, its own operation names, the grant types it
//! serves), so no caller can grow the set.
//!
//! `/healthz` answers while the process serves; `/readyz` when the store answers, signing keys are loaded and,
//! on a shared database, the other nodes' changes are heard.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use strongroom_store::StoreUsage;

use crate::http::ConnectionGate;
use crate::state::AppState;

/// The grant types the token service serves; any other is counted as `other`.
const GRANT_TYPES: &[&str] = &[
    "client_credentials",
    "password",
    "refresh_token",
    "authorization_code",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "managed_identity",
];

/// The counters of one activity of one vault answered with one status.
#[derive(Debug, Default, Clone, Copy)]
struct Calls {
    count: u64,
    latency_ms: f64,
}

/// One vault's calls, by activity and status.
type VaultCalls = HashMap<(&'static str, u16), Calls>;

/// What is counted.
#[derive(Debug)]
pub struct Metrics {
    /// Per vault, its calls.
    vaults: RwLock<HashMap<String, Mutex<VaultCalls>>>,
    /// Per (grant type, succeeded), the token requests.
    grants: Mutex<HashMap<(&'static str, bool), u64>>,
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Self { vaults: RwLock::default(), grants: Mutex::default(), started: Instant::now() }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Key Vault's activity type of an operation, from its name.
fn activity_type(operation: &str) -> &'static str {
    for (prefix, kind) in [("Secret", "secret"), ("Key", "key"), ("Certificate", "certificate")] {
        if operation.starts_with(prefix) {
            return kind;
        }
    }
    "vault"
}

impl Metrics {
    /// Counts a request to the existing vault `vault` for `activity`, answered with `status` after `elapsed`.
    pub fn vault_call(&self, vault: &str, activity: &'static str, status: u16, elapsed: Duration) {
        let count = |calls: &Mutex<VaultCalls>| {
            let mut calls = lock(calls);
            let entry = calls.entry((activity, status)).or_default();
            entry.count += 1;
            entry.latency_ms += elapsed.as_secs_f64() * 1000.0;
        };
        // The warm path: the vault is known, and is counted under the shared read lock.
        if let Some(calls) = self.vaults.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(vault) {
            return count(calls);
        }
        let mut vaults = self.vaults.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        count(vaults.entry(vault.to_owned()).or_default());
    }

    /// Counts a token request of `grant_type`.
    pub fn grant(&self, grant_type: &str, succeeded: bool) {
        let grant_type = GRANT_TYPES.iter().find(|g| **g == grant_type).copied().unwrap_or("other");
        *lock(&self.grants).entry((grant_type, succeeded)).or_default() += 1;
    }

    /// The counters and `gauges` in Prometheus's text format.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut text = String::with_capacity(4096);
        let vaults: Vec<(String, VaultCalls)> = {
            let vaults = self.vaults.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut copied: Vec<_> = vaults.iter().map(|(name, calls)| (name.clone(), lock(calls).clone())).collect();
            copied.sort_by(|a, b| a.0.cmp(&b.0));
            copied
        };
        let activities = |calls: &VaultCalls| {
            let mut by_activity: Vec<(&'static str, Calls)> = Vec::new();
            for ((activity, _), c) in calls {
                match by_activity.iter_mut().find(|(a, _)| a == activity) {
                    Some((_, total)) => {
                        total.count += c.count;
                        total.latency_ms += c.latency_ms;
                    }
                    None => by_activity.push((activity, *c)),
                }
            }
            by_activity.sort_by(|a, b| a.0.cmp(b.0));
            by_activity
        };
        header(
            &mut text,
            "strongroom_keyvault_service_api_hit_total",
            "counter",
            "Key Vault's ServiceApiHit: requests by vault and activity.",
        );
        for (vault, calls) in &vaults {
            for (activity, total) in activities(calls) {
                let _ = writeln!(
                    text,
                    "strongroom_keyvault_service_api_hit_total{{{}}} {}",
                    labels(vault, activity),
                    total.count
                );
            }
        }
        header(
            &mut text,
            "strongroom_keyvault_service_api_result_total",
            "counter",
            "Key Vault's ServiceApiResult: requests by vault, activity and status code.",
        );
        for (vault, calls) in &vaults {
            let mut results: Vec<_> = calls.iter().collect();
            results.sort_by_key(|((activity, status), _)| (*activity, *status));
            for ((activity, status), c) in results {
                let _ = writeln!(
                    text,
                    "strongroom_keyvault_service_api_result_total{{{},status_code=\"{status}\",status_code_class=\"{}xx\"}} {}",
                    labels(vault, activity),
                    status / 100,
                    c.count
                );
            }
        }
        header(
            &mut text,
            "strongroom_keyvault_service_api_latency_milliseconds",
            "summary",
            "Key Vault's ServiceApiLatency: time to answer, by vault and activity.",
        );
        for (vault, calls) in &vaults {
            for (activity, total) in activities(calls) {
                let labels = labels(vault, activity);
                let _ = writeln!(
                    text,
                    "strongroom_keyvault_service_api_latency_milliseconds_sum{{{labels}}} {:.3}",
                    total.latency_ms
                );
                let _ = writeln!(
                    text,
                    "strongroom_keyvault_service_api_latency_milliseconds_count{{{labels}}} {}",
                    total.count
                );
            }
        }
        header(
            &mut text,
            "strongroom_keyvault_availability_percent",
            "gauge",
            "Key Vault's Availability: the share of a vault's requests not failed by the service (5xx).",
        );
        for (vault, calls) in &vaults {
            let total: u64 = calls.values().map(|c| c.count).sum();
            let failed: u64 = calls.iter().filter(|((_, status), _)| *status >= 500).map(|(_, c)| c.count).sum();
            if total > 0 {
                #[allow(clippy::cast_precision_loss)] // counts far below 2^52
                let percent = 100.0 * (total - failed) as f64 / total as f64;
                let _ = writeln!(
                    text,
                    "strongroom_keyvault_availability_percent{{vault=\"{}\"}} {percent:.3}",
                    escape(vault)
                );
            }
        }
        header(&mut text, "strongroom_token_grants_total", "counter", "Token requests by grant type and outcome.");
        let mut grants: Vec<_> = lock(&self.grants).iter().map(|(k, v)| (*k, *v)).collect();
        grants.sort();
        for ((grant_type, succeeded), count) in grants {
            let outcome = if succeeded { "success" } else { "failure" };
            let _ = writeln!(
                text,
                "strongroom_token_grants_total{{grant_type=\"{grant_type}\",outcome=\"{outcome}\"}} {count}"
            );
        }
        for (name, kind, help, value) in [
            (
                "strongroom_sign_in_lockouts_total",
                "counter",
                "Sign-in attempts refused by the lock-out (AADSTS50053).",
                gauges.lockouts as f64,
            ),
            (
                "strongroom_http_connections_open",
                "gauge",
                "Connections open over every listener.",
                gauges.connections_open as f64,
            ),
            (
                "strongroom_http_connections_max",
                "gauge",
                "The cap on connections open at once.",
                gauges.connections_max as f64,
            ),
            (
                "strongroom_keyvault_saturation_percent",
                "gauge",
                "Key Vault's Saturation: connections open, as a share of the cap.",
                gauges.saturation_percent(),
            ),
            (
                "strongroom_uptime_seconds",
                "gauge",
                "Seconds since the server started.",
                self.started.elapsed().as_secs_f64(),
            ),
        ] {
            header(&mut text, name, kind, help);
            let _ = writeln!(text, "{name} {value}");
        }
        if !gauges.vault_saturation.is_empty() {
            let name = "strongroom_keyvault_vault_saturation_percent";
            header(
                &mut text,
                name,
                "gauge",
                "Key Vault's vault saturation: the share of each service limit a vault uses in the window now, over every node.",
            );
            for (vault, limit, percent) in &gauges.vault_saturation {
                let _ = writeln!(text, "{name}{{vault=\"{}\",limit=\"{limit}\"}} {percent:.3}", escape(vault));
            }
        }
        if let Some((hits, misses)) = gauges.cache_reads {
            let name = "strongroom_store_cache_reads_total";
            header(
                &mut text,
                name,
                "counter",
                "Object version reads answered from the cache (hit) or the database (miss).",
            );
            let _ = writeln!(text, "{name}{{result=\"hit\"}} {hits}\n{name}{{result=\"miss\"}} {misses}");
        }
        render_http(&mut text, gauges);
        render_store(&mut text, &gauges.store);
        text
    }
}

/// Values read when metrics are scraped.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// Attempts refused by the lock-out since start.
    pub lockouts: u64,
    /// Connections open now.
    pub connections_open: usize,
    /// The connection cap.
    pub connections_max: usize,
    /// The store cache's hits and misses, when it has a cache.
    pub cache_reads: Option<(u64, u64)>,
    /// The store's database work, pool and cluster.
    pub store: StoreUsage,
    /// Connections refused at a cap.
    pub connections_refused: u64,
    /// Timeouts of the HTTP layer, by what timed out.
    pub http_timeouts: [(&'static str, u64); 4],
    /// Per vault and service limit, the share of the limit in use now, in percent (none when limits are off).
    pub vault_saturation: Vec<(String, &'static str, f64)>,
}

impl Gauges {
    fn saturation_percent(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)] // connection counts far below 2^52
        match self.connections_max {
            0 => 0.0,
            max => 100.0 * self.connections_open as f64 / max as f64,
        }
    }
}

/// The HTTP layer's refusals and timeouts.
fn render_http(text: &mut String, gauges: &Gauges) {
    let refused = "strongroom_http_connections_refused_total";
    header(text, refused, "counter", "Connections closed at once because a connection cap was reached.");
    let _ = writeln!(text, "{refused} {}", gauges.connections_refused);
    let name = "strongroom_http_timeouts_total";
    header(
        text,
        name,
        "counter",
        "Connections and requests ended by a time limit: the TLS handshake, a request's header, an idle connection, a request body.",
    );
    for (stage, count) in gauges.http_timeouts {
        let _ = writeln!(text, "{name}{{stage=\"{stage}\"}} {count}");
    }
}

/// The store's work on its database, its connection pool and, on a shared database, the other nodes.
fn render_store(text: &mut String, store: &StoreUsage) {
    let duration = "strongroom_store_operation_duration_seconds";
    header(text, duration, "summary", "Database work, from asking for a connection to the answer, by kind.");
    for (kind, timed) in [("read", store.reads), ("write", store.writes)] {
        let _ = writeln!(text, "{duration}_sum{{kind=\"{kind}\"}} {:.6}", timed.seconds);
        let _ = writeln!(text, "{duration}_count{{kind=\"{kind}\"}} {}", timed.count);
    }
    let failures = "strongroom_store_failures_total";
    header(text, failures, "counter", "Database work that failed, by kind of failure.");
    for (kind, count) in &store.failures {
        let _ = writeln!(text, "{failures}{{kind=\"{kind}\"}} {count}");
    }
    if let Some(pool) = store.pool {
        let name = "strongroom_store_pool_connections";
        header(text, name, "gauge", "The database connection pool: connections open, idle, and the most it opens.");
        for (state, count) in [("open", pool.open), ("idle", pool.idle), ("max", pool.max)] {
            let _ = writeln!(text, "{name}{{state=\"{state}\"}} {count}");
        }
    }
    if let Some(cluster) = store.cluster {
        for (name, kind, help, value) in [
            ("strongroom_cluster_peers", "gauge", "Other nodes heard from in the last seconds.", cluster.peers as f64),
            (
                "strongroom_cluster_notices_heard_total",
                "counter",
                "Change notices heard from the other nodes.",
                cluster.notices_heard as f64,
            ),
            (
                "strongroom_cluster_unacknowledged_writes_total",
                "counter",
                "Writes whose change not every other node acknowledged in time.",
                cluster.unacknowledged as f64,
            ),
        ] {
            header(text, name, kind, help);
            let _ = writeln!(text, "{name} {value}");
        }
        let lag = "strongroom_cluster_acknowledgement_seconds";
        header(
            text,
            lag,
            "summary",
            "The cluster's lag as writes see it: the wait for the other nodes to take a change up.",
        );
        let _ =
            writeln!(text, "{lag}_sum {:.6}\n{lag}_count {}", cluster.acknowledged.seconds, cluster.acknowledged.count);
    }
}

fn header(text: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn labels(vault: &str, activity: &str) -> String {
    format!(
        "vault=\"{}\",activity_type=\"{}\",activity_name=\"{}\"",
        escape(vault),
        activity_type(activity),
        escape(activity)
    )
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// What the metrics listener's handlers share.
#[derive(Clone)]
pub struct Scrape {
    /// Server state.
    pub state: Arc<AppState>,
    /// The connection caps, for the connection gauges.
    pub gate: Arc<ConnectionGate>,
}

/// The routes of `metrics_listen`.
pub fn router(scrape: Scrape) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(scrape)
}

async fn metrics(State(scrape): State<Scrape>) -> Response {
    let (connections_open, connections_max) = scrape.gate.usage();
    let gauges = Gauges {
        lockouts: scrape.state.sign_in_throttle.lockouts(),
        connections_open,
        connections_max,
        cache_reads: scrape.state.store.cache_reads(),
        store: scrape.state.store.usage(),
        connections_refused: scrape.gate.hits().refused(),
        http_timeouts: scrape.gate.hits().timeouts(),
        vault_saturation: scrape.state.limits.saturation(&scrape.state.directory()),
    };
    let text = scrape.state.metrics.render(&gauges);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// Ready when the store answers (a read of one setting), a signing key is loaded, and, on a database shared
/// with other nodes, their changes are being heard (while not, this node cannot know what they changed).
async fn ready(State(scrape): State<Scrape>) -> Response {
    let state = &scrape.state;
    let unready = |why: String| (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    if let Err(e) = state.store.sealed_setting("readiness-probe").await {
        return unready(format!("the store does not answer: {e}\n"));
    }
    if !state.keys.has_current() {
        return unready("no signing key is loaded\n".to_owned());
    }
    if state.store.changes().is_some_and(|feed| !feed.is_connected()) {
        return unready("the other nodes' changes are not being heard\n".to_owned());
    }
    (StatusCode::OK, "ready\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_calls_are_counted_by_activity_and_status_in_the_text_format() {
        let metrics = Metrics::default();
        metrics.vault_call("dev", "SecretGet", 200, Duration::from_millis(2));
        metrics.vault_call("dev", "SecretGet", 200, Duration::from_millis(4));
        metrics.vault_call("dev", "SecretGet", 403, Duration::from_millis(1));
        metrics.vault_call("dev", "KeyCreate", 503, Duration::from_millis(1));
        metrics.grant("client_credentials", true);
        metrics.grant("made-up", false);
        let text = metrics.render(&Gauges {
            lockouts: 2,
            connections_open: 5,
            connections_max: 100,
            cache_reads: Some((7, 3)),
            store: StoreUsage {
                reads: strongroom_store::Timed { count: 4, seconds: 0.25 },
                failures: vec![("unavailable", 1)],
                pool: Some(strongroom_store::PoolUsage { open: 3, idle: 2, max: 16 }),
                cluster: Some(strongroom_store::ClusterUsage {
                    peers: 2,
                    notices_heard: 9,
                    acknowledged: strongroom_store::Timed { count: 5, seconds: 0.5 },
                    unacknowledged: 1,
                }),
                ..StoreUsage::default()
            },
            connections_refused: 6,
            http_timeouts: [("handshake", 1), ("header", 2), ("idle", 3), ("body", 4)],
            vault_saturation: vec![("dev".to_owned(), "transactions", 12.5)],
        });
        for line in [
            r#"strongroom_keyvault_service_api_hit_total{vault="dev",activity_type="secret",activity_name="SecretGet"} 3"#,
            r#"strongroom_keyvault_service_api_result_total{vault="dev",activity_type="secret",activity_name="SecretGet",status_code="403",status_code_class="4xx"} 1"#,
            r#"strongroom_keyvault_service_api_latency_milliseconds_count{vault="dev",activity_type="key",activity_name="KeyCreate"} 1"#,
            r#"strongroom_keyvault_availability_percent{vault="dev"} 75.000"#,
            r#"strongroom_token_grants_total{grant_type="client_credentials",outcome="success"} 1"#,
            r#"strongroom_token_grants_total{grant_type="other",outcome="failure"} 1"#,
            "strongroom_sign_in_lockouts_total 2",
            "strongroom_keyvault_saturation_percent 5",
            r#"strongroom_store_cache_reads_total{result="hit"} 7"#,
            r#"strongroom_store_operation_duration_seconds_sum{kind="read"} 0.250000"#,
            r#"strongroom_store_operation_duration_seconds_count{kind="write"} 0"#,
            r#"strongroom_store_failures_total{kind="unavailable"} 1"#,
            r#"strongroom_store_pool_connections{state="idle"} 2"#,
            "strongroom_cluster_peers 2",
            "strongroom_cluster_notices_heard_total 9",
            "strongroom_cluster_unacknowledged_writes_total 1",
            "strongroom_cluster_acknowledgement_seconds_count 5",
            "strongroom_http_connections_refused_total 6",
            r#"strongroom_http_timeouts_total{stage="body"} 4"#,
            r#"strongroom_keyvault_vault_saturation_percent{vault="dev",limit="transactions"} 12.500"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\nnot in\n{text}");
        }
    }
}
