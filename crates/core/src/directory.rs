//! Tenants, security principals and vaults, and the in-memory directory that answers the hot path.
//!
//! The directory is a snapshot: the server loads it from the store at start and replaces it whole when the
//! desired state changes, so a vault request never waits on the database to learn who is who.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod change;
mod resources;

pub use change::Change;
pub use resources::{
    DEFAULT_LOCATION, DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION_NAME, DeletedVault, MAX_TAGS, ResourceGroup, Sku,
    Subscription, Tags, validate_location, validate_resource_group_name, validate_tags,
};

use crate::assertion::{CertificateCredential, FederatedCredential};
use crate::credential::StoredSecret;
use crate::first_party::{FirstPartyClient, first_party_client};
use crate::network::NetworkRules;
use crate::policy::AccessPolicy;
use crate::rbac::roles::{
    DIRECTORY_READERS, GLOBAL_ADMINISTRATOR, GROUPS_ADMINISTRATOR, PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
    USER_ADMINISTRATOR,
};
use crate::rbac::{Role, RoleAssignment, RoleKind, built_in_roles, find_role};

/// A tenant: an isolated directory of principals and vaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The tenant id (`tid`).
    pub id: Uuid,
    /// A name usable in the authority path instead of the id.
    pub name: String,
}

/// The kinds of security principals of the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// An application registration and its service principal.
    Application,
    /// A user.
    User,
    /// A group.
    Group,
    /// A managed identity.
    ManagedIdentity,
}

impl PrincipalKind {
    /// The stored name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Application => "application",
            PrincipalKind::User => "user",
            PrincipalKind::Group => "group",
            PrincipalKind::ManagedIdentity => "managed_identity",
        }
    }

    /// The kind with the stored name `text`.
    pub fn parse(text: &str) -> Option<Self> {
        [PrincipalKind::Application, PrincipalKind::User, PrincipalKind::Group, PrincipalKind::ManagedIdentity]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// A security principal. Its object id is immutable and is what authorization refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The object id (`oid`).
    pub object_id: Uuid,
    /// The tenant it lives in.
    pub tenant_id: Uuid,
    /// What it is.
    pub kind: PrincipalKind,
    /// Its name, unique per tenant and kind.
    pub name: String,
    /// The application (client) id, for applications and managed identities.
    pub client_id: Option<Uuid>,
    /// Whether it counts as a trusted service for vault firewalls whose bypass is `AzureServices`.
    pub trusted_service: bool,
    /// For an application: whether other tenants may use it (`sign_in_audience = "multiple_tenants"`).
    pub multi_tenant: bool,
}

/// How a vault decides permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationModel {
    /// Azure role-based access control.
    Rbac,
    /// The legacy access-policy model.
    AccessPolicies,
}

/// Which of Key Vault's two products a vault is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum VaultKind {
    /// A key vault (`{name}.vault.azure.net`): secrets, keys and certificates, under Azure RBAC or access
    /// policies.
    #[default]
    Vault,
    /// A Managed HSM (`{name}.managedhsm.azure.net`): keys only, under the HSM's own local RBAC; Azure roles
    /// grant no data access to it.
    ManagedHsm,
}

impl VaultKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            VaultKind::Vault => "vault",
            VaultKind::ManagedHsm => "managed_hsm",
        }
    }

    /// The kind with the stored name `text`.
    pub fn parse(text: &str) -> Option<Self> {
        [VaultKind::Vault, VaultKind::ManagedHsm].into_iter().find(|kind| kind.as_str() == text)
    }
}

/// A vault and its settings. A Managed HSM is a vault of [`VaultKind::ManagedHsm`]: it shares the vault's
/// firewall, soft delete, key storage and audit, and differs in what it serves and whom it lets in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vault {
    /// The vault's id.
    pub id: Uuid,
    /// A key vault or a Managed HSM.
    pub kind: VaultKind,
    /// The tenant it belongs to; only that tenant's tokens are accepted.
    pub tenant_id: Uuid,
    /// The name, the first label of its host; unique across tenants.
    pub name: String,
    /// The permission model.
    pub authorization: AuthorizationModel,
    /// How long deleted objects stay recoverable (7..90).
    pub soft_delete_retention_days: u32,
    /// Whether deleted objects can only expire, never be purged.
    pub purge_protection: bool,
    /// The firewall.
    pub network: NetworkRules,
    /// Access-policy entries, used when `authorization` is [`AuthorizationModel::AccessPolicies`].
    pub access_policies: Vec<AccessPolicy>,
    /// The subscription it is filed in (one of its tenant's).
    pub subscription_id: Uuid,
    /// The resource group it is filed in, as the group spells its name.
    pub resource_group: String,
    /// Its location.
    pub location: String,
    /// Its pricing tier.
    pub sku: Sku,
    /// Its resource tags.
    pub tags: Tags,
}

/// Checks a vault name as Key Vault does: 3 to 24 letters, digits and single hyphens, starting with a letter
/// and not ending with a hyphen.
pub fn validate_vault_name(name: &str) -> crate::error::Result<()> {
    let valid = (3..=24).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.contains("--")
        && !name.ends_with('-');
    match valid {
        true => Ok(()),
        false => Err(crate::error::Error::invalid_input(
            "a vault name is 3 to 24 letters, digits and single hyphens, starting with a letter",
        )),
    }
}

/// How a managed identity is bound to workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManagedIdentityKind {
    /// System-assigned: the identity of one workload, which it also names.
    System,
    /// User-assigned: assignable to several workloads.
    User,
}

/// What a managed identity has beyond being a principal: how its workload proves itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedIdentity {
    /// System- or user-assigned.
    pub kind: ManagedIdentityKind,
    /// Argon2id hash of the workload's secret (App Service's `IDENTITY_HEADER`, Azure ML's `MSI_SECRET`);
    /// system-assigned identities only.
    pub identity_header_hash: Option<String>,
    /// The same secret's keyed hash under the installation's [`WorkloadSecretKey`], by which a presented
    /// secret is found (absent from records stored before it existed, until the next provisioning).
    ///
    /// [`WorkloadSecretKey`]: crate::credential::WorkloadSecretKey
    #[serde(default)]
    pub identity_header_mac: Option<String>,
    /// Source addresses that are this workload on the IMDS endpoint (as on a VM); system-assigned only.
    pub source_addresses: Vec<IpAddr>,
    /// The workloads (system-assigned identities, by object id) a user-assigned identity is assigned to.
    pub assigned_to: Vec<Uuid>,
}

/// A snapshot of everything the request path needs to know about identities and vaults.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// Tenants.
    pub tenants: Vec<Tenant>,
    /// Principals of every tenant.
    pub principals: Vec<Principal>,
    /// Live vaults of every tenant.
    pub vaults: Vec<Vault>,
    /// Soft-deleted vaults of every tenant: recoverable, and holding their names, until purged.
    pub deleted_vaults: Vec<DeletedVault>,
    /// Subscriptions of every tenant.
    pub subscriptions: Vec<Subscription>,
    /// Resource groups of every subscription.
    pub resource_groups: Vec<ResourceGroup>,
    /// Role assignments at a vault or one of its objects, by vault id.
    pub role_assignments: HashMap<Uuid, Vec<RoleAssignment>>,
    /// Role assignments at a tenant's scope (Azure's subscription; directory roles), by tenant id.
    pub tenant_role_assignments: HashMap<Uuid, Vec<RoleAssignment>>,
    /// Custom role definitions of every tenant.
    pub role_definitions: Vec<Role>,
    /// Counts the snapshots a server has loaded: a decision made from this snapshot names it.
    pub generation: u64,
    /// Client secrets (hashed), by principal object id.
    pub client_secrets: HashMap<Uuid, Vec<StoredSecret>>,
    /// Managed-identity details, by principal object id.
    pub managed_identities: HashMap<Uuid, ManagedIdentity>,
    /// Certificate and federated credentials of applications, by principal object id.
    pub application_credentials: HashMap<Uuid, ApplicationCredentials>,
    /// Users' sign-in details, by principal object id.
    pub users: HashMap<Uuid, User>,
    /// The groups each principal is a direct member of, by member object id.
    pub memberships: HashMap<Uuid, Vec<Uuid>>,
    /// Service principals of multi-tenant applications in other tenants: their object id → the application
    /// object's (home principal's) object id, which holds the credentials.
    pub service_principals: HashMap<Uuid, Uuid>,
}

/// The client a token request names by `client_id`: an application registered in the tenant, or one of
/// Microsoft's first-party public clients, which every tenant knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientApplication<'a> {
    /// An application of the tenant (or its service principal of another tenant's application).
    Registered(&'a Principal),
    /// A first-party public client.
    FirstParty(&'static FirstPartyClient),
}

impl ClientApplication<'_> {
    /// The client id.
    pub fn client_id(&self) -> Uuid {
        match self {
            ClientApplication::Registered(principal) => principal.client_id.unwrap_or_default(),
            ClientApplication::FirstParty(client) => client.client_id,
        }
    }

    /// The registered application, which may hold credentials and roles of its own; `None` for a
    /// first-party client, which signs users in and nothing else.
    pub fn registered(&self) -> Option<&Principal> {
        match self {
            ClientApplication::Registered(principal) => Some(principal),
            ClientApplication::FirstParty(_) => None,
        }
    }
}

/// What a user has beyond being a principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Argon2id hash of the password.
    pub password_hash: String,
    /// A disabled user cannot sign in, and its refresh tokens stop working.
    pub enabled: bool,
    /// Grants (refresh tokens, authorization and device codes) made at or before this instant, Unix
    /// milliseconds, are refused: it moves when the password changes or the user is disabled, as Entra's
    /// `refreshTokensValidFromDateTime` does. `None` until the first such change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants_valid_after_ms: Option<i64>,
}

impl User {
    /// A new user with this password hash: nothing granted yet to revoke.
    pub fn new(password_hash: String, enabled: bool) -> Self {
        Self { password_hash, enabled, grants_valid_after_ms: None }
    }

    /// Whether a grant made for this user at `issued_at_ms` (Unix milliseconds) still stands: made after the
    /// last password change or disabling, and the user enabled.
    pub fn honours_grant_from(&self, issued_at_ms: i64) -> bool {
        self.enabled && self.grants_valid_after_ms.is_none_or(|after| issued_at_ms > after)
    }

    /// These details after a change at `now_ms`: a new password hash or a disabling revokes what was granted
    /// before it.
    pub fn changed_to(&self, password_hash: String, enabled: bool, now_ms: i64) -> Self {
        let revokes = password_hash != self.password_hash || (self.enabled && !enabled);
        let grants_valid_after_ms = if revokes { Some(now_ms) } else { self.grants_valid_after_ms };
        Self { password_hash, enabled, grants_valid_after_ms }
    }
}

/// The credentials of an application besides its client secrets, and where its sign-ins may return to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationCredentials {
    /// Certificates whose keys sign client assertions.
    pub certificates: Vec<CertificateCredential>,
    /// External identities that stand for the application.
    pub federated: Vec<FederatedCredential>,
    /// Registered redirect URIs of the authorization-code flow (see [`crate::redirect`]).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

impl Directory {
    /// The tenant named by `reference`: its id, or its name in any case.
    pub fn tenant(&self, reference: &str) -> Option<&Tenant> {
        match Uuid::parse_str(reference) {
            Ok(id) => self.tenants.iter().find(|t| t.id == id),
            Err(_) => self.tenants.iter().find(|t| t.name.eq_ignore_ascii_case(reference)),
        }
    }

    /// Every tenant.
    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    /// The application of `tenant_id` whose client id is `client_id`.
    pub fn application(&self, tenant_id: Uuid, client_id: Uuid) -> Option<&Principal> {
        self.principals.iter().find(|p| {
            p.tenant_id == tenant_id && p.kind == PrincipalKind::Application && p.client_id == Some(client_id)
        })
    }

    /// The client `client_id` of `tenant_id`: its registered application, else a first-party public client
    /// of that id. A registered application comes first, so a tenant's own registration is never shadowed.
    pub fn client_application(&self, tenant_id: Uuid, client_id: Uuid) -> Option<ClientApplication<'_>> {
        self.application(tenant_id, client_id)
            .map(ClientApplication::Registered)
            .or_else(|| first_party_client(client_id).map(ClientApplication::FirstParty))
    }

    /// Whether `client` must prove itself when it redeems a grant or signs a user in: a registered
    /// application holding credentials (see [`Directory::is_confidential_client`]). First-party clients are
    /// public.
    pub fn is_confidential(&self, client: ClientApplication<'_>) -> bool {
        client.registered().is_some_and(|p| self.is_confidential_client(p.object_id))
    }

    /// The redirect URIs registered for `client`; none for a first-party client, whose sign-ins return to
    /// its loopback listener.
    pub fn redirect_uris(&self, client: ClientApplication<'_>) -> &[String] {
        client
            .registered()
            .and_then(|p| self.application_credentials(self.credential_owner(p.object_id)))
            .map_or(&[][..], |c| c.redirect_uris.as_slice())
    }

    /// Every principal.
    pub fn principals(&self) -> &[Principal] {
        &self.principals
    }

    /// The principal with the object id `object_id`.
    pub fn principal(&self, object_id: Uuid) -> Option<&Principal> {
        self.principals.iter().find(|p| p.object_id == object_id)
    }

    /// The vault called `name` (any case).
    pub fn vault(&self, name: &str) -> Option<&Vault> {
        self.vaults.iter().find(|v| v.name.eq_ignore_ascii_case(name))
    }

    /// Every live vault.
    pub fn vaults(&self) -> &[Vault] {
        &self.vaults
    }

    /// The soft-deleted vault called `name` (any case).
    pub fn deleted_vault(&self, name: &str) -> Option<&DeletedVault> {
        self.deleted_vaults.iter().find(|d| d.vault.name.eq_ignore_ascii_case(name))
    }

    /// The subscription with the id `id`.
    pub fn subscription(&self, id: Uuid) -> Option<&Subscription> {
        self.subscriptions.iter().find(|s| s.id == id)
    }

    /// The subscriptions of `tenant_id`, the default first.
    pub fn subscriptions_of(&self, tenant_id: Uuid) -> Vec<&Subscription> {
        let mut found: Vec<&Subscription> = self.subscriptions.iter().filter(|s| s.tenant_id == tenant_id).collect();
        found.sort_by_key(|s| !s.is_default);
        found
    }

    /// The default subscription of `tenant_id` (the first, if none is marked).
    pub fn default_subscription(&self, tenant_id: Uuid) -> Option<&Subscription> {
        self.subscriptions_of(tenant_id).into_iter().next()
    }

    /// The resource group of `subscription_id` called `name` (any case).
    pub fn resource_group(&self, subscription_id: Uuid, name: &str) -> Option<&ResourceGroup> {
        self.resource_groups.iter().find(|g| g.subscription_id == subscription_id && g.name.eq_ignore_ascii_case(name))
    }

    /// The live vaults filed in the resource group `name` of `subscription_id`.
    pub fn vaults_in_group<'a>(&'a self, subscription_id: Uuid, name: &'a str) -> impl Iterator<Item = &'a Vault> {
        self.vaults
            .iter()
            .filter(move |v| v.subscription_id == subscription_id && v.resource_group.eq_ignore_ascii_case(name))
    }

    /// Whether `object_id` (directly or through its groups) holds any Azure role in `tenant_id`, at any
    /// scope: what makes the tenant's subscriptions visible to it.
    pub fn holds_azure_role(&self, tenant_id: Uuid, object_id: Uuid) -> bool {
        let holders: Vec<Uuid> = std::iter::once(object_id).chain(self.groups_of(object_id)).collect();
        let in_vaults =
            self.vaults.iter().filter(|v| v.tenant_id == tenant_id).flat_map(|v| self.role_assignments(v.id));
        self.tenant_role_assignments(tenant_id)
            .iter()
            .chain(in_vaults)
            .any(|a| a.role.kind != RoleKind::Directory && holders.contains(&a.principal_id))
    }

    /// The key vaults `object_id` (directly or through its groups) holds any role in: an Azure role at its
    /// tenant's scope, or on the vault or one of its objects, or an access-policy entry. What the portal lists
    /// (it shows no Managed HSM); access itself is decided per request.
    pub fn vaults_visible_to(&self, object_id: Uuid) -> Vec<&Vault> {
        let holders: Vec<Uuid> = std::iter::once(object_id).chain(self.groups_of(object_id)).collect();
        let holds = |a: &RoleAssignment| a.role.kind != RoleKind::Directory && holders.contains(&a.principal_id);
        self.vaults
            .iter()
            .filter(|v| v.kind == VaultKind::Vault)
            .filter(|v| {
                self.assignments_for_vault(v).any(holds)
                    || v.access_policies.iter().any(|p| holders.contains(&p.object_id))
            })
            .collect()
    }

    /// The role assignments made on the vault `vault_id` or its objects.
    pub fn role_assignments(&self, vault_id: Uuid) -> &[RoleAssignment] {
        self.role_assignments.get(&vault_id).map_or(&[], Vec::as_slice)
    }

    /// The role assignments made at the scope of the tenant `tenant_id`.
    pub fn tenant_role_assignments(&self, tenant_id: Uuid) -> &[RoleAssignment] {
        self.tenant_role_assignments.get(&tenant_id).map_or(&[], Vec::as_slice)
    }

    /// Every role assignment that can reach into `vault`: the tenant's, then the vault's own.
    pub fn assignments_for_vault(&self, vault: &Vault) -> impl Iterator<Item = &RoleAssignment> {
        self.tenant_role_assignments(vault.tenant_id).iter().chain(self.role_assignments(vault.id))
    }

    /// The role a tenant can assign that `reference` names (name, GUID or definition id): a built-in role
    /// or one of the tenant's custom roles.
    pub fn role(&self, tenant_id: Uuid, reference: &str) -> Option<&Role> {
        find_role(built_in_roles(), reference).or_else(|| find_role(self.custom_roles(tenant_id), reference))
    }

    /// The role a local role assignment of the Managed HSM `hsm_id` can name by `reference` (name, GUID or
    /// definition id): one of Managed HSM's built-in roles or one of the HSM's custom roles.
    pub fn hsm_role(&self, hsm_id: Uuid, reference: &str) -> Option<&Role> {
        find_role(crate::rbac::hsm::built_in_roles(), reference)
            .or_else(|| find_role(self.hsm_custom_roles(hsm_id), reference))
    }

    /// The custom roles the Managed HSM `hsm_id` defined.
    pub fn hsm_custom_roles(&self, hsm_id: Uuid) -> impl Iterator<Item = &Role> {
        self.role_definitions
            .iter()
            .filter(move |r| matches!(r.kind, crate::rbac::RoleKind::HsmCustom { hsm_id: id, .. } if id == hsm_id))
    }

    /// The custom roles of `tenant_id`.
    pub fn custom_roles(&self, tenant_id: Uuid) -> impl Iterator<Item = &Role> {
        self.role_definitions.iter().filter(move |r| r.kind == crate::rbac::RoleKind::Custom { tenant_id })
    }

    /// Whose credentials the principal `object_id` signs in with: the home application's for a service
    /// principal in another tenant, its own otherwise.
    pub fn credential_owner(&self, object_id: Uuid) -> Uuid {
        self.service_principals.get(&object_id).copied().unwrap_or(object_id)
    }

    /// The client secrets of the principal `object_id`.
    pub fn client_secrets(&self, object_id: Uuid) -> &[StoredSecret] {
        self.client_secrets.get(&object_id).map_or(&[], Vec::as_slice)
    }

    /// The certificate and federated credentials of the application `object_id`.
    pub fn application_credentials(&self, object_id: Uuid) -> Option<&ApplicationCredentials> {
        self.application_credentials.get(&object_id)
    }

    /// Whether the application `object_id` is a confidential client: it (or its home application) holds a
    /// client secret, a certificate or a federated credential, and so must prove itself whenever it redeems
    /// a grant. Others are public clients (a desktop or device application, which can keep no secret).
    pub fn is_confidential_client(&self, object_id: Uuid) -> bool {
        let owner = self.credential_owner(object_id);
        !self.client_secrets(owner).is_empty()
            || self
                .application_credentials(owner)
                .is_some_and(|c| !c.certificates.is_empty() || !c.federated.is_empty())
    }

    /// The user of `tenant_id` signing in as `sign_in_name`: `alice` or `alice@{tenant name}` (any case).
    pub fn user_by_sign_in_name(&self, tenant_id: Uuid, sign_in_name: &str) -> Option<(&Principal, &User)> {
        let tenant = self.tenants.iter().find(|t| t.id == tenant_id)?;
        let name = match sign_in_name.rsplit_once('@') {
            Some((name, domain)) if domain.eq_ignore_ascii_case(&tenant.name) => name,
            Some(_) => return None,
            None => sign_in_name,
        };
        let principal = self
            .principals
            .iter()
            .find(|p| p.tenant_id == tenant_id && p.kind == PrincipalKind::User && p.name.eq_ignore_ascii_case(name))?;
        Some((principal, self.users.get(&principal.object_id)?))
    }

    /// Every group `object_id` belongs to, directly or through nested groups.
    pub fn groups_of(&self, object_id: Uuid) -> Vec<Uuid> {
        let mut found: Vec<Uuid> = Vec::new();
        let mut pending: Vec<Uuid> = self.memberships.get(&object_id).cloned().unwrap_or_default();
        while let Some(group) = pending.pop() {
            // Membership cycles end here: a group already found is not expanded again.
            if !found.contains(&group) {
                found.push(group);
                pending.extend(self.memberships.get(&group).into_iter().flatten().copied());
            }
        }
        found
    }

    /// The directory roles (Entra's) `object_id` holds in `tenant_id`, directly or through its groups.
    pub fn directory_roles_of(&self, tenant_id: Uuid, object_id: Uuid) -> Vec<Uuid> {
        let holders: Vec<Uuid> = std::iter::once(object_id).chain(self.groups_of(object_id)).collect();
        let mut roles: Vec<Uuid> = self
            .tenant_role_assignments(tenant_id)
            .iter()
            .filter(|a| a.role.kind == RoleKind::Directory && holders.contains(&a.principal_id))
            .map(|a| a.role.id)
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }

    /// Whether `group` is role-assignable (Entra's `isAssignableToRole`): it holds a directory role. Directory
    /// roles are assigned by the configuration only, and only a role-assignable group may hold one.
    pub fn is_role_assignable(&self, tenant_id: Uuid, group: Uuid) -> bool {
        self.tenant_role_assignments(tenant_id)
            .iter()
            .any(|a| a.role.kind == RoleKind::Directory && a.principal_id == group)
    }

    /// Whether joining `group` hands out a directory role: the group, or a group it belongs to (transitively),
    /// is role-assignable. Only Privileged Role Administrators and Global Administrators change such a
    /// group's members, as Entra allows for role-assignable groups.
    pub fn membership_grants_directory_roles(&self, tenant_id: Uuid, group: Uuid) -> bool {
        std::iter::once(group).chain(self.groups_of(group)).any(|g| self.is_role_assignable(tenant_id, g))
    }

    /// The managed identity `object_id`, with its details.
    pub fn managed_identity(&self, object_id: Uuid) -> Option<(&Principal, &ManagedIdentity)> {
        let details = self.managed_identities.get(&object_id)?;
        Some((self.principal(object_id)?, details))
    }

    /// The workload (a system-assigned identity) that calls from `address`.
    pub fn workload_at(&self, address: IpAddr) -> Option<&Principal> {
        let address = crate::network::canonical(address);
        self.managed_identities
            .iter()
            .find(|(_, mi)| mi.kind == ManagedIdentityKind::System && mi.source_addresses.contains(&address))
            .and_then(|(id, _)| self.principal(*id))
    }

    /// The identities a workload may use: its own, then the user-assigned ones assigned to it.
    pub fn identities_of(&self, workload: Uuid) -> Vec<&Principal> {
        let mut identities: Vec<&Principal> = self.principal(workload).into_iter().collect();
        let mut assigned: Vec<&Principal> = self
            .managed_identities
            .iter()
            .filter(|(_, mi)| mi.kind == ManagedIdentityKind::User && mi.assigned_to.contains(&workload))
            .filter_map(|(id, _)| self.principal(*id))
            .collect();
        assigned.sort_by(|a, b| a.name.cmp(&b.name));
        identities.extend(assigned);
        identities
    }

    /// The Azure resource id of a managed identity, as tokens carry it in `xms_mirid` and IMDS selects by it.
    pub fn managed_identity_resource_id(&self, object_id: Uuid) -> Option<String> {
        let (principal, details) = self.managed_identity(object_id)?;
        let provider = match details.kind {
            ManagedIdentityKind::User => "Microsoft.ManagedIdentity/userAssignedIdentities",
            ManagedIdentityKind::System => "Microsoft.Compute/virtualMachines",
        };
        Some(format!(
            "/subscriptions/{}/resourcegroups/strongroom/providers/{provider}/{}",
            principal.tenant_id, principal.name
        ))
    }
}

/// Entra's "who can reset passwords": whether a holder of the directory roles `actor` may reset the password
/// of, enable or disable, or delete a user holding the directory roles `target`. Global Administrators and
/// Privileged Authentication Administrators may for anyone; a User Administrator only for users with no
/// directory role or with the limited roles Entra lists for it; anyone else only for users with no role.
pub fn may_manage_user(actor: &[Uuid], target: &[Uuid]) -> bool {
    /// The roles a User Administrator may manage a holder of (those of Entra's list that Strongroom has).
    const USER_ADMINISTRATOR_MAY_MANAGE: &[Uuid] = &[DIRECTORY_READERS, GROUPS_ADMINISTRATOR, USER_ADMINISTRATOR];
    if actor.iter().any(|r| [GLOBAL_ADMINISTRATOR, PRIVILEGED_AUTHENTICATION_ADMINISTRATOR].contains(r)) {
        return true;
    }
    if actor.contains(&USER_ADMINISTRATOR) {
        return target.iter().all(|r| USER_ADMINISTRATOR_MAY_MANAGE.contains(r));
    }
    target.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::roles::{APPLICATION_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR};

    #[test]
    fn only_privileged_authentication_and_global_administrators_manage_administrators() {
        let everyone = [
            GLOBAL_ADMINISTRATOR,
            PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
            PRIVILEGED_ROLE_ADMINISTRATOR,
            APPLICATION_ADMINISTRATOR,
            USER_ADMINISTRATOR,
            GROUPS_ADMINISTRATOR,
            DIRECTORY_READERS,
        ];
        for target in everyone {
            assert!(may_manage_user(&[GLOBAL_ADMINISTRATOR], &[target]));
            assert!(may_manage_user(&[PRIVILEGED_AUTHENTICATION_ADMINISTRATOR], &[target]));
        }
        assert!(may_manage_user(&[USER_ADMINISTRATOR], &[]));
        assert!(may_manage_user(&[USER_ADMINISTRATOR], &[GROUPS_ADMINISTRATOR, DIRECTORY_READERS]));
        for privileged in [
            GLOBAL_ADMINISTRATOR,
            PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
            PRIVILEGED_ROLE_ADMINISTRATOR,
            APPLICATION_ADMINISTRATOR,
        ] {
            assert!(!may_manage_user(&[USER_ADMINISTRATOR], &[privileged]));
            assert!(!may_manage_user(&[USER_ADMINISTRATOR], &[DIRECTORY_READERS, privileged]));
        }
        assert!(!may_manage_user(&[GROUPS_ADMINISTRATOR], &[DIRECTORY_READERS]));
        assert!(!may_manage_user(&[PRIVILEGED_ROLE_ADMINISTRATOR], &[GLOBAL_ADMINISTRATOR]));
    }

    #[test]
    fn first_party_clients_are_public_clients_of_every_tenant_and_never_shadow_a_registration() {
        let tenant = Tenant { id: Uuid::new_v4(), name: "contoso".into() };
        let cli = Uuid::from_u128(0x04b07795_8ddb_461a_bbee_02f9e1bf7b46);
        let directory = Directory { tenants: vec![tenant.clone()], ..Directory::default() };
        let found = directory.client_application(tenant.id, cli);
        assert!(matches!(found, Some(ClientApplication::FirstParty(c)) if c.client_id == cli));
        assert!(found.is_some_and(|c| !directory.is_confidential(c) && directory.redirect_uris(c).is_empty()));
        assert_eq!(directory.client_application(tenant.id, Uuid::new_v4()), None);

        let registered = Principal {
            object_id: Uuid::new_v4(),
            tenant_id: tenant.id,
            kind: PrincipalKind::Application,
            name: "own".into(),
            client_id: Some(cli),
            trusted_service: false,
            multi_tenant: false,
        };
        let secrets = HashMap::from([(registered.object_id, vec![StoredSecret { hash: "h".into(), expires: None }])]);
        let directory = Directory {
            tenants: vec![tenant.clone()],
            principals: vec![registered.clone()],
            client_secrets: secrets,
            ..Directory::default()
        };
        let found = directory.client_application(tenant.id, cli);
        assert_eq!(found, Some(ClientApplication::Registered(&registered)));
        assert!(found.is_some_and(|c| directory.is_confidential(c)));
    }

    #[test]
    fn a_principal_sees_the_vaults_it_or_its_groups_hold_a_role_or_policy_in() {
        use crate::rbac::{Collection, Scope};
        let tenant = Uuid::new_v4();
        let vault = |name: &str| Vault {
            kind: VaultKind::Vault,
            id: Uuid::new_v4(),
            tenant_id: tenant,
            name: name.into(),
            authorization: AuthorizationModel::Rbac,
            soft_delete_retention_days: 90,
            purge_protection: false,
            network: NetworkRules::default(),
            access_policies: vec![],
            subscription_id: tenant,
            resource_group: DEFAULT_RESOURCE_GROUP.into(),
            location: "local".into(),
            sku: Sku::Standard,
            tags: Tags::default(),
        };
        let (user, group, stranger) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (by_role, by_group, by_policy, by_object, none) =
            (vault("role"), vault("group"), vault("policy"), vault("object"), vault("none"));
        let role = |name: &str| crate::rbac::roles::built_in_role(name).cloned();
        let assign = |principal_id, role: Option<Role>, scope| {
            role.map(|role| RoleAssignment { id: Uuid::new_v4(), principal_id, role, scope, provisioned: false })
        };
        let object = Scope::Object { collection: Collection::Secrets, name: "s".into() };
        let mut policy = by_policy.clone();
        policy.access_policies =
            vec![AccessPolicy { object_id: user, secrets: vec!["get".into()], keys: vec![], certificates: vec![] }];
        let directory = Directory {
            vaults: vec![by_role.clone(), by_group.clone(), policy, by_object.clone(), none],
            role_assignments: HashMap::from([
                (by_role.id, assign(user, role("Key Vault Reader"), Scope::Vault).into_iter().collect()),
                (by_group.id, assign(group, role("Owner"), Scope::Vault).into_iter().collect()),
                (by_object.id, assign(user, role("Key Vault Secrets User"), object).into_iter().collect()),
            ]),
            tenant_role_assignments: HashMap::from([(
                tenant,
                assign(user, role("Global Administrator"), Scope::Tenant).into_iter().collect(),
            )]),
            memberships: HashMap::from([(user, vec![group])]),
            ..Directory::default()
        };
        let names = |id| directory.vaults_visible_to(id).into_iter().map(|v| v.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(user), ["role", "group", "policy", "object"], "a directory role shows no vault");
        assert!(names(stranger).is_empty());
    }

    #[test]
    fn tenants_are_found_by_id_or_name() {
        let tenant = Tenant { id: Uuid::new_v4(), name: "Contoso".into() };
        let directory = Directory { tenants: vec![tenant.clone()], ..Directory::default() };
        assert_eq!(directory.tenant("contoso"), Some(&tenant));
        assert_eq!(directory.tenant(&tenant.id.to_string()), Some(&tenant));
        assert_eq!(directory.tenant("fabrikam"), None);
        assert_eq!(directory.tenant(&Uuid::new_v4().to_string()), None);
    }

    #[test]
    fn nested_groups_are_followed_and_cycles_end() {
        let (user, a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let memberships = HashMap::from([(user, vec![a]), (a, vec![b]), (b, vec![c, a])]);
        let directory = Directory { memberships, ..Directory::default() };
        let mut groups = directory.groups_of(user);
        groups.sort();
        let mut expected = vec![a, b, c];
        expected.sort();
        assert_eq!(groups, expected);
        assert!(directory.groups_of(c).is_empty());
    }

    #[test]
    fn a_password_change_or_a_disabling_revokes_earlier_grants() {
        let user = User::new("hash-1".into(), true);
        assert!(user.honours_grant_from(0), "nothing revoked yet");
        let same = user.changed_to("hash-1".into(), true, 5_000);
        assert_eq!(same, user, "an unchanged user keeps its grants");
        let reset = user.changed_to("hash-2".into(), true, 5_000);
        assert!(!reset.honours_grant_from(4_999) && !reset.honours_grant_from(5_000));
        assert!(reset.honours_grant_from(5_001));
        let disabled = reset.changed_to("hash-2".into(), false, 9_000);
        assert!(!disabled.honours_grant_from(9_500), "disabled");
        let enabled_again = disabled.changed_to("hash-2".into(), true, 12_000);
        assert!(!enabled_again.honours_grant_from(8_000), "enabling again revives nothing");
        assert!(enabled_again.honours_grant_from(9_001));
        let stored = serde_json::from_str::<User>(r#"{"password_hash":"h","enabled":true}"#).ok();
        assert_eq!(stored.map(|u| u.grants_valid_after_ms), Some(None), "users stored before the field existed load");
    }

    #[test]
    fn kinds_round_trip() {
        for kind in
            [PrincipalKind::Application, PrincipalKind::User, PrincipalKind::Group, PrincipalKind::ManagedIdentity]
        {
            assert_eq!(PrincipalKind::parse(kind.as_str()), Some(kind));
        }
    }
}
