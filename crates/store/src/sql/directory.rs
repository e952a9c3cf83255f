//! Tenants, principals, vaults, roles and assignments: read whole into a [`Directory`], changed by
//! provisioning [`Change`]s.

use std::collections::{HashMap, HashSet};

use strongroom_core::credential::StoredSecret;
use strongroom_core::directory::Change;
use strongroom_core::directory::{
    AuthorizationModel, DeletedVault, Directory, Principal, PrincipalKind, ResourceGroup, Sku, Subscription, Tenant,
    Vault, VaultKind,
};
use strongroom_core::rbac::{Role, RoleAssignment, RoleDefinition, RoleKind, RolePermissions, Scope, hsm};
use uuid::Uuid;

use super::{Database, corrupt, objects, values};
use crate::Place;
use crate::error::{DatabaseContext, Error, ErrorKind, Result};
use crate::seal::RootKey;

/// Every row of a query.
fn rows(db: &mut dyn Database, sql: &str, context: &str) -> Result<Vec<super::Row>> {
    db.query(sql, &[]).context(context)
}

pub(super) fn read(db: &mut dyn Database) -> Result<Directory> {
    let tenants = rows(db, "SELECT id, name FROM tenants ORDER BY name_key", "reading tenants")?
        .iter()
        .map(|r| Ok(Tenant { id: r.get(0)?, name: r.get(1)? }))
        .collect::<Result<Vec<_>>>()?;

    let principals = rows(
        db,
        "SELECT object_id, tenant_id, kind, name, client_id, trusted_service, multi_tenant FROM principals \
         ORDER BY name_key",
        "reading principals",
    )?
    .iter()
    .map(|r| {
        let kind: String = r.get(2)?;
        Ok(Principal {
            object_id: r.get(0)?,
            tenant_id: r.get(1)?,
            kind: PrincipalKind::parse(&kind).ok_or_else(|| corrupt(format_args!("principal kind {kind}")))?,
            name: r.get(3)?,
            client_id: r.get(4)?,
            trusted_service: r.get(5)?,
            multi_tenant: r.get(6)?,
        })
    })
    .collect::<Result<Vec<_>>>()?;

    let mut client_secrets: HashMap<Uuid, Vec<StoredSecret>> = HashMap::new();
    for r in rows(db, "SELECT object_id, hash, expires FROM client_secrets", "reading client secrets")? {
        client_secrets.entry(r.get(0)?).or_default().push(StoredSecret { hash: r.get(1)?, expires: r.get(2)? });
    }

    let subscriptions = rows(
        db,
        "SELECT id, tenant_id, name, is_default FROM subscriptions ORDER BY tenant_id, is_default DESC, name",
        "reading subscriptions",
    )?
    .iter()
    .map(|r| Ok(Subscription { id: r.get(0)?, tenant_id: r.get(1)?, name: r.get(2)?, is_default: r.get(3)? }))
    .collect::<Result<Vec<_>>>()?;

    let resource_groups = rows(
        db,
        "SELECT subscription_id, name, location, tags FROM resource_groups ORDER BY subscription_id, name_key",
        "reading resource groups",
    )?
    .iter()
    .map(|r| {
        Ok(ResourceGroup {
            subscription_id: r.get(0)?,
            name: r.get(1)?,
            location: r.get(2)?,
            tags: serde_json::from_str(&r.get::<String>(3)?).map_err(corrupt)?,
        })
    })
    .collect::<Result<Vec<_>>>()?;

    let mut vaults = Vec::new();
    let mut deleted_vaults = Vec::new();
    for r in rows(
        db,
        "SELECT id, tenant_id, name, \"authorization\", retention_days, purge_protection, network, access_policies, \
         subscription_id, resource_group, location, sku, tags, deleted_at, scheduled_purge, kind FROM vaults \
         ORDER BY name_key",
        "reading vaults",
    )? {
        let authorization: String = r.get(3)?;
        let sku: String = r.get(11)?;
        let kind: String = r.get(15)?;
        let vault = Vault {
            id: r.get(0)?,
            kind: VaultKind::parse(&kind).ok_or_else(|| corrupt(format_args!("vault kind {kind}")))?,
            tenant_id: r.get(1)?,
            name: r.get(2)?,
            authorization: match authorization.as_str() {
                "rbac" => AuthorizationModel::Rbac,
                "access_policies" => AuthorizationModel::AccessPolicies,
                other => return Err(corrupt(format_args!("authorization model {other}"))),
            },
            soft_delete_retention_days: r.get(4)?,
            purge_protection: r.get(5)?,
            network: serde_json::from_str(&r.get::<String>(6)?).map_err(corrupt)?,
            access_policies: serde_json::from_str(&r.get::<String>(7)?).map_err(corrupt)?,
            subscription_id: r.get(8)?,
            resource_group: r.get(9)?,
            location: r.get(10)?,
            sku: Sku::parse(&sku).map_err(corrupt)?,
            tags: serde_json::from_str(&r.get::<String>(12)?).map_err(corrupt)?,
        };
        match (r.get::<Option<i64>>(13)?, r.get::<Option<i64>>(14)?) {
            (Some(deleted_at), Some(scheduled_purge)) => {
                deleted_vaults.push(DeletedVault { vault, deleted_at, scheduled_purge })
            }
            _ => vaults.push(vault),
        }
    }

    let role_definitions = rows(
        db,
        "SELECT id, tenant_id, definition, vault_id FROM role_definitions ORDER BY name_key",
        "reading role definitions",
    )?
    .iter()
    .map(|r| {
        let stored: StoredRoleDefinition = serde_json::from_str(&r.get::<String>(2)?).map_err(corrupt)?;
        let (id, tenant_id, permissions) = (r.get(0)?, r.get(1)?, stored.permissions);
        let role = match r.get::<Option<Uuid>>(3)? {
            None => RoleDefinition::custom(tenant_id, id, &stored.name, &stored.description, permissions),
            Some(hsm_id) => hsm::custom_role(tenant_id, hsm_id, id, &stored.name, &stored.description, permissions),
        };
        Ok(Role::new(role.map_err(corrupt)?))
    })
    .collect::<Result<Vec<_>>>()?;

    let hsms: HashSet<Uuid> = vaults
        .iter()
        .chain(deleted_vaults.iter().map(|d| &d.vault))
        .filter(|v| v.kind == VaultKind::ManagedHsm)
        .map(|v| v.id)
        .collect();
    let mut directory = Directory { role_definitions, ..Directory::default() };
    let assignments = rows(
        db,
        "SELECT id, tenant_id, vault_id, principal_id, role_id, scope, provisioned FROM role_assignments \
         ORDER BY rowid",
        "reading role assignments",
    )?;
    for r in assignments {
        let (tenant_id, vault_id, role_id, scope): (Uuid, Option<Uuid>, String, String) =
            (r.get(1)?, r.get(2)?, r.get(4)?, r.get(5)?);
        // A Managed HSM's assignments name its roles; every other one names Azure's or the tenant's.
        let role = match vault_id {
            Some(hsm_id) if hsms.contains(&hsm_id) => directory.hsm_role(hsm_id, &role_id),
            _ => directory.role(tenant_id, &role_id),
        };
        let role = role.cloned().ok_or_else(|| corrupt(format_args!("role {role_id}")))?;
        let scope = match vault_id {
            None => Scope::Tenant,
            Some(_) => Scope::parse(&scope)
                .or_else(|| hsm::parse_scope(&scope))
                .ok_or_else(|| corrupt(format_args!("scope {scope}")))?,
        };
        let assignment = RoleAssignment { id: r.get(0)?, principal_id: r.get(3)?, role, scope, provisioned: r.get(6)? };
        match vault_id {
            Some(vault_id) => directory.role_assignments.entry(vault_id).or_default().push(assignment),
            None => directory.tenant_role_assignments.entry(tenant_id).or_default().push(assignment),
        }
    }

    Ok(Directory {
        users: json_rows(db, "SELECT object_id, details FROM users", "reading users")?,
        memberships: json_rows(db, "SELECT member_id, groups FROM memberships", "reading memberships")?,
        service_principals: json_rows(
            db,
            "SELECT object_id, application_id FROM service_principals",
            "reading service principals",
        )?,
        managed_identities: json_rows(
            db,
            "SELECT object_id, details FROM managed_identities",
            "reading managed identities",
        )?,
        application_credentials: json_rows(
            db,
            "SELECT object_id, credentials FROM application_credentials",
            "reading application credentials",
        )?,
        tenants,
        principals,
        vaults,
        deleted_vaults,
        subscriptions,
        resource_groups,
        client_secrets,
        ..directory
    })
}

/// Rows of (object id, JSON) as a map.
fn json_rows<T: serde::de::DeserializeOwned>(
    db: &mut dyn Database,
    sql: &str,
    context: &str,
) -> Result<HashMap<Uuid, T>> {
    rows(db, sql, context)?
        .iter()
        .map(|r| Ok((r.get(0)?, serde_json::from_str(&r.get::<String>(1)?).map_err(corrupt)?)))
        .collect()
}

fn json(what: &str, value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::new(ErrorKind::Corrupt, format_args!("encoding {what}"), e))
}

/// Inserts or replaces the JSON of `value` under `id` in `table` (whose columns are `key_column`, `value_column`).
fn put_json(
    db: &mut dyn Database,
    table: &str,
    columns: (&str, &str),
    id: Uuid,
    value: &impl serde::Serialize,
) -> Result<()> {
    let (key, column) = columns;
    db.execute(
        &format!(
            "INSERT INTO {table} ({key}, {column}) VALUES (?1, ?2) ON CONFLICT ({key}) DO UPDATE SET {column} = ?2"
        ),
        values![id, json(table, value)?],
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
    db: &mut dyn Database,
    tenant_id: Uuid,
    vault_id: Option<Uuid>,
    a: &RoleAssignment,
) -> Result<()> {
    db.execute(
        "INSERT INTO role_assignments (id, tenant_id, vault_id, principal_id, role_id, scope, provisioned) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        values![
            a.id,
            tenant_id,
            vault_id,
            a.principal_id,
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
fn delete_principal(db: &mut dyn Database, object_id: Uuid) -> Result<()> {
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
        db.execute(&format!("DELETE FROM {table} WHERE {column} = ?1"), values![object_id])
            .context(&format!("deleting a principal from {table}"))?;
    }
    let memberships: HashMap<Uuid, Vec<Uuid>> =
        json_rows(db, "SELECT member_id, groups FROM memberships", "reading memberships")?;
    for (member, groups) in memberships.into_iter().filter(|(_, groups)| groups.contains(&object_id)) {
        let remaining: Vec<Uuid> = groups.into_iter().filter(|g| *g != object_id).collect();
        put_json(db, "memberships", ("member_id", "groups"), member, &remaining)?;
    }
    Ok(())
}

/// Removes a vault for good: its objects and their versions, its certificate contacts, issuers (sealed
/// passwords) and pending requests (private keys), its role assignments, and its row.
fn purge_vault(db: &mut dyn Database, vault_id: Uuid) -> Result<()> {
    super::certificate_data::delete_vault_data(db, vault_id)?;
    super::events::purge_vault(db, vault_id)?;
    for table in ["object_versions", "objects", "role_assignments", "role_definitions"] {
        db.execute(&format!("DELETE FROM {table} WHERE vault_id = ?1"), values![vault_id])
            .context(&format!("purging a vault's {table}"))?;
    }
    db.execute("DELETE FROM vaults WHERE id = ?1", values![vault_id]).context("purging a vault").map(drop)
}

/// Refuses a write that changed no row: its `WHERE` found the id taken by another tenant, or the row not in
/// the state the change expects.
fn one_row_written(written: u64, context: &str, reason: &'static str) -> Result<()> {
    match written {
        1 => Ok(()),
        _ => Err(Error::new(ErrorKind::Conflict, context, reason)),
    }
}

pub(super) fn apply(db: &mut dyn Database, root_key: &RootKey, change: &Change) -> Result<()> {
    match change {
        Change::CreateTenant(tenant) => db
            .execute(
                "INSERT INTO tenants (id, name, name_key) VALUES (?1, ?2, ?3)",
                values![tenant.id, &tenant.name, tenant.name.to_ascii_lowercase()],
            )
            .context("creating a tenant")
            .map(drop),
        Change::PutSubscription(subscription) => {
            let written = db
                .execute(
                    "INSERT INTO subscriptions (id, tenant_id, name, is_default) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (id) DO UPDATE SET name = ?3, is_default = ?4 \
                     WHERE subscriptions.tenant_id = excluded.tenant_id",
                    values![subscription.id, subscription.tenant_id, &subscription.name, subscription.is_default],
                )
                .context("storing a subscription")?;
            one_row_written(written, "storing a subscription", "the subscription id belongs to another tenant")
        }
        Change::PutResourceGroup(group) => db
            .execute(
                "INSERT INTO resource_groups (subscription_id, name_key, name, location, tags) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (subscription_id, name_key) DO UPDATE SET tags = ?5",
                values![
                    group.subscription_id,
                    group.name.to_ascii_lowercase(),
                    &group.name,
                    &group.location,
                    json("resource group tags", &group.tags)?
                ],
            )
            .context("storing a resource group")
            .map(drop),
        Change::DeleteResourceGroup { subscription_id, name } => {
            let key = name.to_ascii_lowercase();
            let live: i64 = db
                .query_row(
                    "SELECT COUNT(*) FROM vaults WHERE subscription_id = ?1 AND lower(resource_group) = ?2 \
                     AND deleted_at IS NULL",
                    values![*subscription_id, &key],
                )
                .context("counting a resource group's vaults")?
                .map_or(Ok(0), |r| r.get(0))?;
            if live > 0 {
                return Err(Error::new(ErrorKind::Conflict, "deleting a resource group", "it still holds vaults"));
            }
            db.execute(
                "DELETE FROM resource_groups WHERE subscription_id = ?1 AND name_key = ?2",
                values![*subscription_id, key],
            )
            .context("deleting a resource group")
            .map(drop)
        }
        Change::CreatePrincipal(p) => db
            .execute(
                "INSERT INTO principals (object_id, tenant_id, kind, name, name_key, client_id, trusted_service, \
                 multi_tenant) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                values![
                    p.object_id,
                    p.tenant_id,
                    p.kind.as_str(),
                    &p.name,
                    p.name.to_ascii_lowercase(),
                    p.client_id,
                    p.trusted_service,
                    p.multi_tenant
                ],
            )
            .context("creating a principal")
            .map(drop),
        Change::PutManagedIdentity { object_id, details } => {
            put_json(db, "managed_identities", ("object_id", "details"), *object_id, details)
        }
        Change::PutApplicationCredentials { object_id, credentials } => {
            put_json(db, "application_credentials", ("object_id", "credentials"), *object_id, credentials)
        }
        Change::PutUser { object_id, user } => put_json(db, "users", ("object_id", "details"), *object_id, user),
        Change::PutMemberships { member, groups } => {
            put_json(db, "memberships", ("member_id", "groups"), *member, groups)
        }
        Change::PutServicePrincipal { object_id, application } => {
            put_json(db, "service_principals", ("object_id", "application_id"), *object_id, application)
        }
        Change::UpdatePrincipal(p) => db
            .execute(
                "UPDATE principals SET trusted_service = ?2, multi_tenant = ?3 WHERE object_id = ?1",
                values![p.object_id, p.trusted_service, p.multi_tenant],
            )
            .context("updating a principal")
            .map(drop),
        Change::AddClientSecret { object_id, secret } => db
            .execute(
                "INSERT INTO client_secrets (object_id, hash, expires) VALUES (?1, ?2, ?3)",
                values![*object_id, &secret.hash, secret.expires],
            )
            .context("adding a client secret")
            .map(drop),
        Change::RemoveClientSecret { object_id, hash } => db
            .execute("DELETE FROM client_secrets WHERE object_id = ?1 AND hash = ?2", values![*object_id, hash])
            .context("removing a client secret")
            .map(drop),
        Change::PutVault(vault) => {
            let authorization = match vault.authorization {
                AuthorizationModel::Rbac => "rbac",
                AuthorizationModel::AccessPolicies => "access_policies",
            };
            let written = db
                .execute(
                    "INSERT INTO vaults (id, tenant_id, name, name_key, \"authorization\", retention_days, \
                 purge_protection, network, access_policies, subscription_id, resource_group, location, sku, tags, \
                 kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
                 ON CONFLICT (id) DO UPDATE SET \"authorization\" = ?5, retention_days = ?6, \
                 purge_protection = ?7, network = ?8, access_policies = ?9, subscription_id = ?10, \
                 resource_group = ?11, location = ?12, sku = ?13, tags = ?14 \
                 WHERE vaults.tenant_id = excluded.tenant_id AND vaults.deleted_at IS NULL",
                    values![
                        vault.id,
                        vault.tenant_id,
                        &vault.name,
                        vault.name.to_ascii_lowercase(),
                        authorization,
                        vault.soft_delete_retention_days,
                        vault.purge_protection,
                        json("network rules", &vault.network)?,
                        json("access policies", &vault.access_policies)?,
                        vault.subscription_id,
                        &vault.resource_group,
                        &vault.location,
                        vault.sku.as_str(),
                        json("vault tags", &vault.tags)?,
                        vault.kind.as_str()
                    ],
                )
                .context("storing a vault")?;
            one_row_written(written, "storing a vault", "the vault id belongs to another tenant or is deleted")
        }
        Change::ReplaceRoleAssignments { tenant_id, vault_id, assignments } => {
            db.execute(
                "DELETE FROM role_assignments WHERE tenant_id = ?1 AND vault_id IS NOT DISTINCT FROM ?2 \
                 AND provisioned = 1",
                values![*tenant_id, *vault_id],
            )
            .context("replacing role assignments")?;
            assignments.iter().try_for_each(|a| insert_role_assignment(db, *tenant_id, *vault_id, a))
        }
        Change::PutRoleAssignment { tenant_id, vault_id, assignment } => {
            insert_role_assignment(db, *tenant_id, *vault_id, assignment)
        }
        Change::DeleteRoleAssignment { id } => db
            .execute("DELETE FROM role_assignments WHERE id = ?1", values![*id])
            .context("removing a role assignment")
            .map(drop),
        Change::PutRoleDefinition(role) => {
            let (tenant_id, hsm_id) = match role.kind {
                RoleKind::Custom { tenant_id } => (tenant_id, None),
                RoleKind::HsmCustom { tenant_id, hsm_id } => (tenant_id, Some(hsm_id)),
                RoleKind::BuiltIn | RoleKind::Directory => {
                    return Err(Error::new(ErrorKind::Corrupt, "storing a role", "only custom roles are stored"));
                }
            };
            // An HSM's role names are its own: the key keeps them apart from the tenant's and other HSMs'.
            let name_key = match hsm_id {
                None => role.name.to_ascii_lowercase(),
                Some(hsm_id) => format!("{hsm_id}/{}", role.name.to_ascii_lowercase()),
            };
            let stored = StoredRoleDefinition {
                name: role.name.clone(),
                description: role.description.clone(),
                permissions: role.permissions.clone(),
            };
            // The update applies only to a row of the same tenant: an id of another tenant's role changes
            // nothing and is refused, so no upsert can move or rewrite another tenant's role.
            let written = db
                .execute(
                    "INSERT INTO role_definitions (id, tenant_id, name_key, definition, vault_id) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE SET name_key = ?3, definition = ?4 \
                     WHERE role_definitions.tenant_id = excluded.tenant_id \
                     AND role_definitions.vault_id IS NOT DISTINCT FROM excluded.vault_id",
                    values![role.id, tenant_id, name_key, json("a role definition", &stored)?, hsm_id],
                )
                .context("storing a role definition")?;
            one_row_written(written, "storing a role definition", "the role definition id belongs to another tenant")
        }
        Change::DeleteRoleDefinition { id } => db
            .execute("DELETE FROM role_definitions WHERE id = ?1", values![*id])
            .context("removing a role definition")
            .map(drop),
        Change::DeletePrincipal { object_id } => delete_principal(db, *object_id),
        Change::SoftDeleteVault(deleted) => {
            let written = db
                .execute(
                    "UPDATE vaults SET deleted_at = ?2, scheduled_purge = ?3 WHERE id = ?1 AND deleted_at IS NULL",
                    values![deleted.vault.id, deleted.deleted_at, deleted.scheduled_purge],
                )
                .context("deleting a vault")?;
            one_row_written(written, "deleting a vault", "the vault is not live")
        }
        Change::RecoverVault { vault_id } => {
            let written = db
                .execute(
                    "UPDATE vaults SET deleted_at = NULL, scheduled_purge = NULL WHERE id = ?1 \
                     AND deleted_at IS NOT NULL",
                    values![*vault_id],
                )
                .context("recovering a vault")?;
            one_row_written(written, "recovering a vault", "the vault is not deleted")
        }
        Change::PurgeVault { vault_id } => purge_vault(db, *vault_id),
        Change::RaiseEvent { vault_id, event } => super::events::enqueue(db, *vault_id, event).map(drop),
        Change::SeedSecret { vault_id, version, value } => {
            objects::seed(db, root_key, Place::secrets(*vault_id), version, value)
        }
    }
}
