//! A vault's Event Grid event subscriptions in Resource Manager's shape, at the vault's scope:
//! `…/vaults/{vault}/providers/Microsoft.EventGrid/eventSubscriptions[/{name}]` (`PUT`, `GET`, `DELETE`, and
//! the list), as `az eventgrid event-subscription create --source-resource-id {vault}` sends them; and the
//! vault's dead-lettered events, `…/vaults/{vault}/providers/Strongroom.Events/deadLetteredEvents` (Event Grid
//! writes dead letters to a storage account, which Strongroom does not have: it keeps them in its store).
//!
//! Writes need `Microsoft.EventGrid/eventSubscriptions/write` (Owner, Contributor); reads `…/read` (Reader
//! too). A new or re-pointed webhook passes Event Grid's validation handshake before it is kept.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use strongroom_core::directory::Vault;
use strongroom_core::events::{
    DeliverySchema, EventSubscription, MAX_DELIVERY_ATTEMPTS, MAX_EVENT_TTL_MINUTES, SubscriptionSource,
};
use strongroom_core::rbac::{Action, Scope};
use strongroom_store::OutboxEntry;

use super::error::ManagementError;
use super::resource::{self, ArmPath};
use super::{Context, json_response};
use crate::events::VaultTopic;

/// Resource Manager's type of an event subscription.
const RESOURCE_TYPE: &str = "Microsoft.EventGrid/eventSubscriptions";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionBody {
    properties: Option<Properties>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Properties {
    destination: Option<Destination>,
    filter: Option<Filter>,
    event_delivery_schema: Option<String>,
    retry_policy: Option<RetryPolicy>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Destination {
    endpoint_type: String,
    properties: Option<DestinationProperties>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DestinationProperties {
    endpoint_url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    included_event_types: Option<Vec<String>>,
    subject_begins_with: Option<String>,
    subject_ends_with: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetryPolicy {
    max_delivery_attempts: Option<u32>,
    event_time_to_live_in_minutes: Option<u32>,
}

/// An event subscription as Resource Manager shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionResource {
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    properties: Value,
}

/// The subscription as a resource under `shown` (the vault's id as the path addressed it) on `topic` (the
/// vault's id as its events name it).
fn resource_of(shown: &str, topic: &str, subscription: &EventSubscription) -> SubscriptionResource {
    // Like Event Grid, the endpoint's query (which may carry a key) is never shown: only its base URL.
    let base_url = subscription.endpoint.split('?').next().unwrap_or_default();
    SubscriptionResource {
        id: format!("{shown}/providers/{RESOURCE_TYPE}/{}", subscription.name),
        name: subscription.name.clone(),
        kind: RESOURCE_TYPE,
        properties: json!({
            "topic": topic,
            "provisioningState": "Succeeded",
            "destination": {
                "endpointType": "WebHook",
                "properties": { "endpointBaseUrl": base_url, "maxEventsPerBatch": 1, "preferredBatchSizeInKilobytes": 64 },
            },
            "filter": {
                "includedEventTypes": subscription.included_event_types,
                "subjectBeginsWith": subscription.subject_begins_with.clone().unwrap_or_default(),
                "subjectEndsWith": subscription.subject_ends_with.clone().unwrap_or_default(),
                "isSubjectCaseSensitive": false,
            },
            "labels": Value::Null,
            "eventDeliverySchema": subscription.schema.as_arm(),
            "retryPolicy": {
                "maxDeliveryAttempts": subscription.max_delivery_attempts,
                "eventTimeToLiveInMinutes": subscription.event_time_to_live_minutes,
            },
            "deadLetterDestination": Value::Null,
            "strongroomSource": match subscription.source {
                SubscriptionSource::Api => "api",
                SubscriptionSource::Config => "config",
            },
        }),
    }
}

fn subscription_not_found(name: &str) -> ManagementError {
    ManagementError::not_found("ResourceNotFound", format!("The event subscription '{name}' was not found."))
}

/// Serves `…/providers/Microsoft.EventGrid/eventSubscriptions[/{name}]` at a vault's scope.
pub async fn subscriptions(
    cx: &mut Context<'_>,
    path: &ArmPath,
    name: Option<&str>,
) -> Result<Response, ManagementError> {
    let vault = cx.vault(path.vault.as_deref().unwrap_or_default())?;
    let topic = VaultTopic::of(cx.state, &vault);
    // Ids show the subscription as the path addressed it, like every other resource id.
    let shown = resource::vault_id(cx.shown_subscription(), &vault);
    match (cx.method.clone(), name) {
        (Method::GET, None) => {
            cx.authorize(Action::EventSubscriptionsRead, Some(&vault), &Scope::Vault, None)?;
            let all = cx.state.store.event_subscriptions(Some(vault.id)).await?;
            let value: Vec<_> = all.iter().map(|(_, s)| resource_of(&shown, topic.resource_id(), s)).collect();
            Ok(json_response(StatusCode::OK, &json!({ "value": value })))
        }
        (Method::GET, Some(name)) => {
            cx.authorize(Action::EventSubscriptionsRead, Some(&vault), &Scope::Vault, None)?;
            let found = find(cx, &vault, name).await?.ok_or_else(|| subscription_not_found(name))?;
            Ok(json_response(StatusCode::OK, &resource_of(&shown, topic.resource_id(), &found)))
        }
        (Method::PUT, Some(name)) => {
            cx.authorize(Action::EventSubscriptionsWrite, Some(&vault), &Scope::Vault, None)?;
            let existing = find(cx, &vault, name).await?;
            let subscription = from_body(cx, name, existing.as_ref())?;
            cx.state.webhooks.check(&subscription).map_err(|e| ManagementError::bad_request("InvalidRequest", e.0))?;
            let re_pointed = existing
                .as_ref()
                .is_none_or(|e| e.endpoint != subscription.endpoint || e.schema != subscription.schema);
            if re_pointed {
                let now = cx.state.clock.now_millis();
                cx.state.webhooks.validate(&subscription, topic.resource_id(), now).await.map_err(|reason| {
                    ManagementError::bad_request(
                        "Url validation",
                        format!(
                            "Webhook validation handshake failed for {}. {reason}. For troubleshooting, visit \
                             https://aka.ms/esvalidation.",
                            subscription.endpoint.split('?').next().unwrap_or_default()
                        ),
                    )
                })?;
            }
            let created = cx.state.store.put_event_subscription(vault.id, &subscription).await?;
            let status = if created { StatusCode::CREATED } else { StatusCode::OK };
            Ok(json_response(status, &resource_of(&shown, topic.resource_id(), &subscription)))
        }
        (Method::DELETE, Some(name)) => {
            cx.authorize(Action::EventSubscriptionsDelete, Some(&vault), &Scope::Vault, None)?;
            let removed = cx.state.store.delete_event_subscription(vault.id, name).await?;
            let status = if removed { StatusCode::OK } else { StatusCode::NO_CONTENT };
            Ok(json_response(status, &json!({})))
        }
        (method, _) => Err(ManagementError::method_not_allowed(method.as_str(), "eventSubscriptions")),
    }
}

async fn find(cx: &Context<'_>, vault: &Vault, name: &str) -> Result<Option<EventSubscription>, ManagementError> {
    let all = cx.state.store.event_subscriptions(Some(vault.id)).await?;
    Ok(all.into_iter().map(|(_, s)| s).find(|s| s.name.eq_ignore_ascii_case(name)))
}

/// The subscription a `PUT` body describes (a `PUT` replaces: what it leaves out takes Event Grid's default).
fn from_body(
    cx: &Context<'_>,
    name: &str,
    existing: Option<&EventSubscription>,
) -> Result<EventSubscription, ManagementError> {
    let invalid = |message: String| ManagementError::bad_request("InvalidRequest", message);
    let body: SubscriptionBody = cx.json()?;
    let properties = body.properties.unwrap_or_default();
    let destination =
        properties.destination.ok_or_else(|| invalid("properties.destination is required.".to_owned()))?;
    if !destination.endpoint_type.eq_ignore_ascii_case("WebHook") {
        return Err(invalid(format!(
            "The endpoint type '{}' is not supported: Strongroom delivers to webhooks only.",
            destination.endpoint_type
        )));
    }
    let endpoint = destination
        .properties
        .and_then(|p| p.endpoint_url)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| invalid("properties.destination.properties.endpointUrl is required.".to_owned()))?;
    let schema = match properties.event_delivery_schema.as_deref() {
        None => DeliverySchema::EventGrid,
        Some(name) => DeliverySchema::parse(name).ok_or_else(|| {
            invalid(format!(
                "The event delivery schema '{name}' is not supported: use EventGridSchema or CloudEventSchemaV1_0."
            ))
        })?,
    };
    let filter = properties.filter.unwrap_or_default();
    let non_empty = |text: Option<String>| text.filter(|t| !t.is_empty());
    let retry = properties.retry_policy;
    Ok(EventSubscription {
        // A subscription keeps the name's first spelling.
        name: existing.map_or_else(|| name.to_owned(), |e| e.name.clone()),
        endpoint,
        included_event_types: filter.included_event_types.filter(|t| !t.is_empty()),
        subject_begins_with: non_empty(filter.subject_begins_with),
        subject_ends_with: non_empty(filter.subject_ends_with),
        schema,
        max_delivery_attempts: retry.as_ref().and_then(|r| r.max_delivery_attempts).unwrap_or(MAX_DELIVERY_ATTEMPTS),
        event_time_to_live_minutes: retry
            .as_ref()
            .and_then(|r| r.event_time_to_live_in_minutes)
            .unwrap_or(MAX_EVENT_TTL_MINUTES),
        source: SubscriptionSource::Api,
    })
}

/// `GET …/vaults/{vault}/providers/Strongroom.Events/deadLetteredEvents`: the vault's dead-lettered events,
/// oldest first, each with its subscription, attempts, last error and the event as it would have been sent.
pub async fn dead_letters(cx: &mut Context<'_>, path: &ArmPath) -> Result<Response, ManagementError> {
    if cx.method != Method::GET {
        return Err(ManagementError::method_not_allowed(cx.method.as_str(), "deadLetteredEvents"));
    }
    let vault = cx.vault(path.vault.as_deref().unwrap_or_default())?;
    cx.authorize(Action::EventSubscriptionsRead, Some(&vault), &Scope::Vault, None)?;
    let topic = VaultTopic::of(cx.state, &vault);
    let letters = cx.state.store.dead_lettered_events(vault.id).await?;
    let value: Vec<Value> = letters.iter().map(|entry| dead_letter(entry, &topic)).collect();
    Ok(json_response(StatusCode::OK, &json!({ "value": value })))
}

fn dead_letter(entry: &OutboxEntry, topic: &VaultTopic) -> Value {
    let topic = topic.topic();
    json!({
        "id": entry.event.id.to_string(),
        "eventSubscription": entry.subscription.name,
        "eventType": entry.event.event_type(),
        "subject": entry.event.subject(&topic),
        "deliveryAttempts": entry.attempts,
        "enqueuedTime": millis_text(entry.enqueued_millis),
        "deadLetteredTime": entry.dead_at.map(millis_text),
        "lastDeliveryOutcome": entry.last_error,
        "event": entry.event.render(entry.subscription.schema, &topic),
    })
}

fn millis_text(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
