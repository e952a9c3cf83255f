//! Event Grid delivery: the webhooks of the vaults' event subscriptions receive the events the store's outbox
//! holds, at least once. A worker on every node claims due events with a lease ([`LEASE`]), posts each to its
//! webhook, and records the outcome: delivered events leave the outbox, failed ones wait Event Grid's back-off
//! and at last are dead-lettered. A node that dies mid-delivery loses nothing: after the lease, another node
//! (or the same one restarted) claims the event again. The worker wakes as soon as this node commits an
//! event, and looks every [`POLL_INTERVAL`] for the other nodes' events and the retries that fell due.
//!
//! New webhook subscriptions pass Event Grid's validation handshake first ([`Webhooks::validate`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use strongroom_core::directory::Vault;
use strongroom_core::events::{
    AfterFailure, DeliverySchema, EventSubscription, InvalidSubscription, Topic, after_failure, is_validation_response,
    validation_event,
};
use strongroom_store::{EventOutcome, OutboxEntry};
use tokio::sync::watch;
use uuid::Uuid;

use crate::state::AppState;

/// How long a claim holds an event: longer than a delivery may take ([`DELIVERY_TIMEOUT`]).
pub const LEASE: Duration = Duration::from_secs(60);

/// How long a webhook has to answer, as Event Grid allows.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a new subscription's webhook has to answer the handshake (the management API waits for it).
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the worker looks for events it was not woken for.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Most events claimed at once.
const BATCH: usize = 32;

/// The webhook client: trusts the system's roots and this installation's own CA, and posts over plain HTTP
/// only to loopback addresses or when the configuration allows it.
pub struct Webhooks {
    http: Option<reqwest::Client>,
    allow_http: bool,
}

/// Why a webhook did not take a request.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The HTTP status, when the webhook answered.
    pub status: Option<u16>,
    /// What happened, for the dead-letter record and the log.
    pub message: String,
}

impl Webhooks {
    /// A client trusting `extra_root_pem` (the installation's CA) besides the system's roots; `allow_http`
    /// lets it post over plain HTTP to any host, not only loopback ones.
    pub fn new(extra_root_pem: Option<&[u8]>, allow_http: bool) -> Self {
        let mut builder = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent("Strongroom-EventGrid/1.0");
        if let Some(pem) = extra_root_pem
            && let Ok(roots) = reqwest::Certificate::from_pem_bundle(pem)
        {
            builder = builder.tls_certs_merge(roots);
        }
        let http = builder.build().map_err(|e| tracing::warn!("no HTTP client for event webhooks: {e}")).ok();
        Self { http, allow_http }
    }

    /// Checks `subscription` as Event Grid would, with plain HTTP allowed for loopback endpoints (or any,
    /// when configured).
    pub fn check(&self, subscription: &EventSubscription) -> Result<(), InvalidSubscription> {
        subscription.validate(self.allow_http || is_loopback(&subscription.endpoint))
    }

    /// Event Grid's validation handshake with a new subscription's webhook: for the Event Grid schema a
    /// `SubscriptionValidationEvent` whose code the webhook must echo as `validationResponse`; for CloudEvents
    /// the CloudEvents webhook handshake (`OPTIONS` with `WebHook-Request-Origin`, answered with
    /// `WebHook-Allowed-Origin`).
    pub async fn validate(&self, subscription: &EventSubscription, topic: &str, now_millis: i64) -> Result<(), String> {
        let http = self.http.as_ref().ok_or("no HTTP client")?;
        match subscription.schema {
            DeliverySchema::EventGrid => {
                let code = Uuid::new_v4().to_string().to_uppercase();
                let body = validation_event(Uuid::new_v4(), now_millis, topic, &code);
                let response = http
                    .post(&subscription.endpoint)
                    .header("content-type", DeliverySchema::EventGrid.content_type())
                    .header("aeg-event-type", "SubscriptionValidation")
                    .timeout(VALIDATION_TIMEOUT)
                    .body(body.to_string())
                    .send()
                    .await
                    .map_err(|e| format!("the endpoint did not answer: {}", describe(e)))?;
                let status = response.status();
                let answer = response.bytes().await.map_err(describe)?;
                if status.is_success() && is_validation_response(&answer, &code) {
                    Ok(())
                } else {
                    Err(format!("the endpoint answered {status} without the validation code"))
                }
            }
            DeliverySchema::CloudEvents => {
                let origin = "eventgrid.azure.net";
                let response = http
                    .request(reqwest::Method::OPTIONS, &subscription.endpoint)
                    .header("WebHook-Request-Origin", origin)
                    .timeout(VALIDATION_TIMEOUT)
                    .send()
                    .await
                    .map_err(|e| format!("the endpoint did not answer: {}", describe(e)))?;
                let allowed = response.headers().get("WebHook-Allowed-Origin").and_then(|v| v.to_str().ok());
                if response.status().is_success() && allowed.is_some_and(|a| a == "*" || a.eq_ignore_ascii_case(origin))
                {
                    Ok(())
                } else {
                    Err(format!("the endpoint answered {} without WebHook-Allowed-Origin", response.status()))
                }
            }
        }
    }

    /// Posts one event's body to the subscription's webhook.
    async fn post(
        &self,
        subscription: &EventSubscription,
        entry: &OutboxEntry,
        topic: &Topic<'_>,
    ) -> Result<(), Refusal> {
        let http = self.http.as_ref().ok_or(Refusal { status: None, message: "no HTTP client".into() })?;
        // A subscription the configuration no longer allows (plain HTTP turned off) is refused for good.
        if let Err(refused) = self.check(subscription) {
            return Err(Refusal { status: Some(400), message: refused.0 });
        }
        let body = subscription.schema.body(&entry.event, topic);
        let response = http
            .post(&subscription.endpoint)
            .header("content-type", subscription.schema.content_type())
            .header("aeg-event-type", "Notification")
            .header("aeg-subscription-name", subscription.name.to_ascii_uppercase())
            .header("aeg-delivery-count", entry.attempts.saturating_sub(1).to_string())
            .header("aeg-metadata-version", "1")
            .header("aeg-data-version", "1")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| Refusal { status: None, message: describe(e) })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(Refusal { status: Some(status.as_u16()), message: format!("the endpoint answered {status}") })
        }
    }
}

/// A transport error with its causes, which say what went wrong (refused, certificate, timeout).
fn describe(error: reqwest::Error) -> String {
    // reqwest names the URL, whose query may hold the endpoint's own secret (an Azure Functions `code`): these
    // words reach the log, the dead letters and the management API's answer.
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether `endpoint` names a loopback host.
fn is_loopback(endpoint: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(endpoint) else { return false };
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A vault's topic: its Resource Manager id and URL.
pub struct VaultTopic {
    name: String,
    url: String,
    resource_id: String,
}

impl VaultTopic {
    /// The topic of `vault`.
    pub fn of(state: &AppState, vault: &Vault) -> Self {
        Self {
            name: vault.name.clone(),
            url: state.endpoints.vault_url(&vault.name),
            resource_id: crate::management::resource::vault_id(vault.subscription_id, vault),
        }
    }

    /// As the event renderer takes it.
    pub fn topic(&self) -> Topic<'_> {
        Topic { vault_name: &self.name, vault_url: &self.url, resource_id: &self.resource_id }
    }

    /// The vault's Resource Manager id.
    pub fn resource_id(&self) -> &str {
        &self.resource_id
    }
}

/// The vault of `vault_id`, live or soft-deleted.
fn vault_of(state: &AppState, vault_id: Uuid) -> Option<Vault> {
    let directory = state.directory();
    directory
        .vaults()
        .iter()
        .find(|v| v.id == vault_id)
        .or_else(|| directory.deleted_vaults.iter().map(|d| &d.vault).find(|v| v.id == vault_id))
        .cloned()
}

/// Delivers one claimed event and records what became of it.
async fn deliver(state: &AppState, entry: OutboxEntry) {
    let outcome = match vault_of(state, entry.vault_id) {
        // The vault was purged meanwhile: its events went with it.
        None => EventOutcome::Delivered,
        Some(vault) => {
            let vault_topic = VaultTopic::of(state, &vault);
            let topic = vault_topic.topic();
            let subscription = &entry.subscription;
            if !subscription.wants(&entry.event.event_type(), entry.event.subject(&topic)) {
                EventOutcome::Delivered
            } else {
                match state.webhooks.post(subscription, &entry, &topic).await {
                    Ok(()) => EventOutcome::Delivered,
                    Err(refusal) => {
                        let now = state.clock.now_millis();
                        tracing::warn!(
                            subscription = %subscription.name,
                            vault = %vault.name,
                            attempt = entry.attempts,
                            "an event's delivery failed: {}",
                            refusal.message
                        );
                        match after_failure(subscription, entry.attempts, refusal.status, entry.enqueued_millis, now) {
                            AfterFailure::RetryAt(due_millis) => {
                                EventOutcome::Retry { due_millis, error: refusal.message }
                            }
                            AfterFailure::DeadLetter => {
                                tracing::error!(
                                    subscription = %subscription.name,
                                    vault = %vault.name,
                                    event = %entry.event.id,
                                    "an event was dead-lettered after {} attempts: {}",
                                    entry.attempts,
                                    refusal.message
                                );
                                EventOutcome::DeadLetter { at_millis: now, error: refusal.message }
                            }
                        }
                    }
                }
            }
        }
    };
    if let Err(e) = state.store.finish_event(&entry, outcome).await {
        // The lease runs out and the event is delivered again: at least once.
        tracing::warn!("recording an event's delivery failed: {e}");
    }
}

/// Claims the events due now and delivers them, each in its own task; returns how many it claimed. Dropping
/// the future (the node stops) abandons the deliveries under way: their leases run out and another node, or
/// this one restarted, delivers them.
pub async fn deliver_due(state: &Arc<AppState>) -> usize {
    let lease = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
    let claimed = match state.store.claim_events(state.clock.now_millis(), lease, BATCH).await {
        Ok(claimed) => claimed,
        Err(e) => {
            tracing::warn!("claiming events failed: {e}");
            return 0;
        }
    };
    let count = claimed.len();
    let mut deliveries = tokio::task::JoinSet::new();
    for entry in claimed {
        let state = Arc::clone(state);
        deliveries.spawn(async move { deliver(&state, entry).await });
    }
    while deliveries.join_next().await.is_some() {}
    count
}

/// Delivers events until `shutdown` turns true.
pub async fn run(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let committed = state.store.outbox_signal();
    loop {
        let claimed = tokio::select! {
            _ = shutdown.changed() => break,
            claimed = deliver_due(&state) => claimed,
        };
        if claimed == BATCH {
            continue;
        }
        let woken = async {
            match &committed {
                Some(signal) => signal.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
            () = woken => {}
        }
    }
}
