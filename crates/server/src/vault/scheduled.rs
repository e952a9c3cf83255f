//! What the scheduler's passes over vault objects share: walking every object of a collection that has a
//! policy, and recording what was done as a system audit event.

use std::future::Future;

use strongroom_store::{Collection, Place};

use super::error::VaultError;
use crate::state::AppState;

/// Calls `act` for every live object of `collection` that has a policy (its place, name and policy) and returns
/// how many it acted on (`Ok(true)`). A failure is logged and left for the next pass; the others go on.
pub(super) async fn for_each_policy<F, Fut>(state: &AppState, collection: Collection, act: F) -> usize
where
    F: Fn(Place, String, String) -> Fut,
    Fut: Future<Output = Result<bool, VaultError>>,
{
    let policies = match state.store.object_policies(collection).await {
        Ok(policies) => policies,
        Err(e) => {
            tracing::error!(collection = collection.as_str(), "reading the policies failed: {e}");
            return 0;
        }
    };
    let mut acted = 0;
    for (place, name, policy) in policies {
        match act(place, name.clone(), policy).await {
            Ok(true) => acted += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(object = %name, collection = collection.as_str(), "the scheduled action failed: {}", e.message())
            }
        }
    }
    acted
}

/// An audit record of something the scheduler did to the object `name` at `place`, as the system.
pub(super) async fn record(state: &AppState, place: Place, name: &str, operation: &str) {
    let directory = state.directory();
    let Some(vault) = directory.vaults().iter().find(|v| v.id == place.vault_id) else {
        return;
    };
    let record = super::audit::system_event(state, vault, place.collection.as_str(), name, operation);
    state.audit.record(record).await;
}
