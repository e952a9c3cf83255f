//! Stage 3, token validation: signature by one of our keys, issuer of the vault's tenant, audience of the
//! vault resource, lifetime, tenant (the signature once per token: see `ValidatedTokens`). A refused token gets
//! `401` and the challenge again.

use std::sync::Arc;

use strongroom_core::directory::Vault;
use strongroom_core::token::{AccessClaims, Expected};
use uuid::Uuid;

use super::error::VaultError;
use super::{ConnectionInfo, challenge};
use crate::endpoints::KEY_VAULT_APP_ID;
use crate::state::AppState;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal's object id.
    pub object_id: Uuid,
    /// The validated claims (shared with the validated-token cache).
    pub claims: Arc<AccessClaims>,
}

/// Validates `token` for `vault`, presented on `connection`.
pub fn validate(
    state: &AppState,
    connection: &ConnectionInfo,
    vault: &Vault,
    token: &str,
) -> Result<Caller, VaultError> {
    let issuer = state.endpoints.issuer(vault.tenant_id);
    let resource = state.endpoints.vault_resource();
    let expected = Expected { issuer: &issuer, audiences: &[resource, KEY_VAULT_APP_ID], tenant_id: vault.tenant_id };
    let refuse = |reason: &str| VaultError::invalid_token(reason, challenge::header_value(&state.endpoints, vault));
    let claims = connection
        .last_token
        .validate(&state.validated_tokens, &state.keys.get(), token, &expected, state.clock.now_seconds())
        .map_err(|e| refuse(e.message()))?;
    let object_id = Uuid::parse_str(&claims.oid).map_err(|_| refuse("The access token's oid is not a GUID."))?;
    Ok(Caller { object_id, claims })
}
