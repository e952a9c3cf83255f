//! Azure Resource Manager shapes of the management API: `Microsoft.KeyVault/vaults`,
//! `Microsoft.Authorization/roleAssignments` and `roleDefinitions`, and ARM's error envelope.

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
    /// The SKU (accepted and reported; it changes nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Value>,
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
