//! Event Grid events, as Key Vault publishes them: what happened to a vault ([`VaultEvent`], the fact the
//! store keeps in its outbox), who wants to hear of it ([`EventSubscription`], with Event Grid's filters and
//! retry policy), and the bodies a webhook receives in the Event Grid schema or as CloudEvents 1.0.
//!
//! Key Vault's event data carries `Id`, `VaultName`, `ObjectType`, `ObjectName`, `Version`, `NBF` and `EXP`;
//! the topic is the vault's Resource Manager id and the subject the object's name.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::rbac::Collection;

/// How long before a version's expiry its `…NearExpiry` event is sent: Key Vault's 30 days.
pub const NEAR_EXPIRY_SECONDS: i64 = 30 * 86_400;

/// Event Grid's default and largest number of delivery attempts.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 30;

/// Event Grid's default and longest event time to live, in minutes (one day).
pub const MAX_EVENT_TTL_MINUTES: u32 = 1440;

/// The event type Event Grid sends to a new webhook subscription's endpoint to prove the endpoint wants it.
pub const VALIDATION_EVENT_TYPE: &str = "Microsoft.EventGrid.SubscriptionValidationEvent";

/// What happened to an object version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectChange {
    /// A new version exists (created, imported, rotated, renewed, merged).
    NewVersionCreated,
    /// The current version expires within [`NEAR_EXPIRY_SECONDS`].
    NearExpiry,
    /// The current version has expired.
    Expired,
}

impl ObjectChange {
    fn as_str(self) -> &'static str {
        match self {
            ObjectChange::NewVersionCreated => "NewVersionCreated",
            ObjectChange::NearExpiry => "NearExpiry",
            ObjectChange::Expired => "Expired",
        }
    }
}

/// What an event reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Happening {
    /// Something happened to a version of a secret, key or certificate.
    Object {
        /// What.
        change: ObjectChange,
        /// Which collection the object is in.
        collection: CollectionName,
        /// The object's name.
        name: String,
        /// The version's id.
        version: String,
        /// The version's not-before date, Unix seconds.
        nbf: Option<i64>,
        /// The version's expiry date, Unix seconds.
        exp: Option<i64>,
    },
    /// The vault's access policies changed.
    AccessPolicyChanged,
}

/// [`Collection`] as an event keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectionName {
    /// Secrets.
    Secrets,
    /// Keys.
    Keys,
    /// Certificates.
    Certificates,
}

impl From<Collection> for CollectionName {
    fn from(collection: Collection) -> Self {
        match collection {
            Collection::Secrets => CollectionName::Secrets,
            Collection::Keys => CollectionName::Keys,
            Collection::Certificates => CollectionName::Certificates,
        }
    }
}

impl CollectionName {
    /// Key Vault's `ObjectType` of the collection's objects.
    pub fn object_type(self) -> &'static str {
        match self {
            CollectionName::Secrets => "Secret",
            CollectionName::Keys => "Key",
            CollectionName::Certificates => "Certificate",
        }
    }

    fn path(self) -> &'static str {
        match self {
            CollectionName::Secrets => "secrets",
            CollectionName::Keys => "keys",
            CollectionName::Certificates => "certificates",
        }
    }
}

/// One event of a vault: its id (the same for every subscription it goes to), when it happened, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultEvent {
    /// The event's id.
    pub id: Uuid,
    /// When it happened, Unix milliseconds.
    pub time_millis: i64,
    /// What happened.
    pub happening: Happening,
}

/// The vault an event is rendered for: the topic and the event data name it.
#[derive(Debug, Clone, Copy)]
pub struct Topic<'a> {
    /// The vault's name.
    pub vault_name: &'a str,
    /// The vault's URL, `https://{vault}.vault.azure.net` or the server's equivalent, without a trailing slash.
    pub vault_url: &'a str,
    /// The vault's Resource Manager id: the event's topic (or CloudEvents `source`).
    pub resource_id: &'a str,
}

impl VaultEvent {
    /// A new event with a fresh id.
    pub fn new(time_millis: i64, happening: Happening) -> Self {
        Self { id: Uuid::new_v4(), time_millis, happening }
    }

    /// The event's type, `Microsoft.KeyVault.SecretNewVersionCreated` and so on.
    pub fn event_type(&self) -> String {
        match &self.happening {
            Happening::Object { change, collection, .. } => {
                format!("Microsoft.KeyVault.{}{}", collection.object_type(), change.as_str())
            }
            Happening::AccessPolicyChanged => "Microsoft.KeyVault.VaultAccessPolicyChanged".to_owned(),
        }
    }

    /// The event's subject: the object's name, or the vault's for a vault's own event.
    pub fn subject<'a>(&'a self, topic: &Topic<'a>) -> &'a str {
        match &self.happening {
            Happening::Object { name, .. } => name,
            Happening::AccessPolicyChanged => topic.vault_name,
        }
    }

    /// Key Vault's event data.
    pub fn data(&self, topic: &Topic<'_>) -> Value {
        match &self.happening {
            Happening::Object { collection, name, version, nbf, exp, .. } => json!({
                "Id": format!("{}/{}/{name}/{version}", topic.vault_url, collection.path()),
                "VaultName": topic.vault_name,
                "ObjectType": collection.object_type(),
                "ObjectName": name,
                "Version": version,
                "NBF": nbf,
                "EXP": exp,
            }),
            Happening::AccessPolicyChanged => json!({
                "Id": format!("{}/", topic.vault_url),
                "VaultName": topic.vault_name,
                "ObjectType": "Vault",
                "ObjectName": topic.vault_name,
                "Version": Value::Null,
                "NBF": Value::Null,
                "EXP": Value::Null,
            }),
        }
    }

    /// The event in the Event Grid schema (one element of the array a webhook receives).
    pub fn to_event_grid(&self, topic: &Topic<'_>) -> Value {
        json!({
            "id": self.id.to_string(),
            "topic": topic.resource_id,
            "subject": self.subject(topic),
            "eventType": self.event_type(),
            "eventTime": rfc3339(self.time_millis),
            "data": self.data(topic),
            "dataVersion": "1",
            "metadataVersion": "1",
        })
    }

    /// The event as a CloudEvent 1.0 in structured mode.
    pub fn to_cloud_event(&self, topic: &Topic<'_>) -> Value {
        json!({
            "specversion": "1.0",
            "id": self.id.to_string(),
            "source": topic.resource_id,
            "subject": self.subject(topic),
            "type": self.event_type(),
            "time": rfc3339(self.time_millis),
            "datacontenttype": "application/json",
            "data": self.data(topic),
        })
    }

    /// The event as `schema` has it.
    pub fn render(&self, schema: DeliverySchema, topic: &Topic<'_>) -> Value {
        match schema {
            DeliverySchema::EventGrid => self.to_event_grid(topic),
            DeliverySchema::CloudEvents => self.to_cloud_event(topic),
        }
    }
}

/// The validation event Event Grid posts to a new webhook subscription (Event Grid schema), as the array sent.
pub fn validation_event(id: Uuid, time_millis: i64, topic: &str, validation_code: &str) -> Value {
    json!([{
        "id": id.to_string(),
        "topic": topic,
        "subject": "",
        "eventType": VALIDATION_EVENT_TYPE,
        "eventTime": rfc3339(time_millis),
        "data": { "validationCode": validation_code },
        "dataVersion": "2",
        "metadataVersion": "1",
    }])
}

/// Whether a webhook's answer to the validation event echoes `code` as `validationResponse`.
pub fn is_validation_response(body: &[u8], code: &str) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("validationResponse").and_then(Value::as_str).map(|r| r.eq_ignore_ascii_case(code)))
        .unwrap_or(false)
}

fn rfc3339(millis: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// The schema events are delivered in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliverySchema {
    /// Event Grid's own schema: the body is a JSON array of events.
    #[default]
    EventGrid,
    /// CloudEvents 1.0, one event per request in structured mode.
    CloudEvents,
}

impl DeliverySchema {
    /// Resource Manager's name of the schema (`eventDeliverySchema`).
    pub fn as_arm(self) -> &'static str {
        match self {
            DeliverySchema::EventGrid => "EventGridSchema",
            DeliverySchema::CloudEvents => "CloudEventSchemaV1_0",
        }
    }

    /// The schema Resource Manager's (or the configuration's) name names, in any case.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "eventgridschema" | "event_grid" | "eventgrid" => Some(DeliverySchema::EventGrid),
            "cloudeventschemav1_0" | "cloud_events" | "cloudevents" => Some(DeliverySchema::CloudEvents),
            _ => None,
        }
    }

    /// The content type of a delivery's body.
    pub fn content_type(self) -> &'static str {
        match self {
            DeliverySchema::EventGrid => "application/json; charset=utf-8",
            DeliverySchema::CloudEvents => "application/cloudevents+json; charset=utf-8",
        }
    }

    /// The body of one delivery of `event`.
    pub fn body(self, event: &VaultEvent, topic: &Topic<'_>) -> Value {
        match self {
            DeliverySchema::EventGrid => Value::Array(vec![event.to_event_grid(topic)]),
            DeliverySchema::CloudEvents => event.to_cloud_event(topic),
        }
    }
}

/// Where a subscription came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubscriptionSource {
    /// The management API (Resource Manager's `eventSubscriptions`).
    #[default]
    Api,
    /// The configuration file; it is written again at every start.
    Config,
}

/// A vault's event subscription: a webhook, what it wants, and how hard to try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSubscription {
    /// Its name, unique in the vault (any case).
    pub name: String,
    /// The webhook's URL.
    pub endpoint: String,
    /// The event types sent; all when `None`.
    pub included_event_types: Option<Vec<String>>,
    /// Only subjects that start with this (any case).
    pub subject_begins_with: Option<String>,
    /// Only subjects that end with this (any case).
    pub subject_ends_with: Option<String>,
    /// The schema of the bodies.
    pub schema: DeliverySchema,
    /// Attempts before an event is dead-lettered, 1 to [`MAX_DELIVERY_ATTEMPTS`].
    pub max_delivery_attempts: u32,
    /// Minutes after which an undelivered event is dead-lettered, 1 to [`MAX_EVENT_TTL_MINUTES`].
    pub event_time_to_live_minutes: u32,
    /// Where it came from.
    pub source: SubscriptionSource,
}

/// Why a subscription cannot be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSubscription(pub String);

impl EventSubscription {
    /// Checks what Event Grid checks of a webhook subscription: a name of 3 to 64 letters, digits and
    /// hyphens, an absolute HTTPS URL (HTTP only when `allow_http`), known event types, and a retry policy in
    /// range.
    pub fn validate(&self, allow_http: bool) -> Result<(), InvalidSubscription> {
        let name_ok =
            (3..=64).contains(&self.name.len()) && self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !name_ok {
            return Err(InvalidSubscription(format!(
                "The event subscription name '{}' is invalid: use 3 to 64 letters, digits and hyphens.",
                self.name
            )));
        }
        let url = url::Url::parse(&self.endpoint).map_err(|_| {
            InvalidSubscription(format!("The endpoint URL '{}' is not an absolute URL.", self.endpoint))
        })?;
        match url.scheme() {
            "https" => {}
            "http" if allow_http => {}
            _ => {
                return Err(InvalidSubscription(format!("The endpoint URL '{}' must use https.", self.endpoint)));
            }
        }
        if let Some(unknown) =
            self.included_event_types.iter().flatten().find(|t| !EVENT_TYPES.iter().any(|k| k.eq_ignore_ascii_case(t)))
        {
            return Err(InvalidSubscription(format!("The event type '{unknown}' is not one a Key Vault publishes.")));
        }
        if !(1..=MAX_DELIVERY_ATTEMPTS).contains(&self.max_delivery_attempts) {
            return Err(InvalidSubscription(format!(
                "maxDeliveryAttempts must be between 1 and {MAX_DELIVERY_ATTEMPTS}."
            )));
        }
        if !(1..=MAX_EVENT_TTL_MINUTES).contains(&self.event_time_to_live_minutes) {
            return Err(InvalidSubscription(format!(
                "eventTimeToLiveInMinutes must be between 1 and {MAX_EVENT_TTL_MINUTES}."
            )));
        }
        Ok(())
    }

    /// Whether the subscription wants `event`: its type is included and its subject passes both filters
    /// (Event Grid compares subjects without regard to case unless told otherwise).
    pub fn wants(&self, event_type: &str, subject: &str) -> bool {
        let type_ok = self
            .included_event_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t.eq_ignore_ascii_case(event_type)));
        let subject = subject.to_lowercase();
        let begins = self.subject_begins_with.as_ref().is_none_or(|p| subject.starts_with(&p.to_lowercase()));
        let ends = self.subject_ends_with.as_ref().is_none_or(|s| subject.ends_with(&s.to_lowercase()));
        type_ok && begins && ends
    }
}

/// Every event type a vault publishes.
pub const EVENT_TYPES: [&str; 10] = [
    "Microsoft.KeyVault.CertificateNewVersionCreated",
    "Microsoft.KeyVault.CertificateNearExpiry",
    "Microsoft.KeyVault.CertificateExpired",
    "Microsoft.KeyVault.KeyNewVersionCreated",
    "Microsoft.KeyVault.KeyNearExpiry",
    "Microsoft.KeyVault.KeyExpired",
    "Microsoft.KeyVault.SecretNewVersionCreated",
    "Microsoft.KeyVault.SecretNearExpiry",
    "Microsoft.KeyVault.SecretExpired",
    "Microsoft.KeyVault.VaultAccessPolicyChanged",
];

/// Event Grid's retry schedule: the wait after each failed attempt, in seconds (then every 12 hours).
const RETRY_SCHEDULE_SECONDS: [i64; 9] = [10, 30, 60, 300, 600, 1800, 3600, 10_800, 21_600];

/// What to do with an event after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at this time, Unix milliseconds.
    RetryAt(i64),
    /// Give up: keep it as dead-lettered.
    DeadLetter,
}

/// Decides after the `attempts`-th failed attempt (at `now_millis`) of an event enqueued at `enqueued_millis`:
/// Event Grid's back-off, until the subscription's attempts or time to live are used up. An answer Event Grid
/// never retries (400 Bad Request, 413 Payload Too Large) dead-letters at once.
pub fn after_failure(
    subscription: &EventSubscription,
    attempts: u32,
    status: Option<u16>,
    enqueued_millis: i64,
    now_millis: i64,
) -> AfterFailure {
    if matches!(status, Some(400 | 413)) || attempts >= subscription.max_delivery_attempts {
        return AfterFailure::DeadLetter;
    }
    let index = usize::try_from(attempts.saturating_sub(1)).unwrap_or(usize::MAX);
    let wait = RETRY_SCHEDULE_SECONDS.get(index).copied().unwrap_or(43_200);
    let due = now_millis.saturating_add(wait * 1000);
    let expires = enqueued_millis.saturating_add(i64::from(subscription.event_time_to_live_minutes) * 60_000);
    if due > expires { AfterFailure::DeadLetter } else { AfterFailure::RetryAt(due) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription() -> EventSubscription {
        EventSubscription {
            name: "rotation".into(),
            endpoint: "https://hooks.example/kv".into(),
            included_event_types: None,
            subject_begins_with: None,
            subject_ends_with: None,
            schema: DeliverySchema::EventGrid,
            max_delivery_attempts: MAX_DELIVERY_ATTEMPTS,
            event_time_to_live_minutes: MAX_EVENT_TTL_MINUTES,
            source: SubscriptionSource::Api,
        }
    }

    const TOPIC: Topic<'static> = Topic {
        vault_name: "billing",
        vault_url: "https://billing.vault.example",
        resource_id: "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/billing",
    };

    fn new_secret_version() -> VaultEvent {
        VaultEvent::new(
            1_700_000_000_123,
            Happening::Object {
                change: ObjectChange::NewVersionCreated,
                collection: CollectionName::Secrets,
                name: "db-password".into(),
                version: "abc".into(),
                nbf: None,
                exp: Some(1_800_000_000),
            },
        )
    }

    #[test]
    fn an_event_grid_event_carries_key_vaults_data() {
        let event = new_secret_version();
        let rendered = event.to_event_grid(&TOPIC);
        assert_eq!(rendered["eventType"], "Microsoft.KeyVault.SecretNewVersionCreated");
        assert_eq!(rendered["topic"], TOPIC.resource_id);
        assert_eq!(rendered["subject"], "db-password");
        assert_eq!(rendered["dataVersion"], "1");
        assert_eq!(rendered["metadataVersion"], "1");
        assert_eq!(rendered["eventTime"], "2023-11-14T22:13:20.123Z");
        assert_eq!(rendered["id"], event.id.to_string());
        let data = &rendered["data"];
        assert_eq!(data["Id"], "https://billing.vault.example/secrets/db-password/abc");
        assert_eq!(data["VaultName"], "billing");
        assert_eq!(data["ObjectType"], "Secret");
        assert_eq!(data["ObjectName"], "db-password");
        assert_eq!(data["Version"], "abc");
        assert_eq!(data["NBF"], Value::Null);
        assert_eq!(data["EXP"], 1_800_000_000);
        let body = DeliverySchema::EventGrid.body(&event, &TOPIC);
        assert_eq!(body.as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn a_cloud_event_has_the_same_facts_in_its_own_names() {
        let event = new_secret_version();
        let cloud = DeliverySchema::CloudEvents.body(&event, &TOPIC);
        assert_eq!(cloud["specversion"], "1.0");
        assert_eq!(cloud["type"], "Microsoft.KeyVault.SecretNewVersionCreated");
        assert_eq!(cloud["source"], TOPIC.resource_id);
        assert_eq!(cloud["subject"], "db-password");
        assert_eq!(cloud["data"], event.data(&TOPIC));
        assert!(DeliverySchema::CloudEvents.content_type().starts_with("application/cloudevents+json"));
    }

    #[test]
    fn every_kind_of_event_has_its_key_vault_type() {
        let mut seen = Vec::new();
        for collection in [CollectionName::Secrets, CollectionName::Keys, CollectionName::Certificates] {
            for change in [ObjectChange::NewVersionCreated, ObjectChange::NearExpiry, ObjectChange::Expired] {
                let happening = Happening::Object {
                    change,
                    collection,
                    name: "n".into(),
                    version: "v".into(),
                    nbf: None,
                    exp: None,
                };
                seen.push(VaultEvent::new(0, happening).event_type());
            }
        }
        let policy = VaultEvent::new(0, Happening::AccessPolicyChanged);
        assert_eq!(policy.subject(&TOPIC), "billing");
        assert_eq!(policy.data(&TOPIC)["ObjectType"], "Vault");
        seen.push(policy.event_type());
        seen.sort();
        let mut expected = EVENT_TYPES.map(str::to_owned).to_vec();
        expected.sort();
        assert_eq!(seen, expected);
    }

    #[test]
    fn events_survive_the_outbox() {
        let event = new_secret_version();
        let stored = serde_json::to_string(&event).unwrap_or_default();
        assert_eq!(serde_json::from_str::<VaultEvent>(&stored).ok(), Some(event));
    }

    #[test]
    fn filters_match_type_and_subject_in_any_case() {
        let mut wanted = subscription();
        assert!(wanted.wants("Microsoft.KeyVault.KeyExpired", "anything"));
        wanted.included_event_types = Some(vec!["microsoft.keyvault.secretnewversioncreated".into()]);
        wanted.subject_begins_with = Some("DB-".into());
        wanted.subject_ends_with = Some("password".into());
        assert!(wanted.wants("Microsoft.KeyVault.SecretNewVersionCreated", "db-Password"));
        assert!(!wanted.wants("Microsoft.KeyVault.SecretExpired", "db-password"));
        assert!(!wanted.wants("Microsoft.KeyVault.SecretNewVersionCreated", "api-password"));
        assert!(!wanted.wants("Microsoft.KeyVault.SecretNewVersionCreated", "db-user"));
    }

    #[test]
    fn subscriptions_are_checked_as_event_grid_checks_them() {
        assert_eq!(subscription().validate(false), Ok(()));
        let http = EventSubscription { endpoint: "http://127.0.0.1:9/x".into(), ..subscription() };
        assert!(http.validate(false).is_err());
        assert_eq!(http.validate(true), Ok(()));
        let bad_name = EventSubscription { name: "a b".into(), ..subscription() };
        assert!(bad_name.validate(false).is_err());
        let bad_type = EventSubscription { included_event_types: Some(vec!["Nope".into()]), ..subscription() };
        assert!(bad_type.validate(false).is_err());
        let bad_attempts = EventSubscription { max_delivery_attempts: 31, ..subscription() };
        assert!(bad_attempts.validate(false).is_err());
        let bad_ttl = EventSubscription { event_time_to_live_minutes: 0, ..subscription() };
        assert!(bad_ttl.validate(false).is_err());
    }

    #[test]
    fn failures_back_off_then_dead_letter() {
        let mut policy = subscription();
        assert_eq!(after_failure(&policy, 1, Some(503), 0, 1000), AfterFailure::RetryAt(11_000));
        assert_eq!(after_failure(&policy, 2, None, 0, 1000), AfterFailure::RetryAt(31_000));
        assert_eq!(after_failure(&policy, 20, None, 0, 1000), AfterFailure::RetryAt(43_201_000));
        assert_eq!(after_failure(&policy, 1, Some(400), 0, 1000), AfterFailure::DeadLetter);
        policy.max_delivery_attempts = 3;
        assert_eq!(after_failure(&policy, 3, Some(500), 0, 1000), AfterFailure::DeadLetter);
        policy.event_time_to_live_minutes = 1;
        assert_eq!(after_failure(&policy, 2, Some(500), 0, 40_000), AfterFailure::DeadLetter);
    }

    #[test]
    fn the_validation_handshake_echoes_the_code() {
        let sent = validation_event(Uuid::nil(), 0, "/subscriptions/s", "CODE-1");
        assert_eq!(sent[0]["eventType"], VALIDATION_EVENT_TYPE);
        assert_eq!(sent[0]["data"]["validationCode"], "CODE-1");
        assert!(is_validation_response(br#"{"validationResponse":"CODE-1"}"#, "CODE-1"));
        assert!(!is_validation_response(br#"{"validationResponse":"other"}"#, "CODE-1"));
        assert!(!is_validation_response(b"ok", "CODE-1"));
    }
}
