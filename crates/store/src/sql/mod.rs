//! The storage logic both databases share: one schema (spelt per dialect in [`schema`]), one set of queries,
//! one [`Store`] implementation, [`SqlStore`], over a [`Backend`] that runs transactions on SQLite or
//! PostgreSQL.
//!
//! Statements are written with SQLite's numbered parameters (`?1`); the PostgreSQL backend spells them `$1`.
//! Both drivers are synchronous, so every call runs on tokio's blocking pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use strongroom_core::certificate::issuance::PendingCertificate;
use strongroom_core::certificate::issuer::{Contact, Issuer};
use strongroom_core::directory::{Change, Directory};
use strongroom_core::events::EventSubscription;
use strongroom_core::object::{DeletedObject, ObjectVersion, VersionUpdate, name_key};
use uuid::Uuid;
use zeroize::Zeroizing;

use self::certificate_data::Named;

pub(crate) mod certificate_data;
mod directory;
mod dump;
mod events;
mod integrity;
mod objects;
pub(crate) mod schema;
#[cfg(test)]
pub(crate) mod tests;
mod value;

pub(crate) use value::values;
pub use value::{FromValue, Row, Value};

use crate::error::{DatabaseContext, Error, ErrorKind, Result};
use crate::seal::RootKey;
use crate::{
    ChangeFeed, ChangeNotice, ClusterUsage, Collection, Ephemeral, EventOutcome, IfLive, Integrity, OutboxEntry,
    PageRequest, PageResult, Place, PoolUsage, Replacing, Store, StoreUsage, Timed, VersionSelector, VersionWithValue,
    WholeObject,
};

/// Which SQL a database speaks, where the two differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// One database connection, inside a transaction when the caller writes.
pub trait Database {
    /// Runs a statement; returns how many rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;

    /// Runs several statements with no parameters (a migration).
    fn execute_batch(&mut self, sql: &str) -> Result<()>;

    /// Runs a query; returns its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;

    /// The SQL it speaks.
    fn dialect(&self) -> Dialect;

    /// Tells the other processes on the same database, when the transaction commits, what changed.
    fn notify(&mut self, change: &ChangeNotice) -> Result<()>;
}

impl dyn Database + '_ {
    /// The first row of a query, if any.
    pub fn query_row(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Locks the rows a `SELECT` found until the transaction ends, where the database needs it (PostgreSQL;
    /// SQLite runs one writer at a time anyway).
    fn for_update(&self) -> &'static str {
        match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}

/// Runs transactions on a database.
pub trait Backend: Send + Sync + 'static {
    /// Runs `work` on this (blocking) thread: in one transaction committed when it succeeds when `write`,
    /// else as plain reads. A backend may run `work` again when the database asks for a retry.
    fn run<T>(&self, write: bool, work: &mut dyn FnMut(&mut dyn Database) -> Result<T>) -> Result<T>;

    /// Changes other processes made, when other processes can write to the same database.
    fn changes(&self) -> Option<ChangeFeed> {
        None
    }

    /// Whether this process may run the installation's maintenance now; one process at a time does.
    fn lead(&self) -> Result<bool> {
        Ok(true)
    }

    /// The connection pool now, when the backend keeps one.
    fn pool_usage(&self) -> Option<PoolUsage> {
        None
    }

    /// How this process hears the others, when other processes share the database.
    fn cluster_usage(&self) -> Option<ClusterUsage> {
        None
    }

    /// Sends `notices` to the other processes at once, outside any transaction (see [`Store::broadcast`]).
    fn broadcast(&self, _notices: &[ChangeNotice]) -> Result<()> {
        Ok(())
    }
}

/// The kinds of failure counted for metrics, by name: faults of the database or of stored data, never an
/// outcome such as a name already taken.
const COUNTED_FAILURES: [(ErrorKind, &str); 6] = [
    (ErrorKind::Unavailable, "unavailable"),
    (ErrorKind::Contention, "contention"),
    (ErrorKind::Database, "database"),
    (ErrorKind::Seal, "seal"),
    (ErrorKind::Corrupt, "corrupt"),
    (ErrorKind::Io, "io"),
];

/// Counters of the store's database work since start.
#[derive(Debug, Default)]
struct Counters {
    /// Reads, then writes: how many, and microseconds in all.
    runs: [(AtomicU64, AtomicU64); 2],
    /// By [`COUNTED_FAILURES`].
    failures: [AtomicU64; COUNTED_FAILURES.len()],
}

impl Counters {
    fn record<T>(&self, write: bool, elapsed: std::time::Duration, result: &Result<T>) {
        let (count, micros) = &self.runs[usize::from(write)];
        count.fetch_add(1, Ordering::Relaxed);
        micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        if let Err(e) = result
            && let Some(index) = COUNTED_FAILURES.iter().position(|(kind, _)| *kind == e.kind())
        {
            self.failures[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn timed(&self, write: bool) -> Timed {
        let (count, micros) = &self.runs[usize::from(write)];
        #[allow(clippy::cast_precision_loss)] // microseconds summed stay far below 2^52 for centuries
        let seconds = micros.load(Ordering::Relaxed) as f64 / 1e6;
        Timed { count: count.load(Ordering::Relaxed), seconds }
    }
}

/// The store on a SQL database.
pub struct SqlStore<B> {
    backend: Arc<B>,
    root_key: Arc<RootKey>,
    counters: Arc<Counters>,
    /// Woken after a write that may have enqueued events.
    outbox: Arc<tokio::sync::Notify>,
}

impl<B> Clone for SqlStore<B> {
    fn clone(&self) -> Self {
        Self {
            backend: Arc::clone(&self.backend),
            root_key: Arc::clone(&self.root_key),
            counters: Arc::clone(&self.counters),
            outbox: Arc::clone(&self.outbox),
        }
    }
}

impl<B: Backend> SqlStore<B> {
    /// A store on `backend`, migrated to the current schema, sealing with `root_key`.
    pub fn new(backend: B, root_key: RootKey) -> Result<Self> {
        let store = Self {
            backend: Arc::new(backend),
            root_key: Arc::new(root_key),
            counters: Arc::default(),
            outbox: Arc::default(),
        };
        store.backend.run(true, &mut |db| schema::migrate(db))?;
        store.backend.run(true, &mut |db| check_root_key(db, &store.root_key))?;
        store.backend.run(true, &mut |db| certificate_data::move_from_settings(db, &store.root_key))?;
        Ok(store)
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Runs `work` on the blocking pool, in a transaction when `write`.
    async fn on_pool<T, F>(&self, write: bool, mut work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn Database, &RootKey) -> Result<T> + Send + 'static,
    {
        let (backend, root_key) = (Arc::clone(&self.backend), Arc::clone(&self.root_key));
        let started = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || backend.run(write, &mut |db| work(db, &root_key)))
            .await
            .map_err(|e| Error::new(ErrorKind::Database, "running a database task", e))
            .and_then(|result| result);
        self.counters.record(write, started.elapsed(), &result);
        result
    }

    async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn Database, &RootKey) -> Result<T> + Send + 'static,
    {
        self.on_pool(false, work).await
    }

    async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn Database, &RootKey) -> Result<T> + Send + 'static,
    {
        self.on_pool(true, work).await
    }
}

/// The setting that proves the root key: a value sealed by the first process, which every later one must
/// open — so that a node started with another root key refuses to start instead of writing what no other
/// node can read.
const ROOT_KEY_CHECK: &str = "root-key-check";

fn check_root_key(db: &mut dyn Database, root_key: &RootKey) -> Result<()> {
    let context = setting_context(ROOT_KEY_CHECK);
    match db.query_row("SELECT value FROM settings WHERE name = ?1", values![ROOT_KEY_CHECK])? {
        Some(row) => root_key.open(&row.get::<Vec<u8>>(0)?, &context).map(drop).map_err(|_| {
            Error::new(ErrorKind::Seal, "opening the store", "the root key is not the one this store was sealed with")
        }),
        None => {
            let sealed = root_key.seal(b"strongroom", &context)?;
            db.execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                values![ROOT_KEY_CHECK, sealed],
            )
            .context("recording the root key check")
            .map(drop)
        }
    }
}

fn ephemeral_context(kind: &str, key: &str) -> Vec<u8> {
    format!("ephemeral/{kind}/{key}").into_bytes()
}

fn setting_context(name: &str) -> Vec<u8> {
    format!("setting/{name}").into_bytes()
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Corrupt, "reading stored data", what)
}

/// Does `change` at the first place and, when it found something there, at every other place too (inside the
/// caller's transaction); the answer is the first place's.
fn linked<T>(places: &[Place], mut change: impl FnMut(Place) -> Result<Option<T>>) -> Result<Option<T>> {
    let Some((first, others)) = places.split_first() else { return Ok(None) };
    let Some(answer) = change(*first)? else { return Ok(None) };
    for place in others {
        change(*place)?;
    }
    Ok(Some(answer))
}

/// Refuses a delete, recover or purge of a certificate's key or secret on its own: only the certificate's (whose
/// place comes first) takes them along.
fn refuse_if_first_managed(db: &mut dyn Database, places: &[Place], name: &str) -> Result<()> {
    places.first().map_or(Ok(()), |first| objects::refuse_if_managed(db, *first, name))
}

/// Tells other processes that the object `name` changed at each of `places`.
fn notify_objects(db: &mut dyn Database, places: &[Place], name: &str) -> Result<()> {
    places.iter().try_for_each(|place| db.notify(&ChangeNotice::Object { place: *place, name_key: name_key(name) }))
}

fn owned_selector(selector: VersionSelector<'_>) -> Option<String> {
    match selector {
        VersionSelector::Latest => None,
        VersionSelector::Exact(version) => Some(version.to_ascii_lowercase()),
    }
}

fn put_policy_or_fail(db: &mut dyn Database, policy: &Option<(Place, String, String)>) -> Result<()> {
    if let Some((place, name, policy)) = policy
        && !objects::put_policy(db, *place, name, policy)?
    {
        return Err(Error::new(ErrorKind::Corrupt, "keeping a policy", "its object is not live"));
    }
    Ok(())
}

#[async_trait]
impl<B: Backend> Store for SqlStore<B> {
    async fn put_event_subscription(&self, vault_id: Uuid, subscription: &EventSubscription) -> Result<bool> {
        let subscription = subscription.clone();
        self.write(move |db, _| events::put_subscription(db, vault_id, &subscription)).await
    }

    async fn event_subscriptions(&self, vault_id: Option<Uuid>) -> Result<Vec<(Uuid, EventSubscription)>> {
        self.read(move |db, _| events::subscriptions(db, vault_id)).await
    }

    async fn delete_event_subscription(&self, vault_id: Uuid, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.write(move |db, _| events::delete_subscription(db, vault_id, &name)).await
    }

    async fn claim_events(&self, now_millis: i64, lease_millis: i64, limit: usize) -> Result<Vec<OutboxEntry>> {
        if !self.read(move |db, _| events::any_due(db, now_millis)).await? {
            return Ok(Vec::new());
        }
        self.write(move |db, _| events::claim(db, now_millis, lease_millis, limit)).await
    }

    async fn finish_event(&self, entry: &OutboxEntry, outcome: EventOutcome) -> Result<bool> {
        let entry = entry.clone();
        self.write(move |db, _| events::finish(db, &entry, &outcome)).await
    }

    async fn dead_lettered_events(&self, vault_id: Uuid) -> Result<Vec<OutboxEntry>> {
        self.read(move |db, _| events::dead_letters(db, vault_id)).await
    }

    async fn enqueue_expiry_events(&self, now_millis: i64) -> Result<usize> {
        self.write(move |db, _| events::enqueue_expiries(db, now_millis)).await.inspect(|enqueued| {
            if *enqueued > 0 {
                self.outbox.notify_one();
            }
        })
    }

    fn outbox_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(Arc::clone(&self.outbox))
    }

    async fn load_directory(&self) -> Result<Directory> {
        self.read(|db, _| directory::read(db)).await
    }

    async fn apply(&self, changes: Vec<Change>) -> Result<()> {
        self.write(move |db, root_key| {
            for change in &changes {
                directory::apply(db, root_key, change)?;
            }
            db.notify(&ChangeNotice::Directory)
        })
        .await
        .inspect(|()| self.outbox.notify_one())
    }

    async fn sealed_setting(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let name = name.to_owned();
        self.read(move |db, root_key| {
            let row = db
                .query_row("SELECT value FROM settings WHERE name = ?1", values![&name])
                .context("reading a setting")?;
            row.map(|row| root_key.open(&row.get::<Vec<u8>>(0)?, &setting_context(&name))).transpose()
        })
        .await
    }

    async fn sealed_settings(&self, prefix: &str) -> Result<Vec<(String, Zeroizing<Vec<u8>>)>> {
        let prefix = prefix.to_owned();
        self.read(move |db, root_key| {
            let rows = db
                .query(
                    "SELECT name, value FROM settings WHERE substr(name, 1, ?2) = ?1 ORDER BY name",
                    values![&prefix, prefix.chars().count()],
                )
                .context("reading settings")?;
            rows.iter()
                .map(|row| {
                    let name: String = row.get(0)?;
                    let value = root_key.open(&row.get::<Vec<u8>>(1)?, &setting_context(&name))?;
                    Ok((name, value))
                })
                .collect()
        })
        .await
    }

    async fn put_sealed_setting(&self, name: &str, value: &[u8]) -> Result<()> {
        let name = name.to_owned();
        let sealed = self.root_key.seal(value, &setting_context(&name))?;
        self.write(move |db, _| {
            db.execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = ?2",
                values![&name, sealed.clone()],
            )
            .context("storing a setting")?;
            db.notify(&ChangeNotice::Setting(name.clone()))
        })
        .await
    }

    async fn create_sealed_setting(&self, name: &str, value: &[u8]) -> Result<bool> {
        let name = name.to_owned();
        let sealed = self.root_key.seal(value, &setting_context(&name))?;
        self.write(move |db, _| {
            let created = db
                .execute(
                    "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                    values![&name, sealed.clone()],
                )
                .context("creating a setting")?;
            Ok(created == 1)
        })
        .await
    }

    async fn certificate_contacts(&self, vault_id: Uuid) -> Result<Option<Vec<Contact>>> {
        self.read(move |db, root_key| certificate_data::contacts(db, root_key, vault_id)).await
    }

    async fn set_certificate_contacts(&self, vault_id: Uuid, contacts: &[Contact]) -> Result<()> {
        let contacts = contacts.to_vec();
        self.write(move |db, root_key| certificate_data::put_contacts(db, root_key, vault_id, &contacts)).await
    }

    async fn delete_certificate_contacts(&self, vault_id: Uuid) -> Result<bool> {
        self.write(move |db, _| certificate_data::delete_contacts(db, vault_id)).await
    }

    async fn certificate_issuers(&self, vault_id: Uuid) -> Result<Vec<Issuer>> {
        self.read(move |db, root_key| certificate_data::records(db, root_key, Named::Issuers, vault_id)).await
    }

    async fn certificate_issuer(&self, vault_id: Uuid, name: &str) -> Result<Option<Issuer>> {
        let name = name.to_owned();
        self.read(move |db, root_key| certificate_data::record(db, root_key, Named::Issuers, vault_id, &name)).await
    }

    async fn put_certificate_issuer(&self, vault_id: Uuid, issuer: &Issuer) -> Result<()> {
        let issuer = issuer.clone();
        self.write(move |db, root_key| {
            certificate_data::put_record(db, root_key, Named::Issuers, vault_id, &issuer.name, &issuer)
        })
        .await
    }

    async fn delete_certificate_issuer(&self, vault_id: Uuid, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.write(move |db, _| certificate_data::delete_record(db, Named::Issuers, vault_id, &name)).await
    }

    async fn pending_certificate(&self, vault_id: Uuid, name: &str) -> Result<Option<PendingCertificate>> {
        let name = name.to_owned();
        self.read(move |db, root_key| certificate_data::record(db, root_key, Named::Pending, vault_id, &name)).await
    }

    async fn pending_certificates(&self, vault_id: Uuid) -> Result<Vec<PendingCertificate>> {
        self.read(move |db, root_key| certificate_data::records(db, root_key, Named::Pending, vault_id)).await
    }

    async fn put_pending_certificate(&self, vault_id: Uuid, pending: &PendingCertificate) -> Result<()> {
        let pending = pending.clone();
        self.write(move |db, root_key| {
            certificate_data::put_record(db, root_key, Named::Pending, vault_id, &pending.name, &pending)
        })
        .await
    }

    async fn delete_pending_certificate(&self, vault_id: Uuid, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.write(move |db, _| certificate_data::delete_record(db, Named::Pending, vault_id, &name)).await
    }

    async fn put_version(&self, place: Place, version: &ObjectVersion, value: &str) -> Result<ObjectVersion> {
        let version = version.clone();
        let value = Zeroizing::new(value.to_owned());
        self.write(move |db, root_key| {
            objects::refuse_if_managed(db, place, &version.name)?;
            let stored = objects::insert_version(db, root_key, place, &version, &value)?;
            // Again once the object's row is held: a certificate of the name may have been committed while this
            // write waited for it (it then holds the row), and the first check could not see it yet.
            objects::refuse_if_managed(db, place, &version.name)?;
            events::new_version(db, place, &stored)?;
            notify_objects(db, &[place], &version.name)?;
            Ok(stored)
        })
        .await
        .inspect(|_| self.outbox.notify_one())
    }

    async fn put_linked_versions(
        &self,
        versions: Vec<(Place, ObjectVersion, Zeroizing<String>)>,
        policy: Option<(Place, String, String)>,
    ) -> Result<()> {
        self.write(move |db, root_key| {
            objects::insert_linked(db, root_key, &versions)?;
            // The certificate's version (the first) is the one event: its key's and secret's are its own.
            if let Some((place, version, _)) = versions.first() {
                events::new_version(db, *place, version)?;
            }
            for (place, version, _) in &versions {
                notify_objects(db, &[*place], &version.name)?;
            }
            put_policy_or_fail(db, &policy)
        })
        .await
        .inspect(|()| self.outbox.notify_one())
    }

    async fn read_version(
        &self,
        place: Place,
        name: &str,
        selector: VersionSelector<'_>,
    ) -> Result<Option<VersionWithValue>> {
        let (name, version) = (name.to_owned(), owned_selector(selector));
        self.read(move |db, root_key| objects::read_version(db, root_key, place, &name, version.as_deref())).await
    }

    async fn list_objects(&self, place: Place, page: PageRequest<'_>) -> Result<PageResult<ObjectVersion>> {
        let (after, limit) = (page.after.map(str::to_owned), page.limit);
        self.read(move |db, _| objects::list(db, place, after.as_deref(), limit)).await
    }

    async fn list_versions(
        &self,
        place: Place,
        name: &str,
        page: PageRequest<'_>,
    ) -> Result<PageResult<ObjectVersion>> {
        let (name, after, limit) = (name.to_owned(), page.after.map(str::to_owned), page.limit);
        self.read(move |db, _| objects::list_versions(db, place, &name, after.as_deref(), limit)).await
    }

    async fn update_version(
        &self,
        place: Place,
        name: &str,
        selector: VersionSelector<'_>,
        update: &VersionUpdate,
        now: i64,
    ) -> Result<Option<ObjectVersion>> {
        let (name, version, update) = (name.to_owned(), owned_selector(selector), update.clone());
        self.write(move |db, _| {
            objects::refuse_if_managed(db, place, &name)?;
            let updated = objects::update(db, place, &name, version.as_deref(), &update, now)?;
            notify_objects(db, &[place], &name)?;
            Ok(updated)
        })
        .await
    }

    async fn delete_object(
        &self,
        places: &[Place],
        name: &str,
        deleted_at: i64,
        purge_at: i64,
    ) -> Result<Option<DeletedObject>> {
        let (places, name) = (places.to_vec(), name.to_owned());
        self.write(move |db, _| {
            refuse_if_first_managed(db, &places, &name)?;
            let deleted = linked(&places, |place| objects::soft_delete(db, place, &name, deleted_at, purge_at))?;
            notify_objects(db, &places, &name)?;
            Ok(deleted)
        })
        .await
    }

    async fn deleted_object(&self, place: Place, name: &str) -> Result<Option<DeletedObject>> {
        let name = name.to_owned();
        self.read(move |db, _| objects::read_deleted(db, place, &name)).await
    }

    async fn list_deleted(&self, place: Place, page: PageRequest<'_>) -> Result<PageResult<DeletedObject>> {
        let (after, limit) = (page.after.map(str::to_owned), page.limit);
        self.read(move |db, _| objects::list_deleted(db, place, after.as_deref(), limit)).await
    }

    async fn recover_object(&self, places: &[Place], name: &str) -> Result<Option<ObjectVersion>> {
        let (places, name) = (places.to_vec(), name.to_owned());
        self.write(move |db, _| {
            refuse_if_first_managed(db, &places, &name)?;
            let recovered = linked(&places, |place| objects::recover(db, place, &name))?;
            notify_objects(db, &places, &name)?;
            Ok(recovered)
        })
        .await
    }

    async fn purge_object(&self, places: &[Place], name: &str) -> Result<bool> {
        let (places, name) = (places.to_vec(), name.to_owned());
        self.write(move |db, _| {
            refuse_if_first_managed(db, &places, &name)?;
            let purged = linked(&places, |place| objects::purge(db, place, &name).map(|purged| purged.then_some(())))?;
            notify_objects(db, &places, &name)?;
            Ok(purged.is_some())
        })
        .await
    }

    async fn purge_expired(&self, now: i64) -> Result<usize> {
        self.write(move |db, _| {
            let purged = objects::purge_expired(db, now)?;
            if purged > 0 {
                db.notify(&ChangeNotice::Everything)?;
            }
            Ok(purged)
        })
        .await
    }

    async fn history(&self, place: Place, name: &str) -> Result<Option<Vec<VersionWithValue>>> {
        let name = name.to_owned();
        self.read(move |db, root_key| objects::history(db, root_key, place, &name)).await
    }

    async fn put_refresh_token(&self, token_hash: &str, grant: &[u8], expires: i64) -> Result<()> {
        let token_hash = token_hash.to_owned();
        let sealed = self.root_key.seal(grant, format!("refresh/{token_hash}").as_bytes())?;
        self.write(move |db, _| {
            db.execute(
                "INSERT INTO refresh_tokens (token_hash, grant_data, expires) VALUES (?1, ?2, ?3)",
                values![&token_hash, STANDARD_NO_PAD.encode(&sealed), expires],
            )
            .map(drop)
            .context("storing a refresh token")
        })
        .await
    }

    async fn take_refresh_token(&self, token_hash: &str, now: i64) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let token_hash = token_hash.to_owned();
        self.write(move |db, root_key| {
            db.execute("DELETE FROM refresh_tokens WHERE expires < ?1", values![now])
                .context("expiring refresh tokens")?;
            // One statement finds and removes the token, so two nodes cannot both use it.
            let row = db
                .query_row(
                    "DELETE FROM refresh_tokens WHERE token_hash = ?1 RETURNING grant_data",
                    values![&token_hash],
                )
                .context("using a refresh token")?;
            let Some(row) = row else { return Ok(None) };
            let sealed = STANDARD_NO_PAD.decode(row.get::<String>(0)?).map_err(corrupt)?;
            root_key.open(&sealed, format!("refresh/{token_hash}").as_bytes()).map(Some)
        })
        .await
    }

    async fn object_policy(&self, place: Place, name: &str) -> Result<Option<String>> {
        let name = name.to_owned();
        self.read(move |db, _| objects::policy(db, place, &name)).await
    }

    async fn put_object_policy(&self, place: Place, name: &str, policy: &str) -> Result<bool> {
        let (name, policy) = (name.to_owned(), policy.to_owned());
        self.write(move |db, _| {
            objects::refuse_if_managed(db, place, &name)?;
            let kept = objects::put_policy(db, place, &name, &policy)?;
            notify_objects(db, &[place], &name)?;
            Ok(kept)
        })
        .await
    }

    async fn object_policies(&self, collection: Collection) -> Result<Vec<(Place, String, String)>> {
        self.read(move |db, _| objects::policies(db, collection)).await
    }

    async fn restore_object(
        &self,
        objects: Vec<(Place, Vec<VersionWithValue>)>,
        policy: Option<(Place, String, String)>,
    ) -> Result<ObjectVersion> {
        self.write(move |db, root_key| {
            // A secret or key restored alone never takes the name a certificate holds.
            if let Some((first, versions)) = objects.first()
                && let Some((version, _)) = versions.first()
            {
                objects::refuse_if_managed(db, *first, &version.name)?;
            }
            let mut newest = None;
            for (place, versions) in &objects {
                let restored = objects::restore(db, root_key, *place, versions)?;
                notify_objects(db, &[*place], &restored.name)?;
                newest.get_or_insert(restored);
            }
            put_policy_or_fail(db, &policy)?;
            newest.ok_or_else(|| Error::new(ErrorKind::Corrupt, "restoring", "nothing to restore"))
        })
        .await
    }

    async fn whole_objects(&self, place: Place) -> Result<Vec<WholeObject>> {
        self.read(move |db, root_key| objects::whole(db, root_key, place)).await
    }

    async fn replace_objects(
        &self,
        place: Place,
        objects: Vec<WholeObject>,
        replacing: Replacing,
        changes: Vec<Change>,
    ) -> Result<()> {
        self.write(move |db, root_key| {
            objects::replace(db, root_key, place, &objects, replacing)?;
            for change in &changes {
                directory::apply(db, root_key, change)?;
            }
            // Many objects (and the directory) may have changed: every cache drops what it holds.
            db.notify(&ChangeNotice::Everything)
        })
        .await
    }

    async fn put_ephemeral(&self, entry: Ephemeral<'_>, now: i64, if_live: IfLive) -> Result<bool> {
        let (kind, key, expires) = (entry.kind.to_owned(), entry.key.to_owned(), entry.expires);
        let sealed = self.root_key.seal(entry.value, &ephemeral_context(&kind, &key))?;
        let replace = if_live == IfLive::Replace;
        self.write(move |db, _| {
            db.execute("DELETE FROM ephemera WHERE expires <= ?1", values![now])
                .context("expiring short-lived state")?;
            let written = db
                .execute(
                    "INSERT INTO ephemera (kind, key, value, expires) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (kind, key) DO UPDATE SET value = ?3, expires = ?4 WHERE ?5 = 1",
                    values![&kind, &key, sealed.clone(), expires, replace],
                )
                .context("keeping short-lived state")?;
            Ok(written == 1)
        })
        .await
    }

    async fn ephemeral(&self, kind: &str, key: &str, now: i64) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let (kind, key) = (kind.to_owned(), key.to_owned());
        self.read(move |db, root_key| {
            let row = db
                .query_row(
                    "SELECT value FROM ephemera WHERE kind = ?1 AND key = ?2 AND expires > ?3",
                    values![&kind, &key, now],
                )
                .context("reading short-lived state")?;
            row.map(|r| root_key.open(&r.get::<Vec<u8>>(0)?, &ephemeral_context(&kind, &key))).transpose()
        })
        .await
    }

    async fn take_ephemeral(&self, kind: &str, key: &str, now: i64) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let (kind, key) = (kind.to_owned(), key.to_owned());
        self.write(move |db, root_key| {
            // One statement finds and removes it, so two nodes cannot both take it.
            let row = db
                .query_row(
                    "DELETE FROM ephemera WHERE kind = ?1 AND key = ?2 RETURNING value, expires",
                    values![&kind, &key],
                )
                .context("taking short-lived state")?;
            let Some(row) = row.filter(|r| r.get::<i64>(1).is_ok_and(|expires| expires > now)) else { return Ok(None) };
            root_key.open(&row.get::<Vec<u8>>(0)?, &ephemeral_context(&kind, &key)).map(Some)
        })
        .await
    }

    async fn announce(&self, notice: ChangeNotice) -> Result<()> {
        self.write(move |db, _| db.notify(&notice)).await
    }

    async fn broadcast(&self, notices: Vec<ChangeNotice>) -> Result<()> {
        if self.backend.changes().is_none() {
            return Ok(());
        }
        let backend = Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || backend.broadcast(&notices))
            .await
            .map_err(|e| Error::new(ErrorKind::Database, "running a database task", e))?
    }

    async fn check_integrity(&self) -> Result<Integrity> {
        self.read(|db, root_key| integrity::check(db, root_key)).await
    }

    async fn export_copy(&self) -> Result<Vec<u8>> {
        self.read(|db, root_key| dump::export(db, root_key)).await
    }

    async fn import_copy(&self, copy: Vec<u8>) -> Result<usize> {
        self.write(move |db, root_key| dump::import(db, root_key, &copy)).await
    }

    fn changes(&self) -> Option<ChangeFeed> {
        self.backend.changes()
    }

    fn usage(&self) -> StoreUsage {
        let failures = COUNTED_FAILURES.iter().zip(&self.counters.failures);
        StoreUsage {
            reads: self.counters.timed(false),
            writes: self.counters.timed(true),
            failures: failures.map(|((_, name), count)| (*name, count.load(Ordering::Relaxed))).collect(),
            pool: self.backend.pool_usage(),
            cluster: self.backend.cluster_usage(),
        }
    }

    async fn lead(&self) -> Result<bool> {
        let backend = Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || backend.lead())
            .await
            .map_err(|e| Error::new(ErrorKind::Database, "running a database task", e))?
    }
}
