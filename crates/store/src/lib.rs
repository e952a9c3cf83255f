//! Strongroom storage.
//!
//! One [`Store`] trait is all the server sees. Both databases implement it with the same SQL code
//! ([`sql::SqlStore`]): SQLite ([`sqlite::SqliteStore`]) is the embedded default, PostgreSQL
//! ([`postgres::PostgresStore`]) serves several nodes at once. Secret values and signing keys are sealed with
//! envelope encryption ([`seal`]) before they reach any backend, and unsealed only on the way out.

pub mod cache;
pub mod error;
pub mod postgres;
pub mod seal;
pub mod sql;
pub mod sqlite;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use strongroom_core::certificate::issuance::PendingCertificate;
use strongroom_core::certificate::issuer::{Contact, Issuer};
use strongroom_core::directory::{Change, Directory};
use strongroom_core::events::{EventSubscription, VaultEvent};
pub use strongroom_core::full_backup::Deletion;
use strongroom_core::object::{DeletedObject, ObjectVersion, VersionUpdate};
pub use strongroom_core::rbac::Collection;
use uuid::Uuid;
use zeroize::Zeroizing;

pub use error::{Error, ErrorKind, Result};

/// An object version with its value, unsealed.
pub type VersionWithValue = (ObjectVersion, Zeroizing<String>);

/// An object with everything a full backup keeps of it: every version with its value (oldest first), the
/// policy kept with it, and its deletion when it is soft-deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WholeObject {
    /// The versions with their values, oldest first.
    pub versions: Vec<VersionWithValue>,
    /// The policy kept with it (a key's rotation policy).
    pub policy: Option<String>,
    /// When it was deleted and is to be purged, when it is soft-deleted.
    pub deleted: Option<Deletion>,
}

/// Which objects [`Store::replace_objects`] removes before it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replacing {
    /// Every object of the place (a full restore).
    Everything,
    /// The objects of the names written, live or deleted (a selective restore).
    TheirNames,
}

/// A piece of short-lived state for [`Store::put_ephemeral`]. (No `Debug`: the value may be a pending grant.)
#[derive(Clone, Copy)]
pub struct Ephemeral<'a> {
    /// What it is: `code`, `device`, `assertion-id`, ….
    pub kind: &'a str,
    /// Its name within the kind.
    pub key: &'a str,
    /// The value, sealed at rest.
    pub value: &'a [u8],
    /// When it expires, Unix seconds.
    pub expires: i64,
}

/// What [`Store::put_ephemeral`] does when a live entry is already under the same kind and key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfLive {
    /// Keep it, and answer `false`.
    Keep,
    /// Replace it.
    Replace,
}

/// Where an object lives: a vault, and its collection of secrets, keys or certificates. Names are unique per
/// place; a key and a secret may share one, as in Key Vault (a certificate's key and secret do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Place {
    /// The vault.
    pub vault_id: Uuid,
    /// The collection.
    pub collection: Collection,
}

impl Place {
    /// The secrets of `vault_id`.
    pub fn secrets(vault_id: Uuid) -> Self {
        Self { vault_id, collection: Collection::Secrets }
    }

    /// The keys of `vault_id`.
    pub fn keys(vault_id: Uuid) -> Self {
        Self { vault_id, collection: Collection::Keys }
    }

    /// The certificates of `vault_id`.
    pub fn certificates(vault_id: Uuid) -> Self {
        Self { vault_id, collection: Collection::Certificates }
    }

    /// The key the storage backends file the place's objects under.
    pub fn scope(&self) -> String {
        format!("{}/{}", self.vault_id, self.collection.as_str())
    }

    /// The place a [`Place::scope`] names.
    pub fn parse_scope(scope: &str) -> Option<Self> {
        let (vault_id, collection) = scope.split_once('/')?;
        Some(Place { vault_id: vault_id.parse().ok()?, collection: Collection::parse(collection)? })
    }
}

/// What another process changed, so that caches drop it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeNotice {
    /// An object (its versions, deletion state or policy).
    Object {
        /// Where it lives.
        place: Place,
        /// Its name, lowercased.
        name_key: String,
    },
    /// Tenants, principals, vaults, roles or assignments.
    Directory,
    /// An installation-wide setting, by name.
    Setting(String),
    /// Anything: notifications may have been missed.
    Everything,
    /// A sign-in failed: every node counts it against the principal and the address.
    SignInFailure {
        /// The address the attempt came from.
        address: String,
        /// The principal's throttle key.
        principal: String,
    },
    /// A user signed in: every node takes the address as one the user is familiar with.
    SignInSuccess {
        /// The address the user signed in from.
        address: String,
        /// The principal's throttle key.
        principal: String,
    },
    /// How much of the service limits a node used lately, sent with [`Store::broadcast`].
    Usage(Usage),
}

/// A node's own counts against the service limits, each the total so far of one time slot: a later count of
/// the same slot replaces an earlier one, so a lost or repeated notice does no lasting harm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// The counting node's id (its own, new at every start).
    pub node: Uuid,
    /// The length of a slot in milliseconds: counts are comparable between nodes with the same length only.
    pub slot_millis: u64,
    /// The counts.
    pub counts: Vec<UsageCount>,
}

/// What a node counted in one time slot against one budget of one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageCount {
    /// What is limited (a vault, a subscription), as the server names it.
    pub scope: String,
    /// Which of the scope's budgets, as the server numbers them.
    pub budget: u8,
    /// The slot: milliseconds since the Unix epoch divided by the slot length.
    pub slot: u64,
    /// The node's count in that slot so far.
    pub count: u64,
}

/// [`ChangeNotice`] as it travels: one JSON object per notice. JSON escapes every control character inside a
/// string, so no field's content — a user name with line breaks, a name with spaces — can end a notice early
/// or start another.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum WireNotice {
    Object {
        scope: String,
        name_key: String,
    },
    Directory,
    Setting {
        name: String,
    },
    Everything,
    SignInFailure {
        address: String,
        principal: String,
    },
    SignInSuccess {
        address: String,
        principal: String,
    },
    /// Counts as `[scope, budget, slot, count]`, since there can be many in one notification.
    Usage {
        node: Uuid,
        slot_millis: u64,
        counts: Vec<(String, u8, u64, u64)>,
    },
}

impl ChangeNotice {
    /// The text sent between processes: one line of JSON.
    pub fn encode(&self) -> String {
        let wire = match self.clone() {
            ChangeNotice::Object { place, name_key } => WireNotice::Object { scope: place.scope(), name_key },
            ChangeNotice::Directory => WireNotice::Directory,
            ChangeNotice::Setting(name) => WireNotice::Setting { name },
            ChangeNotice::Everything => WireNotice::Everything,
            ChangeNotice::SignInFailure { address, principal } => WireNotice::SignInFailure { address, principal },
            ChangeNotice::SignInSuccess { address, principal } => WireNotice::SignInSuccess { address, principal },
            ChangeNotice::Usage(Usage { node, slot_millis, counts }) => WireNotice::Usage {
                node,
                slot_millis,
                counts: counts.into_iter().map(|c| (c.scope, c.budget, c.slot, c.count)).collect(),
            },
        };
        // Serialising strings into JSON cannot fail; were it to, "everything" is the safe thing to say.
        serde_json::to_string(&wire).unwrap_or_else(|_| r#"{"kind":"everything"}"#.to_owned())
    }

    /// Reads one line of [`ChangeNotice::encode`]'s text; `None` for anything else, which the caller drops.
    pub fn decode(text: &str) -> Option<Self> {
        Some(match serde_json::from_str::<WireNotice>(text).ok()? {
            WireNotice::Object { scope, name_key } => {
                ChangeNotice::Object { place: Place::parse_scope(&scope)?, name_key }
            }
            WireNotice::Directory => ChangeNotice::Directory,
            WireNotice::Setting { name } => ChangeNotice::Setting(name),
            WireNotice::Everything => ChangeNotice::Everything,
            WireNotice::SignInFailure { address, principal } => ChangeNotice::SignInFailure { address, principal },
            WireNotice::SignInSuccess { address, principal } => ChangeNotice::SignInSuccess { address, principal },
            WireNotice::Usage { node, slot_millis, counts } => ChangeNotice::Usage(Usage {
                node,
                slot_millis,
                counts: counts
                    .into_iter()
                    .map(|(scope, budget, slot, count)| UsageCount { scope, budget, slot, count })
                    .collect(),
            }),
        })
    }
}

/// Something that must hear of other processes' changes.
pub type Follower = Box<dyn Fn(&ChangeNotice) + Send + Sync>;

/// Where a process hears of other processes' changes to a shared database. Followers run on the thread that
/// hears the change, one after the other, and the change counts as taken up (the writer may answer its
/// client) only when every follower has returned: a follower does what it must before it returns.
#[derive(Clone)]
pub struct ChangeFeed {
    followers: Arc<RwLock<Vec<Follower>>>,
    connected: Arc<AtomicBool>,
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeed").field("connected", &self.is_connected()).finish_non_exhaustive()
    }
}

impl ChangeFeed {
    /// A feed with no follower yet, not connected.
    pub fn new() -> Self {
        Self { followers: Arc::default(), connected: Arc::new(AtomicBool::new(false)) }
    }

    /// Adds a follower of every change from now on.
    pub fn follow(&self, follower: Follower) {
        self.followers.write().unwrap_or_else(|poisoned| poisoned.into_inner()).push(follower);
    }

    /// Whether changes are being heard now; while not, nothing may be answered from a cache.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Passes a change to every follower, and returns when they have all taken it up.
    pub fn publish(&self, change: &ChangeNotice) {
        for follower in self.followers.read().unwrap_or_else(|poisoned| poisoned.into_inner()).iter() {
            follower(change);
        }
    }

    /// Records whether changes are heard; either way, what was cached may be stale.
    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Release);
        self.publish(&ChangeNotice::Everything);
    }
}

impl Default for ChangeFeed {
    fn default() -> Self {
        Self::new()
    }
}

/// What a store has done since start, for metrics: counters only grow, except the pool's and the peers'.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreUsage {
    /// Reads run on the database, and the time they took, from asking for a connection to the answer.
    pub reads: Timed,
    /// Writes (transactions), likewise, including the wait for the other nodes' acknowledgement.
    pub writes: Timed,
    /// Failures by kind (`unavailable`, `contention`, `database`, `seal`, `corrupt`, `io`); an outcome such
    /// as a name already taken is not one.
    pub failures: Vec<(&'static str, u64)>,
    /// The connection pool, when the store keeps one.
    pub pool: Option<PoolUsage>,
    /// The other nodes on the database, when it is shared.
    pub cluster: Option<ClusterUsage>,
}

/// A count of things done, and the time they took in all.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timed {
    /// How many.
    pub count: u64,
    /// Seconds, in all.
    pub seconds: f64,
}

/// A connection pool now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUsage {
    /// Connections open (idle or in use).
    pub open: usize,
    /// Connections idle.
    pub idle: usize,
    /// The most it opens.
    pub max: usize,
}

/// How this node hears the others on a shared database.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClusterUsage {
    /// Other nodes heard from in the last seconds.
    pub peers: usize,
    /// Change notices heard from other nodes since start.
    pub notices_heard: u64,
    /// This node's writes that waited for the other nodes to take them up, and the time waited in all: the
    /// cluster's lag, as a write sees it.
    pub acknowledged: Timed,
    /// Writes whose acknowledgements did not all come in time.
    pub unacknowledged: u64,
}

/// What an integrity check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Integrity {
    /// Objects (live and deleted).
    pub objects: usize,
    /// Versions.
    pub versions: usize,
    /// What is wrong, one line each; none when the store is intact.
    pub problems: Vec<String>,
}

/// Which version of an object a read wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSelector<'a> {
    /// The newest version.
    Latest,
    /// One version by id.
    Exact(&'a str),
}

/// A page request: the position after which to continue, and how many items at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<'a> {
    /// The continuation token a previous page returned, if any.
    pub after: Option<&'a str>,
    /// The largest number of items wanted.
    pub limit: usize,
}

/// One page of results with the token that continues after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageResult<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts; `None` when this was the last.
    pub next: Option<String>,
}

/// An event waiting in the outbox (or dead-lettered) for one subscription of its vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The vault.
    pub vault_id: Uuid,
    /// The subscription it is for.
    pub subscription: EventSubscription,
    /// The event.
    pub event: VaultEvent,
    /// When it was enqueued, Unix milliseconds.
    pub enqueued_millis: i64,
    /// Delivery attempts so far (counted when claimed).
    pub attempts: u32,
    /// Until when the claim holds, Unix milliseconds (0: unclaimed); it fences what the claimer records.
    pub lease_until: i64,
    /// When it was dead-lettered, Unix milliseconds.
    pub dead_at: Option<i64>,
    /// The last failed attempt's error.
    pub last_error: Option<String>,
}

/// What became of a claimed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// The webhook took it: it leaves the outbox.
    Delivered,
    /// It failed; try again at `due_millis`.
    Retry {
        /// When, Unix milliseconds.
        due_millis: i64,
        /// Why the attempt failed.
        error: String,
    },
    /// It failed for the last time: keep it as dead-lettered.
    DeadLetter {
        /// When, Unix milliseconds.
        at_millis: i64,
        /// Why the last attempt failed.
        error: String,
    },
}

/// Persistent state of a Strongroom installation.
#[async_trait]
pub trait Store: Send + Sync {
    /// Everything the request path needs to know about tenants, principals and vaults.
    async fn load_directory(&self) -> Result<Directory>;

    /// Applies provisioning changes in one transaction: all of them or none.
    async fn apply(&self, changes: Vec<Change>) -> Result<()>;

    /// An installation-wide value stored sealed under `name` (e.g. the token signing keys).
    async fn sealed_setting(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>>;

    /// Every sealed value whose name starts with `prefix`, by name.
    async fn sealed_settings(&self, prefix: &str) -> Result<Vec<(String, Zeroizing<Vec<u8>>)>>;

    /// Stores `value` sealed under `name`, replacing what was there.
    async fn put_sealed_setting(&self, name: &str, value: &[u8]) -> Result<()>;

    /// Stores `value` sealed under `name` unless something is there; `false` when it was (another process
    /// was first).
    async fn create_sealed_setting(&self, name: &str, value: &[u8]) -> Result<bool>;

    /// The vault's certificate contacts; `None` when they were never set (or were deleted).
    async fn certificate_contacts(&self, vault_id: Uuid) -> Result<Option<Vec<Contact>>>;

    /// Sets the vault's certificate contacts, replacing them.
    async fn set_certificate_contacts(&self, vault_id: Uuid, contacts: &[Contact]) -> Result<()>;

    /// Forgets the vault's certificate contacts; `false` when there were none.
    async fn delete_certificate_contacts(&self, vault_id: Uuid) -> Result<bool>;

    /// The vault's certificate issuers, by name.
    async fn certificate_issuers(&self, vault_id: Uuid) -> Result<Vec<Issuer>>;

    /// The vault's certificate issuer `name` (in any case).
    async fn certificate_issuer(&self, vault_id: Uuid, name: &str) -> Result<Option<Issuer>>;

    /// Keeps `issuer` under its name, replacing an issuer of the same name.
    async fn put_certificate_issuer(&self, vault_id: Uuid, issuer: &Issuer) -> Result<()>;

    /// Removes the vault's certificate issuer `name`; `false` when there was none.
    async fn delete_certificate_issuer(&self, vault_id: Uuid, name: &str) -> Result<bool>;

    /// The request of the certificate `name` waiting for a CA's signature.
    async fn pending_certificate(&self, vault_id: Uuid, name: &str) -> Result<Option<PendingCertificate>>;

    /// Every request of the vault waiting for a CA's signature, by name.
    async fn pending_certificates(&self, vault_id: Uuid) -> Result<Vec<PendingCertificate>>;

    /// Keeps `pending` under its certificate's name, replacing a request of the same name.
    async fn put_pending_certificate(&self, vault_id: Uuid, pending: &PendingCertificate) -> Result<()>;

    /// Removes the request of the certificate `name`; `false` when there was none.
    async fn delete_pending_certificate(&self, vault_id: Uuid, name: &str) -> Result<bool>;

    /// Adds a version to the object `version.name` at `place`, creating the object if needed, and returns it
    /// as stored (a new version keeps the name's first spelling). The write is durable when this returns. A
    /// soft-deleted object refuses new versions with [`ErrorKind::Deleted`].
    async fn put_version(&self, place: Place, version: &ObjectVersion, value: &str) -> Result<ObjectVersion>;

    /// Several new versions, each at its own place (a certificate's version with its key's and its secret's),
    /// and then `policy` kept with the object it names — all in one transaction, durable when this returns.
    async fn put_linked_versions(
        &self,
        versions: Vec<(Place, ObjectVersion, Zeroizing<String>)>,
        policy: Option<(Place, String, String)>,
    ) -> Result<()>;

    /// An object version and its value.
    async fn read_version(
        &self,
        place: Place,
        name: &str,
        selector: VersionSelector<'_>,
    ) -> Result<Option<VersionWithValue>>;

    /// The newest version of each live object at `place`, by name.
    async fn list_objects(&self, place: Place, page: PageRequest<'_>) -> Result<PageResult<ObjectVersion>>;

    /// Every version of one object, oldest first.
    async fn list_versions(&self, place: Place, name: &str, page: PageRequest<'_>)
    -> Result<PageResult<ObjectVersion>>;

    /// Changes a version's properties at time `now`; `None` when there is no such live version.
    async fn update_version(
        &self,
        place: Place,
        name: &str,
        selector: VersionSelector<'_>,
        update: &VersionUpdate,
        now: i64,
    ) -> Result<Option<ObjectVersion>>;

    /// Soft-deletes a live object with all its versions — and in the same transaction the objects of the same
    /// name at the other `places` (a certificate's key and secret); the answer is the first place's, `None`
    /// (and nothing changed) when there is no such live object there.
    async fn delete_object(
        &self,
        places: &[Place],
        name: &str,
        deleted_at: i64,
        purge_at: i64,
    ) -> Result<Option<DeletedObject>>;

    /// A soft-deleted object.
    async fn deleted_object(&self, place: Place, name: &str) -> Result<Option<DeletedObject>>;

    /// The soft-deleted objects at `place`, by name.
    async fn list_deleted(&self, place: Place, page: PageRequest<'_>) -> Result<PageResult<DeletedObject>>;

    /// Brings a soft-deleted object back, with those of the same name at the other `places`; returns the first
    /// place's newest version, `None` (and nothing changed) when it is not deleted.
    async fn recover_object(&self, places: &[Place], name: &str) -> Result<Option<ObjectVersion>>;

    /// Removes a soft-deleted object for good, with those of the same name at the other `places`; `false` (and
    /// nothing changed) when the first is not deleted.
    async fn purge_object(&self, places: &[Place], name: &str) -> Result<bool>;

    /// Removes for good every deleted object, of any vault and collection, whose scheduled purge date is at or
    /// before `now`; returns how many.
    async fn purge_expired(&self, now: i64) -> Result<usize>;

    /// Every version of a live object with its value, oldest first; `None` when there is no such object.
    async fn history(&self, place: Place, name: &str) -> Result<Option<Vec<VersionWithValue>>>;

    /// Keeps a refresh token's grant (opaque to the store, sealed at rest) under the token's hash until
    /// `expires`.
    async fn put_refresh_token(&self, token_hash: &str, grant: &[u8], expires: i64) -> Result<()>;

    /// Removes and returns the grant of a refresh token that has not expired by `now` (a refresh token
    /// works once: using it issues a new one).
    async fn take_refresh_token(&self, token_hash: &str, now: i64) -> Result<Option<Zeroizing<Vec<u8>>>>;

    /// The policy kept with a live object (a key's rotation policy, a certificate's policy), as the caller wrote
    /// it; `None` when there is none or no such live object.
    async fn object_policy(&self, place: Place, name: &str) -> Result<Option<String>>;

    /// Keeps `policy` with a live object; `false` when there is no such live object.
    async fn put_object_policy(&self, place: Place, name: &str, policy: &str) -> Result<bool>;

    /// Every live object of `collection`, in any vault, that has a policy: its place, name and policy.
    async fn object_policies(&self, collection: Collection) -> Result<Vec<(Place, String, String)>>;

    /// Recreates objects with exactly these versions (each oldest first, ids kept) — a secret or key alone, or a
    /// certificate with its key and secret — and then keeps `policy` with the object it names, in one
    /// transaction; returns the first object's newest version. Fails with [`ErrorKind::Conflict`] when a name is
    /// in use and [`ErrorKind::Deleted`] when it is soft-deleted, and then nothing is written.
    async fn restore_object(
        &self,
        objects: Vec<(Place, Vec<VersionWithValue>)>,
        policy: Option<(Place, String, String)>,
    ) -> Result<ObjectVersion>;

    /// Every object at `place`, live or soft-deleted, whole, by name: what a full backup holds.
    async fn whole_objects(&self, place: Place) -> Result<Vec<WholeObject>>;

    /// Writes `objects` at `place` exactly as given (version ids, dates, policies and deletions kept), after
    /// removing for good every object there ([`Replacing::Everything`]) or those of the same names
    /// ([`Replacing::TheirNames`]), and applies `changes` to the directory (a Managed HSM's restored roles) —
    /// all in one transaction, so that a restore is whole or not at all. Objects a certificate holds are never
    /// replaced: [`ErrorKind::Managed`], and nothing is written.
    async fn replace_objects(
        &self,
        place: Place,
        objects: Vec<WholeObject>,
        replacing: Replacing,
        changes: Vec<Change>,
    ) -> Result<()>;

    /// Keeps a vault's event subscription, replacing one of the same name (any case); `true` when it is new.
    async fn put_event_subscription(&self, vault_id: Uuid, subscription: &EventSubscription) -> Result<bool>;

    /// The event subscriptions of a vault, or of every vault, with their vaults.
    async fn event_subscriptions(&self, vault_id: Option<Uuid>) -> Result<Vec<(Uuid, EventSubscription)>>;

    /// Removes a vault's event subscription with the events waiting for it; `false` when there was none.
    async fn delete_event_subscription(&self, vault_id: Uuid, name: &str) -> Result<bool>;

    /// Claims up to `limit` events due at `now_millis` that no other claim holds, for `lease_millis`: until
    /// then no other process takes them; after, anyone may (the claimer died).
    async fn claim_events(&self, now_millis: i64, lease_millis: i64, limit: usize) -> Result<Vec<OutboxEntry>>;

    /// Records what became of a claimed event; `false` when the claim had been lost meanwhile.
    async fn finish_event(&self, entry: &OutboxEntry, outcome: EventOutcome) -> Result<bool>;

    /// A vault's dead-lettered events, oldest first.
    async fn dead_lettered_events(&self, vault_id: Uuid) -> Result<Vec<OutboxEntry>>;

    /// Enqueues the near-expiry and expiry events due at `now_millis`, each once per version, in one
    /// transaction with the markers that say so; returns how many.
    async fn enqueue_expiry_events(&self, now_millis: i64) -> Result<usize>;

    /// Woken after a write of this process that may have enqueued events, when the store can tell.
    fn outbox_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }

    /// Keeps short-lived state every node must see (pending sign-ins, used assertion ids), sealed, under
    /// `(kind, key)` until it expires; entries expired by `now` go. With [`IfLive::Keep`], a live entry already
    /// there stays and the answer is `false` (so that two nodes cannot both be first).
    async fn put_ephemeral(&self, entry: Ephemeral<'_>, now: i64, if_live: IfLive) -> Result<bool>;

    /// The live short-lived entry `(kind, key)` at `now`.
    async fn ephemeral(&self, kind: &str, key: &str, now: i64) -> Result<Option<Zeroizing<Vec<u8>>>>;

    /// Removes and returns the live short-lived entry `(kind, key)` at `now` (it works once).
    async fn take_ephemeral(&self, kind: &str, key: &str, now: i64) -> Result<Option<Zeroizing<Vec<u8>>>>;

    /// Tells the other processes on the same database of a change that is not stored (a failed sign-in);
    /// returns once they have taken it up.
    async fn announce(&self, notice: ChangeNotice) -> Result<()>;

    /// Tells the other processes on the same database what they may take up whenever it arrives (usage
    /// counts): no transaction, no wait for them. Nothing to do when no other process can share the database.
    async fn broadcast(&self, _notices: Vec<ChangeNotice>) -> Result<()> {
        Ok(())
    }

    /// Checks the whole store (see `sql::integrity`); slow, for operators and crash tests.
    async fn check_integrity(&self) -> Result<Integrity>;

    /// A copy of the whole store, sealed with the root key, that either backend can import (see `sql::dump`).
    async fn export_copy(&self) -> Result<Vec<u8>>;

    /// Writes a copy [`Store::export_copy`] made into this store, which must be empty, in one transaction;
    /// returns how many rows it wrote.
    async fn import_copy(&self, copy: Vec<u8>) -> Result<usize>;

    /// Changes other processes make to the same database, when there can be any.
    fn changes(&self) -> Option<ChangeFeed> {
        None
    }

    /// Version reads answered from a cache and from the database since start, when there is a cache.
    fn cache_reads(&self) -> Option<(u64, u64)> {
        None
    }

    /// What the store has done since start, for metrics.
    fn usage(&self) -> StoreUsage {
        StoreUsage::default()
    }

    /// Whether this process may run the installation's maintenance (purges, rotations, renewals) now: one
    /// process at a time does, whichever holds the lead.
    async fn lead(&self) -> Result<bool> {
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn notices_survive_any_field_and_other_text_is_dropped() {
        let principal = "tenant/nobody\nfailure 127.0.0.1 victim\neverything".to_owned();
        let notice = ChangeNotice::SignInFailure { address: "127.0.0.1".into(), principal };
        let line = notice.encode();
        assert_eq!(line.lines().count(), 1, "{line}");
        assert_eq!(ChangeNotice::decode(&line), Some(notice));
        for text in ["everything", "failure 127.0.0.1 victim", "directory", "", "{\"kind\":\"nothing\"}"] {
            assert_eq!(ChangeNotice::decode(text), None, "{text}");
        }
        let object = r#"{"kind":"object","scope":"not-a-place","name_key":"x"}"#;
        assert_eq!(ChangeNotice::decode(object), None);
    }

    fn any_notice() -> impl Strategy<Value = ChangeNotice> {
        let text = any::<String>;
        prop_oneof![
            (any::<u128>(), 0..3usize, text()).prop_map(|(vault, collection, name_key)| {
                let place = [Place::secrets, Place::keys, Place::certificates][collection](Uuid::from_u128(vault));
                ChangeNotice::Object { place, name_key }
            }),
            Just(ChangeNotice::Directory),
            text().prop_map(ChangeNotice::Setting),
            Just(ChangeNotice::Everything),
            (text(), text()).prop_map(|(address, principal)| ChangeNotice::SignInFailure { address, principal }),
            (text(), text()).prop_map(|(address, principal)| ChangeNotice::SignInSuccess { address, principal }),
            (
                any::<u128>(),
                any::<u64>(),
                proptest::collection::vec((text(), any::<u8>(), any::<u64>(), any::<u64>()), 0..4)
            )
                .prop_map(|(node, slot_millis, counts)| ChangeNotice::Usage(Usage {
                    node: Uuid::from_u128(node),
                    slot_millis,
                    counts: counts
                        .into_iter()
                        .map(|(scope, budget, slot, count)| UsageCount { scope, budget, slot, count })
                        .collect(),
                })),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Whatever the fields hold, a notice is one line and reads back as itself.
        #[test]
        fn every_notice_round_trips_on_one_line(notice in any_notice()) {
            let line = notice.encode();
            prop_assert_eq!(line.lines().count(), 1);
            prop_assert!(!line.contains(['\n', '\r']));
            prop_assert_eq!(ChangeNotice::decode(&line), Some(notice));
        }

        /// Any text decodes to a notice or to nothing, never a panic.
        #[test]
        fn any_text_decodes_without_panic(text in any::<String>()) {
            let _ = ChangeNotice::decode(&text);
        }
    }
}
