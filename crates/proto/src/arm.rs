//! Azure Resource Manager shapes of the management API: subscriptions, tenants, locations, providers,
//! resource groups, `Microsoft.KeyVault/vaults` and `deletedVaults`, `Microsoft.Authorization/roleAssignments`
//! and `roleDefinitions`, the cloud's metadata endpoints, and ARM's error envelope.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// ARM's error envelope: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloudError {
    /// The error.
    pub error: CloudErrorBody,
}

/// The error itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloudErrorBody {
    /// A mnemonic code, e.g. `AuthorizationFailed`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

/// A list in ARM's shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListResult<T> {
    /// The items.
    pub value: Vec<T>,
    /// Where more items are; Strongroom returns every item at once.
    #[serde(rename = "nextLink", skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// A Resource Manager resource: its id, name, type, location and tags around the type's own properties.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Resource<P> {
    /// The resource id.
    #[serde(default)]
    pub id: String,
    /// The name.
    #[serde(default)]
    pub name: String,
    /// The resource type, e.g. `Microsoft.KeyVault/vaults`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Where it runs: always `local` for resources that have a location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Resource tags (kept as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Value>,
    /// The type's own properties.
    #[serde(default)]
    pub properties: P,
}

/// A `Microsoft.KeyVault/vaults` resource.
pub type VaultResource = Resource<VaultProperties>;

/// A vault's settings, named as ARM names them. In a PATCH every field is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultProperties {
    /// The tenant whose tokens the vault accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The SKU: `{"family": "A", "name": "standard" | "premium"}`; a premium vault may hold `-HSM` keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<VaultSku>,
    /// The data-plane URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_uri: Option<String>,
    /// Azure RBAC (`true`) or access policies (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_rbac_authorization: Option<bool>,
    /// Always on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_soft_delete: Option<bool>,
    /// 7..90 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_delete_retention_in_days: Option<u32>,
    /// Once on, it stays on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_purge_protection: Option<bool>,
    /// `Enabled` or `Disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<String>,
    /// The firewall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_acls: Option<NetworkAcls>,
    /// Access-policy entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_policies: Option<Vec<AccessPolicyEntry>>,
    /// `Succeeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    /// `default` or `recover` (bring a soft-deleted vault back); only in requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_mode: Option<String>,
}

/// A vault's SKU.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VaultSku {
    /// Always `A`.
    #[serde(default)]
    pub family: String,
    /// `standard` or `premium`.
    pub name: String,
}

/// A `Microsoft.KeyVault/deletedVaults` resource.
pub type DeletedVaultResource = Resource<DeletedVaultProperties>;

/// What is known of a soft-deleted vault.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedVaultProperties {
    /// The vault's resource id.
    pub vault_id: String,
    /// Its location.
    pub location: String,
    /// When it was deleted (RFC 3339).
    pub deletion_date: String,
    /// When it will be purged (RFC 3339).
    pub scheduled_purge_date: String,
    /// Its tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Value>,
    /// Whether purge protection was on.
    pub purge_protection_enabled: bool,
}

/// The body of `Microsoft.KeyVault/checkNameAvailability`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckNameAvailabilityRequest {
    /// The vault name asked about.
    pub name: String,
    /// `Microsoft.KeyVault/vaults`.
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// The answer of `checkNameAvailability`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckNameAvailabilityResult {
    /// Whether a vault could be created with the name.
    pub name_available: bool,
    /// `AccountNameInvalid` or `AlreadyExists` when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why not, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A `Microsoft.Resources/resourceGroups` resource.
pub type ResourceGroupResource = Resource<ResourceGroupProperties>;

/// A resource group's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroupProperties {
    /// `Succeeded`; only in responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
}

/// An item of the generic resources query (`GET /subscriptions/{id}/resources`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenericResource {
    /// The resource id.
    pub id: String,
    /// The name.
    pub name: String,
    /// The resource type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where it runs.
    pub location: String,
    /// Its tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Value>,
}

/// A subscription, as `GET /subscriptions` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionResource {
    /// `/subscriptions/{id}`.
    pub id: String,
    /// The subscription id.
    pub subscription_id: String,
    /// The tenant that owns it.
    pub tenant_id: String,
    /// Its display name.
    pub display_name: String,
    /// `Enabled`.
    pub state: String,
    /// Its policies (fixed values).
    pub subscription_policies: SubscriptionPolicies,
    /// `RoleBased`.
    pub authorization_source: String,
    /// Tenants that manage it besides its own: none.
    pub managed_by_tenants: Vec<Value>,
}

/// A subscription's policies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionPolicies {
    /// The placement of its locations.
    pub location_placement_id: String,
    /// Its quota.
    pub quota_id: String,
    /// `Off`.
    pub spending_limit: String,
}

/// A tenant, as `GET /tenants` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantResource {
    /// `/tenants/{id}`.
    pub id: String,
    /// The tenant id.
    pub tenant_id: String,
    /// `Home`.
    pub tenant_category: String,
    /// Its name.
    pub display_name: String,
    /// Its domain (its name).
    pub default_domain: String,
    /// Its domains.
    pub domains: Vec<String>,
    /// `AAD`.
    pub tenant_type: String,
}

/// A location, as `GET /subscriptions/{id}/locations` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationResource {
    /// `/subscriptions/{id}/locations/{name}`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its name for people.
    pub display_name: String,
    /// The same, with its geography.
    pub regional_display_name: String,
    /// `Region`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What kind of region it is.
    pub metadata: LocationMetadata,
}

/// What kind of region a location is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationMetadata {
    /// `Physical`.
    pub region_type: String,
    /// `Recommended`.
    pub region_category: String,
}

/// A resource provider and its resource types.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderResource {
    /// `/subscriptions/{id}/providers/{namespace}` (or `/providers/{namespace}`).
    pub id: String,
    /// Its namespace, e.g. `Microsoft.KeyVault`.
    pub namespace: String,
    /// `Registered`.
    pub registration_state: String,
    /// `RegistrationRequired`.
    pub registration_policy: String,
    /// The resource types it serves.
    pub resource_types: Vec<ProviderResourceType>,
}

/// A resource type of a provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderResourceType {
    /// The type's name below the namespace, e.g. `vaults`.
    pub resource_type: String,
    /// Where it is served.
    pub locations: Vec<String>,
    /// The API versions it answers to.
    pub api_versions: Vec<String>,
}

/// One cloud's endpoints, as Resource Manager's `/metadata/endpoints` describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudMetadata {
    /// The cloud's name.
    pub name: String,
    /// The Resource Manager URL.
    pub resource_manager: String,
    /// Microsoft Graph's URL.
    pub microsoft_graph_resource_id: String,
    /// Microsoft Graph's URL (the older name).
    pub graph: String,
    /// The legacy Azure AD Graph's audience (Strongroom's Graph).
    pub graph_audience: String,
    /// The portal (none: the server's own URL).
    pub portal: String,
    /// Token issuance.
    pub authentication: CloudAuthentication,
    /// The DNS suffixes of the cloud's services.
    pub suffixes: CloudSuffixes,
    /// The legacy gallery endpoint (the Resource Manager URL).
    pub gallery: String,
    /// The legacy gallery endpoint, under its first name.
    pub gallery_endpoint: String,
    /// Graph under its first name.
    pub graph_endpoint: String,
    /// The portal under its first name.
    pub portal_endpoint: String,
}

/// Where a cloud's tokens come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudAuthentication {
    /// The authority host.
    pub login_endpoint: String,
    /// The resources Resource Manager tokens may be for, the cloud's own first.
    pub audiences: Vec<String>,
    /// The default tenant.
    pub tenant: String,
    /// `AAD`.
    pub identity_provider: String,
}

/// A cloud's DNS suffixes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudSuffixes {
    /// Vaults' domain (with the port, when it is not 443): vaults are `{name}.{keyVaultDns}`.
    pub key_vault_dns: String,
    /// Managed HSMs' domain (with the port, when it is not 443): HSMs are `{name}.{mhsmDns}`.
    pub mhsm_dns: String,
}

/// A vault's firewall rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkAcls {
    /// `AzureServices` or `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypass: Option<String>,
    /// `Allow` or `Deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_action: Option<String>,
    /// Addresses and ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_rules: Option<Vec<IpRule>>,
    /// Service-endpoint subnets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_network_rules: Option<Vec<VirtualNetworkRule>>,
}

/// One address or range.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IpRule {
    /// `203.0.113.7` or `203.0.113.0/24`.
    pub value: String,
}

/// One subnet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VirtualNetworkRule {
    /// `…/virtualNetworks/{network}/subnets/{subnet}`, or Strongroom's short `{network}/{subnet}`.
    pub id: String,
}

/// An access-policy entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicyEntry {
    /// The principal's tenant.
    #[serde(default)]
    pub tenant_id: String,
    /// The principal's object id.
    pub object_id: String,
    /// For compound identities (not supported): the application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    /// The permissions.
    pub permissions: AccessPolicyPermissions,
}

/// Permission names per object kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AccessPolicyPermissions {
    /// Key permissions.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Secret permissions.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Certificate permissions.
    #[serde(default)]
    pub certificates: Vec<String>,
}

/// A `Microsoft.Authorization/roleAssignments` resource.
pub type RoleAssignmentResource = Resource<RoleAssignmentProperties>;

/// What a role assignment assigns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentProperties {
    /// `…/providers/Microsoft.Authorization/roleDefinitions/{guid}`.
    pub role_definition_id: String,
    /// The principal's object id.
    pub principal_id: String,
    /// `User`, `Group` or `ServicePrincipal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<String>,
    /// The scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// A `Microsoft.Authorization/roleDefinitions` resource.
pub type RoleDefinitionResource = Resource<RoleDefinitionProperties>;

/// A role's definition.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinitionProperties {
    /// The display name.
    pub role_name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// `BuiltInRole` or `CustomRole`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// What it grants.
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// Where it can be assigned.
    #[serde(default)]
    pub assignable_scopes: Vec<String>,
}

/// One permission block of a role definition.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    /// Control-plane action patterns.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Patterns removed from `actions`.
    #[serde(default)]
    pub not_actions: Vec<String>,
    /// Data-plane action patterns.
    #[serde(default)]
    pub data_actions: Vec<String>,
    /// Patterns removed from `data_actions`.
    #[serde(default)]
    pub not_data_actions: Vec<String>,
}

/// A `Microsoft.ManagedIdentity/userAssignedIdentities` resource.
pub type UserAssignedIdentity = Resource<UserAssignedIdentityProperties>;

/// A user-assigned identity's ids and workloads.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAssignedIdentityProperties {
    /// Its tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Its object id (what roles are assigned to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// Its client id (what workloads ask tokens for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Strongroom's addition: the workloads (system-assigned identities, by name) that may use it. In Azure
    /// this is set on each workload resource; Strongroom keeps it on the identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<Vec<String>>,
}
