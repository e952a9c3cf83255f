//! What a node does to stay in step with the other nodes on one database: it takes up their directory
//! changes and their signing keys as soon as the database tells it (object caches follow by themselves, in
//! the store's cache).

use std::sync::Arc;

use strongroom_store::Invalidation;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::signing;
use crate::state::AppState;

/// Follows the store's change feed, if it has one, until `shutdown` turns true.
pub async fn follow(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let Some(feed) = state.store.changes() else { return };
    let mut changes = feed.subscribe();
    loop {
        let change = tokio::select! {
            _ = shutdown.changed() => return,
            change = changes.recv() => change,
        };
        let (directory, keys) = match change {
            Ok(Invalidation::Object { .. }) => continue,
            Ok(Invalidation::Directory) => (true, false),
            Ok(Invalidation::Setting(name)) => (false, name == signing::SETTING),
            Ok(Invalidation::Everything) | Err(RecvError::Lagged(_)) => (true, true),
            Err(RecvError::Closed) => return,
        };
        if directory {
            // Planned against the directory the write lock guards, like the management API's own changes.
            let _writing = state.directory.lock_writes().await;
            match state.store.load_directory().await {
                Ok(fresh) => state.directory.set(fresh),
                Err(e) => tracing::warn!("cannot take up another node's directory change: {e}"),
            }
        }
        if keys && let Err(e) = signing::reload(state.store.as_ref(), &state.keys).await {
            tracing::warn!("cannot take up another node's signing keys: {e}");
        }
    }
}
