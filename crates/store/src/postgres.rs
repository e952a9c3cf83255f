//! The PostgreSQL backend, for several Strongroom nodes on one database.
//!
//! - Connections come from a small pool; one that fails is dropped and the next use connects again, so a
//!   node that lost the database recovers by itself. Until it can connect, calls fail with
//!   [`ErrorKind::Unavailable`].
//! - Writers of one object take turns on its row (`SELECT … FOR UPDATE` in the shared SQL); a transaction the
//!   database rolls back for a serialization failure or a deadlock runs again.
//! - Every write transaction sends one `NOTIFY strongroom` with what it changed; a listener thread per node
//!   passes other nodes' changes to the [`ChangeFeed`] (caches drop what they hold, the directory reloads) and
//!   then acknowledges them. The writer answers its client once every live node has acknowledged (nodes
//!   announce themselves every second; one silent for three is not waited for, and no node waits longer than
//!   [`ACK_TIMEOUT`]) — so a write acknowledged by one node is what the next read on any node sees, while warm
//!   reads still touch no database.
//! - Maintenance runs on the node that holds a session-level advisory lock ([`Backend::lead`]); when that
//!   node's connection goes, the lock goes with it and another node takes over.
//!
//! The `postgres` crate (the synchronous face of `tokio-postgres`) is used from tokio's blocking pool, like
//! SQLite, so both share every query.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres::config::SslMode;
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Config, GenericClient, NoTls, Statement};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;
use uuid::Uuid;

use crate::error::{Error, ErrorKind, Result};
use crate::seal::RootKey;
use crate::sql::{Backend, Database, Dialect, Row, SqlStore, Value};
use crate::{ChangeFeed, ChangeNotice, ClusterUsage, PoolUsage, Timed};

/// The PostgreSQL store.
pub type PostgresStore = SqlStore<PostgresBackend>;

impl PostgresStore {
    /// Connects to the database `url` names (`postgres://user@host:port/database`), migrates it, and seals
    /// with `root_key`. With `sslmode=require` in the URL, connections use TLS and the server's certificate
    /// must chain to the system's roots or to a certificate in the PEM file `ca`.
    pub async fn connect(url: &str, ca: Option<&Path>, root_key: RootKey) -> Result<Self> {
        let config: Config = url.parse().map_err(|e| Error::new(ErrorKind::Database, "reading the storage URL", e))?;
        let connector = Connector::for_config(&config, ca)?;
        tokio::task::spawn_blocking(move || SqlStore::new(PostgresBackend::new(config, connector)?, root_key))
            .await
            .map_err(|e| Error::new(ErrorKind::Database, "connecting to the database", e))?
    }
}

/// A backend on the database `url` names, its schema left as it is (for tests that write an older schema).
#[cfg(test)]
pub(crate) fn backend_without_schema(url: &str) -> Result<PostgresBackend> {
    let config: Config = url.parse().map_err(|e| Error::new(ErrorKind::Database, "reading the storage URL", e))?;
    let connector = Connector::for_config(&config, None)?;
    PostgresBackend::new(config, connector)
}

/// Creates an empty database beside the one `url` names and returns its URL (for tests and tools that need
/// a store of their own on a shared server). Blocking.
pub fn create_database(url: &str) -> Result<String> {
    let config: Config = url.parse().map_err(|e| Error::new(ErrorKind::Database, "reading the storage URL", e))?;
    let name = format!("strongroom_{}", Uuid::new_v4().simple());
    let mut client = Connector::for_config(&config, None)?
        .connect(&config)
        .map_err(|e| postgres_error("connecting to the database", &e))?;
    client.batch_execute(&format!("CREATE DATABASE {name}")).map_err(|e| postgres_error("creating a database", &e))?;
    let (address, query) = url.split_once('?').map_or((url, None), |(a, q)| (a, Some(q)));
    let host_end = address.find("://").map_or(0, |i| i + 3);
    let base = address[host_end..].find('/').map_or(address, |i| &address[..host_end + i]);
    Ok(match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    })
}

/// The notification channel.
const CHANNEL: &str = "strongroom";
/// The advisory lock whose holder runs maintenance.
const LEAD_LOCK: i64 = 7_405_735_283_950_581_002;
/// Most connections one node opens.
const POOL_SIZE: usize = 16;
/// How many times a transaction the database rolled back for contention runs.
const ATTEMPTS: usize = 5;
/// How often a node announces that it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a node may stay silent and still be waited for.
const PEER_SILENCE: Duration = Duration::from_secs(3);
/// The longest a writer waits for the other nodes to take up its change.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// Above this payload size a transaction's changes are sent as "everything" (NOTIFY takes under 8,000 bytes).
const LARGEST_PAYLOAD: usize = 7_000;

/// How connections are made: in clear (the URL does not ask for TLS), or over TLS with the server's
/// certificate verified.
#[derive(Clone)]
enum Connector {
    Plain,
    Tls(MakeRustlsConnect),
}

impl Connector {
    /// TLS when the URL says `sslmode=require` (roots: the system's and the certificates in `ca`); in clear
    /// otherwise, and then `ca` is refused, since it would protect nothing.
    fn for_config(config: &Config, ca: Option<&Path>) -> Result<Self> {
        let tls_error =
            |e: &dyn std::fmt::Display| Error::new(ErrorKind::Database, "setting up TLS to the database", e);
        if config.get_ssl_mode() != SslMode::Require {
            return match ca {
                Some(_) => Err(tls_error(&"a CA for the database needs sslmode=require in the storage URL")),
                None => Ok(Connector::Plain),
            };
        }
        let mut roots = RootCertStore::empty();
        for certificate in rustls_native_certs::load_native_certs().certs {
            // A system certificate rustls cannot use is left out, as every TLS client does.
            let _ = roots.add(certificate);
        }
        if let Some(ca) = ca {
            let certificates = CertificateDer::pem_file_iter(ca)
                .map_err(|e| tls_error(&format_args!("{}: {e}", ca.display())))?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| tls_error(&format_args!("{}: {e}", ca.display())))?;
            for certificate in certificates {
                roots.add(certificate).map_err(|e| tls_error(&format_args!("{}: {e}", ca.display())))?;
            }
        }
        let tls = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(&e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Connector::Tls(MakeRustlsConnect::new(tls)))
    }

    fn connect(&self, config: &Config) -> std::result::Result<Client, postgres::Error> {
        match self {
            Connector::Plain => config.connect(NoTls),
            Connector::Tls(tls) => config.connect(tls.clone()),
        }
    }
}

/// A pool of connections to one database, its change listener and the maintenance lead.
pub struct PostgresBackend {
    config: Config,
    connector: Connector,
    pool: Pool,
    node: Uuid,
    feed: ChangeFeed,
    peers: Arc<Peers>,
    transactions: AtomicU64,
    lead: Mutex<Option<Client>>,
    stop: Arc<AtomicBool>,
}

impl PostgresBackend {
    /// A backend on `config`; connects once to check that the database answers, and starts the listener.
    fn new(mut config: Config, connector: Connector) -> Result<Self> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.keepalives(true).keepalives_idle(Duration::from_secs(30));
        let backend = Self {
            pool: Pool { state: Mutex::default(), returned: Condvar::new() },
            node: Uuid::new_v4(),
            feed: ChangeFeed::new(),
            peers: Arc::default(),
            transactions: AtomicU64::new(0),
            lead: Mutex::new(None),
            stop: Arc::new(AtomicBool::new(false)),
            config,
            connector,
        };
        let first = backend.checkout()?;
        backend.pool.checkin(first);
        let listener = Listener {
            config: backend.config.clone(),
            connector: backend.connector.clone(),
            feed: backend.feed.clone(),
            peers: Arc::clone(&backend.peers),
            node: backend.node,
            stop: Arc::clone(&backend.stop),
        };
        std::thread::Builder::new()
            .name("strongroom-listen".into())
            .spawn(move || listener.run())
            .map_err(|e| Error::new(ErrorKind::Io, "starting the change listener", e))?;
        Ok(backend)
    }

    /// A connection: an idle one, or a new one while the pool has room (else waits for one to come back).
    fn checkout(&self) -> Result<Connection> {
        let mut pool = self.pool.lock();
        loop {
            if let Some(connection) = pool.idle.pop() {
                return Ok(connection);
            }
            if pool.open < POOL_SIZE {
                pool.open += 1;
                drop(pool);
                return self.connector.connect(&self.config).map(Connection::new).map_err(|e| {
                    self.pool.forget();
                    postgres_error("connecting to the database", &e)
                });
            }
            pool = self.pool.returned.wait(pool).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Runs `work` once on `connection`. A write that changed something comes back with the notification
    /// the other nodes must acknowledge. A failure says whether nothing reached the database (so that running
    /// the work again cannot do it twice).
    fn attempt<T>(
        &self,
        connection: &mut Connection,
        write: bool,
        work: &mut dyn FnMut(&mut dyn Database) -> Result<T>,
    ) -> std::result::Result<(T, Option<Notified>), (Error, bool)> {
        let Connection { client, statements } = connection;
        if !write {
            let result = work(&mut PostgresDatabase { client, statements, changes: Vec::new() });
            return result.map(|answer| (answer, None)).map_err(|e| (e, true));
        }
        let mut transaction = client.transaction().map_err(|e| (postgres_error("starting a write", &e), true))?;
        let mut db = PostgresDatabase { client: &mut transaction, statements, changes: Vec::new() };
        // A transaction rolled back for contention wrote nothing either.
        let rolled_back = |e: Error| {
            let nothing_written = e.kind() == ErrorKind::Contention;
            (e, nothing_written)
        };
        let answer = work(&mut db).map_err(rolled_back)?;
        let changes = std::mem::take(&mut db.changes);
        let notified = if changes.is_empty() {
            None
        } else {
            let id = self.transactions.fetch_add(1, Ordering::Relaxed);
            let message = change_message(self.node, id, &changes);
            db.execute("SELECT pg_notify(?1, ?2)", &[Value::from(CHANNEL), Value::from(message)])
                .map_err(rolled_back)?;
            Some(Notified { id, peers: self.peers.live(self.node) })
        };
        transaction.commit().map_err(|e| rolled_back(postgres_error("committing a write", &e)))?;
        Ok((answer, notified))
    }
}

/// A committed transaction's notification, and the nodes that were live when it was sent.
struct Notified {
    id: u64,
    peers: Vec<Uuid>,
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // A synchronous client owns a small runtime, which must not be dropped on an async task's thread.
        let idle = std::mem::take(&mut self.pool.lock().idle);
        let lead = self.lead.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        let _ = std::thread::Builder::new().name("strongroom-close".into()).spawn(move || drop((idle, lead)));
    }
}

impl Backend for PostgresBackend {
    fn run<T>(&self, write: bool, work: &mut dyn FnMut(&mut dyn Database) -> Result<T>) -> Result<T> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut connection = self.checkout()?;
            let result = self.attempt(&mut connection, write, work);
            match &result {
                Err((e, _)) if e.kind() == ErrorKind::Unavailable || connection.client.is_closed() => {
                    // The idle ones most likely lost the database too: each use would fail once.
                    self.pool.forget();
                    self.pool.drop_idle();
                }
                _ => self.pool.checkin(connection),
            }
            match result {
                // The connection is back in the pool while the other nodes take the change up.
                Ok((answer, notified)) => {
                    if let Some(Notified { id, peers }) = notified {
                        self.peers.wait_for_acks(id, &peers);
                    }
                    return Ok(answer);
                }
                Err((e, true)) if e.kind() == ErrorKind::Contention && attempts < ATTEMPTS => continue,
                // A connection that broke while idle is noticed on its next use: one fresh try, when nothing
                // reached the database.
                Err((e, true)) if e.kind() == ErrorKind::Unavailable && attempts == 1 => continue,
                Err((e, _)) => return Err(e),
            }
        }
    }

    fn changes(&self) -> Option<ChangeFeed> {
        Some(self.feed.clone())
    }

    fn pool_usage(&self) -> Option<PoolUsage> {
        let pool = self.pool.lock();
        Some(PoolUsage { open: pool.open, idle: pool.idle.len(), max: POOL_SIZE })
    }

    fn cluster_usage(&self) -> Option<ClusterUsage> {
        let peers = &self.peers;
        #[allow(clippy::cast_precision_loss)] // microseconds summed stay far below 2^52 for centuries
        let seconds = peers.waited_micros.load(Ordering::Relaxed) as f64 / 1e6;
        Some(ClusterUsage {
            peers: peers.live(self.node).len(),
            notices_heard: peers.heard.load(Ordering::Relaxed),
            acknowledged: Timed { count: peers.waits.load(Ordering::Relaxed), seconds },
            unacknowledged: peers.unacknowledged.load(Ordering::Relaxed),
        })
    }

    fn broadcast(&self, notices: &[ChangeNotice]) -> Result<()> {
        let messages = note_messages(self.node, notices);
        if messages.is_empty() {
            return Ok(());
        }
        self.run(false, &mut |db| {
            messages.iter().try_for_each(|m| {
                db.execute("SELECT pg_notify(?1, ?2)", &[Value::from(CHANNEL), Value::from(m.as_str())]).map(drop)
            })
        })
    }

    fn lead(&self) -> Result<bool> {
        let mut lead = self.lead.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = lead.as_mut() {
            if client.simple_query("SELECT 1").is_ok() {
                return Ok(true);
            }
            *lead = None;
        }
        let mut client =
            self.connector.connect(&self.config).map_err(|e| postgres_error("connecting to the database", &e))?;
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LEAD_LOCK])
            .map_err(|e| postgres_error("taking the maintenance lead", &e))?;
        let leading: bool = row.try_get(0).map_err(|e| postgres_error("taking the maintenance lead", &e))?;
        if leading {
            *lead = Some(client);
        }
        Ok(leading)
    }
}

/// The pool: its state, and a signal for those waiting for a connection.
struct Pool {
    state: Mutex<PoolState>,
    returned: Condvar,
}

/// Idle connections, and how many are open (idle or in use).
#[derive(Default)]
struct PoolState {
    idle: Vec<Connection>,
    open: usize,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn checkin(&self, connection: Connection) {
        self.lock().idle.push(connection);
        self.returned.notify_one();
    }

    /// Closes every idle connection.
    fn drop_idle(&self) {
        let idle = {
            let mut pool = self.lock();
            let idle = std::mem::take(&mut pool.idle);
            pool.open = pool.open.saturating_sub(idle.len());
            idle
        };
        drop(idle);
        self.returned.notify_all();
    }

    /// One connection is gone for good.
    fn forget(&self) {
        let mut pool = self.lock();
        pool.open = pool.open.saturating_sub(1);
        self.returned.notify_one();
    }
}

/// A connection and its prepared statements, by their SQLite spelling.
struct Connection {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Connection {
    fn new(client: Client) -> Self {
        Self { client, statements: HashMap::new() }
    }
}

struct PostgresDatabase<'a, C> {
    client: &'a mut C,
    statements: &'a mut HashMap<String, Statement>,
    /// What the transaction changed, sent to the other nodes in one notification when it commits.
    changes: Vec<ChangeNotice>,
}

impl<C: GenericClient> PostgresDatabase<'_, C> {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement =
            self.client.prepare(&dollar_parameters(sql)).map_err(|e| postgres_error("preparing a statement", &e))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

impl<C: GenericClient> Database for PostgresDatabase<'_, C> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let statement = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        self.client.execute(&statement, &params).map_err(|e| postgres_error("running a statement", &e))
    }

    fn execute_batch(&mut self, sql: &str) -> Result<()> {
        self.client.batch_execute(sql).map_err(|e| postgres_error("running statements", &e))
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let statement = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = self.client.query(&statement, &params).map_err(|e| postgres_error("running a query", &e))?;
        rows.iter().map(row).collect()
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn notify(&mut self, change: &ChangeNotice) -> Result<()> {
        if !self.changes.contains(change) {
            self.changes.push(change.clone());
        }
        Ok(())
    }
}

/// `?1` becomes `$1`; the shared SQL holds no other question marks.
fn dollar_parameters(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

fn row(row: &postgres::Row) -> Result<Row> {
    let read = |index: usize, ty: &Type| -> std::result::Result<Value, postgres::Error> {
        Ok(match *ty {
            Type::INT8 => row.try_get::<_, Option<i64>>(index)?.map_or(Value::Null, Value::Integer),
            Type::INT4 => row.try_get::<_, Option<i32>>(index)?.map_or(Value::Null, |i| Value::Integer(i.into())),
            Type::INT2 => row.try_get::<_, Option<i16>>(index)?.map_or(Value::Null, |i| Value::Integer(i.into())),
            Type::BOOL => row.try_get::<_, Option<bool>>(index)?.map_or(Value::Null, Value::from),
            Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(index)?.map_or(Value::Null, Value::Blob),
            _ => row.try_get::<_, Option<String>>(index)?.map_or(Value::Null, Value::Text),
        })
    };
    row.columns()
        .iter()
        .enumerate()
        .map(|(index, column)| read(index, column.type_()).map_err(|e| postgres_error("reading a row", &e)))
        .collect::<Result<_>>()
        .map(Row)
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => Err(format!("an integer given for a {ty} parameter").into()),
            },
            Value::Text(text) => text.as_str().to_sql(ty, out),
            Value::Blob(bytes) => bytes.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Each kind checks the parameter's type in `to_sql`.
        true
    }

    to_sql_checked!();
}

/// The kind of a PostgreSQL error: constraint violations are conflicts, rollbacks for contention may be
/// retried, a lost or refused connection means the database is unavailable for now.
fn postgres_error(context: &str, e: &postgres::Error) -> Error {
    let kind = match e.code() {
        Some(code) if code.code().starts_with("23") => ErrorKind::Conflict,
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED => {
            ErrorKind::Contention
        }
        Some(code) if code.code().starts_with("08") || code.code().starts_with("57P") => ErrorKind::Unavailable,
        Some(_) => ErrorKind::Database,
        None if e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()) => {
            ErrorKind::Unavailable
        }
        None if context == "connecting to the database" => ErrorKind::Unavailable,
        None => ErrorKind::Database,
    };
    match e.as_db_error() {
        Some(db) => Error::new(kind, context, format_args!("{} ({})", db.message(), db.code().code())),
        None => Error::new(kind, context, e),
    }
}

/// A transaction's changes as one notification: `change {node} {transaction} ` and one change per line.
fn change_message(node: Uuid, transaction: u64, changes: &[ChangeNotice]) -> String {
    let lines: Vec<String> = changes.iter().map(ChangeNotice::encode).collect();
    let message = format!("change {node} {transaction} {}", lines.join("\n"));
    if message.len() > LARGEST_PAYLOAD {
        return format!("change {node} {transaction} {}", ChangeNotice::Everything.encode());
    }
    message
}

/// Notices that need no acknowledgement as few notifications as fit: `note {node} ` and one notice per line. A
/// notice too large for one notification on its own is left out (the sender keeps its notices small).
fn note_messages(node: Uuid, notices: &[ChangeNotice]) -> Vec<String> {
    let head = format!("note {node} ");
    let mut messages = Vec::new();
    let mut message = head.clone();
    for line in notices.iter().map(ChangeNotice::encode) {
        if head.len() + line.len() > LARGEST_PAYLOAD {
            tracing::warn!(bytes = line.len(), "a notice too large for one notification was not sent");
            continue;
        }
        if message.len() > head.len() && message.len() + 1 + line.len() > LARGEST_PAYLOAD {
            messages.push(std::mem::replace(&mut message, head.clone()));
        }
        if message.len() > head.len() {
            message.push('\n');
        }
        message.push_str(&line);
    }
    if message.len() > head.len() {
        messages.push(message);
    }
    messages
}

/// What a node knows of the others: when each last spoke, and which of its own transactions they acknowledged.
#[derive(Default)]
struct Peers {
    seen: Mutex<HashMap<Uuid, Instant>>,
    acks: Mutex<HashMap<u64, HashSet<Uuid>>>,
    acked: Condvar,
    /// For metrics: change notices heard, writes that waited for acknowledgements (and microseconds waited),
    /// and writes whose acknowledgements did not all come.
    heard: AtomicU64,
    waits: AtomicU64,
    waited_micros: AtomicU64,
    unacknowledged: AtomicU64,
}

impl Peers {
    fn saw(&self, node: Uuid) {
        self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(node, Instant::now());
    }

    /// The other nodes heard from lately.
    fn live(&self, me: Uuid) -> Vec<Uuid> {
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.retain(|_, last| last.elapsed() < PEER_SILENCE);
        seen.keys().copied().filter(|node| *node != me).collect()
    }

    fn ack(&self, transaction: u64, from: Uuid) {
        let mut acks = self.acks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if acks.len() > 10_000 {
            // Acknowledgements that came after their writer stopped waiting.
            acks.clear();
        }
        acks.entry(transaction).or_default().insert(from);
        self.acked.notify_all();
    }

    /// Waits until every one of `peers` acknowledged `transaction`, or [`ACK_TIMEOUT`].
    fn wait_for_acks(&self, transaction: u64, peers: &[Uuid]) {
        let started = Instant::now();
        let deadline = started + ACK_TIMEOUT;
        let mut acks = self.acks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            let done = acks.get(&transaction).is_some_and(|from| peers.iter().all(|p| from.contains(p)));
            let now = Instant::now();
            if done || peers.is_empty() || now >= deadline {
                if !peers.is_empty() {
                    self.waits.fetch_add(1, Ordering::Relaxed);
                    let waited = u64::try_from((now - started).as_micros()).unwrap_or(u64::MAX);
                    self.waited_micros.fetch_add(waited, Ordering::Relaxed);
                }
                if !done && !peers.is_empty() {
                    self.unacknowledged.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(transaction, "not every node acknowledged a change in time");
                }
                acks.remove(&transaction);
                return;
            }
            acks = self.acked.wait_timeout(acks, deadline - now).map_or_else(|p| p.into_inner().0, |(g, _)| g);
        }
    }
}

/// The listener thread: hears other nodes' changes, passes them to the feed's followers and acknowledges
/// them; announces this node; reconnects when the connection goes, and meanwhile tells the feed that nothing
/// may be served from caches.
struct Listener {
    config: Config,
    connector: Connector,
    feed: ChangeFeed,
    peers: Arc<Peers>,
    node: Uuid,
    stop: Arc<AtomicBool>,
}

impl Listener {
    fn run(&self) {
        while !self.stop.load(Ordering::Acquire) {
            let Ok(mut client) = self.connector.connect(&self.config) else {
                std::thread::sleep(Duration::from_millis(500));
                continue;
            };
            if client.batch_execute(&format!("LISTEN {CHANNEL}")).is_ok() {
                self.feed.set_connected(true);
                self.serve(&mut client);
                self.feed.set_connected(false);
            }
        }
    }

    /// Until the connection fails or the backend stops.
    fn serve(&self, client: &mut Client) {
        let mut announced: Option<Instant> = None;
        while !self.stop.load(Ordering::Acquire) {
            if announced.is_none_or(|at| at.elapsed() >= HEARTBEAT) {
                if self.send(client, &format!("alive {}", self.node)).is_err() {
                    return;
                }
                announced = Some(Instant::now());
            }
            let next = client.notifications().timeout_iter(Duration::from_millis(250)).next();
            match next {
                Ok(Some(notification)) => {
                    if self.hear(client, notification.payload()).is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(_) => return,
            }
            if client.is_closed() {
                return;
            }
        }
    }

    fn send(&self, client: &mut Client, message: &str) -> std::result::Result<(), postgres::Error> {
        client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &message]).map(drop)
    }

    /// One message: `alive {node}`, `ack {from} {to} {transaction}`, `change {node} {transaction} {changes}`
    /// or `note {node} {notices}` (taken up like changes, but not acknowledged).
    fn hear(&self, client: &mut Client, message: &str) -> std::result::Result<(), postgres::Error> {
        if let Some((node, notices)) = message.strip_prefix("note ").and_then(|rest| rest.split_once(' ')) {
            match node.parse::<Uuid>() {
                Ok(node) if node != self.node => {
                    self.peers.saw(node);
                    self.take_up(node, notices);
                }
                _ => {}
            }
            return Ok(());
        }
        let mut words = message.splitn(4, ' ');
        let (kind, node) = (words.next(), words.next().and_then(|n| n.parse::<Uuid>().ok()));
        let Some(node) = node else { return Ok(()) };
        if node == self.node {
            return Ok(());
        }
        self.peers.saw(node);
        match kind {
            Some("ack") => {
                let to = words.next().and_then(|n| n.parse::<Uuid>().ok());
                if let (Some(to), Some(transaction)) = (to, words.next().and_then(|t| t.parse().ok()))
                    && to == self.node
                {
                    self.peers.ack(transaction, node);
                }
            }
            Some("change") => {
                let Some(transaction) = words.next() else { return Ok(()) };
                self.take_up(node, words.next().unwrap_or_default());
                self.send(client, &format!("ack {} {node} {transaction}", self.node))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Passes each of `node`'s notices, one per line, to the feed's followers.
    fn take_up(&self, node: Uuid, lines: &str) {
        for line in lines.lines() {
            match ChangeNotice::decode(line) {
                Some(change) => {
                    self.peers.heard.fetch_add(1, Ordering::Relaxed);
                    self.feed.publish(&change);
                }
                // Never from a node of this version: dropped, and logged without its content, which could carry
                // what a client typed.
                None => {
                    tracing::warn!(from = %node, bytes = line.len(), "dropped a change notice that does not decode")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_fill_notifications_up_to_the_payload_limit_and_leave_out_a_notice_too_large() {
        let node = Uuid::from_u128(7);
        let usage = |entries: usize| {
            ChangeNotice::Usage(crate::Usage {
                node,
                slot_millis: 1000,
                counts: (0..entries)
                    .map(|n| crate::UsageCount { scope: format!("vault/{n:036}"), budget: 0, slot: 1, count: 9 })
                    .collect(),
            })
        };
        assert!(note_messages(node, &[]).is_empty());
        let notices: Vec<_> = (0..40).map(|_| usage(10)).collect();
        let messages = note_messages(node, &notices);
        assert!(messages.len() > 1, "split over several notifications");
        assert!(messages.iter().all(|m| m.len() <= LARGEST_PAYLOAD && m.starts_with(&format!("note {node} "))));
        let lines: usize = messages.iter().map(|m| m.lines().count()).sum();
        assert_eq!(lines, 40, "every notice, each on a line of its own");
        let messages = note_messages(node, &[usage(1000), usage(1)]);
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].lines().count(), 1, "the one too large is left out");
    }
    use crate::Store;
    use crate::sql::corrupt;
    use crate::sql::tests::postgres_database;

    /// Runs one query on `store`'s backend (off the async threads, as the store does).
    async fn query_row(store: &PostgresStore, sql: &'static str) -> Result<Option<crate::sql::Row>> {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.backend().run(false, &mut |db| db.query(sql, &[])))
            .await
            .map_err(|e| Error::new(ErrorKind::Database, "test", e))?
            .map(|rows| rows.into_iter().next())
    }

    #[tokio::test]
    async fn nodes_starting_together_migrate_once_and_one_at_a_time_leads() -> Result<()> {
        let Some(url) = postgres_database().await? else { return Ok(()) };
        let dir = tempfile::tempdir().map_err(|e| Error::new(ErrorKind::Io, "test", e))?;
        let root = || RootKey::load_or_create(&dir.path().join("root.key"));
        let (a, b) =
            tokio::join!(PostgresStore::connect(&url, None, root()?), PostgresStore::connect(&url, None, root()?));
        let (a, b) = (a?, b?);
        let migrations = query_row(&a, "SELECT COUNT(*), MAX(version) FROM schema_version").await?;
        let expected = i64::try_from(crate::sql::schema::POSTGRES.len()).unwrap_or_default();
        assert_eq!(
            migrations.map(|r| (r.get::<i64>(0), r.get::<i64>(1))).map(|(c, m)| (c.ok(), m.ok())),
            Some((Some(expected), Some(expected)))
        );

        assert!(a.lead().await?, "the first to ask leads");
        assert!(!b.lead().await?, "one node at a time");
        assert!(a.lead().await?, "and keeps the lead while its connection lives");
        drop(a);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !b.lead().await? {
            assert!(std::time::Instant::now() < deadline, "the lead did not pass on when its holder went");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    #[tokio::test]
    async fn certificate_data_kept_as_settings_moves_into_its_tables() -> Result<()> {
        use crate::sql::certificate_data::tests::{
            check_moved_certificate_data, step_of_the_tables, write_old_certificate_settings,
        };
        use crate::sql::schema::POSTGRES;
        let Some(url) = postgres_database().await? else { return Ok(()) };
        let dir = tempfile::tempdir().map_err(|e| Error::new(ErrorKind::Io, "test", e))?;
        let root = || RootKey::load_or_create(&dir.path().join("root.key"));
        let pkcs8 = crate::sqlite::tests::certificate_key()?;
        let (old_url, old_root) = (url.clone(), root()?);
        let vault = tokio::task::spawn_blocking(move || -> Result<Uuid> {
            let config: Config = old_url.parse().map_err(|e| Error::new(ErrorKind::Database, "test", e))?;
            let backend = PostgresBackend::new(config.clone(), Connector::for_config(&config, None)?)?;
            backend.run(true, &mut |db| {
                // The schema before the certificate tables, with the data an earlier version kept as settings.
                db.execute("CREATE TABLE schema_version (version BIGINT NOT NULL)", &[])?;
                for (index, migration) in POSTGRES.iter().enumerate().take(step_of_the_tables(POSTGRES)) {
                    db.execute_batch(migration)?;
                    db.execute("INSERT INTO schema_version (version) VALUES (?1)", &[Value::from(index + 1)])?;
                }
                write_old_certificate_settings(db, &old_root, &pkcs8)
            })
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Database, "test", e))??;
        let store = PostgresStore::connect(&url, None, root()?).await?;
        check_moved_certificate_data(&store, vault).await
    }

    #[tokio::test]
    async fn with_sslmode_require_the_connections_use_tls_to_a_verified_server() -> Result<()> {
        let Some(url) = postgres_database().await? else { return Ok(()) };
        let dir = tempfile::tempdir().map_err(|e| Error::new(ErrorKind::Io, "test", e))?;
        let root = || RootKey::load_or_create(&dir.path().join("root.key"));
        let plain = PostgresStore::connect(&url, None, root()?).await?;
        let settings = query_row(&plain, "SELECT current_setting('ssl'), current_setting('ssl_cert_file')").await?;
        let (ssl, certificate): (String, String) = match settings {
            Some(row) => (row.get(0)?, row.get(1)?),
            None => return Ok(()),
        };
        let certificate = std::path::PathBuf::from(certificate);
        if ssl != "on" || !certificate.is_file() || !url.contains("127.0.0.1") {
            eprintln!("the test PostgreSQL serves no TLS certificate this test can read: the TLS test is skipped");
            return Ok(());
        }
        // The server's own certificate (Debian's is for `localhost`) as the trusted one.
        let tls_url = format!("{}?sslmode=require", url.replace("127.0.0.1", "localhost"));
        let tls = PostgresStore::connect(&tls_url, Some(&certificate), root()?).await?;
        let used = query_row(&tls, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").await?;
        assert_eq!(used.map(|row| row.get::<bool>(0)).transpose()?, Some(true));
        assert!(
            Connector::for_config(&url.parse().map_err(|_| corrupt("url"))?, Some(&certificate)).is_err(),
            "a CA without TLS is refused"
        );
        Ok(())
    }

    #[test]
    fn numbered_parameters_are_spelt_with_dollars() {
        assert_eq!(dollar_parameters("a = ?1 AND b = ?12 OR c IS ?"), "a = $1 AND b = $12 OR c IS ?");
    }
}
