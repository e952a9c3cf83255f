//! What a node does to stay in step with the other nodes on one database: it takes up their directory
//! changes and their signing keys before their writes are acknowledged (object caches follow by themselves,
//! in the store's cache), their failed and successful sign-ins, and their service-limit counts.

use std::sync::{Arc, Weak};

use strongroom_store::ChangeNotice;
use tokio::runtime::Handle;

use crate::signing;
use crate::state::AppState;

/// Follows the store's change feed, if it has one, for as long as `state` lives. Must be called on the
/// runtime; the feed's thread runs the reloads on it and waits for them.
pub fn follow(state: &Arc<AppState>) {
    let Some(feed) = state.store.changes() else { return };
    let (state, runtime): (Weak<AppState>, Handle) = (Arc::downgrade(state), Handle::current());
    feed.follow(Box::new(move |change| {
        let Some(state) = state.upgrade() else { return };
        let (directory, keys) = match change {
            ChangeNotice::Object { .. } => return,
            ChangeNotice::SignInFailure { address, principal } => {
                state.sign_in_throttle.record_failure(principal, address);
                return;
            }
            ChangeNotice::SignInSuccess { address, principal } => {
                state.sign_in_throttle.record_success(principal, address);
                return;
            }
            ChangeNotice::Usage(usage) => {
                state.limits.take_up(usage);
                return;
            }
            ChangeNotice::Directory => (true, false),
            ChangeNotice::Setting(name) => (false, name == signing::SETTING),
            ChangeNotice::Everything => (true, true),
        };
        runtime.block_on(take_up(&state, directory, keys));
    }));
}

async fn take_up(state: &AppState, directory: bool, keys: bool) {
    if directory {
        match state.store.load_directory().await {
            Ok(fresh) => state.directory.set(fresh),
            Err(e) => tracing::warn!("cannot take up another node's directory change: {e}"),
        }
    }
    if keys && let Err(e) = signing::reload(state.store.as_ref(), &state.keys).await {
        tracing::warn!("cannot take up another node's signing keys: {e}");
    }
}
