//! The embedded SQLite backend: one database file in the data directory, WAL journal, and a full sync
//! before a write is acknowledged.
//!
//! rusqlite is synchronous, so every call runs on tokio's blocking pool with the connection behind a mutex.
//! The hot read path does not come here when caches are warm; writes are serialized by SQLite anyway.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use strongroom_core::credential::StoredSecret;
use strongroom_core::directory::{AuthorizationModel, Directory, Principal, PrincipalKind, Tenant, Vault};
use strongroom_core::provision::Change;
use strongroom_core::rbac::{Role, RoleAssignment, RoleDefinition, RoleKind, RolePermissions, Scope};
use strongroom_core::secret::{DeletedSecret, SecretUpdate, SecretVersion};
use uuid::Uuid;
use zeroize::Zeroizing;

mod objects;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use crate::error::{DatabaseContext, Error, ErrorKind, Result};
use crate::seal::RootKey;
use crate::{Collection, PageRequest, PageResult, Place, SecretWithValue, Store, VersionSelector};

/// Schema migrations, applied in order; the database records how many have run.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE tenants (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE
);
CREATE TABLE principals (
    object_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind      TEXT NOT NULL,
    name      TEXT NOT NULL,
    name_key  TEXT NOT NULL,
    client_id TEXT,
    UNIQUE (tenant_id, kind, name_key)
);
CREATE TABLE client_secrets (
    object_id TEXT NOT NULL REFERENCES principals(object_id),
    hash      TEXT NOT NULL,
    PRIMARY KEY (object_id, hash)
);
CREATE TABLE vaults (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    name             TEXT NOT NULL,
    name_key         TEXT NOT NULL UNIQUE,
    authorization    TEXT NOT NULL,
    retention_days   INTEGER NOT NULL,
    purge_protection INTEGER NOT NULL,
    network          TEXT NOT NULL
);
CREATE TABLE role_assignments (
    id           TEXT PRIMARY KEY,
    vault_id     TEXT NOT NULL REFERENCES vaults(id),
    principal_id TEXT NOT NULL,
    role_id      TEXT NOT NULL,
    scope        TEXT NOT NULL,
    provisioned  INTEGER NOT NULL
);
CREATE TABLE secret_versions (
    vault_id     TEXT NOT NULL REFERENCES vaults(id),
    name_key     TEXT NOT NULL,
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    sealed_value BLOB NOT NULL,
    content_type TEXT,
    tags         TEXT NOT NULL,
    enabled      INTEGER NOT NULL,
    nbf          INTEGER,
    exp          INTEGER,
    created      INTEGER NOT NULL,
    updated      INTEGER NOT NULL,
    PRIMARY KEY (vault_id, name_key, version),
    UNIQUE (vault_id, name_key, seq)
);
"#,
    r#"
CREATE TABLE secrets (
    vault_id        TEXT NOT NULL REFERENCES vaults(id),
    name_key        TEXT NOT NULL,
    name            TEXT NOT NULL,
    deleted_at      INTEGER,
    scheduled_purge INTEGER,
    PRIMARY KEY (vault_id, name_key)
);
INSERT INTO secrets (vault_id, name_key, name)
    SELECT vault_id, name_key, MIN(name) FROM secret_versions GROUP BY vault_id, name_key;
CREATE INDEX secrets_purge ON secrets (scheduled_purge) WHERE deleted_at IS NOT NULL;
"#,
    r#"
ALTER TABLE principals ADD COLUMN trusted_service INTEGER NOT NULL DEFAULT 0;
CREATE TABLE managed_identities (
    object_id TEXT PRIMARY KEY REFERENCES principals(object_id),
    details   TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE application_credentials (
    object_id   TEXT PRIMARY KEY REFERENCES principals(object_id),
    credentials TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE users (
    object_id TEXT PRIMARY KEY REFERENCES principals(object_id),
    details   TEXT NOT NULL
);
CREATE TABLE memberships (
    member_id TEXT PRIMARY KEY REFERENCES principals(object_id),
    groups    TEXT NOT NULL
);
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_data TEXT NOT NULL,
    expires    INTEGER NOT NULL
);
"#,
    r#"
ALTER TABLE client_secrets ADD COLUMN expires INTEGER;
"#,
    r#"
ALTER TABLE principals ADD COLUMN multi_tenant INTEGER NOT NULL DEFAULT 0;
CREATE TABLE service_principals (
    object_id      TEXT PRIMARY KEY REFERENCES principals(object_id),
    application_id TEXT NOT NULL
);
"#,
    r#"
ALTER TABLE vaults ADD COLUMN access_policies TEXT NOT NULL DEFAULT '[]';
"#,
    // Assignments at a tenant's scope have no vault; custom roles belong to a tenant.
    r#"
CREATE TABLE role_assignments_by_tenant (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    vault_id     TEXT REFERENCES vaults(id),
    principal_id TEXT NOT NULL,
    role_id      TEXT NOT NULL,
    scope        TEXT NOT NULL,
    provisioned  INTEGER NOT NULL
);
INSERT INTO role_assignments_by_tenant
    SELECT a.id, v.tenant_id, a.vault_id, a.principal_id, a.role_id, a.scope, a.provisioned
    FROM role_assignments a JOIN vaults v ON v.id = a.vault_id;
DROP TABLE role_assignments;
ALTER TABLE role_assignments_by_tenant RENAME TO role_assignments;
CREATE TABLE role_definitions (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    name_key   TEXT NOT NULL,
    definition TEXT NOT NULL,
    UNIQUE (tenant_id, name_key)
);
"#,
    // Secrets, keys and certificates share one pair of tables; `scope` is `{vault id}/{collection}`.
    r#"
CREATE TABLE objects (
    scope           TEXT NOT NULL,
    vault_id        TEXT NOT NULL REFERENCES vaults(id),
    name_key        TEXT NOT NULL,
    name            TEXT NOT NULL,
    deleted_at      INTEGER,
    scheduled_purge INTEGER,
    PRIMARY KEY (scope, name_key)
);
INSERT INTO objects (scope, vault_id, name_key, name, deleted_at, scheduled_purge)
    SELECT vault_id || '/secrets', vault_id, name_key, name, deleted_at, scheduled_purge FROM secrets;
CREATE TABLE object_versions (
    scope        TEXT NOT NULL,
    vault_id     TEXT NOT NULL REFERENCES vaults(id),
    name_key     TEXT NOT NULL,
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    sealed_value BLOB NOT NULL,
    content_type TEXT,
    tags         TEXT NOT NULL,
    enabled      INTEGER NOT NULL,
    nbf          INTEGER,
    exp          INTEGER,
    created      INTEGER NOT NULL,
    updated      INTEGER NOT NULL,
    PRIMARY KEY (scope, name_key, version),
    UNIQUE (scope, name_key, seq)
);
INSERT INTO object_versions
    SELECT vault_id || '/secrets', vault_id, name_key, name, version, seq, sealed_value, content_type, tags, enabled,
           nbf, exp, created, updated
    FROM secret_versions;
DROP INDEX secrets_purge;
DROP TABLE secret_versions;
DROP TABLE secrets;
CREATE INDEX objects_purge ON objects (scheduled_purge) WHERE deleted_at IS NOT NULL;
"#,
    // A policy kept with an object: a key's rotation policy, a certificate's policy.
    "ALTER TABLE objects ADD COLUMN policy TEXT;",
];

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

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
    root_key: Arc<RootKey>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, migrates it, and seals with `root_key`.
    pub fn open(path: &Path, root_key: RootKey) -> Result<Self> {
        let context = format!("opening {}", path.display());
        let mut connection = Connection::open(path).context(&context)?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                 PRAGMA busy_timeout = 5000;",
            )
            .context(&context)?;
        migrate(&mut connection)?;
        Ok(Self { connection: Arc::new(Mutex::new(connection)), root_key: Arc::new(root_key) })
    }

    /// Runs `work` with the connection on the blocking pool.
    async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &RootKey) -> Result<T> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        let root_key = Arc::clone(&self.root_key);
        tokio::task::spawn_blocking(move || {
            let mut connection = connection
                .lock()
                .map_err(|_| Error::new(ErrorKind::Database, "using the database", "a previous user panicked"))?;
            work(&mut connection, &root_key)
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Database, "running a database task", e))?
    }
}

impl SqliteStore {
    /// Runs `work` in a transaction committed when it succeeds (and rolled back when it fails).
    async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &RootKey) -> Result<T> + Send + 'static,
    {
        self.run(move |connection, root_key| {
            let transaction = connection.transaction().context("starting a write")?;
            let result = work(&transaction, root_key)?;
            transaction.commit().context("committing a write")?;
            Ok(result)
        })
        .await
    }
}

fn migrate(connection: &mut Connection) -> Result<()> {
    let transaction = connection.transaction().context("starting a migration")?;
    transaction
        .execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .context("creating schema_version")?;
    let applied: Option<i64> = transaction
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .context("reading the schema version")?;
    let applied = usize::try_from(applied.unwrap_or(0)).unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(Error::new(
            ErrorKind::Corrupt,
            "opening the database",
            format_args!("its schema version {applied} is newer than this program knows"),
        ));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        transaction.execute_batch(migration).context("migrating the database")?;
        transaction
            .execute("INSERT INTO schema_version (version) VALUES (?1)", [index + 1])
            .context("recording a migration")?;
    }
    transaction.commit().context("committing a migration")
}

fn setting_context(name: &str) -> Vec<u8> {
    format!("setting/{name}").into_bytes()
}

fn uuid_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Uuid> {
    let text: String = row.get(index)?;
    Uuid::parse_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e)))
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Corrupt, "reading stored data", what)
}

fn read_directory(connection: &Connection) -> Result<Directory> {
    let tenants = connection
        .prepare("SELECT id, name FROM tenants ORDER BY name_key")
        .and_then(|mut s| s.query_map([], |r| Ok(Tenant { id: uuid_column(r, 0)?, name: r.get(1)? }))?.collect())
        .context("reading tenants")?;

    type PrincipalRow = (Uuid, Uuid, String, String, Option<String>, bool, bool);
    let principal_rows: Vec<PrincipalRow> = connection
        .prepare(
            "SELECT object_id, tenant_id, kind, name, client_id, trusted_service, multi_tenant FROM principals \
             ORDER BY name_key",
        )
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok((uuid_column(r, 0)?, uuid_column(r, 1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
            })?
            .collect()
        })
        .context("reading principals")?;
    let principals = principal_rows
        .into_iter()
        .map(|(object_id, tenant_id, kind, name, client_id, trusted_service, multi_tenant)| {
            Ok(Principal {
                object_id,
                tenant_id,
                kind: PrincipalKind::parse(&kind).ok_or_else(|| corrupt(format_args!("principal kind {kind}")))?,
                name,
                client_id: client_id.map(|c| Uuid::parse_str(&c)).transpose().map_err(corrupt)?,
                trusted_service,
                multi_tenant,
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let mut client_secrets: HashMap<Uuid, Vec<StoredSecret>> = HashMap::new();
    let secret_rows: Vec<(Uuid, String, Option<i64>)> = connection
        .prepare("SELECT object_id, hash, expires FROM client_secrets")
        .and_then(|mut s| s.query_map([], |r| Ok((uuid_column(r, 0)?, r.get(1)?, r.get(2)?)))?.collect())
        .context("reading client secrets")?;
    for (object_id, hash, expires) in secret_rows {
        client_secrets.entry(object_id).or_default().push(StoredSecret { hash, expires });
    }

    type VaultRow = (Uuid, Uuid, String, String, u32, bool, String, String);
    let vault_rows: Vec<VaultRow> = connection
        .prepare(
            "SELECT id, tenant_id, name, authorization, retention_days, purge_protection, network, access_policies \
             FROM vaults ORDER BY name_key",
        )
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok((
                    uuid_column(r, 0)?,
                    uuid_column(r, 1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })?
            .collect()
        })
        .context("reading vaults")?;
    let vaults = vault_rows
        .into_iter()
        .map(|(id, tenant_id, name, authorization, retention, purge_protection, network, access_policies)| {
            Ok(Vault {
                id,
                tenant_id,
                name,
                authorization: match authorization.as_str() {
                    "rbac" => AuthorizationModel::Rbac,
                    "access_policies" => AuthorizationModel::AccessPolicies,
                    other => return Err(corrupt(format_args!("authorization model {other}"))),
                },
                soft_delete_retention_days: retention,
                purge_protection,
                network: serde_json::from_str(&network).map_err(corrupt)?,
                access_policies: serde_json::from_str(&access_policies).map_err(corrupt)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let definition_rows: Vec<(Uuid, Uuid, String)> = connection
        .prepare("SELECT id, tenant_id, definition FROM role_definitions ORDER BY name_key")
        .and_then(|mut s| s.query_map([], |r| Ok((uuid_column(r, 0)?, uuid_column(r, 1)?, r.get(2)?)))?.collect())
        .context("reading role definitions")?;
    let role_definitions = definition_rows
        .into_iter()
        .map(|(id, tenant_id, json)| {
            let stored: StoredRoleDefinition = serde_json::from_str(&json).map_err(corrupt)?;
            let role = RoleDefinition::custom(tenant_id, id, &stored.name, &stored.description, stored.permissions)
                .map_err(corrupt)?;
            Ok(Role::new(role))
        })
        .collect::<Result<Vec<_>>>()?;

    let mut directory = Directory { role_definitions, ..Directory::default() };
    type AssignmentRow = (Uuid, Uuid, Option<String>, Uuid, String, String, bool);
    let assignment_rows: Vec<AssignmentRow> = connection
        .prepare(
            "SELECT id, tenant_id, vault_id, principal_id, role_id, scope, provisioned FROM role_assignments \
             ORDER BY rowid",
        )
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok((
                    uuid_column(r, 0)?,
                    uuid_column(r, 1)?,
                    r.get(2)?,
                    uuid_column(r, 3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?
            .collect()
        })
        .context("reading role assignments")?;
    for (id, tenant_id, vault_id, principal_id, role_id, scope, provisioned) in assignment_rows {
        let role =
            directory.role(tenant_id, &role_id).cloned().ok_or_else(|| corrupt(format_args!("role {role_id}")))?;
        let vault_id = vault_id.map(|v| Uuid::parse_str(&v)).transpose().map_err(corrupt)?;
        let scope = match vault_id {
            None => Scope::Tenant,
            Some(_) => Scope::parse(&scope).ok_or_else(|| corrupt(format_args!("scope {scope}")))?,
        };
        let assignment = RoleAssignment { id, principal_id, role, scope, provisioned };
        match vault_id {
            Some(vault_id) => directory.role_assignments.entry(vault_id).or_default().push(assignment),
            None => directory.tenant_role_assignments.entry(tenant_id).or_default().push(assignment),
        }
    }

    let managed_identities =
        json_rows(connection, "SELECT object_id, details FROM managed_identities", "reading managed identities")?;
    let application_credentials = json_rows(
        connection,
        "SELECT object_id, credentials FROM application_credentials",
        "reading application credentials",
    )?;
    let users = json_rows(connection, "SELECT object_id, details FROM users", "reading users")?;
    let memberships = json_rows(connection, "SELECT member_id, groups FROM memberships", "reading memberships")?;
    let service_principals = json_rows(
        connection,
        "SELECT object_id, application_id FROM service_principals",
        "reading service principals",
    )?;

    Ok(Directory {
        users,
        memberships,
        service_principals,
        tenants,
        principals,
        vaults,
        client_secrets,
        managed_identities,
        application_credentials,
        ..directory
    })
}

/// Rows of (object id, JSON) as a map.
fn json_rows<T: serde::de::DeserializeOwned>(
    connection: &Connection,
    sql: &str,
    context: &str,
) -> Result<HashMap<Uuid, T>> {
    let rows: Vec<(Uuid, String)> = connection
        .prepare(sql)
        .and_then(|mut s| s.query_map([], |r| Ok((uuid_column(r, 0)?, r.get(1)?)))?.collect())
        .context(context)?;
    rows.into_iter().map(|(id, json)| Ok((id, serde_json::from_str(&json).map_err(corrupt)?))).collect()
}

/// Inserts or replaces the JSON of `value` under `id` in `table` (whose columns are `key_column`, `value_column`).
fn put_json(
    transaction: &Transaction<'_>,
    table: &str,
    columns: (&str, &str),
    id: Uuid,
    value: &impl serde::Serialize,
) -> Result<()> {
    let json = serde_json::to_string(value)
        .map_err(|e| Error::new(ErrorKind::Corrupt, format_args!("encoding {table}"), e))?;
    let (key, column) = columns;
    transaction
        .execute(
            &format!(
                "INSERT INTO {table} ({key}, {column}) VALUES (?1, ?2) ON CONFLICT ({key}) DO UPDATE SET {column} = ?2"
            ),
            params![id.to_string(), json],
        )
        .map(drop)
        .context(&format!("storing {table}"))
}

/// A custom role as stored: its id and tenant are columns.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredRoleDefinition {
    name: String,
    description: String,
    permissions: RolePermissions,
}

fn insert_role_assignment(
    transaction: &Transaction<'_>,
    tenant_id: Uuid,
    vault_id: Option<Uuid>,
    a: &RoleAssignment,
) -> Result<()> {
    transaction
        .execute(
            "INSERT INTO role_assignments (id, tenant_id, vault_id, principal_id, role_id, scope, provisioned) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                a.id.to_string(),
                tenant_id.to_string(),
                vault_id.map(|v| v.to_string()),
                a.principal_id.to_string(),
                a.role.id.to_string(),
                a.scope.relative_path(),
                a.provisioned
            ],
        )
        .map(drop)
        .context("adding a role assignment")
}

/// Removes every trace of a principal: its row, credentials, details, memberships (its own, and as a group
/// of others) and role assignments.
fn delete_principal(transaction: &Transaction<'_>, object_id: Uuid) -> Result<()> {
    let id = object_id.to_string();
    for (table, column) in [
        ("client_secrets", "object_id"),
        ("managed_identities", "object_id"),
        ("application_credentials", "object_id"),
        ("users", "object_id"),
        ("memberships", "member_id"),
        ("service_principals", "object_id"),
        ("role_assignments", "principal_id"),
        ("principals", "object_id"),
    ] {
        transaction
            .execute(&format!("DELETE FROM {table} WHERE {column} = ?1"), [&id])
            .context(&format!("deleting a principal from {table}"))?;
    }
    let memberships: HashMap<Uuid, Vec<Uuid>> =
        json_rows(transaction, "SELECT member_id, groups FROM memberships", "reading memberships")?;
    for (member, groups) in memberships.into_iter().filter(|(_, groups)| groups.contains(&object_id)) {
        let remaining: Vec<Uuid> = groups.into_iter().filter(|g| *g != object_id).collect();
        put_json(transaction, "memberships", ("member_id", "groups"), member, &remaining)?;
    }
    Ok(())
}

fn apply_change(transaction: &Transaction<'_>, root_key: &RootKey, change: &Change) -> Result<()> {
    match change {
        Change::CreateTenant(tenant) => transaction
            .execute(
                "INSERT INTO tenants (id, name, name_key) VALUES (?1, ?2, ?3)",
                params![tenant.id.to_string(), tenant.name, tenant.name.to_ascii_lowercase()],
            )
            .map(drop)
            .context("creating a tenant"),
        Change::CreatePrincipal(p) => transaction
            .execute(
                "INSERT INTO principals (object_id, tenant_id, kind, name, name_key, client_id, trusted_service, \
                 multi_tenant) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    p.object_id.to_string(),
                    p.tenant_id.to_string(),
                    p.kind.as_str(),
                    p.name,
                    p.name.to_ascii_lowercase(),
                    p.client_id.map(|c| c.to_string()),
                    p.trusted_service,
                    p.multi_tenant
                ],
            )
            .map(drop)
            .context("creating a principal"),
        Change::PutManagedIdentity { object_id, details } => {
            put_json(transaction, "managed_identities", ("object_id", "details"), *object_id, details)
        }
        Change::PutApplicationCredentials { object_id, credentials } => {
            put_json(transaction, "application_credentials", ("object_id", "credentials"), *object_id, credentials)
        }
        Change::PutUser { object_id, user } => {
            put_json(transaction, "users", ("object_id", "details"), *object_id, user)
        }
        Change::PutMemberships { member, groups } => {
            put_json(transaction, "memberships", ("member_id", "groups"), *member, groups)
        }
        Change::PutServicePrincipal { object_id, application } => {
            put_json(transaction, "service_principals", ("object_id", "application_id"), *object_id, application)
        }
        Change::UpdatePrincipal(p) => transaction
            .execute(
                "UPDATE principals SET trusted_service = ?2, multi_tenant = ?3 WHERE object_id = ?1",
                params![p.object_id.to_string(), p.trusted_service, p.multi_tenant],
            )
            .map(drop)
            .context("updating a principal"),
        Change::AddClientSecret { object_id, secret } => transaction
            .execute(
                "INSERT INTO client_secrets (object_id, hash, expires) VALUES (?1, ?2, ?3)",
                params![object_id.to_string(), secret.hash, secret.expires],
            )
            .map(drop)
            .context("adding a client secret"),
        Change::RemoveClientSecret { object_id, hash } => transaction
            .execute(
                "DELETE FROM client_secrets WHERE object_id = ?1 AND hash = ?2",
                params![object_id.to_string(), hash],
            )
            .map(drop)
            .context("removing a client secret"),
        Change::PutVault(vault) => {
            let network = serde_json::to_string(&vault.network)
                .map_err(|e| Error::new(ErrorKind::Corrupt, "encoding network rules", e))?;
            let access_policies = serde_json::to_string(&vault.access_policies)
                .map_err(|e| Error::new(ErrorKind::Corrupt, "encoding access policies", e))?;
            let authorization = match vault.authorization {
                AuthorizationModel::Rbac => "rbac",
                AuthorizationModel::AccessPolicies => "access_policies",
            };
            transaction
                .execute(
                    "INSERT INTO vaults (id, tenant_id, name, name_key, authorization, retention_days, \
                     purge_protection, network, access_policies) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                     ON CONFLICT (id) DO UPDATE SET authorization = ?5, retention_days = ?6, \
                     purge_protection = ?7, network = ?8, access_policies = ?9",
                    params![
                        vault.id.to_string(),
                        vault.tenant_id.to_string(),
                        vault.name,
                        vault.name.to_ascii_lowercase(),
                        authorization,
                        vault.soft_delete_retention_days,
                        vault.purge_protection,
                        network,
                        access_policies
                    ],
                )
                .map(drop)
                .context("storing a vault")
        }
        Change::ReplaceRoleAssignments { tenant_id, vault_id, assignments } => {
            transaction
                .execute(
                    "DELETE FROM role_assignments WHERE tenant_id = ?1 AND vault_id IS ?2 AND provisioned = 1",
                    params![tenant_id.to_string(), vault_id.map(|v| v.to_string())],
                )
                .context("replacing role assignments")?;
            assignments.iter().try_for_each(|a| insert_role_assignment(transaction, *tenant_id, *vault_id, a))
        }
        Change::PutRoleAssignment { tenant_id, vault_id, assignment } => {
            insert_role_assignment(transaction, *tenant_id, *vault_id, assignment)
        }
        Change::DeleteRoleAssignment { id } => transaction
            .execute("DELETE FROM role_assignments WHERE id = ?1", [id.to_string()])
            .map(drop)
            .context("removing a role assignment"),
        Change::PutRoleDefinition(role) => {
            let RoleKind::Custom { tenant_id } = role.kind else {
                return Err(Error::new(ErrorKind::Corrupt, "storing a role", "only custom roles are stored"));
            };
            let stored = StoredRoleDefinition {
                name: role.name.clone(),
                description: role.description.clone(),
                permissions: role.permissions.clone(),
            };
            let json = serde_json::to_string(&stored)
                .map_err(|e| Error::new(ErrorKind::Corrupt, "encoding a role definition", e))?;
            transaction
                .execute(
                    "INSERT INTO role_definitions (id, tenant_id, name_key, definition) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (id) DO UPDATE SET name_key = ?3, definition = ?4",
                    params![role.id.to_string(), tenant_id.to_string(), role.name.to_ascii_lowercase(), json],
                )
                .map(drop)
                .context("storing a role definition")
        }
        Change::DeleteRoleDefinition { id } => transaction
            .execute("DELETE FROM role_definitions WHERE id = ?1", [id.to_string()])
            .map(drop)
            .context("removing a role definition"),
        Change::DeletePrincipal { object_id } => delete_principal(transaction, *object_id),
        Change::DeleteVault { vault_id } => {
            let id = vault_id.to_string();
            let objects: i64 = transaction
                .query_row("SELECT COUNT(*) FROM objects WHERE vault_id = ?1", [&id], |r| r.get(0))
                .context("counting a vault's objects")?;
            if objects > 0 {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    "deleting a vault",
                    "the vault still holds objects (live or soft-deleted); delete and purge them first",
                ));
            }
            for sql in ["DELETE FROM role_assignments WHERE vault_id = ?1", "DELETE FROM vaults WHERE id = ?1"] {
                transaction.execute(sql, [&id]).context("deleting a vault")?;
            }
            Ok(())
        }
        Change::SeedSecret { vault_id, version, value } => {
            objects::seed(transaction, root_key, Place::secrets(*vault_id), version, value)
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn load_directory(&self) -> Result<Directory> {
        self.run(|connection, _| read_directory(connection)).await
    }

    async fn apply(&self, changes: Vec<Change>) -> Result<()> {
        self.run(move |connection, root_key| {
            let transaction = connection.transaction().context("starting provisioning")?;
            for change in &changes {
                apply_change(&transaction, root_key, change)?;
            }
            transaction.commit().context("committing provisioning")
        })
        .await
    }

    async fn sealed_setting(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let name = name.to_owned();
        self.run(move |connection, root_key| {
            let sealed: Option<Vec<u8>> = connection
                .query_row("SELECT value FROM settings WHERE name = ?1", [&name], |r| r.get(0))
                .optional()
                .context("reading a setting")?;
            sealed.map(|sealed| root_key.open(&sealed, &setting_context(&name))).transpose()
        })
        .await
    }

    async fn sealed_settings(&self, prefix: &str) -> Result<Vec<(String, Zeroizing<Vec<u8>>)>> {
        let prefix = prefix.to_owned();
        self.run(move |connection, root_key| {
            let rows: Vec<(String, Vec<u8>)> = connection
                .prepare("SELECT name, value FROM settings WHERE substr(name, 1, length(?1)) = ?1 ORDER BY name")
                .and_then(|mut s| s.query_map([&prefix], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
                .context("reading settings")?;
            rows.into_iter()
                .map(|(name, sealed)| {
                    let value = root_key.open(&sealed, &setting_context(&name))?;
                    Ok((name, value))
                })
                .collect()
        })
        .await
    }

    async fn put_sealed_setting(&self, name: &str, value: &[u8]) -> Result<()> {
        let name = name.to_owned();
        let sealed = self.root_key.seal(value, &setting_context(&name))?;
        self.run(move |connection, _| {
            connection
                .execute(
                    "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = ?2",
                    params![name, sealed],
                )
                .map(drop)
                .context("storing a setting")
        })
        .await
    }

    async fn put_version(&self, place: Place, version: &SecretVersion, value: &str) -> Result<SecretVersion> {
        let version = version.clone();
        let value = Zeroizing::new(value.to_owned());
        self.write(move |transaction, root_key| objects::insert_version(transaction, root_key, place, &version, &value))
            .await
    }

    async fn put_linked_versions(
        &self,
        versions: Vec<(Place, SecretVersion, Zeroizing<String>)>,
        policy: Option<(Place, String, String)>,
    ) -> Result<()> {
        self.write(move |transaction, root_key| {
            for (place, version, value) in &versions {
                objects::insert_version(transaction, root_key, *place, version, value)?;
            }
            if let Some((place, name, policy)) = &policy
                && !objects::put_policy(transaction, *place, name, policy)?
            {
                return Err(Error::new(ErrorKind::Corrupt, "keeping a policy", "its object is not live"));
            }
            Ok(())
        })
        .await
    }

    async fn read_version(
        &self,
        place: Place,
        name: &str,
        selector: VersionSelector<'_>,
    ) -> Result<Option<SecretWithValue>> {
        let (name, version) = (name.to_owned(), owned_selector(selector));
        self.run(move |connection, root_key| {
            objects::read_version(connection, root_key, place, &name, version.as_deref())
        })
        .await
    }

    async fn list_objects(&self, place: Place, page: PageRequest<'_>) -> Result<PageResult<SecretVersion>> {
        let (after, limit) = (page.after.map(str::to_owned), page.limit);
        self.run(move |connection, _| objects::list(connection, place, after.as_deref(), limit)).await
    }

    async fn list_versions(
        &self,
        place: Place,
        name: &str,
        page: PageRequest<'_>,
    ) -> Result<PageResult<SecretVersion>> {
        let (name, after, limit) = (name.to_owned(), page.after.map(str::to_owned), page.limit);
        self.run(move |connection, _| objects::list_versions(connection, place, &name, after.as_deref(), limit)).await
    }

    async fn update_version(
        &self,
        place: Place,
        name: &str,
        selector: VersionSelector<'_>,
        update: &SecretUpdate,
        now: i64,
    ) -> Result<Option<SecretVersion>> {
        let (name, version, update) = (name.to_owned(), owned_selector(selector), update.clone());
        self.write(move |transaction, _| objects::update(transaction, place, &name, version.as_deref(), &update, now))
            .await
    }

    async fn delete_object(
        &self,
        places: &[Place],
        name: &str,
        deleted_at: i64,
        purge_at: i64,
    ) -> Result<Option<DeletedSecret>> {
        let (places, name) = (places.to_vec(), name.to_owned());
        self.write(move |transaction, _| {
            linked(&places, |place| objects::soft_delete(transaction, place, &name, deleted_at, purge_at))
        })
        .await
    }

    async fn deleted_object(&self, place: Place, name: &str) -> Result<Option<DeletedSecret>> {
        let name = name.to_owned();
        self.run(move |connection, _| objects::read_deleted(connection, place, &name)).await
    }

    async fn list_deleted(&self, place: Place, page: PageRequest<'_>) -> Result<PageResult<DeletedSecret>> {
        let (after, limit) = (page.after.map(str::to_owned), page.limit);
        self.run(move |connection, _| objects::list_deleted(connection, place, after.as_deref(), limit)).await
    }

    async fn recover_object(&self, places: &[Place], name: &str) -> Result<Option<SecretVersion>> {
        let (places, name) = (places.to_vec(), name.to_owned());
        self.write(move |transaction, _| linked(&places, |place| objects::recover(transaction, place, &name))).await
    }

    async fn purge_object(&self, places: &[Place], name: &str) -> Result<bool> {
        let (places, name) = (places.to_vec(), name.to_owned());
        self.write(move |transaction, _| {
            linked(&places, |place| objects::purge(transaction, place, &name).map(|purged| purged.then_some(())))
        })
        .await
        .map(|purged| purged.is_some())
    }

    async fn purge_expired(&self, now: i64) -> Result<usize> {
        self.write(move |transaction, _| objects::purge_expired(transaction, now)).await
    }

    async fn object_policy(&self, place: Place, name: &str) -> Result<Option<String>> {
        let name = name.to_owned();
        self.run(move |connection, _| objects::policy(connection, place, &name)).await
    }

    async fn put_object_policy(&self, place: Place, name: &str, policy: &str) -> Result<bool> {
        let (name, policy) = (name.to_owned(), policy.to_owned());
        self.write(move |transaction, _| objects::put_policy(transaction, place, &name, &policy)).await
    }

    async fn object_policies(&self, collection: Collection) -> Result<Vec<(Place, String, String)>> {
        self.run(move |connection, _| objects::policies(connection, collection)).await
    }

    async fn history(&self, place: Place, name: &str) -> Result<Option<Vec<SecretWithValue>>> {
        let name = name.to_owned();
        self.run(move |connection, root_key| objects::history(connection, root_key, place, &name)).await
    }

    async fn put_refresh_token(&self, token_hash: &str, grant: &[u8], expires: i64) -> Result<()> {
        let (token_hash, grant) = (token_hash.to_owned(), grant.to_vec());
        self.write(move |transaction, root_key| {
            let sealed = root_key.seal(&grant, format!("refresh/{token_hash}").as_bytes())?;
            transaction
                .execute(
                    "INSERT INTO refresh_tokens (token_hash, grant_data, expires) VALUES (?1, ?2, ?3)",
                    params![token_hash, STANDARD_NO_PAD.encode(sealed), expires],
                )
                .map(drop)
                .context("storing a refresh token")
        })
        .await
    }

    async fn take_refresh_token(&self, token_hash: &str, now: i64) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let token_hash = token_hash.to_owned();
        self.write(move |transaction, root_key| {
            transaction
                .execute("DELETE FROM refresh_tokens WHERE expires < ?1", [now])
                .context("expiring refresh tokens")?;
            let sealed: Option<String> = transaction
                .query_row("SELECT grant_data FROM refresh_tokens WHERE token_hash = ?1", [&token_hash], |r| r.get(0))
                .optional()
                .context("reading a refresh token")?;
            let Some(sealed) = sealed else { return Ok(None) };
            transaction
                .execute("DELETE FROM refresh_tokens WHERE token_hash = ?1", [&token_hash])
                .context("using a refresh token")?;
            let sealed = STANDARD_NO_PAD.decode(sealed).map_err(corrupt)?;
            root_key.open(&sealed, format!("refresh/{token_hash}").as_bytes()).map(Some)
        })
        .await
    }

    async fn restore_object(
        &self,
        objects: Vec<(Place, Vec<SecretWithValue>)>,
        policy: Option<(Place, String, String)>,
    ) -> Result<SecretVersion> {
        self.write(move |transaction, root_key| {
            let mut newest = None;
            for (place, versions) in &objects {
                let restored = objects::restore(transaction, root_key, *place, versions)?;
                newest.get_or_insert(restored);
            }
            if let Some((place, name, policy)) = &policy
                && !objects::put_policy(transaction, *place, name, policy)?
            {
                return Err(Error::new(ErrorKind::Corrupt, "keeping a policy", "its object is not live"));
            }
            newest.ok_or_else(|| Error::new(ErrorKind::Corrupt, "restoring", "nothing to restore"))
        })
        .await
    }
}

fn owned_selector(selector: VersionSelector<'_>) -> Option<String> {
    match selector {
        VersionSelector::Latest => None,
        VersionSelector::Exact(version) => Some(version.to_ascii_lowercase()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use strongroom_core::network::NetworkRules;
    use strongroom_core::secret::{SecretProperties, new_version};

    use super::*;

    fn io(e: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, "test", e)
    }

    /// A store in `dir` with one tenant and one vault (shared by the store's tests).
    pub(crate) async fn store_with_vault(dir: &Path) -> Result<(SqliteStore, Uuid)> {
        let root = RootKey::load_or_create(&dir.join("root.key"))?;
        let store = SqliteStore::open(&dir.join("strongroom.db"), root)?;
        let tenant = Tenant { id: Uuid::new_v4(), name: "t".into() };
        let vault = Vault {
            id: Uuid::new_v4(),
            tenant_id: tenant.id,
            name: "v".into(),
            authorization: AuthorizationModel::Rbac,
            soft_delete_retention_days: 90,
            purge_protection: false,
            network: NetworkRules::default(),
            access_policies: Vec::new(),
        };
        let vault_id = vault.id;
        store.apply(vec![Change::CreateTenant(tenant), Change::PutVault(vault)]).await?;
        Ok((store, vault_id))
    }

    /// A first version of the secret `name`.
    pub(crate) fn version(name: &str) -> SecretVersion {
        SecretVersion {
            name: name.into(),
            version: new_version(),
            properties: SecretProperties::default(),
            created: 1,
            updated: 1,
        }
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
    async fn secrets_list_by_name_with_paging() -> Result<()> {
        let dir = tempfile::tempdir().map_err(io)?;
        let (store, vault) = store_with_vault(dir.path()).await?;
        for name in ["c", "a", "b", "a"] {
            store.put_version(Place::secrets(vault), &version(name), "x").await?;
        }
        let first = store.list_objects(Place::secrets(vault), PageRequest { after: None, limit: 2 }).await?;
        let names: Vec<_> = first.items.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let second =
            store.list_objects(Place::secrets(vault), PageRequest { after: first.next.as_deref(), limit: 2 }).await?;
        assert_eq!(second.items.len(), 1);
        assert_eq!(second.next, None);
        Ok(())
    }

    #[tokio::test]
    async fn a_key_and_a_secret_of_one_name_are_separate_objects() -> Result<()> {
        let dir = tempfile::tempdir().map_err(io)?;
        let (store, vault) = store_with_vault(dir.path()).await?;
        let (secrets, keys) = (Place::secrets(vault), Place::keys(vault));
        store.put_version(secrets, &version("shared"), "secret value").await?;
        store.put_version(keys, &version("shared"), "key material").await?;
        let read = |place| store.read_version(place, "shared", VersionSelector::Latest);
        assert_eq!(read(secrets).await?.map(|(_, v)| v.to_string()).as_deref(), Some("secret value"));
        assert_eq!(read(keys).await?.map(|(_, v)| v.to_string()).as_deref(), Some("key material"));
        store.delete_object(&[keys], "shared", 1, 2).await?;
        assert!(read(keys).await?.is_none());
        assert!(read(secrets).await?.is_some(), "deleting the key leaves the secret");
        let listed = store.list_objects(secrets, PageRequest { after: None, limit: 25 }).await?;
        assert_eq!(listed.items.len(), 1);
        Ok(())
    }

    #[tokio::test]
    async fn deletion_hides_a_secret_until_it_is_recovered_or_purged() -> Result<()> {
        let dir = tempfile::tempdir().map_err(io)?;
        let (store, vault) = store_with_vault(dir.path()).await?;
        store.put_version(Place::secrets(vault), &version("Gone"), "v1").await?;
        let deleted = store
            .delete_object(&[Place::secrets(vault)], "gone", 100, 200)
            .await?
            .ok_or_else(|| corrupt("not deleted"))?;
        assert_eq!(
            (deleted.latest.name.as_str(), deleted.deleted_date, deleted.scheduled_purge_date),
            ("Gone", 100, 200)
        );
        assert!(store.read_version(Place::secrets(vault), "gone", VersionSelector::Latest).await?.is_none());
        assert!(
            store.list_objects(Place::secrets(vault), PageRequest { after: None, limit: 25 }).await?.items.is_empty()
        );
        assert_eq!(
            store.list_deleted(Place::secrets(vault), PageRequest { after: None, limit: 25 }).await?.items.len(),
            1
        );
        let refused = store.put_version(Place::secrets(vault), &version("gone"), "v2").await;
        assert!(refused.is_err_and(|e| e.kind() == ErrorKind::Deleted));
        assert!(store.delete_object(&[Place::secrets(vault)], "gone", 100, 200).await?.is_none());

        assert_eq!(
            store.recover_object(&[Place::secrets(vault)], "gone").await?.map(|v| v.name),
            Some("Gone".to_owned())
        );
        assert!(store.recover_object(&[Place::secrets(vault)], "gone").await?.is_none());
        assert!(!store.purge_object(&[Place::secrets(vault)], "gone").await?, "a live secret is not purged");

        store.delete_object(&[Place::secrets(vault)], "gone", 100, 200).await?;
        assert_eq!(store.purge_expired(199).await?, 0);
        assert_eq!(store.purge_expired(200).await?, 1);
        assert!(store.deleted_object(Place::secrets(vault), "gone").await?.is_none());
        store.put_version(Place::secrets(vault), &version("gone"), "reborn").await?;
        Ok(())
    }

    #[tokio::test]
    async fn restore_recreates_every_version_and_refuses_taken_names() -> Result<()> {
        let dir = tempfile::tempdir().map_err(io)?;
        let (store, vault) = store_with_vault(dir.path()).await?;
        let (first, second) = (version("kept"), version("kept"));
        store.put_version(Place::secrets(vault), &first, "one").await?;
        store.put_version(Place::secrets(vault), &second, "two").await?;
        let history = store.history(Place::secrets(vault), "kept").await?.ok_or_else(|| corrupt("no history"))?;
        assert_eq!(history.len(), 2);

        let taken = store.restore_object(vec![(Place::secrets(vault), history.clone())], None).await;
        assert!(taken.is_err_and(|e| e.kind() == ErrorKind::Conflict));
        store.delete_object(&[Place::secrets(vault)], "kept", 1, 2).await?;
        let deleted = store.restore_object(vec![(Place::secrets(vault), history.clone())], None).await;
        assert!(deleted.is_err_and(|e| e.kind() == ErrorKind::Deleted));
        store.purge_object(&[Place::secrets(vault)], "kept").await?;

        let newest = store.restore_object(vec![(Place::secrets(vault), history)], None).await?;
        assert_eq!(newest.version, second.version);
        let old = store.read_version(Place::secrets(vault), "kept", VersionSelector::Exact(&first.version)).await?;
        assert_eq!(old.map(|(_, v)| v.to_string()).as_deref(), Some("one"));
        Ok(())
    }

    #[tokio::test]
    async fn updates_change_properties_not_values() -> Result<()> {
        let dir = tempfile::tempdir().map_err(io)?;
        let (store, vault) = store_with_vault(dir.path()).await?;
        store.put_version(Place::secrets(vault), &version("u"), "value").await?;
        let update = SecretUpdate { enabled: Some(false), ..Default::default() };
        let updated = store.update_version(Place::secrets(vault), "u", VersionSelector::Latest, &update, 99).await?;
        assert_eq!(updated.map(|v| (v.properties.enabled, v.updated)), Some((false, 99)));
        let (stored, value) = store
            .read_version(Place::secrets(vault), "u", VersionSelector::Latest)
            .await?
            .ok_or_else(|| corrupt("gone"))?;
        assert_eq!((stored.properties.enabled, value.as_str()), (false, "value"));
        assert!(
            store.update_version(Place::secrets(vault), "nope", VersionSelector::Latest, &update, 99).await?.is_none()
        );
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
            let connection = Connection::open(&path).context("opening")?;
            connection.execute_batch(MIGRATIONS[0]).context("schema 1")?;
            connection
                .execute_batch(&format!(
                    "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);\
                     INSERT INTO tenants VALUES ('{tenant}', 't', 't');\
                     INSERT INTO vaults VALUES ('{vault}', '{tenant}', 'v', 'v', 'rbac', 90, 0, \
                       '{{\"default_action\":\"allow\",\"ip_rules\":[]}}');",
                    tenant = Uuid::new_v4()
                ))
                .context("old rows")?;
            let sealed = root.seal(b"old-value", format!("secret/{vault}/old/{version}").as_bytes())?;
            connection
                .execute(
                    "INSERT INTO secret_versions VALUES (?1, 'old', 'Old', ?2, 1, ?3, NULL, '{}', 1, NULL, NULL, 1, 1)",
                    params![vault.to_string(), version, sealed],
                )
                .context("old secret")?;
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
}
