//! Storage on PostgreSQL (when STRONGROOM_TEST_POSTGRES names a server): a node that loses its database answers
//! 503 with Retry-After, in each protocol's envelope, and recovers by itself once the database is back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use strongroom_store::postgres::create_database;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use std::path::Path;

use strongroom_server::config::Config;
use strongroom_server::installation::Installation;

use crate::harness::{STANDARD_TENANTS, TestServer, billing_call};
use crate::metrics::{sample, scrape};

/// A TCP relay to the database that the test can cut (every connection dropped, new ones refused) and mend.
struct Relay {
    port: u16,
    open: watch::Sender<bool>,
}

impl Relay {
    async fn to(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (open, mut state) = watch::channel(true);
        tokio::spawn(async move {
            let mut listener = Some(listener);
            loop {
                if !*state.borrow() {
                    listener = None;
                    if state.changed().await.is_err() {
                        return;
                    }
                    continue;
                }
                let bound = match listener.take() {
                    Some(bound) => bound,
                    None => TcpListener::bind(("127.0.0.1", port)).await.unwrap(),
                };
                tokio::select! {
                    accepted = bound.accept() => {
                        let (mut inbound, _) = accepted.unwrap();
                        let mut cut = state.clone();
                        tokio::spawn(async move {
                            let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                            tokio::select! {
                                _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                                _ = cut.wait_for(|open| !open) => {}
                            }
                        });
                    }
                    changed = state.changed() => if changed.is_err() { return },
                }
                listener = Some(bound);
            }
        });
        Self { port, open }
    }
}

/// `url` with its host and port replaced by the relay's; and the address it named.
/// The test PostgreSQL server's URL, or `None` when none is configured (the test then skips, saying so); under
/// CI (`CI=true`) a missing server fails the test instead.
pub fn postgres_server(test: &str) -> Option<String> {
    let url = std::env::var("STRONGROOM_TEST_POSTGRES").ok();
    if url.is_none() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "STRONGROOM_TEST_POSTGRES is not set under CI");
        eprintln!("STRONGROOM_TEST_POSTGRES is not set: the PostgreSQL {test} test is skipped");
    }
    url
}

fn through(url: &str, port: u16) -> (String, SocketAddr) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, rest) = rest.split_once('@').map_or(("", rest), |(u, r)| (u, r));
    let (authority, path) = rest.split_once('/').unwrap();
    let target = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:5432") };
    let target = target.replace("localhost", "127.0.0.1").parse().unwrap();
    let user = if user.is_empty() { String::new() } else { format!("{user}@") };
    (format!("{scheme}://{user}127.0.0.1:{port}/{path}"), target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_loses_its_database_answers_503_and_recovers_by_itself() {
    let Some(admin) = postgres_server("outage") else { return };
    let url = tokio::task::spawn_blocking(move || create_database(&admin)).await.unwrap().unwrap();
    let (_, target) = through(&url, 0);
    let relay = Relay::to(target).await;
    let (storage, _) = through(&url, relay.port);
    let server =
        TestServer::start(&format!("storage = \"{storage}\"\nmetrics_listen = \"127.0.0.1:0\"\n{STANDARD_TENANTS}"))
            .await;
    let ready = format!("http://{}/readyz", server.running().metrics_address().unwrap());
    let readiness = || async { reqwest::get(&ready).await.unwrap().status().as_u16() };
    let token = server.token("contoso", "admin").await;
    let (status, _) = billing_call(&server, &token, Method::PUT, "/secrets/kept", Some(json!({"value": "v1"}))).await;
    assert_eq!(status, 200);
    assert_eq!(readiness().await, 200);

    relay.open.send(false).unwrap();
    // The relay drops its connections as its tasks take the cut up: a write may still land until they have.
    let deadline = Instant::now() + Duration::from_secs(10);
    let put = loop {
        let put = server
            .vault_call(
                Method::PUT,
                "billing",
                "/secrets/kept?api-version=7.6",
                Some(&token),
                Some(json!({"value": "v2"})),
            )
            .await;
        if put.status() != 200 {
            break put;
        }
        assert!(Instant::now() < deadline, "the node still writes 10 s after its database was cut off");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(put.status().as_u16(), 503);
    assert_eq!(put.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let body: serde_json::Value = put.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ServiceUnavailable", "{body}");
    // Without the database, the cache cannot know what other nodes changed: reads are refused too.
    let (status, _) = billing_call(&server, &token, Method::GET, "/secrets/kept", None).await;
    assert_eq!(status, 503);
    assert_eq!(readiness().await, 503, "not ready while the database is out of reach");

    relay.open.send(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _) =
            billing_call(&server, &token, Method::PUT, "/secrets/kept", Some(json!({"value": "v2"}))).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(Instant::now() < deadline, "the node did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = billing_call(&server, &token, Method::GET, "/secrets/kept", None).await;
    assert_eq!((status, body["value"].as_str()), (200, Some("v2")));
    let metrics = scrape(&server).await;
    assert!(sample(&metrics, r#"strongroom_store_failures_total{kind="unavailable"}"#) >= 1.0, "{metrics}");
    assert_eq!(sample(&metrics, r#"strongroom_store_pool_connections{state="max"}"#), 16.0);
    // Ready again once the other nodes' changes are heard again, which the feed's own reconnection decides.
    let deadline = Instant::now() + Duration::from_secs(20);
    while readiness().await != 200 {
        assert!(Instant::now() < deadline, "not ready 20 s after the database came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The cluster's metrics: a write on one node waits for the other to take it up, and both count it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_count_the_notices_they_hear_and_the_acknowledgements_they_wait_for() {
    let Some(admin) = postgres_server("cluster metrics") else { return };
    let url = tokio::task::spawn_blocking(move || create_database(&admin)).await.unwrap().unwrap();
    let tail = format!("storage = \"{url}\"\nmetrics_listen = \"127.0.0.1:0\"\n{STANDARD_TENANTS}");
    let a = TestServer::start(&tail).await;
    let b = TestServer::start_beside(&a, &tail).await;
    // Nodes learn of each other from their heartbeats, once a second.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sample(&scrape(&a).await, "strongroom_cluster_peers") < 1.0 {
        assert!(Instant::now() < deadline, "node A never heard of node B");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let heard_before = sample(&scrape(&b).await, "strongroom_cluster_notices_heard_total");
    let token = a.token("contoso", "admin").await;
    let (status, _) = billing_call(&a, &token, Method::PUT, "/secrets/shared", Some(json!({"value": "v1"}))).await;
    assert_eq!(status, 200);

    let on_a = scrape(&a).await;
    assert!(sample(&on_a, "strongroom_cluster_acknowledgement_seconds_count") >= 1.0, "{on_a}");
    // Zero is possible: on a busy machine B's acknowledgement can arrive before A's writer starts to wait.
    assert!(sample(&on_a, "strongroom_cluster_acknowledgement_seconds_sum") >= 0.0);
    assert_eq!(sample(&on_a, "strongroom_cluster_unacknowledged_writes_total"), 0.0);
    assert!(sample(&on_a, r#"strongroom_store_operation_duration_seconds_count{kind="write"}"#) >= 1.0);
    assert!(sample(&on_a, r#"strongroom_store_pool_connections{state="open"}"#) >= 1.0);
    // The write is acknowledged once B has taken it up: B has counted the notice by then.
    assert!(sample(&scrape(&b).await, "strongroom_cluster_notices_heard_total") > heard_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_started_together_on_one_empty_database_agree_on_everything() {
    let Some(admin) = postgres_server("start-up") else { return };
    let url = tokio::task::spawn_blocking(move || create_database(&admin)).await.unwrap().unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // What an operator gives every node: the same root key.
    strongroom_store::seal::RootKey::load_or_create(&a.path().join("root.key")).unwrap();
    std::fs::copy(a.path().join("root.key"), b.path().join("root.key")).unwrap();
    let open = |dir: std::path::PathBuf| {
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nstorage = \"{url}\"\n{STANDARD_TENANTS}",
            dir.display()
        );
        async move {
            let config = Config::parse(&text, Path::new("node.toml")).unwrap();
            let installation = Installation::open(config.server).await.unwrap();
            installation.provision(&config.desired).await.unwrap();
            installation
        }
    };
    let (a, b) = tokio::join!(open(a.path().to_owned()), open(b.path().to_owned()));
    let (a_store, b_store) = (a.store().clone(), b.store().clone());
    let (a_directory, b_directory) = (a_store.load_directory().await.unwrap(), b_store.load_directory().await.unwrap());
    assert_eq!(a_directory.tenants().len(), 2, "each tenant once");
    assert_eq!(a_directory.vaults().len(), b_directory.vaults().len());
    assert_eq!(a.backup_key_base64(), b.backup_key_base64(), "one backup key");
    let signing = |store: std::sync::Arc<dyn strongroom_store::Store>| async move {
        store.sealed_setting(strongroom_server::signing::SETTING).await.unwrap().map(|keys| keys.to_vec())
    };
    assert_eq!(signing(a_store).await, signing(b_store).await, "one set of signing keys");
}
