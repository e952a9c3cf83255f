//! Pending interactive sign-ins: device codes waiting for their user, and authorization codes waiting to be
//! redeemed. Both are short-lived and kept in the store's short-lived state, sealed, so that every node of an
//! installation (and a restarted one) sees them: the device code a user approves on one node yields tokens on
//! another.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use strongroom_store::{Ephemeral, IfLive};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::error::OAuthFailure;
use crate::error::InternalFailure;
use crate::state::AppState;

/// A device code waiting for its user to sign in on the verification page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceGrant {
    /// The tenant: the path's, or — for a code asked for at a multi-tenant authority — `None` until the
    /// user who approves it decides.
    pub tenant_id: Option<Uuid>,
    /// The public client that asked.
    pub client_id: Uuid,
    /// The scopes it asked for.
    pub scope: String,
    /// What the user types on the verification page.
    pub user_code: String,
    /// When the code stops working, Unix seconds.
    pub expires: i64,
    /// The user who signed in, once someone has.
    pub approved_by: Option<Uuid>,
    /// When they did, Unix milliseconds: a password change or disabling after it revokes the device code.
    #[serde(default)]
    pub approved_at_ms: i64,
}

/// An authorization code waiting to be redeemed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    /// The tenant.
    pub tenant_id: Uuid,
    /// The client it was issued to.
    pub client_id: Uuid,
    /// Where it was sent; redemption must name the same.
    pub redirect_uri: String,
    /// The scopes asked for.
    pub scope: String,
    /// The sign-in request's nonce.
    pub nonce: Option<String>,
    /// The PKCE challenge and its method.
    pub code_challenge: Option<(String, String)>,
    /// The user who signed in.
    pub user_id: Uuid,
    /// When the code stops working, Unix seconds.
    pub expires: i64,
    /// When the user signed in, Unix milliseconds: a password change or disabling after it revokes the code.
    #[serde(default)]
    pub signed_in_at_ms: i64,
}

const DEVICE: &str = "device-code";
const USER_CODE: &str = "user-code";
const CODE: &str = "authorization-code";

fn encode(grant: &impl Serialize) -> Result<Zeroizing<Vec<u8>>, OAuthFailure> {
    serde_json::to_vec(grant).map(Zeroizing::new).map_err(OAuthFailure::internal_while("encoding a pending sign-in"))
}

fn decode<T: DeserializeOwned>(bytes: Option<Zeroizing<Vec<u8>>>) -> Option<T> {
    bytes.and_then(|b| serde_json::from_slice(&b).ok())
}

/// Keeps a new device code (and its user code, to find it by).
pub async fn add_device(state: &AppState, device_code: &str, grant: &DeviceGrant) -> Result<(), OAuthFailure> {
    state
        .store
        .put_ephemeral(
            Ephemeral {
                kind: USER_CODE,
                key: &grant.user_code.to_ascii_uppercase(),
                value: device_code.as_bytes(),
                expires: grant.expires,
            },
            state.clock.now_seconds(),
            IfLive::Replace,
        )
        .await?;
    let entry = Ephemeral { kind: DEVICE, key: device_code, value: &encode(grant)?, expires: grant.expires };
    state.store.put_ephemeral(entry, state.clock.now_seconds(), IfLive::Replace).await?;
    Ok(())
}

/// The live device code whose user code is `user_code`, and its grant.
async fn device_by_user_code(state: &AppState, user_code: &str) -> Result<Option<(String, DeviceGrant)>, OAuthFailure> {
    let now = state.clock.now_seconds();
    let Some(device_code) = state.store.ephemeral(USER_CODE, &user_code.to_ascii_uppercase(), now).await? else {
        return Ok(None);
    };
    let device_code = String::from_utf8_lossy(&device_code).into_owned();
    let grant = decode(state.store.ephemeral(DEVICE, &device_code, now).await?);
    Ok(grant.map(|grant| (device_code, grant)))
}

/// Marks the live device code whose user code is `user_code` as signed in by `user` of `tenant_id`, if it is
/// for that tenant (or for any organization's user); returns whether one was.
pub async fn approve_device(
    state: &AppState,
    user_code: &str,
    tenant_id: Uuid,
    user: Uuid,
) -> Result<bool, OAuthFailure> {
    match device_by_user_code(state, user_code).await? {
        Some((device_code, mut grant)) if grant.tenant_id.is_none_or(|t| t == tenant_id) => {
            grant.tenant_id = Some(tenant_id);
            grant.approved_by = Some(user);
            grant.approved_at_ms = state.clock.now_millis();
            let entry = Ephemeral { kind: DEVICE, key: &device_code, value: &encode(&grant)?, expires: grant.expires };
            state.store.put_ephemeral(entry, state.clock.now_seconds(), IfLive::Replace).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// The tenant of the live device code whose user code is `user_code` (`Some(None)`: any organization's).
pub async fn device_tenant(state: &AppState, user_code: &str) -> Result<Option<Option<Uuid>>, OAuthFailure> {
    Ok(device_by_user_code(state, user_code).await?.map(|(_, grant)| grant.tenant_id))
}

/// The device grant for `device_code`: taken once approved (a device code yields tokens once).
pub async fn poll_device(state: &AppState, device_code: &str) -> Result<Option<DeviceGrant>, OAuthFailure> {
    let now = state.clock.now_seconds();
    let Some(grant) = decode::<DeviceGrant>(state.store.ephemeral(DEVICE, device_code, now).await?) else {
        return Ok(None);
    };
    if grant.approved_by.is_none() {
        return Ok(Some(grant));
    }
    // Of two polls that both saw it approved, only the one that takes it gets tokens.
    Ok(decode(state.store.take_ephemeral(DEVICE, device_code, now).await?))
}

/// Keeps a new authorization code.
pub async fn add_code(state: &AppState, code: &str, grant: &CodeGrant) -> Result<(), OAuthFailure> {
    let entry = Ephemeral { kind: CODE, key: code, value: &encode(grant)?, expires: grant.expires };
    state.store.put_ephemeral(entry, state.clock.now_seconds(), IfLive::Replace).await?;
    Ok(())
}

/// Takes an authorization code: it can be redeemed once.
pub async fn take_code(state: &AppState, code: &str) -> Result<Option<CodeGrant>, OAuthFailure> {
    Ok(decode(state.store.take_ephemeral(CODE, code, state.clock.now_seconds()).await?))
}
