//! A whole-store copy: every row of every table, written by one database and read by either — the backup
//! `strongroom backup` makes and `strongroom restore` reads, and the way from SQLite to PostgreSQL.
//!
//! The copy is JSON sealed with the root key: what it holds (names, hashes, the directory) is as protected as
//! the store itself, and the sealed values inside it stay sealed. Restoring needs the same root key and an
//! empty store, and happens in one transaction.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::schema::{
    METADATA_OUT_OF_CONTENT_TYPE, POSTGRES_FILE_VAULTS_IN_SUBSCRIPTIONS, SQLITE_FILE_VAULTS_IN_SUBSCRIPTIONS, TABLES,
};
use super::{Database, Dialect, Value};
use crate::ChangeNotice;
use crate::error::{DatabaseContext, Error, ErrorKind, Result};
use crate::seal::RootKey;

/// The associated data of a sealed copy.
const CONTEXT: &[u8] = b"strongroom-store-copy/1";

/// The format this version writes. Format 1 copies, made before versions had a `metadata` column, carry a
/// key's or a certificate's metadata in `content_type`; format 2 copies, made before subscriptions and
/// resource groups, have vaults filed nowhere. Both are read too.
const FORMAT: u32 = 3;

/// The columns of vaults that format 3 added.
const VAULT_COLUMNS_OF_FORMAT_3: &[&str] =
    &["subscription_id", "resource_group", "location", "sku", "tags", "deleted_at", "scheduled_purge"];

/// The columns of `table` in a copy of `format`.
fn columns_in(format: u32, table: &str, columns: &[&'static str]) -> Vec<&'static str> {
    let added_in_format_2 = |column: &str| table == "object_versions" && column == "metadata";
    let added_in_format_3 = |column: &str| table == "vaults" && VAULT_COLUMNS_OF_FORMAT_3.contains(&column);
    columns
        .iter()
        .copied()
        .filter(|column| format >= 2 || !added_in_format_2(column))
        .filter(|column| format >= 3 || !added_in_format_3(column))
        .collect()
}

/// A copy as written.
#[derive(Serialize, Deserialize)]
struct Copy {
    /// The format's version.
    format: u32,
    /// Table name to rows, each row the table's columns in [`TABLES`]' order.
    tables: BTreeMap<String, Vec<Vec<Cell>>>,
}

/// A value in JSON: null, an integer, `{"t": text}` or `{"b": base64}`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum Cell {
    Null,
    Integer(i64),
    Text { t: String },
    Blob { b: String },
}

impl From<Value> for Cell {
    fn from(value: Value) -> Self {
        match value {
            Value::Null => Cell::Null,
            Value::Integer(i) => Cell::Integer(i),
            Value::Text(t) => Cell::Text { t },
            Value::Blob(bytes) => Cell::Blob { b: STANDARD.encode(bytes) },
        }
    }
}

impl TryFrom<Cell> for Value {
    type Error = Error;

    fn try_from(cell: Cell) -> Result<Self> {
        Ok(match cell {
            Cell::Null => Value::Null,
            Cell::Integer(i) => Value::Integer(i),
            Cell::Text { t } => Value::Text(t),
            Cell::Blob { b } => Value::Blob(STANDARD.decode(b).map_err(broken)?),
        })
    }
}

fn broken(detail: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Corrupt, "reading a store copy", detail)
}

/// Every row of every table, sealed.
pub(super) fn export(db: &mut dyn Database, root_key: &RootKey) -> Result<Vec<u8>> {
    let mut tables = BTreeMap::new();
    for (table, columns) in TABLES {
        let order = if *table == "role_assignments" { " ORDER BY rowid" } else { "" };
        let rows = db
            .query(&format!("SELECT {} FROM {table}{order}", columns.join(", ")), &[])
            .context(&format!("copying {table}"))?;
        tables.insert(
            (*table).to_owned(),
            rows.into_iter().map(|row| row.0.into_iter().map(Cell::from).collect()).collect(),
        );
    }
    let json = Zeroizing::new(
        serde_json::to_vec(&Copy { format: FORMAT, tables })
            .map_err(|e| Error::new(ErrorKind::Corrupt, "writing a store copy", e))?,
    );
    root_key.seal(&json, CONTEXT)
}

/// Writes a sealed copy into an empty store; returns how many rows.
pub(super) fn import(db: &mut dyn Database, root_key: &RootKey, sealed: &[u8]) -> Result<usize> {
    let json =
        root_key.open(sealed, CONTEXT).map_err(|_| broken("it does not open with this installation's root key"))?;
    let copy: Copy = serde_json::from_slice(&json).map_err(broken)?;
    if !(1..=FORMAT).contains(&copy.format) {
        return Err(broken(format_args!("format {} is not one this version reads", copy.format)));
    }
    for table in ["tenants", "objects"] {
        let rows = db.query(&format!("SELECT COUNT(*) FROM {table}"), &[]).context("checking the target")?;
        if rows.first().map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0) > 0 {
            return Err(Error::new(ErrorKind::Conflict, "restoring a store copy", "the target store is not empty"));
        }
    }
    // What opening the target wrote (its root key check, and keys if a server ran) gives way to the copy's.
    db.execute("DELETE FROM settings", &[]).context("clearing settings")?;
    let mut restored = 0;
    for (table, columns) in TABLES {
        let columns = columns_in(copy.format, table, columns);
        let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let sql = format!("INSERT INTO {table} ({}) VALUES ({})", columns.join(", "), placeholders.join(", "));
        let rows = copy.tables.get(*table).map(Vec::as_slice).unwrap_or_default();
        for row in rows {
            if row.len() != columns.len() {
                return Err(broken(format_args!("a row of {table} has {} columns, not {}", row.len(), columns.len())));
            }
            let values = row.iter().map(|cell| cell.clone().try_into()).collect::<Result<Vec<Value>>>()?;
            db.execute(&sql, &values).context(&format!("restoring {table}"))?;
            restored += 1;
        }
    }
    if copy.format == 1 {
        db.execute(METADATA_OUT_OF_CONTENT_TYPE, &[]).context("moving metadata out of content types")?;
    }
    if copy.format < 3 {
        let file = match db.dialect() {
            Dialect::Sqlite => SQLITE_FILE_VAULTS_IN_SUBSCRIPTIONS,
            Dialect::Postgres => POSTGRES_FILE_VAULTS_IN_SUBSCRIPTIONS,
        };
        db.execute_batch(file).context("filing vaults in subscriptions")?;
    }
    db.notify(&ChangeNotice::Everything)?;
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use strongroom_core::object::{ObjectVersion, VersionProperties};

    use super::*;
    use crate::sql::tests::add_vault;
    use crate::sqlite::SqliteStore;
    use crate::{Place, Store, VersionSelector};

    fn test_error(e: impl std::fmt::Display) -> Error {
        Error::new(ErrorKind::Corrupt, "test", e)
    }

    /// A copy made before versions had their `metadata` column (format 1: a key's metadata in `content_type`)
    /// and before subscriptions imports with the metadata where it belongs now and its vaults filed in a
    /// subscription.
    #[tokio::test]
    async fn a_copy_of_the_first_format_imports_with_metadata_in_its_column() -> Result<()> {
        let dir = tempfile::tempdir().map_err(test_error)?;
        let root = || RootKey::load_or_create(&dir.path().join("root.key"));
        let source = SqliteStore::open(&dir.path().join("source.db"), root()?)?;
        let vault = add_vault(&source).await?;
        let facts = r#"{"kty":"EC","crv":"P-256","key_ops":["sign"]}"#;
        let key = ObjectVersion::new("k", VersionProperties::default(), Some(facts.to_owned()), 1);
        source.put_version(Place::keys(vault), &key, "material").await?;

        // Rewrite the copy as format 1 wrote it.
        let opened = root()?.open(&source.export_copy().await?, CONTEXT)?;
        let mut copy: serde_json::Value = serde_json::from_slice(&opened).map_err(test_error)?;
        copy["format"] = 1.into();
        let columns = TABLES.iter().find(|(t, _)| *t == "object_versions").map(|(_, c)| *c).unwrap_or_default();
        let at = |name: &str| columns.iter().position(|c| *c == name).unwrap_or_default();
        for row in copy["tables"]["object_versions"].as_array_mut().into_iter().flatten() {
            let cells = row.as_array_mut().ok_or_else(|| test_error("a row"))?;
            let metadata = cells.remove(at("metadata"));
            cells[at("content_type")] = metadata;
        }
        // … and its vaults as they were before subscriptions.
        let vault_columns = TABLES.iter().find(|(t, _)| *t == "vaults").map(|(_, c)| *c).unwrap_or_default();
        for row in copy["tables"]["vaults"].as_array_mut().into_iter().flatten() {
            let cells = row.as_array_mut().ok_or_else(|| test_error("a row"))?;
            let kept =
                vault_columns.iter().zip(cells.drain(..)).filter(|(c, _)| !VAULT_COLUMNS_OF_FORMAT_3.contains(c));
            *cells = kept.map(|(_, cell)| cell).collect();
        }
        let format_1 = root()?.seal(&serde_json::to_vec(&copy).map_err(test_error)?, CONTEXT)?;

        let target = SqliteStore::open(&dir.path().join("target.db"), root()?)?;
        target.import_copy(format_1).await?;
        let (read, value) = target
            .read_version(Place::keys(vault), "k", VersionSelector::Latest)
            .await?
            .ok_or_else(|| test_error("the key is gone"))?;
        assert_eq!(
            (read.metadata.as_deref(), read.properties.content_type, value.as_str()),
            (Some(facts), None, "material")
        );
        // The vault is filed in its tenant's new default subscription, in the default group.
        let directory = target.load_directory().await?;
        let restored = directory.vaults().iter().find(|v| v.id == vault).ok_or_else(|| test_error("no vault"))?;
        let subscription = directory.default_subscription(restored.tenant_id).map(|s| s.id);
        assert_eq!((Some(restored.subscription_id), restored.resource_group.as_str()), (subscription, "strongroom"));
        assert!(directory.resource_group(restored.subscription_id, "strongroom").is_some());
        Ok(())
    }
}
