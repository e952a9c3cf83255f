//! A Managed HSM's local RBAC on its data plane: role definitions (Managed HSM's built-in roles and the HSM's
//! custom roles) and role assignments at `/`, `/keys` or `/keys/{name}` — what `KeyVaultAccessControlClient`
//! and `az keyvault role … --hsm-name` call. Stage 4 has already checked the caller's right at the scope the
//! path names; these handlers keep the directory consistent and speak Managed HSM's JSON.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use strongroom_core::directory::{Change, Directory};
use strongroom_core::rbac::{Role, RoleAssignment, RoleKind, RolePermissions, Scope, hsm};
use strongroom_proto::managed_hsm::{
    self as wire, ListResult, Permission, ROLE_DEFINITION_ID_PREFIX, RoleAssignmentCreate, RoleDefinitionCreate,
};
use uuid::Uuid;

use super::context::{Context, parse_body};
use super::error::VaultError;

const ROLE_ASSIGNMENT_TYPE: &str = "Microsoft.Authorization/roleAssignments";
const ROLE_DEFINITION_TYPE: &str = "Microsoft.Authorization/roleDefinitions";

/// The scope a local RBAC path names (stage 4 has parsed it once already, and refused a bad one).
fn scope_of(scope: Option<&str>) -> Result<Scope, VaultError> {
    let text = scope.unwrap_or_default();
    hsm::parse_scope(text)
        .ok_or_else(|| VaultError::bad_parameter(format!("'/{text}' is not a scope of a Managed HSM.")))
}

/// A GUID the path names, or Managed HSM's refusal.
fn guid(text: &str, what: &str) -> Result<Uuid, VaultError> {
    Uuid::parse_str(text).map_err(|_| VaultError::bad_parameter(format!("{what} name must be a GUID")))
}

fn role_definition_not_found() -> VaultError {
    VaultError::not_found("RoleDefinitionNotFound", "Requested role definition not found".to_owned())
}

fn role_assignment_not_found() -> VaultError {
    VaultError::not_found("RoleAssignmentNotFound", "Requested role assignment not found".to_owned())
}

/// Applies the changes `plan` makes of the current directory, under the directory's write lock, and takes
/// the new directory up: two writers never plan from the same snapshot.
async fn apply(
    cx: &Context<'_>,
    plan: impl FnOnce(&Directory) -> Result<Vec<Change>, VaultError>,
) -> Result<Arc<Directory>, VaultError> {
    let _writer = cx.state.directory.lock_writes().await;
    let changes = plan(&cx.state.directory())?;
    cx.state.store.apply(changes).await?;
    cx.state.directory.set(cx.state.store.load_directory().await?);
    Ok(cx.state.directory())
}

fn definition_view(role: &Role) -> wire::RoleDefinition {
    let custom = matches!(role.kind, RoleKind::HsmCustom { .. });
    let p = &role.permissions;
    let granted = [&p.actions, &p.not_actions, &p.data_actions, &p.not_data_actions].iter().any(|l| !l.is_empty());
    wire::RoleDefinition {
        id: format!("{ROLE_DEFINITION_ID_PREFIX}{}", role.id),
        name: role.id.to_string(),
        resource_type: ROLE_DEFINITION_TYPE.to_owned(),
        properties: wire::RoleDefinitionProperties {
            role_name: Some(role.name.clone()),
            // Managed HSM describes its built-in roles with an empty string, and keeps a custom role's own.
            description: Some(if custom { role.description.clone() } else { String::new() }),
            role_type: Some(if custom { "CustomRole" } else { "AKVBuiltInRole" }.to_owned()),
            permissions: granted
                .then(|| Permission {
                    actions: p.actions.clone(),
                    not_actions: p.not_actions.clone(),
                    data_actions: p.data_actions.clone(),
                    not_data_actions: p.not_data_actions.clone(),
                })
                .into_iter()
                .collect(),
            assignable_scopes: vec!["/".to_owned()],
        },
    }
}

fn assignment_view(assignment: &RoleAssignment) -> wire::RoleAssignment {
    let scope = hsm::scope_text(&assignment.scope);
    let prefix = if scope == "/" { "" } else { scope.as_str() };
    wire::RoleAssignment {
        id: format!("{prefix}/providers/Microsoft.Authorization/roleAssignments/{}", assignment.id),
        name: assignment.id.to_string(),
        resource_type: ROLE_ASSIGNMENT_TYPE.to_owned(),
        properties: wire::RoleAssignmentProperties {
            scope,
            role_definition_id: format!("{ROLE_DEFINITION_ID_PREFIX}{}", assignment.role.id),
            principal_id: assignment.principal_id.to_string(),
        },
    }
}

/// Whether an assignment at `at` is listed for `scope`: the same scope, one above it or one below it.
fn related(at: &Scope, scope: &Scope) -> bool {
    let contains = |outer: &Scope, inner: &Scope| match (outer, inner) {
        (Scope::Vault | Scope::Tenant, _) => true,
        (Scope::Collection(c), Scope::Object { collection, .. }) => c == collection,
        (outer, inner) => outer == inner,
    };
    contains(at, scope) || contains(scope, at)
}

/// `GET /{scope}/providers/Microsoft.Authorization/roleAssignments`: the HSM's assignments at, above and below
/// the scope.
pub async fn list_assignments(cx: &Context<'_>, scope: Option<&str>) -> Result<Response, VaultError> {
    let scope = scope_of(scope)?;
    let directory = cx.state.directory();
    let value = directory
        .role_assignments(cx.vault.id)
        .iter()
        .filter(|a| related(&a.scope, &scope))
        .map(assignment_view)
        .collect();
    Ok(Json(ListResult { value, next_link: None }).into_response())
}

/// `GET /{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
pub async fn get_assignment(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let id = guid(name, "Role assignment").map_err(|_| role_assignment_not_found())?;
    let directory = cx.state.directory();
    let assignment = directory.role_assignments(cx.vault.id).iter().find(|a| a.id == id);
    Ok(Json(assignment_view(assignment.ok_or_else(role_assignment_not_found)?)).into_response())
}

/// `PUT /{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`: assigns a role of this HSM to an
/// object id (never a principal of another tenant), at the path's scope; `201` with the assignment.
pub async fn create_assignment(
    cx: &Context<'_>,
    scope: Option<&str>,
    name: &str,
    body: &[u8],
) -> Result<Response, VaultError> {
    let scope = scope_of(scope)?;
    let id = guid(name, "Role assignment")?;
    let request: RoleAssignmentCreate = parse_body(body, "RoleAssignmentCreateParameters")?;
    let principal_id = Uuid::parse_str(request.properties.principal_id.trim())
        .map_err(|_| VaultError::bad_parameter("The principalId is not a GUID."))?;
    let hsm = cx.vault;
    let directory = apply(cx, |directory| {
        // Only Managed HSM's roles and this HSM's own: a vault's, another HSM's or another tenant's never.
        let role = directory
            .hsm_role(hsm.id, &request.properties.role_definition_id)
            .cloned()
            .ok_or_else(|| VaultError::bad_parameter("The role definition does not exist in this Managed HSM."))?;
        // Managed HSM takes any object id, as it does not look principals up (Microsoft's own sample assigns a
        // client id); only another tenant's principal, which could never sign in here, is refused.
        if directory.principal(principal_id).is_some_and(|p| p.tenant_id != hsm.tenant_id) {
            return Err(VaultError::bad_parameter(format!(
                "Principal {principal_id} belongs to another tenant than this Managed HSM's."
            )));
        }
        let existing = directory.role_assignments(hsm.id);
        if existing.iter().any(|a| a.id == id) {
            return Err(VaultError::conflict("RoleAssignmentExists", "The role assignment already exists."));
        }
        let assignment = RoleAssignment { id, principal_id, role, scope, provisioned: false };
        Ok(vec![Change::PutRoleAssignment { tenant_id: hsm.tenant_id, vault_id: Some(hsm.id), assignment }])
    })
    .await?;
    let assignment = directory.role_assignments(hsm.id).iter().find(|a| a.id == id).ok_or_else(VaultError::internal)?;
    Ok((StatusCode::CREATED, Json(assignment_view(assignment))).into_response())
}

/// `DELETE /{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`: `200` with what was deleted.
pub async fn delete_assignment(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let id = guid(name, "Role assignment").map_err(|_| role_assignment_not_found())?;
    let hsm = cx.vault;
    let mut deleted = None;
    apply(cx, |directory| {
        let assignment = directory.role_assignments(hsm.id).iter().find(|a| a.id == id);
        deleted = Some(assignment_view(assignment.ok_or_else(role_assignment_not_found)?));
        Ok(vec![Change::DeleteRoleAssignment { id }])
    })
    .await?;
    Ok(Json(deleted).into_response())
}

/// `GET /{scope}/providers/Microsoft.Authorization/roleDefinitions`: Managed HSM's built-in roles and the
/// HSM's custom ones.
pub async fn list_definitions(cx: &Context<'_>, scope: Option<&str>) -> Result<Response, VaultError> {
    scope_of(scope)?;
    let directory = cx.state.directory();
    let custom = directory.hsm_custom_roles(cx.vault.id);
    let value = hsm::built_in_roles().iter().chain(custom).map(definition_view).collect();
    Ok(Json(ListResult { value, next_link: None }).into_response())
}

/// `GET /{scope}/providers/Microsoft.Authorization/roleDefinitions/{name}`.
pub async fn get_definition(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let id = guid(name, "Role definition").map_err(|_| role_definition_not_found())?;
    let directory = cx.state.directory();
    let role = directory.hsm_role(cx.vault.id, &id.to_string()).ok_or_else(role_definition_not_found)?;
    Ok(Json(definition_view(role)).into_response())
}

/// `PUT /{scope}/providers/Microsoft.Authorization/roleDefinitions/{name}`: creates or changes a custom role
/// of this HSM; `201` with the role.
pub async fn set_definition(
    cx: &Context<'_>,
    scope: Option<&str>,
    name: &str,
    body: &[u8],
) -> Result<Response, VaultError> {
    scope_of(scope)?;
    let id = guid(name, "Role definition")?;
    let request: RoleDefinitionCreate = parse_body(body, "RoleDefinitionCreateParameters")?;
    let properties = request.properties;
    if properties.role_type.as_deref().is_some_and(|t| t != "CustomRole") {
        return Err(VaultError::bad_parameter("Only a CustomRole can be created or changed."));
    }
    if properties.assignable_scopes.iter().any(|s| s != "/") {
        return Err(VaultError::bad_parameter(
            "A role definition's assignable scope is '/': Managed HSM supports no other.",
        ));
    }
    let mut permissions = RolePermissions::default();
    for entry in properties.permissions {
        permissions.actions.extend(entry.actions);
        permissions.not_actions.extend(entry.not_actions);
        permissions.data_actions.extend(entry.data_actions);
        permissions.not_data_actions.extend(entry.not_data_actions);
    }
    let hsm = cx.vault;
    let directory = apply(cx, |directory| {
        if hsm::built_in_roles().iter().any(|r| r.id == id) {
            return Err(VaultError::bad_parameter(
                "Cannot re-use the name/GUID matching that of a built-in role. Please use a unique role ID.",
            ));
        }
        // The role keeps its name when a change leaves it out; a new one without a name is named by its GUID.
        let current = directory.hsm_custom_roles(hsm.id).find(|r| r.id == id);
        // A role's id is unique in the whole directory: another HSM's or tenant's role keeps it.
        if current.is_none() && directory.role_definitions.iter().any(|r| r.id == id) {
            return Err(VaultError::conflict(
                "RoleDefinitionExists",
                "A role definition outside this Managed HSM has this GUID. Please use a unique role ID.",
            ));
        }
        let role_name =
            properties.role_name.or_else(|| current.map(|r| r.name.clone())).unwrap_or_else(|| id.to_string());
        if directory.hsm_custom_roles(hsm.id).any(|r| r.id != id && r.name.eq_ignore_ascii_case(&role_name)) {
            return Err(VaultError::conflict(
                "RoleDefinitionExists",
                "A role definition with this name already exists.",
            ));
        }
        let description = properties.description.unwrap_or_default();
        let role = hsm::custom_role(hsm.tenant_id, hsm.id, id, &role_name, &description, permissions)?;
        Ok(vec![Change::PutRoleDefinition(Role::new(role))])
    })
    .await?;
    let role = directory.hsm_role(hsm.id, &id.to_string()).ok_or_else(VaultError::internal)?;
    Ok((StatusCode::CREATED, Json(definition_view(role))).into_response())
}

/// `DELETE /{scope}/providers/Microsoft.Authorization/roleDefinitions/{name}`: a custom role no assignment
/// holds; `200` with what was deleted.
pub async fn delete_definition(cx: &Context<'_>, name: &str) -> Result<Response, VaultError> {
    let id = guid(name, "Role definition").map_err(|_| role_definition_not_found())?;
    let hsm = cx.vault;
    let mut deleted = None;
    apply(cx, |directory| {
        if hsm::built_in_roles().iter().any(|r| r.id == id) {
            return Err(VaultError::bad_parameter(
                "Cannot re-use the name/GUID matching that of a built-in role. Please use a unique role ID.",
            ));
        }
        let role = directory.hsm_custom_roles(hsm.id).find(|r| r.id == id).ok_or_else(role_definition_not_found)?;
        if directory.role_assignments(hsm.id).iter().any(|a| a.role.id == id) {
            return Err(VaultError::bad_parameter(
                "The role definition is assigned: delete its role assignments first.",
            ));
        }
        deleted = Some(definition_view(role));
        Ok(vec![Change::DeleteRoleDefinition { id }])
    })
    .await?;
    Ok(Json(deleted).into_response())
}
