//! The schema, as a list of migrations per dialect, and the migration runner both use.
//!
//! SQLite's list is the history of the embedded store since its first release. PostgreSQL's starts at today's
//! schema in one step; from here on, a change adds one migration to each list.

use super::{Database, Dialect, values};
use crate::error::{DatabaseContext, Error, ErrorKind, Result};

/// The statement that moves a key's or a certificate's metadata out of `content_type`, where schemas before
/// the `metadata` column kept it, and clears the content type it occupied (keys and certificates have none of
/// their own). A macro so that both dialects' migrations and the import of an older store copy say it once.
macro_rules! metadata_out_of_content_type {
    () => {
        "UPDATE object_versions SET metadata = content_type, content_type = NULL \
         WHERE metadata IS NULL AND (scope LIKE '%/keys' OR scope LIKE '%/certificates')"
    };
}

/// [`metadata_out_of_content_type!`] as a statement.
pub(crate) const METADATA_OUT_OF_CONTENT_TYPE: &str = metadata_out_of_content_type!();

/// The migration that gives versions their `metadata` column, the same in both dialects.
pub(super) const METADATA_COLUMN: &str =
    concat!("ALTER TABLE object_versions ADD COLUMN metadata TEXT;\n", metadata_out_of_content_type!(), ";");

/// The dialect's expression for a new random GUID: SQLite makes a version-4 one from random bytes.
macro_rules! new_guid {
    (sqlite) => {
        "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-a' || \
         substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))"
    };
    (postgres) => {
        "gen_random_uuid()::text"
    };
}

/// Gives every tenant without a subscription one of its own (`Strongroom`, its default, with an id made here),
/// every subscription its `strongroom` resource group, and files every vault without a subscription in its
/// tenant's default one: what the step that brought subscriptions does to an older store, and what importing
/// a copy made before them does.
macro_rules! file_vaults_in_subscriptions {
    ($dialect:ident) => {
        concat!(
            "INSERT INTO subscriptions (id, tenant_id, name, is_default) SELECT ",
            new_guid!($dialect),
            ", t.id, 'Strongroom', 1 FROM tenants t \
             WHERE NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.tenant_id = t.id);\n",
            "INSERT INTO resource_groups (subscription_id, name_key, name, location, tags) \
             SELECT s.id, 'strongroom', 'strongroom', 'local', '{}' FROM subscriptions s \
             WHERE NOT EXISTS (SELECT 1 FROM resource_groups g WHERE g.subscription_id = s.id AND g.name_key = 'strongroom');\n",
            "UPDATE vaults SET subscription_id = (SELECT s.id FROM subscriptions s WHERE s.tenant_id = vaults.tenant_id \
             ORDER BY s.is_default DESC LIMIT 1) WHERE subscription_id IS NULL;\n"
        )
    };
}

/// [`file_vaults_in_subscriptions!`] for SQLite.
pub(crate) const SQLITE_FILE_VAULTS_IN_SUBSCRIPTIONS: &str = file_vaults_in_subscriptions!(sqlite);

/// [`file_vaults_in_subscriptions!`] for PostgreSQL.
pub(crate) const POSTGRES_FILE_VAULTS_IN_SUBSCRIPTIONS: &str = file_vaults_in_subscriptions!(postgres);

/// The tables of subscriptions and resource groups, and what vaults learn with them (where they are filed,
/// location, SKU, tags, soft deletion); `$integer` is the dialect's integer type.
macro_rules! subscriptions_and_resource_groups {
    ($integer:literal) => {
        concat!(
            "CREATE TABLE subscriptions (\n",
            "    id         TEXT PRIMARY KEY,\n",
            "    tenant_id  TEXT NOT NULL REFERENCES tenants(id),\n",
            "    name       TEXT NOT NULL,\n",
            "    is_default ",
            $integer,
            " NOT NULL\n",
            ");\n",
            "CREATE TABLE resource_groups (\n",
            "    subscription_id TEXT NOT NULL REFERENCES subscriptions(id),\n",
            "    name_key        TEXT NOT NULL,\n",
            "    name            TEXT NOT NULL,\n",
            "    location        TEXT NOT NULL,\n",
            "    tags            TEXT NOT NULL,\n",
            "    PRIMARY KEY (subscription_id, name_key)\n",
            ");\n",
            "ALTER TABLE vaults ADD COLUMN subscription_id TEXT REFERENCES subscriptions(id);\n",
            "ALTER TABLE vaults ADD COLUMN resource_group TEXT NOT NULL DEFAULT 'strongroom';\n",
            "ALTER TABLE vaults ADD COLUMN location TEXT NOT NULL DEFAULT 'local';\n",
            "ALTER TABLE vaults ADD COLUMN sku TEXT NOT NULL DEFAULT 'standard';\n",
            "ALTER TABLE vaults ADD COLUMN tags TEXT NOT NULL DEFAULT '{}';\n",
            "ALTER TABLE vaults ADD COLUMN deleted_at ",
            $integer,
            ";\n",
            "ALTER TABLE vaults ADD COLUMN scheduled_purge ",
            $integer,
            ";\n",
        )
    };
}

/// The event outbox's tables (see `events`); `$integer` is the dialect's integer type.
macro_rules! event_outbox {
    ($integer:literal) => {
        concat!(
            "CREATE TABLE event_subscriptions (\n",
            "    vault_id   TEXT NOT NULL,\n",
            "    name_key   TEXT NOT NULL,\n",
            "    definition TEXT NOT NULL,\n",
            "    PRIMARY KEY (vault_id, name_key)\n",
            ");\n",
            "CREATE TABLE event_outbox (\n",
            "    vault_id     TEXT NOT NULL,\n",
            "    subscription TEXT NOT NULL,\n",
            "    event_id     TEXT NOT NULL,\n",
            "    event        TEXT NOT NULL,\n",
            "    enqueued     ",
            $integer,
            " NOT NULL,\n",
            "    due          ",
            $integer,
            " NOT NULL,\n",
            "    lease_until  ",
            $integer,
            " NOT NULL DEFAULT 0,\n",
            "    attempts     ",
            $integer,
            " NOT NULL DEFAULT 0,\n",
            "    dead_at      ",
            $integer,
            ",\n",
            "    last_error   TEXT,\n",
            "    PRIMARY KEY (vault_id, subscription, event_id)\n",
            ");\n",
            "CREATE INDEX event_outbox_due ON event_outbox (due) WHERE dead_at IS NULL;\n",
            "CREATE TABLE event_marks (\n",
            "    scope    TEXT NOT NULL,\n",
            "    vault_id TEXT NOT NULL,\n",
            "    name_key TEXT NOT NULL,\n",
            "    version  TEXT NOT NULL,\n",
            "    change   TEXT NOT NULL,\n",
            "    PRIMARY KEY (scope, name_key, version, change)\n",
            ");\n",
        )
    };
}

/// Managed HSMs: the vault's kind, and the HSM a custom role belongs to (the same SQL in both dialects).
const MANAGED_HSMS: &str = r#"
ALTER TABLE vaults ADD COLUMN kind TEXT NOT NULL DEFAULT 'vault';
ALTER TABLE role_definitions ADD COLUMN vault_id TEXT REFERENCES vaults(id);
"#;

/// SQLite's migrations, applied in order; the database records how many have run.
pub(crate) const SQLITE: &[&str] = &[
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
    // Short-lived state every node sees: pending sign-ins, used assertion ids.
    "CREATE TABLE ephemera (kind TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, expires INTEGER NOT NULL, \
     PRIMARY KEY (kind, key));",
    // 13: a key's or a certificate's metadata in a column of its own, no longer in `content_type`.
    METADATA_COLUMN,
    // 14 (SQLite) / 4 (PostgreSQL): a vault's certificate data in tables of their own (before: sealed settings named by vault); the records
    // are moved by `certificate_data::move_from_settings`, which needs the root key.
    r#"
CREATE TABLE certificate_contacts (
    vault_id     TEXT PRIMARY KEY REFERENCES vaults(id),
    sealed_value BLOB NOT NULL
);
CREATE TABLE certificate_issuers (
    vault_id     TEXT NOT NULL REFERENCES vaults(id),
    name_key     TEXT NOT NULL,
    name         TEXT NOT NULL,
    sealed_value BLOB NOT NULL,
    PRIMARY KEY (vault_id, name_key)
);
CREATE TABLE pending_certificates (
    vault_id     TEXT NOT NULL REFERENCES vaults(id),
    name_key     TEXT NOT NULL,
    name         TEXT NOT NULL,
    sealed_value BLOB NOT NULL,
    PRIMARY KEY (vault_id, name_key)
);
"#,
    // 15 (SQLite) / 5 (PostgreSQL): subscriptions and resource groups; vaults filed in them, with a location,
    // a SKU, tags and soft deletion.
    concat!(subscriptions_and_resource_groups!("INTEGER"), file_vaults_in_subscriptions!(sqlite)),
    // 16 (SQLite) / 6 (PostgreSQL): the event outbox, its subscriptions and its per-version markers.
    event_outbox!("INTEGER"), // 17 (SQLite) / 7 (PostgreSQL): Managed HSMs are vaults of another kind, and define custom roles of their
    // own (a role definition with a `vault_id` is that HSM's).
    MANAGED_HSMS,
];

/// PostgreSQL's migrations. Integers (and flags) are `BIGINT`, bytes `BYTEA`; `role_assignments.rowid` keeps
/// insertion order as SQLite's rowid does.
pub(crate) const POSTGRES: &[&str] = &[
    r#"
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
CREATE TABLE tenants (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE
);
CREATE TABLE principals (
    object_id       TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    kind            TEXT NOT NULL,
    name            TEXT NOT NULL,
    name_key        TEXT NOT NULL,
    client_id       TEXT,
    trusted_service BIGINT NOT NULL DEFAULT 0,
    multi_tenant    BIGINT NOT NULL DEFAULT 0,
    UNIQUE (tenant_id, kind, name_key)
);
CREATE TABLE client_secrets (
    object_id TEXT NOT NULL REFERENCES principals(object_id),
    hash      TEXT NOT NULL,
    expires   BIGINT,
    PRIMARY KEY (object_id, hash)
);
CREATE TABLE managed_identities (
    object_id TEXT PRIMARY KEY REFERENCES principals(object_id),
    details   TEXT NOT NULL
);
CREATE TABLE application_credentials (
    object_id   TEXT PRIMARY KEY REFERENCES principals(object_id),
    credentials TEXT NOT NULL
);
CREATE TABLE users (
    object_id TEXT PRIMARY KEY REFERENCES principals(object_id),
    details   TEXT NOT NULL
);
CREATE TABLE memberships (
    member_id TEXT PRIMARY KEY REFERENCES principals(object_id),
    groups    TEXT NOT NULL
);
CREATE TABLE service_principals (
    object_id      TEXT PRIMARY KEY REFERENCES principals(object_id),
    application_id TEXT NOT NULL
);
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_data TEXT NOT NULL,
    expires    BIGINT NOT NULL
);
CREATE TABLE vaults (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    name             TEXT NOT NULL,
    name_key         TEXT NOT NULL UNIQUE,
    "authorization"  TEXT NOT NULL,
    retention_days   BIGINT NOT NULL,
    purge_protection BIGINT NOT NULL,
    network          TEXT NOT NULL,
    access_policies  TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE role_assignments (
    rowid        BIGSERIAL,
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    vault_id     TEXT REFERENCES vaults(id),
    principal_id TEXT NOT NULL,
    role_id      TEXT NOT NULL,
    scope        TEXT NOT NULL,
    provisioned  BIGINT NOT NULL
);
CREATE TABLE role_definitions (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    name_key   TEXT NOT NULL,
    definition TEXT NOT NULL,
    UNIQUE (tenant_id, name_key)
);
CREATE TABLE objects (
    scope           TEXT NOT NULL,
    vault_id        TEXT NOT NULL REFERENCES vaults(id),
    name_key        TEXT NOT NULL,
    name            TEXT NOT NULL,
    deleted_at      BIGINT,
    scheduled_purge BIGINT,
    policy          TEXT,
    PRIMARY KEY (scope, name_key)
);
CREATE INDEX objects_purge ON objects (scheduled_purge) WHERE deleted_at IS NOT NULL;
CREATE TABLE object_versions (
    scope        TEXT NOT NULL,
    vault_id     TEXT NOT NULL REFERENCES vaults(id),
    name_key     TEXT NOT NULL,
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    sealed_value BYTEA NOT NULL,
    content_type TEXT,
    tags         TEXT NOT NULL,
    enabled      BIGINT NOT NULL,
    nbf          BIGINT,
    exp          BIGINT,
    created      BIGINT NOT NULL,
    updated      BIGINT NOT NULL,
    PRIMARY KEY (scope, name_key, version),
    UNIQUE (scope, name_key, seq)
);
"#,
    "CREATE TABLE ephemera (kind TEXT NOT NULL, key TEXT NOT NULL, value BYTEA NOT NULL, expires BIGINT NOT NULL, \
     PRIMARY KEY (kind, key));",
    // 3: a key's or a certificate's metadata in a column of its own, no longer in `content_type`.
    METADATA_COLUMN,
    // 14 (SQLite) / 4 (PostgreSQL): a vault's certificate data in tables of their own (before: sealed settings named by vault); the records
    // are moved by `certificate_data::move_from_settings`, which needs the root key.
    r#"
CREATE TABLE certificate_contacts (
    vault_id     TEXT PRIMARY KEY REFERENCES vaults(id),
    sealed_value BYTEA NOT NULL
);
CREATE TABLE certificate_issuers (
    vault_id     TEXT NOT NULL REFERENCES vaults(id),
    name_key     TEXT NOT NULL,
    name         TEXT NOT NULL,
    sealed_value BYTEA NOT NULL,
    PRIMARY KEY (vault_id, name_key)
);
CREATE TABLE pending_certificates (
    vault_id     TEXT NOT NULL REFERENCES vaults(id),
    name_key     TEXT NOT NULL,
    name         TEXT NOT NULL,
    sealed_value BYTEA NOT NULL,
    PRIMARY KEY (vault_id, name_key)
);
"#,
    // 15 (SQLite) / 5 (PostgreSQL): subscriptions and resource groups; vaults filed in them.
    concat!(subscriptions_and_resource_groups!("BIGINT"), file_vaults_in_subscriptions!(postgres)),
    // 16 (SQLite) / 6 (PostgreSQL): the event outbox, its subscriptions and its per-version markers.
    event_outbox!("BIGINT"), // 17 (SQLite) / 7 (PostgreSQL): Managed HSMs are vaults of another kind, and define custom roles of their
    // own (a role definition with a `vault_id` is that HSM's).
    MANAGED_HSMS,
];

/// Every table with the columns a whole-store copy carries, parents before children (the order it writes
/// them in). `role_assignments` is read in insertion order, which both databases keep as `rowid`.
pub(crate) const TABLES: &[(&str, &[&str])] = &[
    ("settings", &["name", "value"]),
    ("tenants", &["id", "name", "name_key"]),
    (
        "principals",
        &["object_id", "tenant_id", "kind", "name", "name_key", "client_id", "trusted_service", "multi_tenant"],
    ),
    ("client_secrets", &["object_id", "hash", "expires"]),
    ("managed_identities", &["object_id", "details"]),
    ("application_credentials", &["object_id", "credentials"]),
    ("users", &["object_id", "details"]),
    ("memberships", &["member_id", "groups"]),
    ("service_principals", &["object_id", "application_id"]),
    ("refresh_tokens", &["token_hash", "grant_data", "expires"]),
    ("subscriptions", &["id", "tenant_id", "name", "is_default"]),
    ("resource_groups", &["subscription_id", "name_key", "name", "location", "tags"]),
    (
        "vaults",
        &[
            "id",
            "tenant_id",
            "name",
            "name_key",
            "\"authorization\"",
            "retention_days",
            "purge_protection",
            "network",
            "access_policies",
            "subscription_id",
            "resource_group",
            "location",
            "sku",
            "tags",
            "deleted_at",
            "scheduled_purge",
            "kind",
        ],
    ),
    ("certificate_contacts", &["vault_id", "sealed_value"]),
    ("certificate_issuers", &["vault_id", "name_key", "name", "sealed_value"]),
    ("pending_certificates", &["vault_id", "name_key", "name", "sealed_value"]),
    ("role_definitions", &["id", "tenant_id", "name_key", "definition", "vault_id"]),
    ("role_assignments", &["id", "tenant_id", "vault_id", "principal_id", "role_id", "scope", "provisioned"]),
    ("event_subscriptions", &["vault_id", "name_key", "definition"]),
    ("objects", &["scope", "vault_id", "name_key", "name", "deleted_at", "scheduled_purge", "policy"]),
    (
        "object_versions",
        &[
            "scope",
            "vault_id",
            "name_key",
            "name",
            "version",
            "seq",
            "sealed_value",
            "content_type",
            "tags",
            "enabled",
            "nbf",
            "exp",
            "created",
            "updated",
            "metadata",
        ],
    ),
];

/// Brings the schema up to date, in the caller's transaction. On PostgreSQL a transaction-scoped advisory
/// lock makes nodes that start together migrate one after the other (the later ones find nothing to do).
pub(crate) fn migrate(db: &mut dyn Database) -> Result<()> {
    let migrations = match db.dialect() {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => {
            db.execute("SELECT pg_advisory_xact_lock(7405735283950581001)", &[]).context("locking the schema")?;
            POSTGRES
        }
    };
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)", &[])
        .context("creating schema_version")?;
    let applied: Option<i64> = db
        .query_row("SELECT MAX(version) FROM schema_version", &[])
        .context("reading the schema version")?
        .map_or(Ok(None), |r| r.get(0))?;
    let applied = usize::try_from(applied.unwrap_or(0)).unwrap_or(0);
    if applied > migrations.len() {
        return Err(Error::new(
            ErrorKind::Corrupt,
            "opening the database",
            format_args!("its schema version {applied} is newer than this program knows"),
        ));
    }
    for (index, migration) in migrations.iter().enumerate().skip(applied) {
        db.execute_batch(migration).context("migrating the database")?;
        db.execute("INSERT INTO schema_version (version) VALUES (?1)", values![index + 1])
            .context("recording a migration")?;
    }
    Ok(())
}
