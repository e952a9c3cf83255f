//! The embedded SQLite backend: one database file in the data directory, WAL journal, and a full sync
//! before a write is acknowledged.
//!
//! rusqlite is synchronous: one connection behind a mutex, used from tokio's blocking pool. The hot read path
//! does not come here when caches are warm; writes are serialized by SQLite anyway.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};

use crate::ChangeNotice;
use crate::error::{Error, ErrorKind, Result};
use crate::seal::RootKey;
use crate::sql::{Backend, Database, Dialect, Row, SqlStore, Value};

/// The SQLite store.
pub type SqliteStore = SqlStore<SqliteBackend>;

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, migrates it, and seals with `root_key`.
    pub fn open(path: &Path, root_key: RootKey) -> Result<Self> {
        SqlStore::new(SqliteBackend::open(path)?, root_key)
    }
}

/// One SQLite connection.
pub struct SqliteBackend {
    connection: Mutex<Connection>,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let context = format!("opening {}", path.display());
        let connection = Connection::open(path).map_err(|e| sqlite_error(&context, e))?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                 PRAGMA busy_timeout = 5000;",
            )
            .map_err(|e| sqlite_error(&context, e))?;
        connection.set_prepared_statement_cache_capacity(64);
        Ok(Self { connection: Mutex::new(connection) })
    }
}

impl Backend for SqliteBackend {
    fn run<T>(&self, write: bool, work: &mut dyn FnMut(&mut dyn Database) -> Result<T>) -> Result<T> {
        let mut connection = self
            .connection
            .lock()
            .map_err(|_| Error::new(ErrorKind::Database, "using the database", "a previous user panicked"))?;
        if !write {
            return work(&mut SqliteDatabase(&connection));
        }
        let transaction = connection.transaction().map_err(|e| sqlite_error("starting a write", e))?;
        let result = work(&mut SqliteDatabase(&transaction))?;
        transaction.commit().map_err(|e| sqlite_error("committing a write", e))?;
        Ok(result)
    }
}

/// A connection (or a transaction, which derefs to one) as a [`Database`].
struct SqliteDatabase<'a>(&'a Connection);

impl Database for SqliteDatabase<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let changed = self
            .0
            .prepare_cached(sql)
            .and_then(|mut statement| statement.execute(rusqlite::params_from_iter(params)))
            .map_err(|e| sqlite_error("running a statement", e))?;
        Ok(changed as u64)
    }

    fn execute_batch(&mut self, sql: &str) -> Result<()> {
        self.0.execute_batch(sql).map_err(|e| sqlite_error("running statements", e))
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.0
            .prepare_cached(sql)
            .and_then(|mut statement| {
                let columns = statement.column_count();
                statement
                    .query_map(rusqlite::params_from_iter(params), |row| {
                        (0..columns).map(|i| row.get_ref(i).map(value)).collect::<rusqlite::Result<_>>().map(Row)
                    })?
                    .collect()
            })
            .map_err(|e| sqlite_error("running a query", e))
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn notify(&mut self, _change: &ChangeNotice) -> Result<()> {
        // One process owns the file: there is no one to tell.
        Ok(())
    }
}

fn value(column: ValueRef<'_>) -> Value {
    match column {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        // No column is REAL; a float would be a foreign write, kept as its integer part.
        ValueRef::Real(f) => Value::Integer(f as i64),
        ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(bytes) => Value::Blob(bytes.to_vec()),
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
            Value::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

/// A constraint violation is a conflict (a name taken); anything else is a database failure.
fn sqlite_error(context: &str, e: rusqlite::Error) -> Error {
    match &e {
        rusqlite::Error::SqliteFailure(code, _) if code.code == rusqlite::ErrorCode::ConstraintViolation => {
            Error::new(ErrorKind::Conflict, context, e)
        }
        _ => Error::new(ErrorKind::Database, context, e),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use rusqlite::params;
    use strongroom_core::object::new_version;
    use uuid::Uuid;

    use super::*;
    use crate::sql::schema::SQLITE;
    use crate::sql::tests::{add_vault, version};
    use crate::{PageRequest, Place, Store, VersionSelector};

    fn io(e: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, "test", e)
    }

    fn corrupt(what: &str) -> Error {
        Error::new(ErrorKind::Corrupt, "test", what)
    }

    /// A store in `dir` with one tenant and one vault.
    pub(crate) async fn store_with_vault(dir: &Path) -> Result<(SqliteStore, Uuid)> {
        let root = RootKey::load_or_create(&dir.join("root.key"))?;
        let store = SqliteStore::open(&dir.join("strongroom.db"), root)?;
        let vault = add_vault(&store).await?;
        Ok((store, vault))
    }

    #[tokio::test]
    async fn versions_are_kept_in_order_and_values_sealed() -> Result<()> {
        let dir = tempfile::tempdir().map_err(io)?;
        let (store, vault) = store_with_vault(dir.path()).await?;
        let first = version("Db-Password");
        let second = version("db-password");
        store.put_version(Place::secrets(vault), &first, "value-one-123").await?;
        store.put_version(Place::secrets(vault), &second, "value-two-456").await?;

        let latest = store.read_version(Place::secrets(vault), "DB-PASSWORD", VersionSelector::Latest).await?;
        let (latest, value) = latest.ok_or_else(|| corrupt("missing"))?;
        assert_eq!((latest.name.as_str(), value.as_str()), ("Db-Password", "value-two-456"));
        let old =
            store.read_version(Place::secrets(vault), "db-password", VersionSelector::Exact(&first.version)).await?;
        assert_eq!(old.map(|(_, v)| v.to_string()).as_deref(), Some("value-one-123"));
        assert!(
            store
                .read_version(Place::secrets(vault), "db-password", VersionSelector::Exact(&new_version()))
                .await?
                .is_none()
        );

        let page =
            store.list_versions(Place::secrets(vault), "db-password", PageRequest { after: None, limit: 1 }).await?;
        assert_eq!(page.items.len(), 1);
        let rest = store
            .list_versions(Place::secrets(vault), "db-password", PageRequest { after: page.next.as_deref(), limit: 1 })
            .await?;
        assert_eq!((rest.items[0].version.as_str(), rest.next), (second.version.as_str(), None));

        drop(store);
        for file in ["strongroom.db", "strongroom.db-wal"] {
            if let Ok(bytes) = std::fs::read(dir.path().join(file)) {
                assert!(!bytes.windows(9).any(|w| w == b"value-one"), "{file} holds a value in clear");
            }
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_database_of_the_first_schema_upgrades_with_its_data() -> Result<()> {
        let dir = tempfile::tempdir().map_err(io)?;
        let path = dir.path().join("old.db");
        let root = RootKey::load_or_create(&dir.path().join("root.key"))?;
        let (vault, version) = (Uuid::new_v4(), new_version());
        {
            // What the first release wrote: schema 1, a vault and one secret version.
            let connection = Connection::open(&path).map_err(|e| sqlite_error("opening", e))?;
            connection.execute_batch(SQLITE[0]).map_err(|e| sqlite_error("schema 1", e))?;
            connection
                .execute_batch(&format!(
                    "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);\
                     INSERT INTO tenants VALUES ('{tenant}', 't', 't');\
                     INSERT INTO vaults VALUES ('{vault}', '{tenant}', 'v', 'v', 'rbac', 90, 0, \
                       '{{\"default_action\":\"allow\",\"ip_rules\":[]}}');",
                    tenant = Uuid::new_v4()
                ))
                .map_err(|e| sqlite_error("old rows", e))?;
            let sealed = root.seal(b"old-value", format!("secret/{vault}/old/{version}").as_bytes())?;
            connection
                .execute(
                    "INSERT INTO secret_versions VALUES (?1, 'old', 'Old', ?2, 1, ?3, NULL, '{}', 1, NULL, NULL, 1, 1)",
                    params![vault.to_string(), version, sealed],
                )
                .map_err(|e| sqlite_error("old secret", e))?;
        }
        let store = SqliteStore::open(&path, RootKey::load_or_create(&dir.path().join("root.key"))?)?;
        let directory = store.load_directory().await?;
        assert_eq!(directory.vaults().len(), 1);
        assert!(directory.vaults()[0].network.public_network_access);
        let read = store.read_version(Place::secrets(vault), "old", VersionSelector::Latest).await?;
        assert_eq!(
            read.map(|(v, value)| (v.name, value.to_string())),
            Some(("Old".to_owned(), "old-value".to_owned()))
        );
        assert_eq!(
            store.list_objects(Place::secrets(vault), PageRequest { after: None, limit: 5 }).await?.items.len(),
            1
        );
        Ok(())
    }

    #[tokio::test]
    async fn certificate_data_kept_as_settings_moves_into_its_tables() -> Result<()> {
        use crate::sql::certificate_data::tests::{
            check_moved_certificate_data, step_of_the_tables, write_old_certificate_settings,
        };
        let dir = tempfile::tempdir().map_err(io)?;
        let path = dir.path().join("old.db");
        let root = RootKey::load_or_create(&dir.path().join("root.key"))?;
        let pkcs8 = certificate_key()?;
        let backend = SqliteBackend::open(&path)?;
        let vault = backend.run(true, &mut |db| {
            // The schema before the certificate tables, with the data an earlier version kept as settings.
            db.execute("CREATE TABLE schema_version (version BIGINT NOT NULL)", &[])?;
            for (index, migration) in SQLITE.iter().enumerate().take(step_of_the_tables(SQLITE)) {
                db.execute_batch(migration)?;
                db.execute("INSERT INTO schema_version (version) VALUES (?1)", &[Value::from(index + 1)])?;
            }
            write_old_certificate_settings(db, &root, &pkcs8)
        })?;
        drop(backend);
        let store = SqliteStore::open(&path, RootKey::load_or_create(&dir.path().join("root.key"))?)?;
        check_moved_certificate_data(&store, vault).await?;
        drop(store);
        let reopened = SqliteStore::open(&path, RootKey::load_or_create(&dir.path().join("root.key"))?)?;
        assert_eq!(reopened.certificate_issuers(vault).await?.len(), 2, "opening again moves nothing twice");
        Ok(())
    }

    /// A new EC key's PKCS#8 DER, base64.
    pub(crate) fn certificate_key() -> Result<String> {
        use base64::Engine;
        use strongroom_core::key::{Curve, KeySpec, KeyType, PrivateKey};
        let spec = KeySpec { kty: KeyType::Ec, size: None, public_exponent: None, curve: Some(Curve::P256) };
        let key = PrivateKey::generate(&spec).map_err(|e| corrupt(e.message()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(key.material()))
    }

    #[tokio::test]
    async fn settings_are_sealed_and_survive_reopening() -> Result<()> {
        let dir = tempfile::tempdir().map_err(io)?;
        let (store, _) = store_with_vault(dir.path()).await?;
        store.put_sealed_setting("signing-keys", b"key-material").await?;
        drop(store);
        let store = SqliteStore::open(
            &dir.path().join("strongroom.db"),
            RootKey::load_or_create(&dir.path().join("root.key"))?,
        )?;
        assert_eq!(store.sealed_setting("signing-keys").await?.map(|v| v.to_vec()), Some(b"key-material".to_vec()));
        assert_eq!(store.load_directory().await?.vaults().len(), 1);
        Ok(())
    }

    #[tokio::test]
    async fn the_integrity_check_finds_a_torn_value_and_a_gap_in_the_versions() -> Result<()> {
        let dir = tempfile::tempdir().map_err(io)?;
        let (store, vault) = store_with_vault(dir.path()).await?;
        for value in ["one", "two", "three"] {
            store.put_version(Place::secrets(vault), &version("checked"), value).await?;
        }
        let intact = store.check_integrity().await?;
        assert_eq!((intact.objects, intact.versions, intact.problems.len()), (1, 3, 0));
        store.backend().run(true, &mut |db| {
            db.execute("UPDATE object_versions SET sealed_value = X'00' WHERE seq = 1", &[])?;
            db.execute("DELETE FROM object_versions WHERE seq = 2", &[])
        })?;
        let problems = store.check_integrity().await?.problems;
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("does not open")) && problems.iter().any(|p| p.contains("1..3")));
        Ok(())
    }
}
