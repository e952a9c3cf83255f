//! Vault objects — secrets, keys and certificates alike. An `objects` row is the object (its
//! name's first spelling and its deletion state); `object_versions` rows hold the versions: properties and
//! metadata in clear, each value sealed and bound to vault, collection, name and version. Both are found by
//! `scope`, `{vault id}/{collection}`.

use strongroom_core::object::{DeletedObject, ObjectVersion, VersionProperties, VersionUpdate, name_key};
use strongroom_core::rbac::Collection;
use zeroize::Zeroizing;

use super::{Database, Row, Value, corrupt, values};
use crate::error::{DatabaseContext, Error, ErrorKind, Result};
use crate::seal::RootKey;
use crate::{Deletion, PageResult, Place, Replacing, VersionWithValue, WholeObject};

/// The columns [`Columns::read`] reads, from `objects s` joined with `object_versions v`.
const SELECT: &str = "SELECT s.name, v.version, v.content_type, v.tags, v.enabled, v.nbf, v.exp, v.created, v.updated, \
     v.seq, s.deleted_at, s.scheduled_purge, s.name_key, v.sealed_value, v.metadata \
     FROM objects s JOIN object_versions v ON v.scope = s.scope AND v.name_key = s.name_key";

/// Keeps only each object's newest version.
const NEWEST: &str =
    "v.seq = (SELECT MAX(m.seq) FROM object_versions m WHERE m.scope = s.scope AND m.name_key = s.name_key)";

/// One row of [`SELECT`].
struct Columns {
    version: ObjectVersion,
    seq: i64,
    deleted_at: Option<i64>,
    scheduled_purge: Option<i64>,
    name_key: String,
    sealed_value: Vec<u8>,
}

impl Columns {
    fn read(row: &Row) -> Result<Columns> {
        Ok(Columns {
            version: ObjectVersion {
                name: row.get(0)?,
                version: row.get(1)?,
                properties: VersionProperties {
                    content_type: row.get(2)?,
                    tags: serde_json::from_str(&row.get::<String>(3)?).map_err(corrupt)?,
                    enabled: row.get(4)?,
                    not_before: row.get(5)?,
                    expires: row.get(6)?,
                },
                metadata: row.get(14)?,
                created: row.get(7)?,
                updated: row.get(8)?,
            },
            seq: row.get(9)?,
            deleted_at: row.get(10)?,
            scheduled_purge: row.get(11)?,
            name_key: row.get(12)?,
            sealed_value: row.get(13)?,
        })
    }

    fn deleted(self) -> Result<DeletedObject> {
        match (self.deleted_at, self.scheduled_purge) {
            (Some(deleted_date), Some(scheduled_purge_date)) => {
                Ok(DeletedObject { latest: self.version, deleted_date, scheduled_purge_date })
            }
            _ => Err(corrupt("a deleted object has no deletion dates")),
        }
    }

    fn value(&self, root_key: &RootKey, place: Place) -> Result<Zeroizing<String>> {
        let plaintext = root_key.open(&self.sealed_value, &context(place, &self.name_key, &self.version.version))?;
        String::from_utf8(plaintext.to_vec()).map(Zeroizing::new).map_err(|_| corrupt("a stored value is not UTF-8"))
    }
}

fn query(db: &mut dyn Database, filter: &str, parameters: &[Value]) -> Result<Vec<Columns>> {
    let rows = db.query(&format!("{SELECT} WHERE {filter}"), parameters).context("reading objects")?;
    rows.iter().map(Columns::read).collect()
}

/// The associated data binding a sealed value to its place (`secret/…` for secrets, as ever).
pub(super) fn context(place: Place, name_key: &str, version: &str) -> Vec<u8> {
    let kind = match place.collection {
        Collection::Secrets => "secret",
        Collection::Keys => "key",
        Collection::Certificates => "certificate",
    };
    format!("{kind}/{}/{name_key}/{version}", place.vault_id).into_bytes()
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

/// Whether the object exists: `None`, `Some(false)` live, `Some(true)` soft-deleted. In a write, the object's
/// row stays locked until the transaction ends, so that writers of one object take turns.
fn state(db: &mut dyn Database, place: Place, key: &str) -> Result<Option<bool>> {
    let sql =
        format!("SELECT deleted_at IS NOT NULL FROM objects WHERE scope = ?1 AND name_key = ?2{}", db.for_update());
    db.query_row(&sql, values![place.scope(), key]).context("reading an object's state")?.map(|r| r.get(0)).transpose()
}

/// Refuses a change to the secret or key `name` at `place` when it is a certificate's: a certificate of the same
/// name (live or deleted) holds it, and only the certificate's own operations change it.
pub(super) fn refuse_if_managed(db: &mut dyn Database, place: Place, name: &str) -> Result<()> {
    if place.collection == Collection::Certificates {
        return Ok(());
    }
    let certificates = Place { collection: Collection::Certificates, ..place };
    match state(db, certificates, &name_key(name))? {
        Some(_) => Err(Error::new(
            ErrorKind::Managed,
            "changing an object",
            format_args!("the {} is the certificate's of the same name", place.collection.as_str()),
        )),
        None => Ok(()),
    }
}

/// Adds a certificate's version with its key's and secret's (`versions`, the certificate's first). A key or secret
/// of the name that the certificate does not hold already — a plain one — is never written into: the whole
/// change fails with [`ErrorKind::Conflict`], as Key Vault refuses a certificate over a secret's or key's name.
pub(super) fn insert_linked(
    db: &mut dyn Database,
    root_key: &RootKey,
    versions: &[(Place, ObjectVersion, Zeroizing<String>)],
) -> Result<()> {
    let Some((certificate, first, _)) = versions.first() else { return Ok(()) };
    let key = name_key(&first.name);
    if certificate.collection != Collection::Certificates {
        return Err(Error::new(ErrorKind::Corrupt, "adding a certificate", "the first version is no certificate's"));
    }
    if state(db, *certificate, &key)?.is_none() {
        // A new certificate creates its key's and secret's rows itself. A row already there, or created
        // meanwhile by a transaction this insert waits for, is a plain object's: nothing is written.
        for (place, version, _) in &versions[1..] {
            if !create_row(db, *place, &key, &version.name)? {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    "adding a certificate",
                    format_args!("a plain {} holds the name", place.collection.as_str()),
                ));
            }
        }
    }
    for (place, version, value) in versions {
        insert_version(db, root_key, *place, version, value)?;
    }
    Ok(())
}

/// Creates the object's row unless there is one; `true` when this call created it. An insert of the same name
/// by a transaction still running makes this one wait for its end.
fn create_row(db: &mut dyn Database, place: Place, key: &str, name: &str) -> Result<bool> {
    let created = db
        .execute(
            "INSERT INTO objects (scope, vault_id, name_key, name) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (scope, name_key) DO NOTHING",
            values![place.scope(), place.vault_id, key, name],
        )
        .context("creating an object")?;
    Ok(created == 1)
}

pub(super) fn insert_version(
    db: &mut dyn Database,
    root_key: &RootKey,
    place: Place,
    version: &ObjectVersion,
    value: &str,
) -> Result<ObjectVersion> {
    let key = name_key(&version.name);
    // Creating the row first (when missing) gives concurrent writers of a new name one row to queue on.
    create_row(db, place, &key, &version.name)?;
    if state(db, place, &key)? == Some(true) {
        return Err(Error::new(ErrorKind::Deleted, "adding a version", "the object is deleted"));
    }
    let name: String = db
        .query_row("SELECT name FROM objects WHERE scope = ?1 AND name_key = ?2", values![place.scope(), &key])
        .context("reading an object's name")?
        .ok_or_else(|| corrupt("an object vanished while a version was added"))?
        .get(0)?;
    let sealed = root_key.seal(value.as_bytes(), &context(place, &key, &version.version))?;
    let tags = serde_json::to_string(&version.properties.tags)
        .map_err(|e| Error::new(ErrorKind::Corrupt, "encoding tags", e))?;
    db.execute(
        "INSERT INTO object_versions (scope, vault_id, name_key, name, version, seq, sealed_value, content_type, \
         tags, enabled, nbf, exp, created, updated, metadata) \
         VALUES (?1, ?13, ?2, ?3, ?4, \
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM object_versions WHERE scope = ?1 AND name_key = ?2), \
                 ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?14)",
        values![
            place.scope(),
            &key,
            &name,
            &version.version,
            sealed,
            &version.properties.content_type,
            tags,
            version.properties.enabled,
            version.properties.not_before,
            version.properties.expires,
            version.created,
            version.updated,
            place.vault_id,
            &version.metadata
        ],
    )
    .context("storing a version")?;
    Ok(ObjectVersion { name, ..version.clone() })
}

/// Creates a seed secret unless the name is taken, live or deleted.
pub(super) fn seed(
    db: &mut dyn Database,
    root_key: &RootKey,
    place: Place,
    version: &ObjectVersion,
    value: &str,
) -> Result<()> {
    if state(db, place, &name_key(&version.name))?.is_none() {
        insert_version(db, root_key, place, version, value)?;
    }
    Ok(())
}

/// The newest live version of `name`, or the one with id `version`.
fn live_version(db: &mut dyn Database, place: Place, name: &str, version: Option<&str>) -> Result<Option<Columns>> {
    let rows = query(
        db,
        "s.scope = ?1 AND s.name_key = ?2 AND s.deleted_at IS NULL AND (CAST(?3 AS TEXT) IS NULL OR v.version = ?3) \
         ORDER BY v.seq DESC LIMIT 1",
        values![place.scope(), name_key(name), version],
    )?;
    Ok(rows.into_iter().next())
}

pub(super) fn read_version(
    db: &mut dyn Database,
    root_key: &RootKey,
    place: Place,
    name: &str,
    version: Option<&str>,
) -> Result<Option<VersionWithValue>> {
    live_version(db, place, name, version)?
        .map(|row| {
            let value = row.value(root_key, place)?;
            Ok((row.version, value))
        })
        .transpose()
}

pub(super) fn list(
    db: &mut dyn Database,
    place: Place,
    after: Option<&str>,
    limit: usize,
) -> Result<PageResult<ObjectVersion>> {
    let rows = query(
        db,
        &format!("s.scope = ?1 AND s.deleted_at IS NULL AND s.name_key > ?2 AND {NEWEST} ORDER BY s.name_key LIMIT ?3"),
        values![place.scope(), after.unwrap_or_default(), limit + 1],
    )?;
    page_of(rows, limit, |r| r.name_key.clone(), |r| Ok(r.version))
}

pub(super) fn list_versions(
    db: &mut dyn Database,
    place: Place,
    name: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<PageResult<ObjectVersion>> {
    let after: i64 = after.and_then(|a| a.parse().ok()).unwrap_or(0);
    let rows = query(
        db,
        "s.scope = ?1 AND s.name_key = ?2 AND s.deleted_at IS NULL AND v.seq > ?3 ORDER BY v.seq LIMIT ?4",
        values![place.scope(), name_key(name), after, limit + 1],
    )?;
    page_of(rows, limit, |r| r.seq.to_string(), |r| Ok(r.version))
}

pub(super) fn update(
    db: &mut dyn Database,
    place: Place,
    name: &str,
    version: Option<&str>,
    update: &VersionUpdate,
    now: i64,
) -> Result<Option<ObjectVersion>> {
    if state(db, place, &name_key(name))? != Some(false) {
        return Ok(None);
    }
    let Some(row) = live_version(db, place, name, version)? else { return Ok(None) };
    let updated = update.apply_to(&row.version, now);
    let properties = &updated.properties;
    let tags =
        serde_json::to_string(&properties.tags).map_err(|e| Error::new(ErrorKind::Corrupt, "encoding tags", e))?;
    db.execute(
        "UPDATE object_versions SET content_type = ?4, tags = ?5, enabled = ?6, nbf = ?7, exp = ?8, updated = ?9, \
         metadata = ?10 WHERE scope = ?1 AND name_key = ?2 AND version = ?3",
        values![
            place.scope(),
            &row.name_key,
            &updated.version,
            &properties.content_type,
            tags,
            properties.enabled,
            properties.not_before,
            properties.expires,
            now,
            &updated.metadata
        ],
    )
    .context("updating a version")?;
    Ok(Some(updated))
}

pub(super) fn soft_delete(
    db: &mut dyn Database,
    place: Place,
    name: &str,
    deleted_at: i64,
    purge_at: i64,
) -> Result<Option<DeletedObject>> {
    let changed = db
        .execute(
            "UPDATE objects SET deleted_at = ?3, scheduled_purge = ?4 \
             WHERE scope = ?1 AND name_key = ?2 AND deleted_at IS NULL",
            values![place.scope(), name_key(name), deleted_at, purge_at],
        )
        .context("deleting an object")?;
    if changed == 0 {
        return Ok(None);
    }
    read_deleted(db, place, name)
}

pub(super) fn read_deleted(db: &mut dyn Database, place: Place, name: &str) -> Result<Option<DeletedObject>> {
    let rows = query(
        db,
        &format!("s.scope = ?1 AND s.name_key = ?2 AND s.deleted_at IS NOT NULL AND {NEWEST}"),
        values![place.scope(), name_key(name)],
    )?;
    rows.into_iter().next().map(Columns::deleted).transpose()
}

pub(super) fn list_deleted(
    db: &mut dyn Database,
    place: Place,
    after: Option<&str>,
    limit: usize,
) -> Result<PageResult<DeletedObject>> {
    let rows = query(
        db,
        &format!(
            "s.scope = ?1 AND s.deleted_at IS NOT NULL AND s.name_key > ?2 AND {NEWEST} ORDER BY s.name_key LIMIT ?3"
        ),
        values![place.scope(), after.unwrap_or_default(), limit + 1],
    )?;
    page_of(rows, limit, |r| r.name_key.clone(), Columns::deleted)
}

pub(super) fn recover(db: &mut dyn Database, place: Place, name: &str) -> Result<Option<ObjectVersion>> {
    let changed = db
        .execute(
            "UPDATE objects SET deleted_at = NULL, scheduled_purge = NULL \
             WHERE scope = ?1 AND name_key = ?2 AND deleted_at IS NOT NULL",
            values![place.scope(), name_key(name)],
        )
        .context("recovering an object")?;
    if changed == 0 {
        return Ok(None);
    }
    let rows =
        query(db, &format!("s.scope = ?1 AND s.name_key = ?2 AND {NEWEST}"), values![place.scope(), name_key(name)])?;
    Ok(rows.into_iter().next().map(|r| r.version))
}

fn remove(db: &mut dyn Database, scope: &str, key: &str) -> Result<()> {
    db.execute("DELETE FROM object_versions WHERE scope = ?1 AND name_key = ?2", values![scope, key])
        .context("purging versions")?;
    db.execute("DELETE FROM objects WHERE scope = ?1 AND name_key = ?2", values![scope, key])
        .context("purging an object")?;
    Ok(())
}

pub(super) fn purge(db: &mut dyn Database, place: Place, name: &str) -> Result<bool> {
    let key = name_key(name);
    if state(db, place, &key)? != Some(true) {
        return Ok(false);
    }
    remove(db, &place.scope(), &key)?;
    Ok(true)
}

pub(super) fn purge_expired(db: &mut dyn Database, now: i64) -> Result<usize> {
    let sql = format!(
        "SELECT scope, name_key FROM objects WHERE deleted_at IS NOT NULL AND scheduled_purge <= ?1{}",
        db.for_update()
    );
    let expired = db.query(&sql, values![now]).context("finding expired objects")?;
    for row in &expired {
        remove(db, &row.get::<String>(0)?, &row.get::<String>(1)?)?;
    }
    Ok(expired.len())
}

pub(super) fn policy(db: &mut dyn Database, place: Place, name: &str) -> Result<Option<String>> {
    db.query_row(
        "SELECT policy FROM objects WHERE scope = ?1 AND name_key = ?2 AND deleted_at IS NULL",
        values![place.scope(), name_key(name)],
    )
    .context("reading an object's policy")?
    .map_or(Ok(None), |r| r.get(0))
}

pub(super) fn put_policy(db: &mut dyn Database, place: Place, name: &str, policy: &str) -> Result<bool> {
    let changed = db
        .execute(
            "UPDATE objects SET policy = ?3 WHERE scope = ?1 AND name_key = ?2 AND deleted_at IS NULL",
            values![place.scope(), name_key(name), policy],
        )
        .context("keeping an object's policy")?;
    Ok(changed == 1)
}

pub(super) fn policies(db: &mut dyn Database, collection: Collection) -> Result<Vec<(Place, String, String)>> {
    let rows = db
        .query(
            "SELECT vault_id, name, policy FROM objects \
             WHERE policy IS NOT NULL AND deleted_at IS NULL AND scope LIKE ?1",
            values![format!("%/{}", collection.as_str())],
        )
        .context("reading object policies")?;
    rows.iter().map(|r| Ok((Place { vault_id: r.get(0)?, collection }, r.get(1)?, r.get(2)?))).collect()
}

pub(super) fn history(
    db: &mut dyn Database,
    root_key: &RootKey,
    place: Place,
    name: &str,
) -> Result<Option<Vec<VersionWithValue>>> {
    let rows = query(
        db,
        "s.scope = ?1 AND s.name_key = ?2 AND s.deleted_at IS NULL ORDER BY v.seq",
        values![place.scope(), name_key(name)],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    rows.into_iter()
        .map(|row| {
            let value = row.value(root_key, place)?;
            Ok((row.version, value))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

pub(super) fn restore(
    db: &mut dyn Database,
    root_key: &RootKey,
    place: Place,
    versions: &[VersionWithValue],
) -> Result<ObjectVersion> {
    let Some((first, _)) = versions.first() else {
        return Err(Error::new(ErrorKind::Corrupt, "restoring an object", "the backup has no versions"));
    };
    match state(db, place, &name_key(&first.name))? {
        Some(true) => return Err(Error::new(ErrorKind::Deleted, "restoring an object", "the name is deleted")),
        Some(false) => return Err(Error::new(ErrorKind::Conflict, "restoring an object", "the name is in use")),
        None => {}
    }
    let mut newest = None;
    for (version, value) in versions {
        newest = Some(insert_version(db, root_key, place, version, value)?);
    }
    newest.ok_or_else(|| Error::new(ErrorKind::Corrupt, "restoring an object", "nothing was restored"))
}

/// Every object at `place`, live or deleted, whole, by name.
pub(super) fn whole(db: &mut dyn Database, root_key: &RootKey, place: Place) -> Result<Vec<WholeObject>> {
    let rows = query(db, "s.scope = ?1 ORDER BY s.name_key, v.seq", values![place.scope()])?;
    let policies = db
        .query("SELECT name_key, policy FROM objects WHERE scope = ?1 AND policy IS NOT NULL", values![place.scope()])
        .context("reading object policies")?
        .iter()
        .map(|r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)))
        .collect::<Result<std::collections::HashMap<_, _>>>()?;
    let mut objects: Vec<(String, WholeObject)> = Vec::new();
    for row in rows {
        let value = row.value(root_key, place)?;
        let deleted = match (row.deleted_at, row.scheduled_purge) {
            (Some(deleted_date), Some(scheduled_purge_date)) => Some(Deletion { deleted_date, scheduled_purge_date }),
            _ => None,
        };
        match objects.last_mut() {
            Some((key, object)) if *key == row.name_key => object.versions.push((row.version, value)),
            _ => {
                let policy = policies.get(&row.name_key).cloned();
                objects.push((row.name_key, WholeObject { versions: vec![(row.version, value)], policy, deleted }));
            }
        }
    }
    Ok(objects.into_iter().map(|(_, object)| object).collect())
}

/// Removes the objects `replacing` says, then writes `objects` at `place` as they are.
pub(super) fn replace(
    db: &mut dyn Database,
    root_key: &RootKey,
    place: Place,
    objects: &[WholeObject],
    replacing: Replacing,
) -> Result<()> {
    let scope = place.scope();
    match replacing {
        Replacing::Everything => {
            let certificates = Place { collection: Collection::Certificates, ..place };
            let held = db
                .query_row("SELECT 1 FROM objects WHERE scope = ?1 LIMIT 1", values![certificates.scope()])
                .context("looking for certificates")?;
            if place.collection != Collection::Certificates && held.is_some() {
                return Err(Error::new(
                    ErrorKind::Managed,
                    "replacing objects",
                    "the vault has certificates, whose keys and secrets are theirs",
                ));
            }
            db.execute("DELETE FROM object_versions WHERE scope = ?1", values![&scope]).context("removing versions")?;
            db.execute("DELETE FROM objects WHERE scope = ?1", values![&scope]).context("removing objects")?;
        }
        Replacing::TheirNames => {
            for object in objects {
                let Some((first, _)) = object.versions.first() else { continue };
                refuse_if_managed(db, place, &first.name)?;
                remove(db, &scope, &name_key(&first.name))?;
            }
        }
    }
    for object in objects {
        let Some((first, _)) = object.versions.first() else {
            return Err(Error::new(ErrorKind::Corrupt, "replacing objects", "an object has no versions"));
        };
        let key = name_key(&first.name);
        if state(db, place, &key)?.is_some() {
            return Err(Error::new(ErrorKind::Conflict, "replacing objects", "a name is given twice"));
        }
        for (version, value) in &object.versions {
            if name_key(&version.name) != key {
                return Err(Error::new(ErrorKind::Corrupt, "replacing objects", "an object's versions differ in name"));
            }
            insert_version(db, root_key, place, version, value)?;
        }
        let deleted = object.deleted.map(|d| (d.deleted_date, d.scheduled_purge_date));
        db.execute(
            "UPDATE objects SET policy = ?3, deleted_at = ?4, scheduled_purge = ?5 WHERE scope = ?1 AND name_key = ?2",
            values![&scope, &key, &object.policy, deleted.map(|d| d.0), deleted.map(|d| d.1)],
        )
        .context("keeping an object's policy and deletion")?;
    }
    Ok(())
}
