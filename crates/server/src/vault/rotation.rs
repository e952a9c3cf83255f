//! Key rotation policies: `GET`/`PUT /keys/{name}/rotationpolicy`, and the scheduler's part — rotating the
//! keys whose policy says so and noting, once per version, the keys whose expiry is near. The policy is kept
//! with the key in the store, as the client wrote it once checked.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use strongroom_core::rotation::{ActionType, IsoDuration, LifetimeAction, RotationPolicy, Trigger};
use strongroom_proto::keyvault::{
    KeyLifetimeAction, KeyLifetimeActionType, KeyLifetimeTrigger, KeyRotationPolicy, KeyRotationPolicyAttributes,
};
use strongroom_store::{Collection, Place, Store, VersionSelector};

use super::context::{Context, parse_body};
use super::error::VaultError;
use super::{keys, scheduled};
use crate::error::InternalFailure;
use crate::state::AppState;

/// A policy as kept: the wire form with its dates, and the version whose coming expiry was last noted.
#[derive(Serialize, Deserialize)]
struct StoredPolicy {
    policy: KeyRotationPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    noticed_version: Option<String>,
}

fn duration(text: &str) -> Result<IsoDuration, VaultError> {
    Ok(IsoDuration::parse(text)?)
}

/// The domain policy a wire policy describes, checked.
fn checked(wire: &KeyRotationPolicy) -> Result<RotationPolicy, VaultError> {
    let mut actions = Vec::new();
    for action in wire.lifetime_actions.iter().flatten() {
        let kind =
            action.action.as_ref().and_then(|a| a.action_type.as_deref()).ok_or_else(|| {
                VaultError::bad_parameter("A lifetime action needs an action type: Rotate or Notify.")
            })?;
        let trigger = action.trigger.as_ref();
        let trigger = match (
            trigger.and_then(|t| t.time_after_create.as_deref()),
            trigger.and_then(|t| t.time_before_expiry.as_deref()),
        ) {
            (Some(after), None) => Trigger::AfterCreate(duration(after)?),
            (None, Some(before)) => Trigger::BeforeExpiry(duration(before)?),
            _ => {
                return Err(VaultError::bad_parameter(
                    "A lifetime action's trigger has exactly one of timeAfterCreate and timeBeforeExpiry.",
                ));
            }
        };
        actions.push(LifetimeAction { trigger, action: ActionType::parse(kind)? });
    }
    let expiry = wire.attributes.as_ref().and_then(|a| a.expiry_time.as_deref()).map(duration).transpose()?;
    Ok(RotationPolicy::new(actions, expiry)?)
}

/// The wire form of a checked policy, with its dates.
fn wire(policy: &RotationPolicy, created: Option<i64>, updated: Option<i64>) -> KeyRotationPolicy {
    let lifetime_actions = policy
        .lifetime_actions
        .iter()
        .map(|action| {
            let trigger = match &action.trigger {
                Trigger::AfterCreate(after) => {
                    KeyLifetimeTrigger { time_after_create: Some(after.as_str().to_owned()), time_before_expiry: None }
                }
                Trigger::BeforeExpiry(before) => {
                    KeyLifetimeTrigger { time_after_create: None, time_before_expiry: Some(before.as_str().to_owned()) }
                }
            };
            KeyLifetimeAction {
                trigger: Some(trigger),
                action: Some(KeyLifetimeActionType { action_type: Some(action.action.as_str().to_owned()) }),
            }
        })
        .collect();
    KeyRotationPolicy {
        id: None,
        lifetime_actions: Some(lifetime_actions),
        attributes: Some(KeyRotationPolicyAttributes {
            expiry_time: policy.expiry_time.as_ref().map(|e| e.as_str().to_owned()),
            created,
            updated,
        }),
    }
}

async fn stored(store: &dyn Store, place: Place, name: &str) -> Result<Option<StoredPolicy>, VaultError> {
    match store.object_policy(place, name).await? {
        None => Ok(None),
        Some(json) => serde_json::from_str(&json)
            .map(Some)
            .map_err(VaultError::internal_because("a key's stored rotation policy is unreadable")),
    }
}

/// The rotation policy of the key `name` at `place`, if it was given one.
pub(super) async fn policy_of(
    store: &dyn Store,
    place: Place,
    name: &str,
) -> Result<Option<RotationPolicy>, VaultError> {
    stored(store, place, name).await?.map(|s| checked(&s.policy)).transpose()
}

fn answer(cx: &Context<'_>, name: &str, mut policy: KeyRotationPolicy) -> Response {
    policy.id = Some(format!("{}/keys/{name}/rotationpolicy", cx.base_url));
    Json(policy).into_response()
}

/// `GET /keys/{name}/rotationpolicy`: the key's policy, or Key Vault's default (notify 30 days before expiry).
pub async fn get_policy(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let (latest, _) = keys::load(cx, name, None).await?;
    let policy = match stored(cx.state.store.as_ref(), keys::place(cx), name).await? {
        Some(stored) => stored.policy,
        None => wire(&RotationPolicy::default_policy(), None, None),
    };
    Ok(answer(cx, &latest.name, policy))
}

/// `PUT /keys/{name}/rotationpolicy`: a new policy, checked, from the next scheduler pass on.
pub async fn set_policy(cx: &Context<'_>, name: &str, body: &[u8]) -> Result<Response, VaultError> {
    let requested: KeyRotationPolicy = parse_body(body, "KeyRotationPolicy")?;
    let policy = checked(&requested)?;
    let (latest, _) = keys::load(cx, name, None).await?;
    let store = cx.state.store.as_ref();
    let previous = stored(store, keys::place(cx), name).await?;
    let now = cx.state.clock.now_seconds();
    let created = previous.as_ref().and_then(|p| p.policy.attributes.as_ref()).and_then(|a| a.created).unwrap_or(now);
    let kept = StoredPolicy { policy: wire(&policy, Some(created), Some(now)), noticed_version: None };
    let json = serde_json::to_string(&kept).map_err(VaultError::internal_while("encoding a rotation policy"))?;
    let written = store.put_object_policy(keys::place(cx), name, &json).await;
    if !written.map_err(|e| VaultError::from_key_store(name, e))? {
        return Err(VaultError::key_not_found(name));
    }
    Ok(answer(cx, &latest.name, kept.policy))
}

/// One scheduler pass at `now`: rotates every key whose policy makes it due, and notes once per version every
/// key whose policy's notice is due. Returns how many keys were rotated. A key that fails is logged and left
/// for the next pass; the others go on.
pub async fn run_schedule(state: &AppState, now: i64) -> usize {
    scheduled::for_each_policy(state, Collection::Keys, |place, name, json| async move {
        act_on(state, place, &name, &json, now).await
    })
    .await
}

async fn act_on(state: &AppState, place: Place, name: &str, json: &str, now: i64) -> Result<bool, VaultError> {
    let store = state.store.as_ref();
    let mut kept: StoredPolicy = serde_json::from_str(json)
        .map_err(VaultError::internal_because("a key's stored rotation policy is unreadable"))?;
    let policy = checked(&kept.policy)?;
    let Some((latest, _)) = store.read_version(place, name, VersionSelector::Latest).await? else {
        return Ok(false);
    };
    let (created, expires) = (latest.created, latest.properties.expires);
    if policy.rotation_due(created, expires, now) {
        let sealing = keys::KeySealing::of_vault(state, place.vault_id).await?;
        let (version, _) = keys::rotate_in(store, &sealing, place, name, now).await?;
        tracing::info!(key = %name, version = %version.version, "rotated by its rotation policy");
        scheduled::record(state, place, name, "KeyRotateByPolicy").await;
        return Ok(true);
    }
    if policy.notice_due(created, expires, now) && kept.noticed_version.as_deref() != Some(latest.version.as_str()) {
        tracing::warn!(key = %name, version = %latest.version, expires, "the key expires soon");
        scheduled::record(state, place, name, "KeyNearExpiry").await;
        kept.noticed_version = Some(latest.version);
        let json = serde_json::to_string(&kept).map_err(VaultError::internal_while("encoding a rotation policy"))?;
        store.put_object_policy(place, name, &json).await?;
    }
    Ok(false)
}
