//! Stage 3, token validation: signature by one of our keys, issuer of the vault's tenant, audience of the
//! vault resource, lifetime, tenant (the signature once per token: see `ValidatedTokens`). A refused token gets
//! `401` and the challenge again.

use std::sync::Arc;

use strongroom_core::directory::{Vault, VaultKind};
use strongroom_core::token::{AccessClaims, Expected};
use uuid::Uuid;

use super::error::VaultError;
use super::{ConnectionInfo, challenge};
use crate::endpoints::{KEY_VAULT_APP_ID, MANAGED_HSM_APP_ID};
use crate::state::AppState;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal's object id.
    pub object_id: Uuid,
    /// The validated claims (shared with the validated-token cache).
    pub claims: Arc<AccessClaims>,
}

/// Now by the system's clock, whatever the server's clock says.
fn system_now() -> i64 {
    crate::clock::Clock::unmoved_now().unix_timestamp()
}

/// Validates `token` for `vault`, presented on `connection`.
pub fn validate(
    state: &AppState,
    connection: &ConnectionInfo,
    vault: &Vault,
    token: &str,
) -> Result<Caller, VaultError> {
    let issuer = state.endpoints.issuer(vault.tenant_id);
    // A vault's tokens never open a Managed HSM, nor an HSM's a vault: each kind has its own resource.
    let resource = state.endpoints.resource_of(vault.kind);
    let app_id = match vault.kind {
        VaultKind::Vault => KEY_VAULT_APP_ID,
        VaultKind::ManagedHsm => MANAGED_HSM_APP_ID,
    };
    let expected = Expected { issuer: &issuer, audiences: &[resource, app_id], tenant_id: vault.tenant_id };
    let refuse = |reason: &str| VaultError::invalid_token(reason, challenge::header_value(&state.endpoints, vault));
    let keys = state.keys.get();
    let claims = connection
        .last_token
        .validate(&state.validated_tokens, &keys, token, &expected, state.clock.now_seconds())
        .map_err(|e| {
            // A token still good by the system's time was outlived only by a clock the test controls moved:
            // the client is told, as Continuous Access Evaluation tells it, to get a fresh one at once.
            let moved = state.clock.offset_seconds() > 0;
            if moved
                && connection
                    .last_token
                    .validate(&state.validated_tokens, &keys, token, &expected, system_now())
                    .is_ok()
            {
                let challenge = challenge::claims_challenge(&state.endpoints, vault, state.clock.now_seconds());
                return VaultError::invalid_token(e.message(), challenge);
            }
            refuse(e.message())
        })?;
    let object_id = Uuid::parse_str(&claims.oid).map_err(|_| refuse("The access token's oid is not a GUID."))?;
    Ok(Caller { object_id, claims })
}
