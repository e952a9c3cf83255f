//! Secrets in SQLite. A `secrets` row is the object (its name's first spelling and its deletion state);
//! `secret_versions` rows hold the versions, each value sealed and bound to vault, name and version.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use strongroom_core::secret::{DeletedSecret, SecretProperties, SecretUpdate, SecretVersion, name_key};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::corrupt;
use crate::error::{DatabaseContext, Error, ErrorKind, Result};
use crate::seal::RootKey;
use crate::{PageResult, SecretWithValue};

/// The columns [`Columns::read`] reads, from `secrets s` joined with `secret_versions v`.
const SELECT: &str = "SELECT s.name, v.version, v.content_type, v.tags, v.enabled, v.nbf, v.exp, v.created, v.updated, \
     v.seq, s.deleted_at, s.scheduled_purge, s.name_key, v.sealed_value \
     FROM secrets s JOIN secret_versions v ON v.vault_id = s.vault_id AND v.name_key = s.name_key";

/// Keeps only each secret's newest version.
const NEWEST: &str =
    "v.seq = (SELECT MAX(m.seq) FROM secret_versions m WHERE m.vault_id = s.vault_id AND m.name_key = s.name_key)";

/// One row of [`SELECT`].
struct Columns {
    version: SecretVersion,
    seq: i64,
    deleted_at: Option<i64>,
    scheduled_purge: Option<i64>,
    name_key: String,
    sealed_value: Vec<u8>,
}

impl Columns {
    fn read(row: &Row<'_>) -> rusqlite::Result<(Columns, String)> {
        let tags: String = row.get(3)?;
        let columns = Columns {
            version: SecretVersion {
                name: row.get(0)?,
                version: row.get(1)?,
                properties: SecretProperties {
                    content_type: row.get(2)?,
                    tags: Default::default(),
                    enabled: row.get(4)?,
                    not_before: row.get(5)?,
                    expires: row.get(6)?,
                },
                created: row.get(7)?,
                updated: row.get(8)?,
            },
            seq: row.get(9)?,
            deleted_at: row.get(10)?,
            scheduled_purge: row.get(11)?,
            name_key: row.get(12)?,
            sealed_value: row.get(13)?,
        };
        Ok((columns, tags))
    }

    fn deleted(self) -> Result<DeletedSecret> {
        match (self.deleted_at, self.scheduled_purge) {
            (Some(deleted_date), Some(scheduled_purge_date)) => {
                Ok(DeletedSecret { latest: self.version, deleted_date, scheduled_purge_date })
            }
            _ => Err(corrupt("a deleted secret has no deletion dates")),
        }
    }

    fn value(&self, root_key: &RootKey, vault_id: Uuid) -> Result<Zeroizing<String>> {
        let plaintext = root_key.open(&self.sealed_value, &context(vault_id, &self.name_key, &self.version.version))?;
        String::from_utf8(plaintext.to_vec()).map(Zeroizing::new).map_err(|_| corrupt("a secret value is not UTF-8"))
    }
}

fn query(connection: &Connection, filter: &str, parameters: impl rusqlite::Params) -> Result<Vec<Columns>> {
    let sql = format!("{SELECT} WHERE {filter}");
    let rows: Vec<(Columns, String)> = connection
        .prepare_cached(&sql)
        .and_then(|mut statement| statement.query_map(parameters, Columns::read)?.collect())
        .context("reading secrets")?;
    rows.into_iter()
        .map(|(mut columns, tags)| {
            columns.version.properties.tags = serde_json::from_str(&tags).map_err(corrupt)?;
            Ok(columns)
        })
        .collect()
}

/// The associated data binding a sealed value to its place.
fn context(vault_id: Uuid, name_key: &str, version: &str) -> Vec<u8> {
    format!("secret/{vault_id}/{name_key}/{version}").into_bytes()
}

/// Cuts a page of `limit` items out of up to `limit + 1` rows; the token is the last item's `key`.
fn page_of<T>(
    mut rows: Vec<Columns>,
    limit: usize,
    key: impl Fn(&Columns) -> String,
    item: impl Fn(Columns) -> Result<T>,
) -> Result<PageResult<T>> {
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(&key)
    } else {
        None
    };
    Ok(PageResult { items: rows.into_iter().map(item).collect::<Result<_>>()?, next })
}

/// Whether the secret exists: `None`, `Some(false)` live, `Some(true)` soft-deleted.
fn state(transaction: &Transaction<'_>, vault_id: Uuid, key: &str) -> Result<Option<bool>> {
    transaction
        .query_row(
            "SELECT deleted_at IS NOT NULL FROM secrets WHERE vault_id = ?1 AND name_key = ?2",
            params![vault_id.to_string(), key],
            |r| r.get(0),
        )
        .optional()
        .context("reading a secret's state")
}

pub(super) fn insert_version(
    transaction: &Transaction<'_>,
    root_key: &RootKey,
    vault_id: Uuid,
    version: &SecretVersion,
    value: &str,
) -> Result<SecretVersion> {
    let key = name_key(&version.name);
    match state(transaction, vault_id, &key)? {
        Some(true) => return Err(Error::new(ErrorKind::Deleted, "adding a secret version", "the secret is deleted")),
        Some(false) => {}
        None => {
            transaction
                .execute(
                    "INSERT INTO secrets (vault_id, name_key, name) VALUES (?1, ?2, ?3)",
                    params![vault_id.to_string(), key, version.name],
                )
                .context("creating a secret")?;
        }
    }
    let name: String = transaction
        .query_row(
            "SELECT name FROM secrets WHERE vault_id = ?1 AND name_key = ?2",
            params![vault_id.to_string(), key],
            |r| r.get(0),
        )
        .context("reading a secret's name")?;
    let sealed = root_key.seal(value.as_bytes(), &context(vault_id, &key, &version.version))?;
    let tags = serde_json::to_string(&version.properties.tags)
        .map_err(|e| Error::new(ErrorKind::Corrupt, "encoding tags", e))?;
    transaction
        .execute(
            "INSERT INTO secret_versions (vault_id, name_key, name, version, seq, sealed_value, content_type, tags, \
             enabled, nbf, exp, created, updated) \
             VALUES (?1, ?2, ?3, ?4, \
                     (SELECT COALESCE(MAX(seq), 0) + 1 FROM secret_versions WHERE vault_id = ?1 AND name_key = ?2), \
                     ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                vault_id.to_string(),
                key,
                name,
                version.version,
                sealed,
                version.properties.content_type,
                tags,
                version.properties.enabled,
                version.properties.not_before,
                version.properties.expires,
                version.created,
                version.updated
            ],
        )
        .context("storing a secret version")?;
    Ok(SecretVersion { name, ..version.clone() })
}

/// Creates a seed secret unless the name is taken, live or deleted.
pub(super) fn seed(
    transaction: &Transaction<'_>,
    root_key: &RootKey,
    vault_id: Uuid,
    version: &SecretVersion,
    value: &str,
) -> Result<()> {
    if state(transaction, vault_id, &name_key(&version.name))?.is_none() {
        insert_version(transaction, root_key, vault_id, version, value)?;
    }
    Ok(())
}

pub(super) fn read_version(
    connection: &Connection,
    root_key: &RootKey,
    vault_id: Uuid,
    name: &str,
    version: Option<&str>,
) -> Result<Option<SecretWithValue>> {
    let rows = query(
        connection,
        "s.vault_id = ?1 AND s.name_key = ?2 AND s.deleted_at IS NULL AND (?3 IS NULL OR v.version = ?3) \
         ORDER BY v.seq DESC LIMIT 1",
        params![vault_id.to_string(), name_key(name), version],
    )?;
    rows.into_iter()
        .next()
        .map(|row| {
            let value = row.value(root_key, vault_id)?;
            Ok((row.version, value))
        })
        .transpose()
}

pub(super) fn list(
    connection: &Connection,
    vault_id: Uuid,
    after: Option<&str>,
    limit: usize,
) -> Result<PageResult<SecretVersion>> {
    let rows = query(
        connection,
        &format!(
            "s.vault_id = ?1 AND s.deleted_at IS NULL AND s.name_key > ?2 AND {NEWEST} ORDER BY s.name_key LIMIT ?3"
        ),
        params![vault_id.to_string(), after.unwrap_or_default(), limit + 1],
    )?;
    page_of(rows, limit, |r| r.name_key.clone(), |r| Ok(r.version))
}

pub(super) fn list_versions(
    connection: &Connection,
    vault_id: Uuid,
    name: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<PageResult<SecretVersion>> {
    let after: i64 = after.and_then(|a| a.parse().ok()).unwrap_or(0);
    let rows = query(
        connection,
        "s.vault_id = ?1 AND s.name_key = ?2 AND s.deleted_at IS NULL AND v.seq > ?3 ORDER BY v.seq LIMIT ?4",
        params![vault_id.to_string(), name_key(name), after, limit + 1],
    )?;
    page_of(rows, limit, |r| r.seq.to_string(), |r| Ok(r.version))
}

pub(super) fn update(
    transaction: &Transaction<'_>,
    vault_id: Uuid,
    name: &str,
    version: Option<&str>,
    update: &SecretUpdate,
    now: i64,
) -> Result<Option<SecretVersion>> {
    let rows = query(
        transaction,
        "s.vault_id = ?1 AND s.name_key = ?2 AND s.deleted_at IS NULL AND (?3 IS NULL OR v.version = ?3) \
         ORDER BY v.seq DESC LIMIT 1",
        params![vault_id.to_string(), name_key(name), version],
    )?;
    let Some(row) = rows.into_iter().next() else { return Ok(None) };
    let properties = update.apply_to(&row.version.properties);
    let tags =
        serde_json::to_string(&properties.tags).map_err(|e| Error::new(ErrorKind::Corrupt, "encoding tags", e))?;
    transaction
        .execute(
            "UPDATE secret_versions SET content_type = ?4, tags = ?5, enabled = ?6, nbf = ?7, exp = ?8, updated = ?9 \
             WHERE vault_id = ?1 AND name_key = ?2 AND version = ?3",
            params![
                vault_id.to_string(),
                row.name_key,
                row.version.version,
                properties.content_type,
                tags,
                properties.enabled,
                properties.not_before,
                properties.expires,
                now
            ],
        )
        .context("updating a secret version")?;
    Ok(Some(SecretVersion { properties, updated: now, ..row.version }))
}

pub(super) fn soft_delete(
    transaction: &Transaction<'_>,
    vault_id: Uuid,
    name: &str,
    deleted_at: i64,
    purge_at: i64,
) -> Result<Option<DeletedSecret>> {
    let changed = transaction
        .execute(
            "UPDATE secrets SET deleted_at = ?3, scheduled_purge = ?4 \
             WHERE vault_id = ?1 AND name_key = ?2 AND deleted_at IS NULL",
            params![vault_id.to_string(), name_key(name), deleted_at, purge_at],
        )
        .context("deleting a secret")?;
    if changed == 0 {
        return Ok(None);
    }
    read_deleted(transaction, vault_id, name)
}

pub(super) fn read_deleted(connection: &Connection, vault_id: Uuid, name: &str) -> Result<Option<DeletedSecret>> {
    let rows = query(
        connection,
        &format!("s.vault_id = ?1 AND s.name_key = ?2 AND s.deleted_at IS NOT NULL AND {NEWEST}"),
        params![vault_id.to_string(), name_key(name)],
    )?;
    rows.into_iter().next().map(Columns::deleted).transpose()
}

pub(super) fn list_deleted(
    connection: &Connection,
    vault_id: Uuid,
    after: Option<&str>,
    limit: usize,
) -> Result<PageResult<DeletedSecret>> {
    let rows = query(
        connection,
        &format!(
            "s.vault_id = ?1 AND s.deleted_at IS NOT NULL AND s.name_key > ?2 AND {NEWEST} ORDER BY s.name_key LIMIT ?3"
        ),
        params![vault_id.to_string(), after.unwrap_or_default(), limit + 1],
    )?;
    page_of(rows, limit, |r| r.name_key.clone(), Columns::deleted)
}

pub(super) fn recover(transaction: &Transaction<'_>, vault_id: Uuid, name: &str) -> Result<Option<SecretVersion>> {
    let changed = transaction
        .execute(
            "UPDATE secrets SET deleted_at = NULL, scheduled_purge = NULL \
             WHERE vault_id = ?1 AND name_key = ?2 AND deleted_at IS NOT NULL",
            params![vault_id.to_string(), name_key(name)],
        )
        .context("recovering a secret")?;
    if changed == 0 {
        return Ok(None);
    }
    let rows = query(
        transaction,
        &format!("s.vault_id = ?1 AND s.name_key = ?2 AND {NEWEST}"),
        params![vault_id.to_string(), name_key(name)],
    )?;
    Ok(rows.into_iter().next().map(|r| r.version))
}

fn remove(transaction: &Transaction<'_>, vault_id: &str, key: &str) -> Result<()> {
    transaction
        .execute("DELETE FROM secret_versions WHERE vault_id = ?1 AND name_key = ?2", params![vault_id, key])
        .context("purging secret versions")?;
    transaction
        .execute("DELETE FROM secrets WHERE vault_id = ?1 AND name_key = ?2", params![vault_id, key])
        .context("purging a secret")?;
    Ok(())
}

pub(super) fn purge(transaction: &Transaction<'_>, vault_id: Uuid, name: &str) -> Result<bool> {
    let key = name_key(name);
    if state(transaction, vault_id, &key)? != Some(true) {
        return Ok(false);
    }
    remove(transaction, &vault_id.to_string(), &key)?;
    Ok(true)
}

pub(super) fn purge_expired(transaction: &Transaction<'_>, now: i64) -> Result<usize> {
    let expired: Vec<(String, String)> = transaction
        .prepare("SELECT vault_id, name_key FROM secrets WHERE deleted_at IS NOT NULL AND scheduled_purge <= ?1")
        .and_then(|mut s| s.query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .context("finding expired secrets")?;
    for (vault_id, key) in &expired {
        remove(transaction, vault_id, key)?;
    }
    Ok(expired.len())
}

pub(super) fn history(
    connection: &Connection,
    root_key: &RootKey,
    vault_id: Uuid,
    name: &str,
) -> Result<Option<Vec<SecretWithValue>>> {
    let rows = query(
        connection,
        "s.vault_id = ?1 AND s.name_key = ?2 AND s.deleted_at IS NULL ORDER BY v.seq",
        params![vault_id.to_string(), name_key(name)],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    rows.into_iter()
        .map(|row| {
            let value = row.value(root_key, vault_id)?;
            Ok((row.version, value))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

pub(super) fn restore(
    transaction: &Transaction<'_>,
    root_key: &RootKey,
    vault_id: Uuid,
    versions: &[SecretWithValue],
) -> Result<SecretVersion> {
    let Some((first, _)) = versions.first() else {
        return Err(Error::new(ErrorKind::Corrupt, "restoring a secret", "the backup has no versions"));
    };
    match state(transaction, vault_id, &name_key(&first.name))? {
        Some(true) => return Err(Error::new(ErrorKind::Deleted, "restoring a secret", "the name is deleted")),
        Some(false) => return Err(Error::new(ErrorKind::Conflict, "restoring a secret", "the name is in use")),
        None => {}
    }
    let mut newest = None;
    for (version, value) in versions {
        newest = Some(insert_version(transaction, root_key, vault_id, version, value)?);
    }
    newest.ok_or_else(|| Error::new(ErrorKind::Corrupt, "restoring a secret", "nothing was restored"))
}
