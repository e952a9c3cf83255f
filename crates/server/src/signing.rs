//! Token signing keys: kept sealed in the store; the newest signs, and the ones it replaced stay published
//! and accepted until every token they signed has expired. Keys rotate on a schedule and on command
//! (`strongroom rotate-signing-key`). In an emergency (a key exposed), `--revoke-previous` keeps only a new
//! key: every token the removed keys signed is refused at once, cached or not, on every node — other nodes on
//! PostgreSQL are told by the change notice, and every node also looks at the stored keys every
//! [`CHECK_INTERVAL`] (a command run against SQLite has no one to tell).

use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use strongroom_core::token::{CLOCK_SKEW_SECONDS, KeySet, SigningKey};
use strongroom_store::Store;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};

/// The setting the keys are kept in.
pub const SETTING: &str = "token-signing-keys";
/// How often a running server looks for keys stored by another process.
pub const CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// A stored key: PKCS#8 DER (base64) and when it started signing.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    pkcs8: String,
    created: i64,
}

/// The keys in use, replaced whole when they rotate.
#[derive(Debug)]
pub struct SigningKeys(RwLock<InUse>);

/// A key set and when its newest key was made: key sets only move forward (a rotation and a revocation
/// each add a newer key), so a set read before the one in use is never taken up over it.
#[derive(Debug)]
struct InUse {
    keys: Arc<KeySet>,
    newest: i64,
}

impl SigningKeys {
    /// Keys starting with `keys`.
    pub fn new(keys: KeySet) -> Self {
        Self(RwLock::new(InUse { keys: Arc::new(keys), newest: i64::MIN }))
    }

    /// Whether a key to sign with is loaded.
    pub fn has_current(&self) -> bool {
        self.get().current().is_ok()
    }

    /// The current key set.
    pub fn get(&self) -> Arc<KeySet> {
        match self.0.read() {
            Ok(guard) => Arc::clone(&guard.keys),
            Err(poisoned) => Arc::clone(&poisoned.into_inner().keys),
        }
    }

    /// Replaces the keys with `stored` when they differ — unless `stored` is older than the keys in use (read
    /// before a revocation another task has taken up meanwhile, which must not come back).
    fn take_up(&self, stored: &[StoredKey]) -> Result<()> {
        let newest = stored.first().map_or(i64::MIN, |key| key.created);
        let fresh = key_set(stored)?;
        let kids = |set: &KeySet| set.keys().iter().map(|k| k.kid().to_owned()).collect::<Vec<_>>();
        let mut guard = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if newest >= guard.newest && kids(&fresh) != kids(&guard.keys) {
            *guard = InUse { keys: Arc::new(fresh), newest };
        }
        Ok(())
    }
}

async fn read(store: &dyn Store) -> Result<Vec<StoredKey>> {
    let Some(stored) = store.sealed_setting(SETTING).await? else { return Ok(Vec::new()) };
    serde_json::from_slice(&stored).map_err(|e| Error::new(ErrorKind::Store, "reading the signing keys", e))
}

async fn write(store: &dyn Store, keys: &[StoredKey]) -> Result<()> {
    let encoded = Zeroizing::new(
        serde_json::to_vec(keys).map_err(|e| Error::new(ErrorKind::Store, "encoding the signing keys", e))?,
    );
    Ok(store.put_sealed_setting(SETTING, &encoded).await?)
}

fn key_set(stored: &[StoredKey]) -> Result<KeySet> {
    let keys = stored
        .iter()
        .map(|key| {
            let der = Zeroizing::new(
                STANDARD.decode(&key.pkcs8).map_err(|e| Error::new(ErrorKind::Store, "reading a signing key", e))?,
            );
            Ok(SigningKey::from_pkcs8(&der)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(KeySet::new(keys))
}

fn generate(now: i64) -> Result<StoredKey> {
    let key = SigningKey::generate()?;
    Ok(StoredKey { pkcs8: STANDARD.encode(key.to_pkcs8()?), created: now })
}

/// Keeps the newest key and every older key whose tokens may still be alive: a key stops signing when its
/// successor starts, and its tokens expire at most `lifetime` (plus skew) later.
fn retain_live(keys: &mut Vec<StoredKey>, lifetime: u64, now: i64) {
    let grace = i64::try_from(lifetime + CLOCK_SKEW_SECONDS).unwrap_or(i64::MAX);
    let successors: Vec<i64> = keys.iter().map(|k| k.created).collect();
    let mut index = 0;
    keys.retain(|_| {
        let keep = index == 0 || successors[index - 1].saturating_add(grace) > now;
        index += 1;
        keep
    });
}

/// The stored keys, creating the first one on first use.
pub async fn load(store: &dyn Store, now: i64) -> Result<KeySet> {
    let mut stored = read(store).await?;
    if stored.is_empty() {
        // Nodes starting together on one database each make a key; the first one stored is everyone's.
        let encoded = Zeroizing::new(
            serde_json::to_vec(&[generate(now)?])
                .map_err(|e| Error::new(ErrorKind::Store, "encoding the signing keys", e))?,
        );
        store.create_sealed_setting(SETTING, &encoded).await?;
        stored = read(store).await?;
    }
    key_set(&stored)
}

/// Adds a new signing key and drops the keys no token can need any more. The new key is made before the
/// stored ones are read, so that the read and the write are as close as they can be: a revocation stored in
/// between would be undone by the write.
pub async fn rotate(store: &dyn Store, lifetime: u64, now: i64) -> Result<KeySet> {
    key_set(&rotate_stored(store, lifetime, now).await?)
}

/// [`rotate`], answering the keys as stored.
async fn rotate_stored(store: &dyn Store, lifetime: u64, now: i64) -> Result<Vec<StoredKey>> {
    let new_key = generate(now)?;
    let mut stored = read(store).await?;
    stored.insert(0, new_key);
    retain_live(&mut stored, lifetime, now);
    write(store, &stored).await?;
    tracing::info!(keys = stored.len(), "rotated the token signing key");
    Ok(stored)
}

/// Replaces every key with a new one: tokens signed before are refused from now on. For a key that may have
/// been exposed; clients get new tokens at their next request's 401.
pub async fn revoke_previous(store: &dyn Store, now: i64) -> Result<KeySet> {
    let stored = vec![generate(now)?];
    write(store, &stored).await?;
    tracing::warn!("replaced every token signing key: tokens signed before are refused");
    key_set(&stored)
}

/// What the maintenance loop does each minute: rotate when the newest key is older than `rotation_days` (on
/// the node that `leads` maintenance), and take up a rotation another process (the CLI, another node)
/// stored. What it read never replaces newer keys [`watch`] took up meanwhile (a revocation).
pub async fn maintain(
    store: &dyn Store,
    keys: &SigningKeys,
    lifetime: u64,
    rotation_days: u32,
    now: i64,
    leads: bool,
) -> Result<()> {
    let stored = read(store).await?;
    let newest = stored.first().map_or(i64::MIN, |k| k.created);
    if leads && newest.saturating_add(i64::from(rotation_days) * 86_400) <= now {
        keys.take_up(&rotate_stored(store, lifetime, now).await?)
    } else {
        keys.take_up(&stored)
    }
}

/// Takes up the stored keys now (another node rotated them).
pub async fn reload(store: &dyn Store, keys: &SigningKeys) -> Result<()> {
    keys.take_up(&read(store).await?)
}

/// Takes up keys another process stored, every [`CHECK_INTERVAL`] until `shutdown` turns true; the keys are
/// parsed again only when what is stored has changed.
pub async fn watch(state: Arc<crate::state::AppState>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut seen: Option<aws_lc_rs::digest::Digest> = None;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            () = tokio::time::sleep(CHECK_INTERVAL) => {}
        }
        let stored = match state.store.sealed_setting(SETTING).await {
            Ok(Some(stored)) => stored,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!("cannot read the signing keys: {e}");
                continue;
            }
        };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &stored);
        if seen.as_ref().is_some_and(|seen| seen.as_ref() == digest.as_ref()) {
            continue;
        }
        let taken_up = serde_json::from_slice::<Vec<StoredKey>>(&stored)
            .map_err(|e| Error::new(ErrorKind::Store, "reading the signing keys", e))
            .and_then(|stored| state.keys.take_up(&stored));
        match taken_up {
            Ok(()) => seen = Some(digest),
            Err(e) => tracing::warn!("cannot take up the stored signing keys: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(created: i64) -> StoredKey {
        StoredKey { pkcs8: String::new(), created }
    }

    #[test]
    fn retired_keys_stay_while_their_tokens_live() {
        let lifetime = 3600;
        let grace = 3600 + CLOCK_SKEW_SECONDS as i64;
        let mut keys = vec![key(10_000), key(5_000), key(1_000)];
        retain_live(&mut keys, lifetime, 10_000 + grace - 1);
        assert_eq!(keys.iter().map(|k| k.created).collect::<Vec<_>>(), [10_000, 5_000]);
        retain_live(&mut keys, lifetime, 10_000 + grace);
        assert_eq!(keys.iter().map(|k| k.created).collect::<Vec<_>>(), [10_000]);
    }

    /// A set read before a revocation (another task took the revocation up meanwhile) never comes back.
    #[test]
    fn keys_read_before_newer_ones_are_not_taken_up_over_them() -> Result<()> {
        let (old, revoked) = (generate(1_000)?, generate(2_000)?);
        let before = vec![revoked.clone(), old];
        let revocation = vec![generate(3_000)?];
        let keys = SigningKeys::new(key_set(&before)?);
        keys.take_up(&before)?;
        keys.take_up(&revocation)?;
        keys.take_up(&before)?;
        let kids: Vec<String> = keys.get().keys().iter().map(|k| k.kid().to_owned()).collect();
        assert_eq!(kids, [key_set(&revocation)?.keys()[0].kid().to_owned()]);
        Ok(())
    }
}
