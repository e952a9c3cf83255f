//! Stage 5, the service limits: a request past its vault's limit for its kind of operation, or its
//! subscription's, is refused with `429 Throttled` and `Retry-After`, and counts for nothing. Only requests that
//! passed the firewall, the token check and the permission check get here: what Key Vault counts are its
//! callers' transactions.

use strongroom_core::directory::Vault;

use super::error::VaultError;
use super::operation::Operation;
use crate::limits::Admission;
use crate::state::AppState;

/// Lets the request through, counted; or refuses it.
pub fn check(state: &AppState, vault: &Vault, operation: &Operation) -> Result<Admission, VaultError> {
    state.limits.admit(vault, operation.budget).map_err(|t| VaultError::throttled(t.reason, t.retry_after_seconds))
}
