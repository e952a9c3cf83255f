//! Desired state: what a configuration file (or `strongroom dev`) says should exist, and the plan of changes
//! that brings a directory there. Applying the same desired state twice plans nothing the second time.
//!
//! Provisioning adds and updates; it never deletes a tenant, a principal or a vault that the desired state
//! no longer names, since that would destroy data. What it owns outright — the client secrets and role
//! assignments it declared — it replaces.

use std::collections::HashSet;

use uuid::Uuid;

use crate::credential::{self, DeclaredSecret, StoredSecret, WorkloadSecretKey};
use std::net::IpAddr;

use crate::directory::{
    ApplicationCredentials, AuthorizationModel, Change, DEFAULT_LOCATION, DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_NAME, Directory, ManagedIdentity, ManagedIdentityKind, Principal, PrincipalKind,
    ResourceGroup, Sku, Subscription, Tenant, User, Vault, VaultKind, validate_resource_group_name,
};
use crate::error::{Error, Result};
use crate::network::NetworkRules;
use crate::object::{self, ObjectVersion, VersionProperties};
use crate::policy::{AccessPolicy, MAX_ENTRIES};
use crate::rbac::{Role, RoleAssignment, RoleDefinition, RolePermissions, Scope, find_role};
use crate::secret;

use self::resources::{plan_resource_group, plan_subscriptions, vault_subscription};

/// Everything that should exist.
#[derive(Debug, Clone, Default)]
pub struct DesiredState {
    /// The tenants.
    pub tenants: Vec<DesiredTenant>,
}

/// A tenant and what lives in it.
#[derive(Debug, Clone)]
pub struct DesiredTenant {
    /// Its name.
    pub name: String,
    /// Its id, if fixed; otherwise one is generated once and kept.
    pub id: Option<Uuid>,
    /// Application registrations.
    pub applications: Vec<DesiredApplication>,
    /// Managed identities.
    pub managed_identities: Vec<DesiredManagedIdentity>,
    /// Groups.
    pub groups: Vec<DesiredGroup>,
    /// Users.
    pub users: Vec<DesiredUser>,
    /// Multi-tenant applications of other tenants used here, by client id.
    pub service_principals: Vec<Uuid>,
    /// Custom role definitions.
    pub role_definitions: Vec<DesiredRoleDefinition>,
    /// Role assignments at the tenant's scope: Azure roles over every vault, and directory roles.
    pub role_assignments: Vec<DesiredRoleAssignment>,
    /// Vaults.
    pub vaults: Vec<DesiredVault>,
    /// Subscriptions, the default first; none declared gives the tenant one of its own, made once.
    pub subscriptions: Vec<DesiredSubscription>,
}

/// A subscription of a tenant.
#[derive(Debug, Clone)]
pub struct DesiredSubscription {
    /// Its display name, unique in the tenant.
    pub name: String,
    /// Its id, if fixed; otherwise one is generated once and kept.
    pub id: Option<Uuid>,
}

/// A custom role definition.
#[derive(Debug, Clone)]
pub struct DesiredRoleDefinition {
    /// Its name, unique in the tenant.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// What it grants.
    pub permissions: RolePermissions,
}

/// An application registration with its service principal.
#[derive(Debug, Clone)]
pub struct DesiredApplication {
    /// Its name.
    pub name: String,
    /// Its client id, if fixed; otherwise one is generated once and kept.
    pub client_id: Option<Uuid>,
    /// Its client secrets, in clear: only their hashes are kept.
    pub secrets: Vec<DeclaredSecret>,
    /// Whether it may pass vault firewalls as a trusted service.
    pub trusted_service: bool,
    /// Whether other tenants may use it through a service principal of theirs.
    pub multi_tenant: bool,
    /// Certificate and federated credentials.
    pub credentials: ApplicationCredentials,
}

/// A group.
#[derive(Debug, Clone)]
pub struct DesiredGroup {
    /// Its name.
    pub name: String,
    /// Groups (by name) it is a member of.
    pub member_of: Vec<String>,
}

/// A user.
#[derive(Debug, Clone)]
pub struct DesiredUser {
    /// Its sign-in name in the tenant.
    pub name: String,
    /// Its password, in clear: only its hash is kept.
    pub password: String,
    /// Groups (by name) it is a member of.
    pub groups: Vec<String>,
    /// Whether it may sign in.
    pub enabled: bool,
}

/// A managed identity.
#[derive(Debug, Clone)]
pub struct DesiredManagedIdentity {
    /// Its name; a system-assigned identity's name is its workload's.
    pub name: String,
    /// System- or user-assigned.
    pub kind: ManagedIdentityKind,
    /// Its client id, if fixed; otherwise one is generated once and kept.
    pub client_id: Option<Uuid>,
    /// The workload's secret for the App Service and Azure ML endpoints (system-assigned only).
    pub identity_header: Option<String>,
    /// Addresses that are this workload on the IMDS endpoint (system-assigned only).
    pub source_addresses: Vec<IpAddr>,
    /// Workloads (system-assigned identities, by name) a user-assigned identity is assigned to.
    pub assigned_to: Vec<String>,
}

/// A vault.
#[derive(Debug, Clone)]
pub struct DesiredVault {
    /// Its name.
    pub name: String,
    /// A key vault or a Managed HSM.
    pub kind: VaultKind,
    /// Its permission model.
    pub authorization: AuthorizationModel,
    /// Soft-delete retention, 7..90 days.
    pub soft_delete_retention_days: u32,
    /// Purge protection.
    pub purge_protection: bool,
    /// Firewall rules.
    pub network: NetworkRules,
    /// Role assignments.
    pub role_assignments: Vec<DesiredRoleAssignment>,
    /// Access-policy entries.
    pub access_policies: Vec<DesiredAccessPolicy>,
    /// Secrets created if absent.
    pub secrets: Vec<DesiredSecret>,
    /// The subscription it is filed in, by name or id; the tenant's default when absent.
    pub subscription: Option<String>,
    /// The resource group it is filed in (created if absent).
    pub resource_group: String,
    /// Its pricing tier.
    pub sku: Sku,
    /// A Managed HSM that Strongroom activates at start with a root secret of its own, so that it serves keys
    /// before its security domain is downloaded; otherwise an HSM serves only its security domain until it is
    /// downloaded or uploaded, as in Azure. Always `false` for a vault.
    pub activate: bool,
    /// Its Event Grid event subscriptions (kept apart from the directory: the server stores them after the
    /// plan is applied, once their webhooks pass the validation handshake).
    pub event_subscriptions: Vec<crate::events::EventSubscription>,
}

/// A role assignment naming its principal as the configuration does.
#[derive(Debug, Clone)]
pub struct DesiredRoleAssignment {
    /// A principal of the vault's tenant: name, object id or client id.
    pub principal: String,
    /// The kind the principal must be, when given; a name two kinds share needs it.
    pub principal_type: Option<PrincipalKind>,
    /// The role: a built-in or custom role's name or id.
    pub role: String,
    /// Where it applies.
    pub scope: Scope,
}

/// An access-policy entry naming its principal as the configuration does.
#[derive(Debug, Clone)]
pub struct DesiredAccessPolicy {
    /// A principal of the vault's tenant: name, object id or client id.
    pub principal: String,
    /// The kind the principal must be, when given; a name two kinds share needs it.
    pub principal_type: Option<PrincipalKind>,
    /// Secret permissions.
    pub secrets: Vec<String>,
    /// Key permissions.
    pub keys: Vec<String>,
    /// Certificate permissions.
    pub certificates: Vec<String>,
}

/// A secret to create when the vault does not have it yet.
#[derive(Debug, Clone)]
pub struct DesiredSecret {
    /// The name.
    pub name: String,
    /// The value.
    pub value: String,
}

/// The changes that take `current` to `desired`, at time `now` (Unix seconds). Workload secrets are kept by
/// their keyed hash under `workload_key` besides their Argon2id hash.
pub fn plan(
    current: &Directory,
    desired: &DesiredState,
    now: i64,
    workload_key: &WorkloadSecretKey,
) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    // Every tenant's own principals first, so that service principals can find applications of any tenant.
    let mut tenants = Vec::new();
    for tenant in &desired.tenants {
        let tenant_id = plan_tenant(current, tenant, &mut changes)?;
        let subscriptions = plan_subscriptions(current, tenant_id, &tenant.subscriptions, &mut changes)?;
        let mut principals: Vec<Principal> =
            current.principals().iter().filter(|p| p.tenant_id == tenant_id).cloned().collect();
        for app in &tenant.applications {
            plan_application(current, tenant_id, app, &mut principals, &mut changes)?;
        }
        let identities = &tenant.managed_identities;
        plan_managed_identities(current, tenant_id, identities, workload_key, &mut principals, &mut changes)?;
        plan_users_and_groups(current, tenant_id, tenant, now, &mut principals, &mut changes)?;
        tenants.push((tenant, tenant_id, principals, subscriptions));
    }
    let homes: Vec<Principal> = tenants.iter().flat_map(|(_, _, principals, _)| principals.clone()).collect();
    let mut vault_names = HashSet::new();
    let mut groups: Vec<ResourceGroup> = current.resource_groups.clone();
    for (tenant, tenant_id, principals, subscriptions) in &mut tenants {
        // Every subscription has the default group, where vaults go unless they name another.
        for subscription in subscriptions.iter() {
            plan_resource_group(&mut groups, subscription, DEFAULT_RESOURCE_GROUP, &mut changes)?;
        }
        for client_id in &tenant.service_principals {
            plan_service_principal(current, *tenant_id, *client_id, &homes, principals, &mut changes)?;
        }
        let roles = plan_role_definitions(current, *tenant_id, &tenant.role_definitions, &mut changes)?;
        let cx = AssignmentContext { current, tenant_id: *tenant_id, principals, roles: &roles };
        plan_role_assignments(&cx, None, &tenant.role_assignments, &mut changes)?;
        for vault in &tenant.vaults {
            if !vault_names.insert(vault.name.to_ascii_lowercase()) {
                return Err(Error::invalid_input(format_args!("vault '{}' is declared twice", vault.name)));
            }
            let subscription = vault_subscription(subscriptions, vault)?;
            let group = plan_resource_group(&mut groups, subscription, &vault.resource_group, &mut changes)?;
            plan_vault(&cx, vault, &group, now, &mut changes)?;
        }
    }
    Ok(changes)
}

/// A service principal in `tenant_id` for the multi-tenant application `client_id` of another tenant: same
/// client id and credentials, its own object id (the identity this tenant assigns roles to).
fn plan_service_principal(
    current: &Directory,
    tenant_id: Uuid,
    client_id: Uuid,
    homes: &[Principal],
    principals: &mut Vec<Principal>,
    changes: &mut Vec<Change>,
) -> Result<()> {
    let home = homes
        .iter()
        .find(|p| p.kind == PrincipalKind::Application && p.client_id == Some(client_id) && p.tenant_id != tenant_id)
        .filter(|p| !current.service_principals.contains_key(&p.object_id))
        .ok_or_else(|| {
            Error::invalid_input(format_args!(
                "service principal: no application of another tenant has client id {client_id}"
            ))
        })?;
    if !home.multi_tenant {
        return Err(Error::invalid_input(format_args!(
            "service principal: application '{}' is single-tenant; set sign_in_audience = \"multiple_tenants\" on it",
            home.name
        )));
    }
    let existing = principals.iter().find(|p| p.kind == PrincipalKind::Application && p.client_id == Some(client_id));
    let object_id = match existing {
        Some(existing) => existing.object_id,
        None => {
            let principal = Principal {
                object_id: Uuid::new_v4(),
                tenant_id,
                kind: PrincipalKind::Application,
                name: home.name.clone(),
                client_id: Some(client_id),
                trusted_service: home.trusted_service,
                multi_tenant: false,
            };
            changes.push(Change::CreatePrincipal(principal.clone()));
            principals.push(principal.clone());
            principal.object_id
        }
    };
    if current.service_principals.get(&object_id) != Some(&home.object_id) {
        changes.push(Change::PutServicePrincipal { object_id, application: home.object_id });
    }
    Ok(())
}

fn plan_tenant(current: &Directory, tenant: &DesiredTenant, changes: &mut Vec<Change>) -> Result<Uuid> {
    let existing = current.tenants().iter().find(|t| t.name.eq_ignore_ascii_case(&tenant.name));
    match (existing, tenant.id) {
        (Some(existing), Some(id)) if existing.id != id => Err(Error::invalid_input(format_args!(
            "tenant '{}' already exists with id {}; a tenant's id cannot change",
            tenant.name, existing.id
        ))),
        (Some(existing), _) => Ok(existing.id),
        (None, id) => {
            let id = id.unwrap_or_else(Uuid::new_v4);
            if current.tenant(&id.to_string()).is_some() {
                return Err(Error::invalid_input(format_args!("tenant id {id} is already used by another tenant")));
            }
            changes.push(Change::CreateTenant(Tenant { id, name: tenant.name.clone() }));
            Ok(id)
        }
    }
}

fn plan_application(
    current: &Directory,
    tenant_id: Uuid,
    app: &DesiredApplication,
    principals: &mut Vec<Principal>,
    changes: &mut Vec<Change>,
) -> Result<()> {
    let existing = principals
        .iter()
        .find(|p| p.kind == PrincipalKind::Application && p.name.eq_ignore_ascii_case(&app.name))
        .cloned();
    let principal = match existing {
        Some(existing) => {
            if app.client_id.is_some() && existing.client_id != app.client_id {
                return Err(Error::invalid_input(format_args!(
                    "application '{}' already exists with another client id; a client id cannot change",
                    app.name
                )));
            }
            if existing.trusted_service != app.trusted_service || existing.multi_tenant != app.multi_tenant {
                changes.push(Change::UpdatePrincipal(Principal {
                    trusted_service: app.trusted_service,
                    multi_tenant: app.multi_tenant,
                    ..existing.clone()
                }));
            }
            existing
        }
        None => {
            let principal = Principal {
                object_id: Uuid::new_v4(),
                tenant_id,
                kind: PrincipalKind::Application,
                name: app.name.clone(),
                client_id: Some(app.client_id.unwrap_or_else(Uuid::new_v4)),
                trusted_service: app.trusted_service,
                multi_tenant: app.multi_tenant,
            };
            changes.push(Change::CreatePrincipal(principal.clone()));
            principals.push(principal.clone());
            principal
        }
    };

    let stored = current.application_credentials(principal.object_id);
    if stored.unwrap_or(&ApplicationCredentials::default()) != &app.credentials {
        changes.push(Change::PutApplicationCredentials {
            object_id: principal.object_id,
            credentials: app.credentials.clone(),
        });
    }
    plan_client_secrets(current, app, &principal, changes)
}

/// Keeps the stored hashes that match a declared secret, adds the rest, and drops stored ones no longer declared.
fn plan_client_secrets(
    current: &Directory,
    app: &DesiredApplication,
    principal: &Principal,
    changes: &mut Vec<Change>,
) -> Result<()> {
    let stored = current.client_secrets(principal.object_id);
    let mut kept = HashSet::new();
    for secret in &app.secrets {
        let same =
            stored.iter().find(|s| s.expires == secret.expires && credential::verify_secret(&secret.value, &s.hash));
        match same {
            Some(same) => {
                kept.insert(same.hash.as_str());
            }
            None => changes.push(Change::AddClientSecret {
                object_id: principal.object_id,
                secret: StoredSecret { hash: credential::hash_secret(&secret.value)?, expires: secret.expires },
            }),
        }
    }
    for old in stored.iter().filter(|s| !kept.contains(s.hash.as_str())) {
        changes.push(Change::RemoveClientSecret { object_id: principal.object_id, hash: old.hash.clone() });
    }
    Ok(())
}

/// The principal of `kind` named `name` in `principals`, created (and recorded in `changes`) if missing.
fn ensure_principal(
    tenant_id: Uuid,
    kind: PrincipalKind,
    name: &str,
    principals: &mut Vec<Principal>,
    changes: &mut Vec<Change>,
) -> Principal {
    if let Some(existing) = principals.iter().find(|p| p.kind == kind && p.name.eq_ignore_ascii_case(name)) {
        return existing.clone();
    }
    let principal = Principal {
        object_id: Uuid::new_v4(),
        tenant_id,
        kind,
        name: name.to_owned(),
        client_id: None,
        trusted_service: false,
        multi_tenant: false,
    };
    changes.push(Change::CreatePrincipal(principal.clone()));
    principals.push(principal.clone());
    principal
}

fn plan_users_and_groups(
    current: &Directory,
    tenant_id: Uuid,
    tenant: &DesiredTenant,
    now: i64,
    principals: &mut Vec<Principal>,
    changes: &mut Vec<Change>,
) -> Result<()> {
    let groups: Vec<Principal> = tenant
        .groups
        .iter()
        .map(|g| ensure_principal(tenant_id, PrincipalKind::Group, &g.name, principals, changes))
        .collect();
    let group_ids = |member: &str, names: &[String]| {
        names
            .iter()
            .map(|name| {
                groups.iter().find(|g| g.name.eq_ignore_ascii_case(name)).map(|g| g.object_id).ok_or_else(|| {
                    Error::invalid_input(format_args!(
                        "'{member}' is a member of '{name}', which is not a group of its tenant"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()
    };
    let mut memberships = Vec::new();
    for (group, desired) in groups.iter().zip(&tenant.groups) {
        memberships.push((group.object_id, group_ids(&desired.name, &desired.member_of)?));
    }
    for desired in &tenant.users {
        let user = ensure_principal(tenant_id, PrincipalKind::User, &desired.name, principals, changes);
        let stored = current.users.get(&user.object_id);
        let password_hash = match stored {
            Some(stored) if credential::verify_secret(&desired.password, &stored.password_hash) => {
                stored.password_hash.clone()
            }
            _ => credential::hash_secret(&desired.password)?,
        };
        let details = match stored {
            Some(stored) => stored.changed_to(password_hash, desired.enabled, now * 1000),
            None => User::new(password_hash, desired.enabled),
        };
        if stored != Some(&details) {
            changes.push(Change::PutUser { object_id: user.object_id, user: details });
        }
        memberships.push((user.object_id, group_ids(&desired.name, &desired.groups)?));
    }
    for (member, groups) in memberships {
        let stored = current.memberships.get(&member).map_or(&[][..], Vec::as_slice);
        if stored != groups.as_slice() {
            changes.push(Change::PutMemberships { member, groups });
        }
    }
    Ok(())
}

fn plan_managed_identities(
    current: &Directory,
    tenant_id: Uuid,
    wanted: &[DesiredManagedIdentity],
    workload_key: &WorkloadSecretKey,
    principals: &mut Vec<Principal>,
    changes: &mut Vec<Change>,
) -> Result<()> {
    // Workloads first, so that user-assigned identities can name them.
    let mut ordered: Vec<&DesiredManagedIdentity> = wanted.iter().collect();
    ordered.sort_by_key(|mi| mi.kind == ManagedIdentityKind::User);
    let mut addresses_seen = HashSet::new();
    for mi in ordered {
        let bound_to_workload = mi.identity_header.is_some() || !mi.source_addresses.is_empty();
        match mi.kind {
            ManagedIdentityKind::User if bound_to_workload => {
                return Err(Error::invalid_input(format_args!(
                    "managed identity '{}' is user-assigned: it reaches workloads through assigned_to, not identity_header or source_addresses",
                    mi.name
                )));
            }
            ManagedIdentityKind::System if !mi.assigned_to.is_empty() => {
                return Err(Error::invalid_input(format_args!(
                    "managed identity '{}' is system-assigned: only user-assigned identities have assigned_to",
                    mi.name
                )));
            }
            _ => {}
        }
        for address in &mi.source_addresses {
            if !addresses_seen.insert(*address) {
                return Err(Error::invalid_input(format_args!("source address {address} is given to two workloads")));
            }
        }
        let existing = principals
            .iter()
            .find(|p| p.kind == PrincipalKind::ManagedIdentity && p.name.eq_ignore_ascii_case(&mi.name))
            .cloned();
        let principal = match existing {
            Some(existing) if mi.client_id.is_some() && existing.client_id != mi.client_id => {
                return Err(Error::invalid_input(format_args!(
                    "managed identity '{}' already exists with another client id; a client id cannot change",
                    mi.name
                )));
            }
            Some(existing) => existing,
            None => {
                let principal = Principal {
                    object_id: Uuid::new_v4(),
                    tenant_id,
                    kind: PrincipalKind::ManagedIdentity,
                    name: mi.name.clone(),
                    client_id: Some(mi.client_id.unwrap_or_else(Uuid::new_v4)),
                    trusted_service: false,
                    multi_tenant: false,
                };
                changes.push(Change::CreatePrincipal(principal.clone()));
                principals.push(principal.clone());
                principal
            }
        };
        let stored = current.managed_identities.get(&principal.object_id);
        let identity_header_hash = match &mi.identity_header {
            None => None,
            Some(header) => match stored.and_then(|s| s.identity_header_hash.as_ref()) {
                Some(hash) if credential::verify_secret(header, hash) => Some(hash.clone()),
                _ => Some(credential::hash_secret(header)?),
            },
        };
        let identity_header_mac = mi.identity_header.as_deref().map(|header| workload_key.mac(header));
        let assigned_to = mi
            .assigned_to
            .iter()
            .map(|workload| {
                principals
                    .iter()
                    .find(|p| p.kind == PrincipalKind::ManagedIdentity && p.name.eq_ignore_ascii_case(workload))
                    .map(|p| p.object_id)
                    .ok_or_else(|| {
                        Error::invalid_input(format_args!(
                            "managed identity '{}' is assigned to '{workload}', which is not a system-assigned identity of its tenant",
                            mi.name
                        ))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let details = ManagedIdentity {
            kind: mi.kind,
            identity_header_hash,
            identity_header_mac,
            source_addresses: mi.source_addresses.iter().map(|a| crate::network::canonical(*a)).collect(),
            assigned_to,
        };
        if stored != Some(&details) {
            changes.push(Change::PutManagedIdentity { object_id: principal.object_id, details });
        }
    }
    Ok(())
}

fn plan_vault(
    cx: &AssignmentContext<'_>,
    desired: &DesiredVault,
    group: &ResourceGroup,
    now: i64,
    changes: &mut Vec<Change>,
) -> Result<()> {
    let (current, tenant_id, principals) = (cx.current, cx.tenant_id, cx.principals);
    if let Some(deleted) = current.deleted_vault(&desired.name) {
        if deleted.vault.tenant_id != tenant_id {
            return Err(Error::invalid_input(format_args!(
                "vault '{}' already belongs to another tenant; vault names are unique across tenants",
                desired.name
            )));
        }
        // A soft-deleted vault stays deleted until it is recovered or purged through the management API.
        return Ok(());
    }
    if !(7..=90).contains(&desired.soft_delete_retention_days) {
        return Err(Error::invalid_input(format_args!(
            "vault '{}': soft_delete_retention_days must be between 7 and 90",
            desired.name
        )));
    }
    if desired.access_policies.len() > MAX_ENTRIES {
        return Err(Error::invalid_input(format_args!(
            "vault '{}': at most {MAX_ENTRIES} access-policy entries",
            desired.name
        )));
    }
    let access_policies = desired
        .access_policies
        .iter()
        .map(|wanted| {
            let place = format!("vault '{}': access policy", desired.name);
            let principal = find_principal(principals, &wanted.principal, wanted.principal_type, &place)?;
            AccessPolicy::new(principal.object_id, &wanted.secrets, &wanted.keys, &wanted.certificates)
        })
        .collect::<Result<Vec<_>>>()?;
    let existing = current.vault(&desired.name);
    if let Some(existing) = existing
        && existing.tenant_id != tenant_id
    {
        return Err(Error::invalid_input(format_args!(
            "vault '{}' already belongs to another tenant; vault names are unique across tenants",
            desired.name
        )));
    }
    if let Some(existing) = existing
        && existing.kind != desired.kind
    {
        return Err(Error::invalid_input(format_args!(
            "'{}' already names a {}; vault and Managed HSM names are unique together",
            desired.name,
            existing.kind.as_str().replace('_', " ")
        )));
    }
    let vault = Vault {
        id: existing.map_or_else(Uuid::new_v4, |v| v.id),
        kind: desired.kind,
        tenant_id,
        name: existing.map_or_else(|| desired.name.clone(), |v| v.name.clone()),
        authorization: desired.authorization,
        soft_delete_retention_days: desired.soft_delete_retention_days,
        purge_protection: desired.purge_protection,
        network: desired.network.clone(),
        access_policies,
        subscription_id: group.subscription_id,
        resource_group: group.name.clone(),
        location: existing.map_or_else(|| group.location.clone(), |v| v.location.clone()),
        sku: desired.sku,
        tags: existing.map(|v| v.tags.clone()).unwrap_or_default(),
    };
    if existing != Some(&vault) {
        changes.push(Change::PutVault(vault.clone()));
    }

    plan_role_assignments(cx, Some(&vault), &desired.role_assignments, changes)?;

    for seed in &desired.secrets {
        object::validate_name(&seed.name)?;
        secret::validate_value(&seed.value)?;
        let version = ObjectVersion::new(&seed.name, VersionProperties::default(), None, now);
        changes.push(Change::SeedSecret { vault_id: vault.id, version, value: seed.value.clone() });
    }
    Ok(())
}

/// What resolving a tenant's role assignments needs.
struct AssignmentContext<'a> {
    current: &'a Directory,
    tenant_id: Uuid,
    principals: &'a [Principal],
    /// The tenant's custom roles as they will be.
    roles: &'a [Role],
}

/// Creates or updates the declared custom roles; returns the tenant's custom roles as they will be.
fn plan_role_definitions(
    current: &Directory,
    tenant_id: Uuid,
    declared: &[DesiredRoleDefinition],
    changes: &mut Vec<Change>,
) -> Result<Vec<Role>> {
    let mut roles: Vec<Role> = current.custom_roles(tenant_id).cloned().collect();
    for wanted in declared {
        let existing = roles.iter().position(|r| r.name.eq_ignore_ascii_case(&wanted.name));
        let id = existing.map_or_else(Uuid::new_v4, |i| roles[i].id);
        let role = Role::new(RoleDefinition::custom(
            tenant_id,
            id,
            &wanted.name,
            &wanted.description,
            wanted.permissions.clone(),
        )?);
        match existing {
            Some(i) if roles[i] == role => continue,
            Some(i) => roles[i] = role.clone(),
            None => roles.push(role.clone()),
        }
        changes.push(Change::PutRoleDefinition(role));
    }
    Ok(roles)
}

/// Replaces the provisioned assignments of `vault` (or of the tenant's scope) when the declared ones differ.
fn plan_role_assignments(
    cx: &AssignmentContext<'_>,
    vault: Option<&Vault>,
    declared: &[DesiredRoleAssignment],
    changes: &mut Vec<Change>,
) -> Result<()> {
    let place = vault.map_or_else(|| "tenant".to_owned(), |v| format!("vault '{}'", v.name));
    let stored: Vec<&RoleAssignment> = match vault {
        Some(vault) => cx.current.role_assignments(vault.id),
        None => cx.current.tenant_role_assignments(cx.tenant_id),
    }
    .iter()
    .filter(|a| a.provisioned)
    .collect();
    let assignments = declared
        .iter()
        .map(|wanted| {
            let principal = find_principal(
                cx.principals,
                &wanted.principal,
                wanted.principal_type,
                &format!("{place}: role assignment"),
            )?;
            // A Managed HSM's assignments take its own roles; a vault's and the tenant's take Azure's.
            let role = match vault {
                Some(hsm) if hsm.kind == VaultKind::ManagedHsm => cx.current.hsm_role(hsm.id, &wanted.role),
                _ => {
                    find_role(crate::rbac::built_in_roles(), &wanted.role).or_else(|| find_role(cx.roles, &wanted.role))
                }
            }
            .ok_or_else(|| Error::invalid_input(format_args!("{place}: unknown role '{}'", wanted.role)))?;
            let directory_role = role.kind == crate::rbac::RoleKind::Directory;
            if directory_role && vault.is_some() {
                return Err(Error::invalid_input(format_args!(
                    "{place}: '{}' is a directory role; assign it at the tenant",
                    role.name
                )));
            }
            let scope = if vault.is_some() { wanted.scope.clone() } else { Scope::Tenant };
            let current_match = stored
                .iter()
                .find(|a| a.principal_id == principal.object_id && a.role.id == role.id && a.scope == scope);
            Ok(RoleAssignment {
                id: current_match.map_or_else(Uuid::new_v4, |a| a.id),
                principal_id: principal.object_id,
                role: role.clone(),
                scope,
                provisioned: true,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if assignments.iter().ne(stored.iter().copied()) {
        changes.push(Change::ReplaceRoleAssignments {
            tenant_id: cx.tenant_id,
            vault_id: vault.map(|v| v.id),
            assignments,
        });
    }
    Ok(())
}

/// The principal that `reference` names: its object id or client id, or its name — of the kind `kind` when
/// given. A name that two principals of different kinds share is refused unless `kind` says which: a user
/// named like a privileged application must never take its assignment. `what` says where, for errors.
fn find_principal<'a>(
    principals: &'a [Principal],
    reference: &str,
    kind: Option<PrincipalKind>,
    what: &str,
) -> Result<&'a Principal> {
    let id = Uuid::parse_str(reference).ok();
    let mut found = principals.iter().filter(|p| kind.is_none_or(|k| p.kind == k)).filter(|p| match id {
        Some(id) => p.object_id == id || p.client_id == Some(id),
        None => p.name.eq_ignore_ascii_case(reference),
    });
    let kind_text = kind.map_or(String::new(), |k| format!(" {}", k.as_str()));
    match (found.next(), found.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(Error::invalid_input(format_args!(
            "{what} names '{reference}', which is not a{kind_text} principal of its tenant"
        ))),
        (Some(one), Some(other)) => Err(Error::invalid_input(format_args!(
            "{what} names '{reference}', which is both a {} and a {}: add principal_type = \"{}\" or \"{}\"",
            one.kind.as_str(),
            other.kind.as_str(),
            one.kind.as_str(),
            other.kind.as_str()
        ))),
    }
}

mod resources;
#[cfg(test)]
mod tests;
