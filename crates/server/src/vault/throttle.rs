//! Stage 5, the service limits: a request past its vault's limit for its kind of operation, or its
//! subscription's, is refused with `429 Throttled` and `Retry-After`, and counts for nothing. Only requests that
//! passed the firewall, the token check and the permission check get here: what Key Vault counts are its
//! callers' transactions.
//!
//! Before the limits, where test controls are on, a vault answers with the fault it was told to inject
//! ([`crate::test_controls`]): latency first, then its status; an injected refusal counts for nothing either.

use strongroom_core::directory::Vault;

use super::error::VaultError;
use super::operation::Operation;
use crate::limits::Admission;
use crate::state::AppState;

/// The latency and the answer the vault's fault plan forces on this request, if it has one.
pub async fn injected_fault(state: &AppState, vault: &Vault) -> Result<(), VaultError> {
    let Some(injection) = state.test_faults.next(vault.id) else { return Ok(()) };
    if !injection.latency.is_zero() {
        tokio::time::sleep(injection.latency).await;
    }
    match injection.status {
        Some((status, retry_after)) => Err(VaultError::injected(status, retry_after)),
        None => Ok(()),
    }
}

/// Lets the request through, counted; or refuses it.
pub fn check(state: &AppState, vault: &Vault, operation: &Operation) -> Result<Admission, VaultError> {
    state.limits.admit(vault, operation.budget).map_err(|t| VaultError::throttled(t.reason, t.retry_after_seconds))
}
