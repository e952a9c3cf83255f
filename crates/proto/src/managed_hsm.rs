//! Managed HSM's own data-plane JSON: local RBAC role definitions and assignments, and settings.

use serde::{Deserialize, Serialize};

/// The id prefix of every role definition a Managed HSM shows (no leading slash, whatever the scope).
pub const ROLE_DEFINITION_ID_PREFIX: &str = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/";

/// A role definition as Managed HSM shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleDefinition {
    /// `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{guid}`.
    pub id: String,
    /// The role's GUID.
    pub name: String,
    /// `Microsoft.Authorization/roleDefinitions`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// What it is and grants.
    pub properties: RoleDefinitionProperties,
}

/// A role definition's properties, as shown and as sent to create or change one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinitionProperties {
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `AKVBuiltInRole` or `CustomRole`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub role_type: Option<String>,
    /// What it grants.
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// Where it may be assigned.
    #[serde(default)]
    pub assignable_scopes: Vec<String>,
}

/// One permission entry of a role definition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    /// Control-plane action patterns.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Patterns taken away from `actions`.
    #[serde(default)]
    pub not_actions: Vec<String>,
    /// Data action patterns.
    #[serde(default)]
    pub data_actions: Vec<String>,
    /// Patterns taken away from `data_actions`.
    #[serde(default)]
    pub not_data_actions: Vec<String>,
}

/// The body of a role definition's PUT.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RoleDefinitionCreate {
    /// What the role is and grants.
    #[serde(default)]
    pub properties: RoleDefinitionProperties,
}

/// A role assignment as Managed HSM shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleAssignment {
    /// `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
    pub id: String,
    /// The assignment's name.
    pub name: String,
    /// `Microsoft.Authorization/roleAssignments`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Whom it grants what, where.
    pub properties: RoleAssignmentProperties,
}

/// A role assignment's properties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentProperties {
    /// `/`, `/keys` or `/keys/{name}`.
    pub scope: String,
    /// The role's definition id.
    pub role_definition_id: String,
    /// The principal's object id.
    pub principal_id: String,
}

/// The body of a role assignment's PUT.
#[derive(Debug, Clone, Deserialize)]
pub struct RoleAssignmentCreate {
    /// The role and the principal.
    pub properties: RoleAssignmentCreateProperties,
}

/// What a new role assignment grants, and to whom.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentCreateProperties {
    /// The role's definition id (or GUID).
    pub role_definition_id: String,
    /// The principal's object id.
    pub principal_id: String,
}

/// A page of a list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResult<T> {
    /// The items.
    pub value: Vec<T>,
    /// The next page; never set, as a Managed HSM's lists are short.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// One account setting of a Managed HSM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    /// Its name.
    pub name: String,
    /// Its value, a string whatever its type.
    pub value: String,
    /// `boolean`.
    #[serde(rename = "type")]
    pub setting_type: String,
}

/// Every setting.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettingsList {
    /// The settings.
    pub settings: Vec<Setting>,
}

/// The body of a setting's PATCH.
#[derive(Debug, Clone, Deserialize)]
pub struct SettingUpdate {
    /// The new value.
    pub value: String,
}
