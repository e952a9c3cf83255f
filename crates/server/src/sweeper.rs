//! The maintenance loop: deleted objects whose scheduled purge date has passed are purged for good, as Key
//! Vault does at the end of the retention period, and the token signing keys rotate when due.

use std::sync::Arc;
use std::time::Duration;

use strongroom_store::Store;
use tokio::sync::watch;

use crate::identity::mint::now_seconds;
use crate::signing;
use crate::state::AppState;

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

/// Runs at start and then every [`INTERVAL`] until `shutdown` turns true.
pub async fn run(state: Arc<AppState>, rotation_days: u32, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = sweep_once(state.store.as_ref(), now_seconds()).await {
            tracing::error!("the retention sweep failed: {e}");
        }
        let lifetime = state.token_lifetime_seconds;
        if let Err(e) =
            signing::maintain(state.store.as_ref(), &state.keys, lifetime, rotation_days, now_seconds()).await
        {
            tracing::error!("maintaining the signing keys failed: {e}");
        }
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
    }
}
