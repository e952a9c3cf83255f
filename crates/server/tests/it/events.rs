//! Event Grid events (issue 23, part 4): each event type reaches a local HTTPS webhook (its certificate from the
//! installation's own CA, which the server trusts), in the Event Grid schema and as CloudEvents; the validation
//! handshake; filters; delivery once a webhook that was down comes back, after a restart, and by another node
//! when the delivering one goes away (PostgreSQL); dead letters; and another tenant's owner sees none of it.
//! The SDKs' side is tests/python/test_events_sdk.py; the outbox's transactions are the store's unit tests.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqwest::Method;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use strongroom_store::postgres::create_database;

use crate::attack_directory::{ARM, app_token, call};
use crate::harness::{STANDARD_TENANTS, TestServer, billing_call};
use crate::storage::postgres_server;

/// contoso's admin owns the tenant's resources (so it may subscribe and move the clock).
const OWNERS: &str = "\n[[tenant.role_assignment]]\nprincipal = \"admin\"\nrole = \"Owner\"\n";
/// A third tenant whose intruder owns everything of its own.
const INTRUDER_TENANT: &str = "[[tenant]]\nname = \"northwind\"\n\n[[tenant.app]]\nname = \"intruder\"\n\
     secrets = [\"intruder-secret-0123456789\"]\n\n[[tenant.role_assignment]]\nprincipal = \"intruder\"\nrole = \"Owner\"\n";

/// How the webhook answers a notification.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    Status(u16),
    Hang,
    RefuseHandshake,
}

/// One notification the webhook received.
#[derive(Debug, Clone)]
struct Delivery {
    path: String,
    content_type: String,
    delivery_count: String,
    body: Value,
}

impl Delivery {
    /// The events in the body: an Event Grid array, or one CloudEvent.
    fn events(&self) -> Vec<Value> {
        match &self.body {
            Value::Array(events) => events.clone(),
            event => vec![event.clone()],
        }
    }

    fn event_type(&self) -> String {
        let event = &self.events()[0];
        event["eventType"].as_str().or(event["type"].as_str()).unwrap_or_default().to_owned()
    }
}

#[derive(Default)]
struct Seen {
    deliveries: Vec<Delivery>,
    handshakes: usize,
}

/// A local webhook: HTTPS with a certificate from the server's CA, or plain HTTP (loopback).
struct Webhook {
    address: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    answer: Arc<Mutex<Answer>>,
    tls: Option<Arc<rustls::ServerConfig>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Webhook {
    /// A webhook whose certificate the server's local CA (in `data_dir`) issued for 127.0.0.1.
    async fn https(data_dir: &std::path::Path) -> Self {
        let ca_pem = std::fs::read_to_string(data_dir.join("ca.pem")).unwrap();
        let ca_key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(data_dir.join("ca-key.pem")).unwrap()).unwrap();
        let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap();
        let issuer = rcgen::Issuer::from_ca_cert_der(&ca_der, ca_key).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap())];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    vec![cert.der().clone()],
                    PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap(),
                )
                .unwrap();
        Self::start(Some(Arc::new(config)), 0).await
    }

    /// A plain-HTTP webhook on loopback.
    async fn http() -> Self {
        Self::start(None, 0).await
    }

    async fn start(tls: Option<Arc<rustls::ServerConfig>>, port: u16) -> Self {
        let mut webhook = Self {
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            seen: Arc::default(),
            answer: Arc::new(Mutex::new(Answer::Status(200))),
            tls,
            task: None,
        };
        webhook.up().await;
        webhook
    }

    fn url(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.address)
    }

    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    /// Listens (again, on the same port).
    async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.address).await.unwrap();
        self.address = listener.local_addr().unwrap();
        let (seen, answer, tls) = (Arc::clone(&self.seen), Arc::clone(&self.answer), self.tls.clone());
        self.task = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (seen, answer, tls) = (Arc::clone(&seen), Arc::clone(&answer), tls.clone());
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let (seen, answer) = (Arc::clone(&seen), Arc::clone(&answer));
                        async move { Ok::<_, std::convert::Infallible>(respond(&seen, &answer, request).await) }
                    });
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        Some(config) => {
                            let Ok(stream) = tokio_rustls::TlsAcceptor::from(config).accept(stream).await else {
                                return;
                            };
                            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                        }
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        }));
    }

    /// Stops listening and drops every connection.
    fn down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.seen.lock().unwrap().deliveries.clone()
    }

    fn handshakes(&self) -> usize {
        self.seen.lock().unwrap().handshakes
    }

    /// Waits until `done` holds of what arrived.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Delivery]) -> bool) -> Vec<Delivery> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let deliveries = self.deliveries();
            if done(&deliveries) {
                return deliveries;
            }
            let types: Vec<String> = deliveries.iter().map(Delivery::event_type).collect();
            assert!(Instant::now() < deadline, "{what} never arrived; arrived: {types:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.down();
    }
}

async fn respond(seen: &Mutex<Seen>, answer: &Mutex<Answer>, request: Request<Incoming>) -> Response<Body> {
    let answer = *answer.lock().unwrap();
    let (parts, body) = request.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let reply = |status: u16, body: Body| Response::builder().status(status).body(body).unwrap();
    if parts.method == Method::OPTIONS {
        seen.lock().unwrap().handshakes += 1;
        if answer == Answer::RefuseHandshake {
            return reply(403, Body::empty());
        }
        let origin = header("webhook-request-origin");
        return Response::builder().status(200).header("WebHook-Allowed-Origin", origin).body(Body::empty()).unwrap();
    }
    let bytes: Bytes = axum::body::to_bytes(Body::new(body), 1 << 20).await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if header("aeg-event-type") == "SubscriptionValidation" {
        seen.lock().unwrap().handshakes += 1;
        assert_eq!(body[0]["eventType"], "Microsoft.EventGrid.SubscriptionValidationEvent");
        if answer == Answer::RefuseHandshake {
            return reply(200, Body::from("no"));
        }
        let code = body[0]["data"]["validationCode"].clone();
        return reply(200, Body::from(json!({ "validationResponse": code }).to_string()));
    }
    seen.lock().unwrap().deliveries.push(Delivery {
        path: parts.uri.path().to_owned(),
        content_type: header("content-type"),
        delivery_count: header("aeg-delivery-count"),
        body,
    });
    match answer {
        Answer::Status(status) => reply(status, Body::empty()),
        Answer::Hang => {
            std::future::pending::<()>().await;
            reply(500, Body::empty())
        }
        Answer::RefuseHandshake => reply(200, Body::empty()),
    }
}

fn vault_path(server: &TestServer, vault: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults/{vault}",
        server.tenant_id("contoso")
    )
}

fn subscription_path(server: &TestServer, name: &str) -> String {
    format!("{}/providers/Microsoft.EventGrid/eventSubscriptions/{name}", vault_path(server, "billing"))
}

fn subscription_body(endpoint: &str, schema: &str, filter: Value, retry: Value) -> Value {
    json!({"properties": {
        "destination": {"endpointType": "WebHook", "properties": {"endpointUrl": endpoint}},
        "filter": filter,
        "eventDeliverySchema": schema,
        "retryPolicy": retry,
    }})
}

async fn subscribe(server: &TestServer, token: &str, name: &str, body: Value) -> (u16, Value) {
    call(server, Method::PUT, &subscription_path(server, name), token, Some(body)).await
}

async fn set_secret(server: &TestServer, token: &str, name: &str, attributes: Value) {
    let body = json!({"value": "v", "attributes": attributes});
    let (status, body) = billing_call(server, token, Method::PUT, &format!("/secrets/{name}"), Some(body)).await;
    assert_eq!(status, 200, "{body}");
}

/// Moves the server's clock by `seconds` through the test controls, which wakes the maintenance loop.
async fn advance(server: &TestServer, seconds: i64) {
    let token = app_token(server, "contoso", "admin", ARM).await;
    let clock = format!("/subscriptions/{}/providers/Strongroom.Testing/clock", server.tenant_id("contoso"));
    let (status, body) =
        call(server, Method::PUT, &clock, &token, Some(json!({"properties": {"advanceSeconds": seconds}}))).await;
    assert_eq!(status, 200, "{body}");
}

fn has(deliveries: &[Delivery], path: &str, event_type: &str) -> bool {
    deliveries.iter().any(|d| d.path == path && d.event_type() == event_type)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_reaches_an_https_webhook_in_either_schema() {
    let server = TestServer::start(&format!("test_controls = true\n{STANDARD_TENANTS}{OWNERS}")).await;
    let hook = Webhook::https(server.dir.path()).await;
    let owner = app_token(&server, "contoso", "admin", ARM).await;
    let (status, body) = subscribe(
        &server,
        &owner,
        "grid",
        subscription_body(&hook.url("/grid?code=k"), "EventGridSchema", json!({}), json!({})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["properties"]["provisioningState"], "Succeeded");
    let topic = body["properties"]["topic"].as_str().unwrap().to_owned();
    assert!(topic.ends_with("/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults/billing"), "{topic}");
    assert_eq!(body["properties"]["destination"]["properties"]["endpointBaseUrl"], hook.url("/grid"), "no key shown");
    let cloud = subscription_body(&hook.url("/cloud"), "CloudEventSchemaV1_0", json!({}), json!({}));
    let (status, body) = subscribe(&server, &owner, "cloud", cloud).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(hook.handshakes(), 2, "each schema's handshake");
    let (status, list) =
        call(&server, Method::GET, subscription_path(&server, "").trim_end_matches('/'), &owner, None).await;
    assert_eq!((status, list["value"].as_array().map(Vec::len)), (200, Some(2)), "{list}");

    let token = server.token("contoso", "admin").await;
    let now = server.clock.now_seconds();
    let in_ten_days = now + 10 * 86_400;
    set_secret(&server, &token, "db-password", json!({"exp": in_ten_days})).await;
    let key = json!({"kty": "EC", "crv": "P-256", "attributes": {"exp": in_ten_days}});
    let (status, body) = billing_call(&server, &token, Method::POST, "/keys/signing/create", Some(key)).await;
    assert_eq!(status, 200, "{body}");
    let policy = json!({"policy": {
        "key_props": {"kty": "EC", "crv": "P-256", "exportable": false},
        "secret_props": {"contentType": "application/x-pem-file"},
        "x509_props": {"subject": "CN=web", "validity_months": 1},
            "issuer": {"name": "Self"},
        "lifetime_actions": [{"trigger": {"days_before_expiry": 1}, "action": {"action_type": "EmailContacts"}}],
    }});
    let (status, body) = billing_call(&server, &token, Method::POST, "/certificates/web/create", Some(policy)).await;
    assert!(status == 202 || status == 200, "{body}");
    let policies = format!("{}/accessPolicies/add", vault_path(&server, "billing"));
    let entry = json!({"properties": {"accessPolicies": [{
        "tenantId": server.tenant_id("contoso"),
        "objectId": server.object_id("reader"),
        "permissions": {"secrets": ["get"]},
    }]}});
    let (status, body) = call(&server, Method::PUT, &policies, &owner, Some(entry)).await;
    assert_eq!(status, 200, "{body}");

    let created = [
        "Microsoft.KeyVault.SecretNewVersionCreated",
        "Microsoft.KeyVault.KeyNewVersionCreated",
        "Microsoft.KeyVault.CertificateNewVersionCreated",
        "Microsoft.KeyVault.VaultAccessPolicyChanged",
    ];
    hook.wait_for("the new versions' events", |d| created.iter().all(|t| has(d, "/grid", t) && has(d, "/cloud", t)))
        .await;
    // Two days on, the certificate (valid for a month) and the secret and the key (ten days) are all within 30
    // days of their expiry.
    advance(&server, 2 * 86_400).await;
    let near = [
        "Microsoft.KeyVault.SecretNearExpiry",
        "Microsoft.KeyVault.KeyNearExpiry",
        "Microsoft.KeyVault.CertificateNearExpiry",
    ];
    hook.wait_for("the near-expiry events", |d| near.iter().all(|t| has(d, "/grid", t))).await;
    advance(&server, 40 * 86_400).await;
    let expired =
        ["Microsoft.KeyVault.SecretExpired", "Microsoft.KeyVault.KeyExpired", "Microsoft.KeyVault.CertificateExpired"];
    let deliveries = hook.wait_for("the expiry events", |d| expired.iter().all(|t| has(d, "/grid", t))).await;

    let mut ids = HashSet::new();
    for delivery in deliveries.iter().filter(|d| d.path == "/grid") {
        assert!(delivery.content_type.starts_with("application/json"), "{}", delivery.content_type);
        let event = &delivery.events()[0];
        assert!(ids.insert(event["id"].as_str().unwrap().to_owned()), "each event once: {event}");
        assert_eq!((event["topic"].as_str(), event["dataVersion"].as_str()), (Some(topic.as_str()), Some("1")));
        assert_eq!(event["metadataVersion"], "1");
        assert_eq!(event["data"]["VaultName"], "billing");
        if event["eventType"] == "Microsoft.KeyVault.SecretNewVersionCreated" {
            assert_eq!(event["subject"], "db-password");
            assert_eq!(event["data"]["ObjectType"], "Secret");
            assert_eq!(event["data"]["ObjectName"], "db-password");
            assert_eq!(event["data"]["EXP"], in_ten_days);
            let id = event["data"]["Id"].as_str().unwrap();
            let version = event["data"]["Version"].as_str().unwrap();
            assert_eq!(id, format!("{}/secrets/db-password/{version}", server.vault_url("billing")));
        }
    }
    assert_eq!(ids.len(), 10, "one of each type");
    for delivery in deliveries.iter().filter(|d| d.path == "/cloud") {
        assert!(delivery.content_type.starts_with("application/cloudevents+json"), "{}", delivery.content_type);
        assert_eq!(
            (delivery.body["specversion"].as_str(), delivery.body["source"].as_str()),
            (Some("1.0"), Some(topic.as_str()))
        );
    }
    // The clock moved on: each version's events were sent once, not again at every sweep.
    advance(&server, 60).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hook.deliveries().iter().filter(|d| d.path == "/grid").count(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_must_pass_the_handshake_and_filters_choose_what_it_gets() {
    let server = TestServer::start(&format!("{STANDARD_TENANTS}{OWNERS}")).await;
    let hook = Webhook::https(server.dir.path()).await;
    let owner = app_token(&server, "contoso", "admin", ARM).await;
    hook.answer(Answer::RefuseHandshake);
    for schema in ["EventGridSchema", "CloudEventSchemaV1_0"] {
        let body = subscription_body(&hook.url("/refused"), schema, json!({}), json!({}));
        let (status, body) = subscribe(&server, &owner, "refused", body).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("Url validation")), "{body}");
        assert!(body["error"]["message"].as_str().unwrap().starts_with("Webhook validation handshake failed"));
    }
    let (status, _) = call(&server, Method::GET, &subscription_path(&server, "refused"), &owner, None).await;
    assert_eq!(status, 404, "a refused subscription is not kept");
    // An endpoint's query may hold its own secret (an Azure Functions `code`): a failure never repeats it.
    let unreachable =
        subscription_body("https://127.0.0.1:1/hook?code=hunter2", "EventGridSchema", json!({}), json!({}));
    let (status, body) = subscribe(&server, &owner, "unreachable", unreachable).await;
    assert_eq!(status, 400, "{body}");
    assert!(!body.to_string().contains("hunter2"), "the endpoint's query leaked: {body}");
    let plain = subscription_body("http://192.0.2.1/hook", "EventGridSchema", json!({}), json!({}));
    let (status, body) = subscribe(&server, &owner, "plain", plain).await;
    assert_eq!(status, 400, "plain HTTP off loopback: {body}");
    let reader = app_token(&server, "contoso", "reader", ARM).await;
    let body = subscription_body(&hook.url("/x"), "EventGridSchema", json!({}), json!({}));
    let (status, _) = subscribe(&server, &reader, "x", body).await;
    assert_eq!(status, 403, "a data-plane reader may not subscribe");

    hook.answer(Answer::Status(200));
    let filter = json!({
        "includedEventTypes": ["Microsoft.KeyVault.SecretNewVersionCreated"],
        "subjectBeginsWith": "db-",
        "subjectEndsWith": "-password",
    });
    let (status, body) = subscribe(
        &server,
        &owner,
        "filtered",
        subscription_body(&hook.url("/f"), "EventGridSchema", filter, json!({})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let token = server.token("contoso", "admin").await;
    for name in ["cache-password", "db-user", "DB-Password"] {
        set_secret(&server, &token, name, json!({})).await;
    }
    let (status, _) =
        billing_call(&server, &token, Method::POST, "/keys/db-password/create", Some(json!({"kty": "RSA"}))).await;
    assert_eq!(status, 200);
    let deliveries = hook.wait_for("the filtered event", |d| !d.is_empty()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let deliveries = if hook.deliveries().len() > deliveries.len() { hook.deliveries() } else { deliveries };
    let subjects: Vec<String> =
        deliveries.iter().map(|d| d.events()[0]["subject"].as_str().unwrap().to_owned()).collect();
    assert_eq!(subjects, ["DB-Password"], "subjects compare in any case; other types and subjects are filtered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_for_a_webhook_that_is_down_and_survive_a_restart() {
    let mut server = TestServer::start(&format!("{STANDARD_TENANTS}{OWNERS}")).await;
    let mut hook = Webhook::https(server.dir.path()).await;
    let owner = app_token(&server, "contoso", "admin", ARM).await;
    let (status, _) =
        subscribe(&server, &owner, "hook", subscription_body(&hook.url("/h"), "EventGridSchema", json!({}), json!({})))
            .await;
    assert_eq!(status, 201);
    hook.down();
    let token = server.token("contoso", "admin").await;
    set_secret(&server, &token, "while-down", json!({})).await;
    // The first attempt fails at once; the next is due ten seconds later (Event Grid's first back-off).
    tokio::time::sleep(Duration::from_secs(2)).await;
    hook.up().await;
    server.clock.set_offset_seconds(server.clock.offset_seconds() + 15);
    let deliveries = hook.wait_for("the event queued while the webhook was down", |d| !d.is_empty()).await;
    assert_eq!(deliveries[0].events()[0]["subject"], "while-down");
    assert_eq!(deliveries[0].delivery_count, "1", "the second attempt");

    // An event committed just before the server stops is delivered after it starts again.
    hook.down();
    set_secret(&server, &token, "across-restart", json!({})).await;
    server.restart().await;
    hook.up().await;
    // The stopped server may have claimed the event as it stopped: its lease (a minute) must run out first.
    server.clock.set_offset_seconds(server.clock.offset_seconds() + 75);
    hook.wait_for("the event that outlived the restart", |d| {
        d.iter().any(|d| d.events()[0]["subject"] == "across-restart")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_fails_every_attempt_is_dead_lettered_and_shown() {
    let server = TestServer::start(&format!("{STANDARD_TENANTS}{OWNERS}")).await;
    let hook = Webhook::https(server.dir.path()).await;
    let owner = app_token(&server, "contoso", "admin", ARM).await;
    let retry = json!({"maxDeliveryAttempts": 2, "eventTimeToLiveInMinutes": 60});
    let (status, body) =
        subscribe(&server, &owner, "fragile", subscription_body(&hook.url("/d"), "EventGridSchema", json!({}), retry))
            .await;
    assert_eq!((status, body["properties"]["retryPolicy"]["maxDeliveryAttempts"].as_u64()), (201, Some(2)), "{body}");
    hook.answer(Answer::Status(503));
    let token = server.token("contoso", "admin").await;
    set_secret(&server, &token, "undeliverable", json!({})).await;
    hook.wait_for("the first attempt", |d| d.len() == 1).await;
    server.clock.set_offset_seconds(15);
    hook.wait_for("the second attempt", |d| d.len() == 2).await;
    let letters = format!("{}/providers/Strongroom.Events/deadLetteredEvents", vault_path(&server, "billing"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let letter = loop {
        let (status, body) = call(&server, Method::GET, &letters, &owner, None).await;
        assert_eq!(status, 200, "{body}");
        if let Some(letter) = body["value"].as_array().and_then(|v| v.first()) {
            break letter.clone();
        }
        assert!(Instant::now() < deadline, "never dead-lettered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(letter["eventSubscription"], "fragile");
    assert_eq!(letter["deliveryAttempts"], 2);
    assert_eq!(letter["eventType"], "Microsoft.KeyVault.SecretNewVersionCreated");
    assert!(letter["lastDeliveryOutcome"].as_str().unwrap().contains("503"), "{letter}");
    assert_eq!(letter["event"]["subject"], "undeliverable");
    server.clock.set_offset_seconds(15 + 3600);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hook.deliveries().len(), 2, "no attempt after the last");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_owner_can_neither_subscribe_nor_see() {
    let server = TestServer::start(&format!("{STANDARD_TENANTS}{OWNERS}\n{INTRUDER_TENANT}")).await;
    let hook = Webhook::https(server.dir.path()).await;
    let owner = app_token(&server, "contoso", "admin", ARM).await;
    let body = subscription_body(&hook.url("/mine"), "EventGridSchema", json!({}), json!({}));
    assert_eq!(subscribe(&server, &owner, "mine", body.clone()).await.0, 201);
    let outsider = app_token(&server, "northwind", "intruder", ARM).await;
    // Through contoso's subscription, and through northwind's own naming contoso's vault.
    let theirs = format!(
        "/subscriptions/{}/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults/billing/providers/Microsoft.EventGrid/eventSubscriptions",
        server.tenant_id("northwind")
    );
    // Another tenant's subscription answers as it does for the vault itself; the intruder's own finds no vault.
    let (vault_status, _) = call(&server, Method::GET, &vault_path(&server, "billing"), &outsider, None).await;
    assert!(vault_status == 401 || vault_status == 404, "{vault_status}");
    for (base, expected) in [(subscription_path(&server, ""), vault_status), (format!("{theirs}/"), 404)] {
        let base = base.trim_end_matches('/');
        let (status, _) = call(&server, Method::GET, base, &outsider, None).await;
        assert_eq!(status, expected, "{base}");
        let (status, _) = call(&server, Method::GET, &format!("{base}/mine"), &outsider, None).await;
        assert_eq!(status, expected);
        let (status, _) = call(&server, Method::PUT, &format!("{base}/spy"), &outsider, Some(body.clone())).await;
        assert_eq!(status, expected);
        let (status, _) = call(&server, Method::DELETE, &format!("{base}/mine"), &outsider, None).await;
        assert_eq!(status, expected);
    }
    let (status, list) =
        call(&server, Method::GET, subscription_path(&server, "").trim_end_matches('/'), &owner, None).await;
    assert_eq!((status, list["value"].as_array().map(Vec::len)), (200, Some(1)), "{list}");
}

/// Two nodes on PostgreSQL: the node delivering an event goes away before the webhook answers; the other node
/// takes the event once the lease has run out, and the webhook gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_node_delivers_what_a_node_that_went_away_had_claimed() {
    let Some(admin) = postgres_server("event delivery") else { return };
    let url = tokio::task::spawn_blocking(move || create_database(&admin)).await.unwrap().unwrap();
    let tail = format!("storage = \"{url}\"\n{STANDARD_TENANTS}{OWNERS}");
    let mut a = TestServer::start(&tail).await;
    let hook = Webhook::http().await;
    let owner = app_token(&a, "contoso", "admin", ARM).await;
    let (status, body) =
        subscribe(&a, &owner, "hook", subscription_body(&hook.url("/n"), "EventGridSchema", json!({}), json!({})))
            .await;
    assert_eq!(status, 201, "{body}");
    hook.answer(Answer::Hang);
    let token = a.token("contoso", "admin").await;
    set_secret(&a, &token, "mid-delivery", json!({})).await;
    hook.wait_for("the attempt node A makes", |d| d.len() == 1).await;
    // B starts once A holds the event, and A goes away before the webhook answers.
    let b = TestServer::start_beside(&a, &tail).await;
    a.server.take().unwrap().stop().await;
    hook.answer(Answer::Status(200));
    // The lease is a minute: B's clock is moved past it rather than the test waiting for it.
    b.clock.set_offset_seconds(61);
    let deliveries = hook.wait_for("node B's delivery", |d| d.len() == 2).await;
    assert_eq!(deliveries[0].events()[0]["id"], deliveries[1].events()[0]["id"], "the same event, at least once");
    assert_eq!(deliveries[1].delivery_count, "1");
}

/// `[[tenant.vault.event_subscription]]`: a webhook that passes the handshake at start gets the vault's events;
/// one that fails it is left out, with the server serving anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_subscriptions_are_validated_at_start() {
    let hook = Webhook::http().await;
    let refusing = Webhook::http().await;
    refusing.answer(Answer::RefuseHandshake);
    let subscriptions = format!(
        "\n[[tenant.vault.event_subscription]]\nname = \"configured\"\nendpoint = \"{}\"\n\
         included_event_types = [\"Microsoft.KeyVault.SecretNewVersionCreated\"]\nschema = \"cloud_events\"\n\
         \n[[tenant.vault.event_subscription]]\nname = \"refused\"\nendpoint = \"{}\"\n",
        hook.url("/configured"),
        refusing.url("/refused"),
    );
    // The subscriptions belong to the last vault of the fixture, contoso's billing.
    let server = TestServer::start(&format!("{STANDARD_TENANTS}{subscriptions}{OWNERS}")).await;
    assert_eq!((hook.handshakes(), refusing.handshakes()), (1, 1));
    let owner = app_token(&server, "contoso", "admin", ARM).await;
    let (status, list) =
        call(&server, Method::GET, subscription_path(&server, "").trim_end_matches('/'), &owner, None).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["value"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["configured"], "the refused one stays inactive");
    assert_eq!(list["value"][0]["properties"]["eventDeliverySchema"], "CloudEventSchemaV1_0");
    let token = server.token("contoso", "admin").await;
    set_secret(&server, &token, "from-config", json!({})).await;
    let deliveries = hook.wait_for("the configured subscription's event", |d| !d.is_empty()).await;
    assert_eq!(deliveries[0].body["subject"], "from-config");
    assert!(deliveries[0].content_type.starts_with("application/cloudevents+json"));
}
