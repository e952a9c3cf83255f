//! A read-through cache of object versions in front of any [`Store`], so that a warm `GET` of a secret touches
//! no database.
//!
//! A write drops what it may change from the cache before it goes to the store and again when it has landed,
//! and no read keeps its result while any write is in flight. So once a write has landed in the database, no
//! reader — not even one who learnt of the write another way, by a list or from another client — is answered
//! from before it. A read that raced a write does not put its (possibly stale) result in either: a generation
//! counter, bumped at the start and the end of every write, must be unchanged between the start of the read
//! and the insert. Values are kept in `Zeroizing` strings and the cache is bounded.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use strongroom_core::certificate::issuance::PendingCertificate;
use strongroom_core::certificate::issuer::{Contact, Issuer};
use strongroom_core::directory::{Change, Directory};
use strongroom_core::object::{DeletedObject, ObjectVersion, VersionUpdate, name_key};
use uuid::Uuid;
use zeroize::Zeroizing;

use strongroom_core::events::EventSubscription;

use crate::{
    ChangeFeed, ChangeNotice, Collection, Ephemeral, EventOutcome, IfLive, Integrity, OutboxEntry, PageRequest,
    PageResult, Place, Replacing, Result, Store, VersionSelector, VersionWithValue, WholeObject,
};

/// Most cached versions; past it the cache starts over (simple, bounded, and rare for real vaults).
const CAPACITY: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    place: Place,
    name_key: String,
    /// `None` for the latest version.
    version: Option<String>,
}

type Entry = Arc<(ObjectVersion, Zeroizing<String>)>;

/// The store with a cache of object reads: versions with their values, and objects' policies.
pub struct CachedStore {
    inner: Arc<dyn Store>,
    cache: Arc<Cache>,
    /// Other processes' changes, when the database is shared: while it is not heard, the cache is not used.
    feed: Option<ChangeFeed>,
}

struct Cache {
    entries: RwLock<HashMap<Key, Entry>>,
    policies: RwLock<HashMap<(Place, String), Option<String>>>,
    generation: AtomicU64,
    /// Writes between their start and their end; while there is one, reads keep nothing.
    writes_in_flight: AtomicU64,
    /// Version reads answered from the cache, and from the store, for the metrics.
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What a write may change.
enum Touched {
    /// These objects, each by its place and name.
    Objects(Vec<(Place, String)>),
    /// Anything.
    Everything,
}

impl Touched {
    fn object(place: Place, name: &str) -> Self {
        Self::Objects(vec![(place, name.to_owned())])
    }

    fn each(places: &[Place], name: &str) -> Self {
        Self::Objects(places.iter().map(|place| (*place, name.to_owned())).collect())
    }
}

/// A write in flight; when it ends (or is abandoned), reads may cache again, from the next generation on.
struct InFlight<'a>(&'a Cache);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.generation.fetch_add(1, Ordering::SeqCst);
        self.0.writes_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl CachedStore {
    /// `inner` with a cache in front. When `inner` is shared with other processes, what they change is
    /// dropped before their writes are acknowledged.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        let cache = Arc::new(Cache {
            entries: RwLock::new(HashMap::new()),
            policies: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            writes_in_flight: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        });
        let feed = inner.changes();
        if let Some(feed) = &feed {
            let cache = Arc::downgrade(&cache);
            feed.follow(Box::new(move |change| {
                if let Some(cache) = cache.upgrade() {
                    cache.take_up(change);
                }
            }));
        }
        Self { inner, cache, feed }
    }

    /// How many versions are cached.
    pub fn len(&self) -> usize {
        self.cache.entries.read().map_or(0, |entries| entries.len())
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether reads may be answered from (and kept in) the cache now.
    fn usable(&self) -> bool {
        self.feed.as_ref().is_none_or(ChangeFeed::is_connected)
    }

    fn invalidate(&self, touched: &Touched) {
        match touched {
            Touched::Objects(objects) => {
                for (place, name) in objects {
                    self.cache.invalidate(*place, &name_key(name));
                }
            }
            Touched::Everything => self.cache.invalidate_all(),
        }
    }

    /// Runs `write` on the store, dropping what it may change before it starts and after it lands, with reads
    /// keeping nothing in between.
    async fn writing<T>(&self, touched: Touched, write: impl Future<Output = Result<T>>) -> Result<T> {
        self.cache.writes_in_flight.fetch_add(1, Ordering::SeqCst);
        let in_flight = InFlight(&self.cache);
        self.invalidate(&touched);
        let result = write.await;
        self.invalidate(&touched);
        drop(in_flight);
        result
    }
}

impl Cache {
    /// Forgets every cached version of the object `key` at `place`.
    fn invalidate(&self, place: Place, key: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.retain(|k, _| !(k.place == place && k.name_key == key));
        self.policies.write().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&(place, key.to_owned()));
    }

    fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
        self.policies.write().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
    }

    /// Whether a read that started at `generation` may keep its result: no write started or ended since, and
    /// none is in flight.
    fn may_keep(&self, generation: u64) -> bool {
        self.writes_in_flight.load(Ordering::SeqCst) == 0 && self.generation.load(Ordering::SeqCst) == generation
    }

    /// Drops what another process changed.
    fn take_up(&self, change: &ChangeNotice) {
        match change {
            ChangeNotice::Object { place, name_key } => self.invalidate(*place, name_key),
            ChangeNotice::Setting(_)
            | ChangeNotice::SignInFailure { .. }
            | ChangeNotice::SignInSuccess { .. }
            | ChangeNotice::Usage(_) => {}
            ChangeNotice::Directory | ChangeNotice::Everything => self.invalidate_all(),
        }
    }
}

#[async_trait]
impl Store for CachedStore {
    async fn load_directory(&self) -> Result<Directory> {
        self.inner.load_directory().await
    }

    async fn apply(&self, changes: Vec<Change>) -> Result<()> {
        self.writing(Touched::Everything, self.inner.apply(changes)).await
    }

    async fn sealed_setting(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        self.inner.sealed_setting(name).await
    }

    async fn sealed_settings(&self, prefix: &str) -> Result<Vec<(String, Zeroizing<Vec<u8>>)>> {
        self.inner.sealed_settings(prefix).await
    }

    async fn put_sealed_setting(&self, name: &str, value: &[u8]) -> Result<()> {
        self.inner.put_sealed_setting(name, value).await
    }

    async fn create_sealed_setting(&self, name: &str, value: &[u8]) -> Result<bool> {
        self.inner.create_sealed_setting(name, value).await
    }

    async fn certificate_contacts(&self, vault_id: Uuid) -> Result<Option<Vec<Contact>>> {
        self.inner.certificate_contacts(vault_id).await
    }

    async fn set_certificate_contacts(&self, vault_id: Uuid, contacts: &[Contact]) -> Result<()> {
        self.inner.set_certificate_contacts(vault_id, contacts).await
    }

    async fn delete_certificate_contacts(&self, vault_id: Uuid) -> Result<bool> {
        self.inner.delete_certificate_contacts(vault_id).await
    }

    async fn certificate_issuers(&self, vault_id: Uuid) -> Result<Vec<Issuer>> {
        self.inner.certificate_issuers(vault_id).await
    }

    async fn certificate_issuer(&self, vault_id: Uuid, name: &str) -> Result<Option<Issuer>> {
        self.inner.certificate_issuer(vault_id, name).await
    }

    async fn put_certificate_issuer(&self, vault_id: Uuid, issuer: &Issuer) -> Result<()> {
        self.inner.put_certificate_issuer(vault_id, issuer).await
    }

    async fn delete_certificate_issuer(&self, vault_id: Uuid, name: &str) -> Result<bool> {
        self.inner.delete_certificate_issuer(vault_id, name).await
    }

    async fn pending_certificate(&self, vault_id: Uuid, name: &str) -> Result<Option<PendingCertificate>> {
        self.inner.pending_certificate(vault_id, name).await
    }

    async fn pending_certificates(&self, vault_id: Uuid) -> Result<Vec<PendingCertificate>> {
        self.inner.pending_certificates(vault_id).await
    }

    async fn put_pending_certificate(&self, vault_id: Uuid, pending: &PendingCertificate) -> Result<()> {
        self.inner.put_pending_certificate(vault_id, pending).await
    }

    async fn delete_pending_certificate(&self, vault_id: Uuid, name: &str) -> Result<bool> {
        self.inner.delete_pending_certificate(vault_id, name).await
    }

    async fn put_version(&self, place: Place, version: &ObjectVersion, value: &str) -> Result<ObjectVersion> {
        self.writing(Touched::object(place, &version.name), self.inner.put_version(place, version, value)).await
    }

    async fn put_linked_versions(
        &self,
        versions: Vec<(Place, ObjectVersion, Zeroizing<String>)>,
        policy: Option<(Place, String, String)>,
    ) -> Result<()> {
        let touched = Touched::Objects(versions.iter().map(|(place, v, _)| (*place, v.name.clone())).collect());
        self.writing(touched, self.inner.put_linked_versions(versions, policy)).await
    }

    async fn read_version(
        &self,
        place: Place,
        name: &str,
        selector: VersionSelector<'_>,
    ) -> Result<Option<VersionWithValue>> {
        let version = match selector {
            VersionSelector::Latest => None,
            VersionSelector::Exact(version) => Some(version.to_ascii_lowercase()),
        };
        if !self.usable() {
            return self.inner.read_version(place, name, selector).await;
        }
        let key = Key { place, name_key: name_key(name), version };
        let cached = self.cache.entries.read().ok().and_then(|entries| entries.get(&key).cloned());
        if let Some(entry) = cached {
            self.cache.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some((entry.0.clone(), entry.1.clone())));
        }
        self.cache.misses.fetch_add(1, Ordering::Relaxed);
        let generation = self.cache.generation.load(Ordering::SeqCst);
        let found = self.inner.read_version(place, name, selector).await?;
        if let Some((version, value)) = &found {
            let mut entries = self.cache.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            if self.cache.may_keep(generation) {
                if entries.len() >= CAPACITY {
                    entries.clear();
                }
                entries.insert(key, Arc::new((version.clone(), value.clone())));
            }
        }
        Ok(found)
    }

    async fn list_objects(&self, place: Place, page: PageRequest<'_>) -> Result<PageResult<ObjectVersion>> {
        self.inner.list_objects(place, page).await
    }

    fn usage(&self) -> crate::StoreUsage {
        self.inner.usage()
    }

    fn cache_reads(&self) -> Option<(u64, u64)> {
        Some((self.cache.hits.load(Ordering::Relaxed), self.cache.misses.load(Ordering::Relaxed)))
    }

    async fn list_versions(
        &self,
        place: Place,
        name: &str,
        page: PageRequest<'_>,
    ) -> Result<PageResult<ObjectVersion>> {
        self.inner.list_versions(place, name, page).await
    }

    async fn update_version(
        &self,
        place: Place,
        name: &str,
        selector: VersionSelector<'_>,
        update: &VersionUpdate,
        now: i64,
    ) -> Result<Option<ObjectVersion>> {
        self.writing(Touched::object(place, name), self.inner.update_version(place, name, selector, update, now)).await
    }

    async fn delete_object(
        &self,
        places: &[Place],
        name: &str,
        deleted_at: i64,
        purge_at: i64,
    ) -> Result<Option<DeletedObject>> {
        self.writing(Touched::each(places, name), self.inner.delete_object(places, name, deleted_at, purge_at)).await
    }

    async fn deleted_object(&self, place: Place, name: &str) -> Result<Option<DeletedObject>> {
        self.inner.deleted_object(place, name).await
    }

    async fn list_deleted(&self, place: Place, page: PageRequest<'_>) -> Result<PageResult<DeletedObject>> {
        self.inner.list_deleted(place, page).await
    }

    async fn recover_object(&self, places: &[Place], name: &str) -> Result<Option<ObjectVersion>> {
        self.writing(Touched::each(places, name), self.inner.recover_object(places, name)).await
    }

    async fn purge_object(&self, places: &[Place], name: &str) -> Result<bool> {
        self.writing(Touched::each(places, name), self.inner.purge_object(places, name)).await
    }

    async fn purge_expired(&self, now: i64) -> Result<usize> {
        self.writing(Touched::Everything, self.inner.purge_expired(now)).await
    }

    async fn history(&self, place: Place, name: &str) -> Result<Option<Vec<VersionWithValue>>> {
        self.inner.history(place, name).await
    }

    async fn put_refresh_token(&self, token_hash: &str, grant: &[u8], expires: i64) -> Result<()> {
        self.inner.put_refresh_token(token_hash, grant, expires).await
    }

    async fn take_refresh_token(&self, token_hash: &str, now: i64) -> Result<Option<Zeroizing<Vec<u8>>>> {
        self.inner.take_refresh_token(token_hash, now).await
    }

    async fn object_policy(&self, place: Place, name: &str) -> Result<Option<String>> {
        if !self.usable() {
            return self.inner.object_policy(place, name).await;
        }
        let key = (place, name_key(name));
        let cached = self.cache.policies.read().ok().and_then(|policies| policies.get(&key).cloned());
        if let Some(policy) = cached {
            return Ok(policy);
        }
        let generation = self.cache.generation.load(Ordering::SeqCst);
        let policy = self.inner.object_policy(place, name).await?;
        let mut policies = self.cache.policies.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.cache.may_keep(generation) {
            if policies.len() >= CAPACITY {
                policies.clear();
            }
            policies.insert(key, policy.clone());
        }
        Ok(policy)
    }

    async fn put_object_policy(&self, place: Place, name: &str, policy: &str) -> Result<bool> {
        self.writing(Touched::object(place, name), self.inner.put_object_policy(place, name, policy)).await
    }

    async fn object_policies(&self, collection: Collection) -> Result<Vec<(Place, String, String)>> {
        self.inner.object_policies(collection).await
    }

    async fn restore_object(
        &self,
        objects: Vec<(Place, Vec<VersionWithValue>)>,
        policy: Option<(Place, String, String)>,
    ) -> Result<ObjectVersion> {
        let named: Option<Vec<(Place, String)>> =
            objects.iter().map(|(place, versions)| versions.first().map(|(v, _)| (*place, v.name.clone()))).collect();
        let touched = named.map_or(Touched::Everything, Touched::Objects);
        self.writing(touched, self.inner.restore_object(objects, policy)).await
    }

    async fn whole_objects(&self, place: Place) -> Result<Vec<WholeObject>> {
        self.inner.whole_objects(place).await
    }

    async fn replace_objects(
        &self,
        place: Place,
        objects: Vec<WholeObject>,
        replacing: Replacing,
        changes: Vec<Change>,
    ) -> Result<()> {
        self.writing(Touched::Everything, self.inner.replace_objects(place, objects, replacing, changes)).await
    }

    async fn put_event_subscription(&self, vault_id: Uuid, subscription: &EventSubscription) -> Result<bool> {
        self.inner.put_event_subscription(vault_id, subscription).await
    }

    async fn event_subscriptions(&self, vault_id: Option<Uuid>) -> Result<Vec<(Uuid, EventSubscription)>> {
        self.inner.event_subscriptions(vault_id).await
    }

    async fn delete_event_subscription(&self, vault_id: Uuid, name: &str) -> Result<bool> {
        self.inner.delete_event_subscription(vault_id, name).await
    }

    async fn claim_events(&self, now_millis: i64, lease_millis: i64, limit: usize) -> Result<Vec<OutboxEntry>> {
        self.inner.claim_events(now_millis, lease_millis, limit).await
    }

    async fn finish_event(&self, entry: &OutboxEntry, outcome: EventOutcome) -> Result<bool> {
        self.inner.finish_event(entry, outcome).await
    }

    async fn dead_lettered_events(&self, vault_id: Uuid) -> Result<Vec<OutboxEntry>> {
        self.inner.dead_lettered_events(vault_id).await
    }

    async fn enqueue_expiry_events(&self, now_millis: i64) -> Result<usize> {
        self.inner.enqueue_expiry_events(now_millis).await
    }

    fn outbox_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.inner.outbox_signal()
    }

    async fn put_ephemeral(&self, entry: Ephemeral<'_>, now: i64, if_live: IfLive) -> Result<bool> {
        self.inner.put_ephemeral(entry, now, if_live).await
    }

    async fn ephemeral(&self, kind: &str, key: &str, now: i64) -> Result<Option<Zeroizing<Vec<u8>>>> {
        self.inner.ephemeral(kind, key, now).await
    }

    async fn take_ephemeral(&self, kind: &str, key: &str, now: i64) -> Result<Option<Zeroizing<Vec<u8>>>> {
        self.inner.take_ephemeral(kind, key, now).await
    }

    async fn announce(&self, notice: ChangeNotice) -> Result<()> {
        self.inner.announce(notice).await
    }

    async fn broadcast(&self, notices: Vec<ChangeNotice>) -> Result<()> {
        self.inner.broadcast(notices).await
    }

    async fn check_integrity(&self) -> Result<Integrity> {
        self.inner.check_integrity().await
    }

    async fn export_copy(&self) -> Result<Vec<u8>> {
        self.inner.export_copy().await
    }

    async fn import_copy(&self, copy: Vec<u8>) -> Result<usize> {
        self.writing(Touched::Everything, self.inner.import_copy(copy)).await
    }

    fn changes(&self) -> Option<ChangeFeed> {
        self.feed.clone()
    }

    async fn lead(&self) -> Result<bool> {
        self.inner.lead().await
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use uuid::Uuid;

    use super::*;
    use crate::error::{Error, ErrorKind};
    use crate::sql::tests::version;
    use crate::sqlite::tests::store_with_vault;

    async fn cached(dir: &Path) -> Result<(CachedStore, Uuid)> {
        let (store, vault) = store_with_vault(dir).await?;
        Ok((CachedStore::new(Arc::new(store)), vault))
    }

    async fn latest(store: &CachedStore, vault: Uuid, name: &str) -> Result<Option<String>> {
        Ok(store.read_version(Place::secrets(vault), name, VersionSelector::Latest).await?.map(|(_, v)| v.to_string()))
    }

    #[tokio::test]
    async fn reads_are_cached_and_every_write_drops_what_it_changed() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::new(ErrorKind::Io, "tempdir", e))?;
        let (store, vault) = cached(dir.path()).await?;
        store.put_version(Place::secrets(vault), &version("s"), "one").await?;
        assert_eq!(latest(&store, vault, "S").await?.as_deref(), Some("one"));
        assert_eq!(store.len(), 1);
        assert_eq!(latest(&store, vault, "s").await?.as_deref(), Some("one"));
        assert_eq!(store.len(), 1, "the second read was a hit");

        store.put_version(Place::secrets(vault), &version("s"), "two").await?;
        assert!(store.is_empty());
        assert_eq!(latest(&store, vault, "s").await?.as_deref(), Some("two"));

        let disable = VersionUpdate { enabled: Some(false), ..Default::default() };
        store.update_version(Place::secrets(vault), "s", VersionSelector::Latest, &disable, 5).await?;
        let (properties, _) = store
            .read_version(Place::secrets(vault), "s", VersionSelector::Latest)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::Corrupt, "t", "gone"))?;
        assert!(!properties.properties.enabled);

        store.delete_object(&[Place::secrets(vault)], "s", 1, 2).await?;
        assert_eq!(latest(&store, vault, "s").await?, None);
        store.recover_object(&[Place::secrets(vault)], "s").await?;
        assert_eq!(latest(&store, vault, "s").await?.as_deref(), Some("two"));
        Ok(())
    }

    /// A reader who learns that a write has landed (from a list, from another client) before the writer has
    /// finished is answered with the write, never with what was cached before it, and keeps nothing meanwhile.
    #[tokio::test]
    async fn a_write_that_has_landed_is_seen_before_its_writer_returns() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::new(ErrorKind::Io, "tempdir", e))?;
        let (store, vault) = cached(dir.path()).await?;
        let place = Place::secrets(vault);
        store.put_version(place, &version("s"), "one").await?;
        assert_eq!(latest(&store, vault, "s").await?.as_deref(), Some("one"));
        assert_eq!(store.len(), 1, "the old latest version is cached");

        let landed = async {
            store.inner.put_version(place, &version("s"), "two").await?;
            // The write is in the database; its writer has not returned yet.
            let seen = latest(&store, vault, "s").await?;
            Ok((seen, store.len()))
        };
        let (seen, kept) = store.writing(Touched::object(place, "s"), landed).await?;
        assert_eq!(seen.as_deref(), Some("two"));
        assert_eq!(kept, 0, "nothing is kept while a write is in flight");
        assert_eq!(latest(&store, vault, "s").await?.as_deref(), Some("two"));
        assert_eq!(store.len(), 1, "after the write, reads are cached again");
        Ok(())
    }

    #[tokio::test]
    async fn policies_are_cached_and_a_change_or_a_deletion_is_seen_at_once() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::new(ErrorKind::Io, "tempdir", e))?;
        let (store, vault) = cached(dir.path()).await?;
        let keys = Place::keys(vault);
        store.put_version(keys, &version("k"), "material").await?;
        assert_eq!(store.object_policy(keys, "k").await?, None);
        assert!(store.put_object_policy(keys, "K", "first").await?);
        assert_eq!(store.object_policy(keys, "k").await?.as_deref(), Some("first"), "a set policy is seen");
        assert_eq!(store.object_policy(keys, "k").await?.as_deref(), Some("first"));
        assert!(store.put_object_policy(keys, "k", "second").await?);
        assert_eq!(store.object_policy(keys, "k").await?.as_deref(), Some("second"), "a change is seen");
        store.delete_object(&[keys], "k", 1, 2).await?;
        assert_eq!(store.object_policy(keys, "k").await?, None, "a deleted object has no live policy");
        Ok(())
    }
}
