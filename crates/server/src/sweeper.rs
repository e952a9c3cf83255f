//! The maintenance loop: deleted objects whose scheduled purge date has passed are purged for good, as Key
//! Vault does at the end of the retention period, keys rotate and certificates renew as their policies say, and the token
//! signing keys rotate when due, and versions near their expiry or past it get their events (once each).

use std::sync::Arc;
use std::time::Duration;

use strongroom_core::directory::Change;
use strongroom_store::Store;
use tokio::sync::watch;

use crate::signing;
use crate::state::AppState;
use crate::vault;

/// How often the sweeper looks.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// Purges what has expired by `now` (Unix seconds); returns how many objects went.
pub async fn sweep_once(store: &dyn Store, now: i64) -> strongroom_store::Result<usize> {
    let purged = store.purge_expired(now).await?;
    if purged > 0 {
        tracing::info!(purged, "purged deleted secrets past their retention");
    }
    Ok(purged)
}

/// Purges, rotations and renewals that are due by the server's clock.
/// Purges the soft-deleted vaults whose retention has ended at `now` (purge protection keeps a vault only until
/// then), with their objects, and takes the new directory up; returns how many.
pub async fn purge_expired_vaults(state: &AppState, now: i64) -> strongroom_store::Result<usize> {
    // Under the management API's write lock: no vault change races this one.
    let _writing = state.directory.lock_writes().await;
    let expired: Vec<Change> = state
        .directory()
        .deleted_vaults
        .iter()
        .filter(|d| d.scheduled_purge <= now)
        .map(|d| Change::PurgeVault { vault_id: d.vault.id })
        .collect();
    let purged = expired.len();
    if purged > 0 {
        state.store.apply(expired).await?;
        state.directory.set(state.store.load_directory().await?);
        tracing::info!(purged, "purged deleted vaults past their retention");
    }
    Ok(purged)
}

async fn maintain(state: &AppState) {
    let now = state.clock.now_seconds();
    if let Err(e) = sweep_once(state.store.as_ref(), now).await {
        tracing::error!("the retention sweep failed: {e}");
    }
    if let Err(e) = purge_expired_vaults(state, now).await {
        tracing::error!("the deleted vaults' retention sweep failed: {e}");
    }
    let rotated = vault::rotation::run_schedule(state, now).await;
    if rotated > 0 {
        tracing::info!(rotated, "keys rotated by their rotation policies");
    }
    let renewed = vault::certificates::run_schedule(state, now).await;
    if renewed > 0 {
        tracing::info!(renewed, "certificates renewed by their policies");
    }
    match state.store.enqueue_expiry_events(state.clock.now_millis()).await {
        Ok(0) => {}
        Ok(enqueued) => tracing::info!(enqueued, "near-expiry and expiry events enqueued"),
        Err(e) => tracing::error!("enqueueing near-expiry and expiry events failed: {e}"),
    }
}

/// What the loop is told by the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Days between two token signing keys.
    pub signing_key_rotation_days: u32,
}

impl Schedule {
    /// The schedule `settings` give.
    pub fn of(settings: &crate::config::ServerSettings) -> Self {
        Self { signing_key_rotation_days: settings.signing_key_rotation_days }
    }
}

/// Runs at start and then every [`INTERVAL`] until `shutdown` turns true. Of several nodes on one database,
/// the one that holds the lead does the work; every node takes up the signing keys.
pub async fn run(state: Arc<AppState>, schedule: Schedule, mut shutdown: watch::Receiver<bool>) {
    loop {
        let leads = state.store.lead().await.unwrap_or_else(|e| {
            tracing::warn!("cannot tell whether this node leads maintenance: {e}");
            false
        });
        if leads {
            maintain(&state).await;
        }
        let lifetime = state.token_lifetime_seconds;
        let days = schedule.signing_key_rotation_days;
        if let Err(e) =
            signing::maintain(state.store.as_ref(), &state.keys, lifetime, days, state.clock.now_seconds(), leads).await
        {
            tracing::error!("maintaining the signing keys failed: {e}");
        }
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep(INTERVAL) => {}
            () = state.maintenance_now.notified() => {}
        }
    }
}
