//! `Microsoft.Authorization`: role assignments at a tenant, vault or object scope, and role definitions
//! (built-in and custom), shaped as Resource Manager shapes them. A change is in the directory snapshot when
//! the response leaves, so the next data-plane request is decided by it.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use strongroom_core::directory::Change;
use strongroom_core::directory::{PrincipalKind, Vault, VaultKind};
use strongroom_core::rbac::{
    Action, Role, RoleAssignment, RoleDefinition, RoleKind, RolePermissions, Scope, built_in_roles,
};
use strongroom_proto::arm::{
    ListResult, Permission, RoleAssignmentProperties, RoleAssignmentResource, RoleDefinitionProperties,
    RoleDefinitionResource,
};
use uuid::Uuid;

use super::error::ManagementError;
use super::resource::{ArmPath, Tail, scope_id};
use super::{Context, json_response, query_value};

/// An assignment with where it lives.
struct Placed<'a> {
    vault: Option<&'a Vault>,
    assignment: &'a RoleAssignment,
}

/// Serves `…/providers/Microsoft.Authorization/roleAssignments[/{name}]`.
pub async fn assignments(cx: &mut Context<'_>, path: &ArmPath) -> Result<Response, ManagementError> {
    let vault = path.vault.as_deref().map(|name| cx.vault(name)).transpose()?;
    let scope = path.scope();
    let Tail::RoleAssignments(name) = &path.tail else {
        return Err(ManagementError::internal());
    };
    match (name, cx.method.clone()) {
        (None, Method::GET) => list_assignments(cx, vault.as_ref(), &scope),
        (Some(name), Method::GET) => {
            cx.authorize(Action::RoleAssignmentsRead, vault.as_ref(), &scope, None)?;
            let directory = std::sync::Arc::clone(&cx.directory);
            let found = find_assignment(cx, &directory, name, vault.as_ref(), &scope)
                .ok_or_else(|| assignment_not_found(name))?;
            Ok(json_response(StatusCode::OK, &assignment_resource(cx, &found)))
        }
        (Some(name), Method::PUT) => create_assignment(cx, name, vault.as_ref(), scope).await,
        (Some(name), Method::DELETE) => delete_assignment(cx, name, vault.as_ref(), &scope).await,
        (_, method) => Err(ManagementError::method_not_allowed(method.as_str(), "role assignments")),
    }
}

/// 409 for an id that another tenant's object already has.
fn id_in_use(what: &str, id: Uuid) -> ManagementError {
    ManagementError::conflict(
        "ResourceIdInUse",
        format!("The {what} id '{id}' is already in use. Ids are unique across the installation; choose another GUID."),
    )
}

fn assignment_not_found(name: &str) -> ManagementError {
    ManagementError::not_found("RoleAssignmentNotFound", format!("The role assignment '{name}' is not found."))
}

/// Every Azure-role assignment of the caller's tenant, with its vault.
fn tenant_assignments<'a>(cx: &Context<'_>, directory: &'a strongroom_core::directory::Directory) -> Vec<Placed<'a>> {
    let tenant = cx.tenant.id;
    let at_tenant = directory.tenant_role_assignments(tenant).iter().map(|a| Placed { vault: None, assignment: a });
    let in_vaults =
        // A Managed HSM's assignments are its local RBAC's, managed on its data plane, not here.
        directory.vaults().iter().filter(|v| v.kind == VaultKind::Vault && v.tenant_id == tenant).flat_map(|v| {
            directory.role_assignments(v.id).iter().map(move |a| Placed { vault: Some(v), assignment: a })
        });
    at_tenant.chain(in_vaults).filter(|p| p.assignment.role.kind != RoleKind::Directory).collect()
}

fn find_assignment<'a>(
    cx: &Context<'_>,
    directory: &'a strongroom_core::directory::Directory,
    name: &str,
    vault: Option<&Vault>,
    scope: &Scope,
) -> Option<Placed<'a>> {
    let id = Uuid::parse_str(name).ok()?;
    tenant_assignments(cx, directory)
        .into_iter()
        .find(|p| p.assignment.id == id && p.vault.map(|v| v.id) == vault.map(|v| v.id) && &p.assignment.scope == scope)
}

/// Assignments at, above and below `scope` (`$filter=atScope()`: at and above; `principalId eq '…'`: that
/// principal's).
fn list_assignments(cx: &mut Context<'_>, vault: Option<&Vault>, scope: &Scope) -> Result<Response, ManagementError> {
    cx.authorize(Action::RoleAssignmentsRead, vault, scope, None)?;
    let filter = query_value(cx.query.as_deref(), "$filter").unwrap_or_default();
    let at_scope_only = filter.replace(' ', "").eq_ignore_ascii_case("atScope()");
    let principal = filter
        .split_once("eq")
        .filter(|(field, _)| field.trim().eq_ignore_ascii_case("principalId"))
        .and_then(|(_, value)| Uuid::parse_str(value.trim().trim_matches('\'')).ok());
    let directory = std::sync::Arc::clone(&cx.directory);
    let value = tenant_assignments(cx, &directory)
        .into_iter()
        .filter(|p| principal.is_none_or(|id| p.assignment.principal_id == id))
        .filter(|p| {
            let same_vault = vault.is_some_and(|v| p.vault.is_some_and(|pv| pv.id == v.id));
            let above = p.vault.is_none() || (same_vault && p.assignment.scope == Scope::Vault);
            let at = (p.vault.is_none() && vault.is_none()) || (same_vault && &p.assignment.scope == scope);
            let below = vault.is_none() || (same_vault && *scope == Scope::Vault);
            at || above || (!at_scope_only && below)
        })
        .map(|p| assignment_resource(cx, &p))
        .collect();
    Ok(json_response(StatusCode::OK, &ListResult { value, next_link: None }))
}

async fn create_assignment(
    cx: &mut Context<'_>,
    name: &str,
    vault: Option<&Vault>,
    scope: Scope,
) -> Result<Response, ManagementError> {
    let id = Uuid::parse_str(name).map_err(|_| {
        ManagementError::bad_request(
            "InvalidRoleAssignmentId",
            format!("The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID."),
        )
    })?;
    let body: RoleAssignmentResource = cx.json()?;
    let role = cx
        .directory
        .role(cx.tenant.id, &body.properties.role_definition_id)
        .cloned()
        .filter(|r| r.kind != RoleKind::Directory)
        .ok_or_else(|| {
            ManagementError::bad_request(
                "RoleDefinitionDoesNotExist",
                format!(
                    "The specified role definition with ID '{}' does not exist.",
                    body.properties.role_definition_id
                ),
            )
        })?;
    let principal_id = Uuid::parse_str(&body.properties.principal_id)
        .ok()
        .and_then(|id| cx.directory.principal(id))
        .filter(|p| p.tenant_id == cx.tenant.id)
        .map(|p| p.object_id)
        .ok_or_else(|| {
            ManagementError::bad_request(
                "PrincipalNotFound",
                format!("Principal {} does not exist in the directory {}.", body.properties.principal_id, cx.tenant.id),
            )
        })?;
    cx.authorize(Action::RoleAssignmentsWrite, vault, &scope, Some(&role))?;
    let directory = std::sync::Arc::clone(&cx.directory);
    let existing = tenant_assignments(cx, &directory);
    // Assignment ids are unique across the installation: one of another tenant is never taken over.
    let taken_elsewhere = !existing.iter().any(|p| p.assignment.id == id)
        && directory
            .tenant_role_assignments
            .values()
            .chain(directory.role_assignments.values())
            .flatten()
            .any(|a| a.id == id);
    if taken_elsewhere {
        return Err(id_in_use("role assignment", id));
    }
    if let Some(same_id) = existing.iter().find(|p| p.assignment.id == id) {
        let a = same_id.assignment;
        if a.principal_id == principal_id && a.role.id == role.id && a.scope == scope {
            return Ok(json_response(StatusCode::CREATED, &assignment_resource(cx, same_id)));
        }
        return Err(ManagementError::conflict(
            "RoleAssignmentUpdateNotPermitted",
            "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
        ));
    }
    let duplicate = existing.iter().any(|p| {
        p.vault.map(|v| v.id) == vault.map(|v| v.id)
            && p.assignment.principal_id == principal_id
            && p.assignment.role.id == role.id
            && p.assignment.scope == scope
    });
    if duplicate {
        return Err(ManagementError::conflict("RoleAssignmentExists", "The role assignment already exists."));
    }
    let assignment = RoleAssignment { id, principal_id, role, scope, provisioned: false };
    let placed = Placed { vault, assignment: &assignment };
    let response = assignment_resource(cx, &placed);
    cx.apply(vec![Change::PutRoleAssignment {
        tenant_id: cx.tenant.id,
        vault_id: vault.map(|v| v.id),
        assignment: assignment.clone(),
    }])
    .await?;
    Ok(json_response(StatusCode::CREATED, &response))
}

async fn delete_assignment(
    cx: &mut Context<'_>,
    name: &str,
    vault: Option<&Vault>,
    scope: &Scope,
) -> Result<Response, ManagementError> {
    let directory = std::sync::Arc::clone(&cx.directory);
    let Some(found) = find_assignment(cx, &directory, name, vault, scope) else {
        cx.authorize(Action::RoleAssignmentsDelete, vault, scope, None)?;
        return Ok(json_response(StatusCode::NO_CONTENT, &serde_json::json!({})));
    };
    cx.authorize(Action::RoleAssignmentsDelete, vault, scope, Some(&found.assignment.role))?;
    let response = assignment_resource(cx, &found);
    cx.apply(vec![Change::DeleteRoleAssignment { id: found.assignment.id }]).await?;
    Ok(json_response(StatusCode::OK, &response))
}

fn assignment_resource(cx: &Context<'_>, placed: &Placed<'_>) -> RoleAssignmentResource {
    let a = placed.assignment;
    let scope = scope_id(cx.shown_subscription(), placed.vault, &a.scope);
    let principal_type = cx.directory.principal(a.principal_id).map(|p| match p.kind {
        PrincipalKind::User => "User",
        PrincipalKind::Group => "Group",
        PrincipalKind::Application | PrincipalKind::ManagedIdentity => "ServicePrincipal",
    });
    RoleAssignmentResource {
        id: format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{}", a.id),
        name: a.id.to_string(),
        kind: "Microsoft.Authorization/roleAssignments".to_owned(),
        location: None,
        tags: None,
        properties: RoleAssignmentProperties {
            role_definition_id: definition_id(cx, &a.role),
            principal_id: a.principal_id.to_string(),
            principal_type: principal_type.map(str::to_owned),
            scope: Some(scope),
        },
    }
}

fn definition_id(cx: &Context<'_>, role: &RoleDefinition) -> String {
    format!("/subscriptions/{}{}", cx.shown_subscription(), role.definition_id())
}

/// Serves `…/providers/Microsoft.Authorization/roleDefinitions[/{id}]`.
pub async fn definitions(cx: &mut Context<'_>, path: &ArmPath) -> Result<Response, ManagementError> {
    let vault = path.vault.as_deref().map(|name| cx.vault(name)).transpose()?;
    let scope = path.scope();
    let Tail::RoleDefinitions(id) = &path.tail else {
        return Err(ManagementError::internal());
    };
    match (id, cx.method.clone()) {
        (None, Method::GET) => {
            cx.authorize(Action::RoleDefinitionsRead, vault.as_ref(), &scope, None)?;
            let filter = query_value(cx.query.as_deref(), "$filter").unwrap_or_default();
            let wanted_name = filter
                .split_once("eq")
                .filter(|(field, _)| field.trim().eq_ignore_ascii_case("roleName"))
                .map(|(_, value)| value.trim().trim_matches('\'').to_owned());
            let value = azure_roles(cx)
                .into_iter()
                .filter(|r| wanted_name.as_ref().is_none_or(|n| r.name.eq_ignore_ascii_case(n)))
                .map(|r| definition_resource(cx, &r))
                .collect();
            Ok(json_response(StatusCode::OK, &ListResult { value, next_link: None }))
        }
        (Some(id), Method::GET) => {
            cx.authorize(Action::RoleDefinitionsRead, vault.as_ref(), &scope, None)?;
            let role =
                azure_roles(cx).into_iter().find(|r| r.id.to_string().eq_ignore_ascii_case(id)).ok_or_else(|| {
                    ManagementError::not_found(
                        "RoleDefinitionDoesNotExist",
                        format!("The role definition '{id}' could not be found."),
                    )
                })?;
            Ok(json_response(StatusCode::OK, &definition_resource(cx, &role)))
        }
        (Some(id), Method::PUT) => put_definition(cx, id).await,
        (Some(id), Method::DELETE) => delete_definition(cx, id).await,
        (_, method) => Err(ManagementError::method_not_allowed(method.as_str(), "role definitions")),
    }
}

/// The Azure roles the tenant can assign: built-in ones, then its custom ones.
fn azure_roles(cx: &Context<'_>) -> Vec<Role> {
    built_in_roles()
        .iter()
        .filter(|r| r.kind == RoleKind::BuiltIn)
        .chain(cx.directory.custom_roles(cx.tenant.id))
        .cloned()
        .collect()
}

async fn put_definition(cx: &mut Context<'_>, id: &str) -> Result<Response, ManagementError> {
    cx.authorize(Action::RoleDefinitionsWrite, None, &Scope::Tenant, None)?;
    let id = Uuid::parse_str(id)
        .map_err(|_| ManagementError::bad_request("InvalidRoleDefinitionId", "A role definition's id is a GUID."))?;
    if built_in_roles().iter().any(|r| r.id == id) {
        return Err(ManagementError::bad_request(
            "RoleDefinitionUpdateNotPermitted",
            "Built-in roles cannot be changed.",
        ));
    }
    let body: RoleDefinitionResource = cx.json()?;
    let properties = body.properties;
    let permissions = properties.permissions.iter().fold(RolePermissions::default(), |mut all, p| {
        all.actions.extend(p.actions.iter().cloned());
        all.not_actions.extend(p.not_actions.iter().cloned());
        all.data_actions.extend(p.data_actions.iter().cloned());
        all.not_data_actions.extend(p.not_data_actions.iter().cloned());
        all
    });
    let role = RoleDefinition::custom(cx.tenant.id, id, &properties.role_name, &properties.description, permissions)?;
    // Role definition ids are unique across the installation: one of another tenant is never rewritten.
    if cx.directory.role_definitions.iter().any(|r| r.id == id && r.kind != role.kind) {
        return Err(id_in_use("role definition", id));
    }
    if cx.directory.custom_roles(cx.tenant.id).any(|r| r.id != id && r.name.eq_ignore_ascii_case(&role.name)) {
        return Err(ManagementError::conflict(
            "RoleDefinitionWithSameNameExists",
            format!("A custom role named '{}' already exists in this tenant.", role.name),
        ));
    }
    let created = !cx.directory.custom_roles(cx.tenant.id).any(|r| r.id == id);
    let role = Role::new(role);
    cx.apply(vec![Change::PutRoleDefinition(role.clone())]).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json_response(status, &definition_resource(cx, &role)))
}

async fn delete_definition(cx: &mut Context<'_>, id: &str) -> Result<Response, ManagementError> {
    cx.authorize(Action::RoleDefinitionsDelete, None, &Scope::Tenant, None)?;
    let Some(role) =
        cx.directory.custom_roles(cx.tenant.id).find(|r| r.id.to_string().eq_ignore_ascii_case(id)).cloned()
    else {
        return Ok(json_response(StatusCode::NO_CONTENT, &serde_json::json!({})));
    };
    let directory = std::sync::Arc::clone(&cx.directory);
    if tenant_assignments(cx, &directory).iter().any(|p| p.assignment.role.id == role.id) {
        return Err(ManagementError::conflict(
            "RoleDefinitionHasAssignments",
            "There are existing role assignments referencing this role; remove them first.",
        ));
    }
    let response = definition_resource(cx, &role);
    cx.apply(vec![Change::DeleteRoleDefinition { id: role.id }]).await?;
    Ok(json_response(StatusCode::OK, &response))
}

fn definition_resource(cx: &Context<'_>, role: &RoleDefinition) -> RoleDefinitionResource {
    let p = &role.permissions;
    RoleDefinitionResource {
        id: definition_id(cx, role),
        name: role.id.to_string(),
        kind: "Microsoft.Authorization/roleDefinitions".to_owned(),
        location: None,
        tags: None,
        properties: RoleDefinitionProperties {
            role_name: role.name.clone(),
            description: role.description.clone(),
            kind: if role.kind == RoleKind::BuiltIn { "BuiltInRole" } else { "CustomRole" }.to_owned(),
            permissions: vec![Permission {
                actions: p.actions.clone(),
                not_actions: p.not_actions.clone(),
                data_actions: p.data_actions.clone(),
                not_data_actions: p.not_data_actions.clone(),
            }],
            assignable_scopes: vec![format!("/subscriptions/{}", cx.shown_subscription())],
        },
    }
}
