//! `Microsoft.ManagedIdentity/userAssignedIdentities`: create, list, show and delete user-assigned managed
//! identities, and say which workloads may use them. System-assigned identities belong to their workloads
//! (source addresses, identity headers) and come from the configuration.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use strongroom_core::directory::Change;
use strongroom_core::directory::{
    DEFAULT_RESOURCE_GROUP, ManagedIdentity, ManagedIdentityKind, Principal, PrincipalKind,
};
use strongroom_core::rbac::{Action, Scope};
use strongroom_proto::arm::{ListResult, UserAssignedIdentity, UserAssignedIdentityProperties};
use uuid::Uuid;

use super::error::ManagementError;
use super::{Context, json_response};

/// Serves `…/providers/Microsoft.ManagedIdentity/userAssignedIdentities[/{name}]`.
pub async fn handle(cx: &mut Context<'_>, name: Option<&str>) -> Result<Response, ManagementError> {
    match (name, cx.method.clone()) {
        (None, Method::GET) => {
            cx.authorize(Action::ManagedIdentitiesRead, None, &Scope::Tenant, None)?;
            let value = user_assigned(cx).iter().map(|p| resource(cx, p)).collect();
            Ok(json_response(StatusCode::OK, &ListResult { value, next_link: None }))
        }
        (Some(name), Method::GET) => {
            cx.authorize(Action::ManagedIdentitiesRead, None, &Scope::Tenant, None)?;
            let found = find(cx, name)?;
            Ok(json_response(StatusCode::OK, &resource(cx, &found)))
        }
        (Some(name), Method::PUT) => put(cx, name).await,
        (Some(name), Method::DELETE) => {
            cx.authorize(Action::ManagedIdentitiesDelete, None, &Scope::Tenant, None)?;
            let Ok(found) = find(cx, name) else {
                return Ok(json_response(StatusCode::NO_CONTENT, &serde_json::json!({})));
            };
            cx.apply(vec![Change::DeletePrincipal { object_id: found.object_id }]).await?;
            Ok(json_response(StatusCode::OK, &serde_json::json!({})))
        }
        (_, method) => Err(ManagementError::method_not_allowed(method.as_str(), "user-assigned identities")),
    }
}

fn user_assigned(cx: &Context<'_>) -> Vec<Principal> {
    let tenant = cx.tenant.id;
    cx.directory
        .principals()
        .iter()
        .filter(|p| p.tenant_id == tenant && p.kind == PrincipalKind::ManagedIdentity)
        .filter(|p| {
            cx.directory.managed_identities.get(&p.object_id).is_some_and(|m| m.kind == ManagedIdentityKind::User)
        })
        .cloned()
        .collect()
}

fn find(cx: &Context<'_>, name: &str) -> Result<Principal, ManagementError> {
    user_assigned(cx).into_iter().find(|p| p.name.eq_ignore_ascii_case(name)).ok_or_else(|| {
        ManagementError::not_found(
            "ResourceNotFound",
            format!(
                "The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/{name}' under resource group '{DEFAULT_RESOURCE_GROUP}' was not found."
            ),
        )
    })
}

async fn put(cx: &mut Context<'_>, name: &str) -> Result<Response, ManagementError> {
    cx.authorize(Action::ManagedIdentitiesWrite, None, &Scope::Tenant, None)?;
    let body: UserAssignedIdentity = if cx.body.is_empty() { UserAssignedIdentity::default() } else { cx.json()? };
    let existing = find(cx, name).ok();
    let taken = cx.directory.principals().iter().any(|p| {
        p.tenant_id == cx.tenant.id && p.kind == PrincipalKind::ManagedIdentity && p.name.eq_ignore_ascii_case(name)
    });
    if existing.is_none() && taken {
        return Err(ManagementError::conflict(
            "Conflict",
            format!("'{name}' is the name of a system-assigned identity of this tenant."),
        ));
    }
    let valid = !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(ManagementError::bad_request(
            "InvalidResourceName",
            "An identity's name is letters, digits, '-' and '_'.",
        ));
    }
    let principal = existing.clone().unwrap_or_else(|| Principal {
        object_id: Uuid::new_v4(),
        tenant_id: cx.tenant.id,
        kind: PrincipalKind::ManagedIdentity,
        name: name.to_owned(),
        client_id: Some(Uuid::new_v4()),
        trusted_service: false,
        multi_tenant: false,
    });
    let current = cx.directory.managed_identities.get(&principal.object_id).map(|m| m.assigned_to.clone());
    let assigned_to = match body.properties.assigned_to {
        None => current.unwrap_or_default(),
        Some(workloads) => workloads.iter().map(|w| workload(cx, w)).collect::<Result<_, _>>()?,
    };
    let details = ManagedIdentity {
        kind: ManagedIdentityKind::User,
        identity_header_hash: None,
        identity_header_mac: None,
        source_addresses: Vec::new(),
        assigned_to,
    };
    let mut changes = Vec::new();
    if existing.is_none() {
        changes.push(Change::CreatePrincipal(principal.clone()));
    }
    changes.push(Change::PutManagedIdentity { object_id: principal.object_id, details });
    cx.apply(changes).await?;
    let status = if existing.is_some() { StatusCode::OK } else { StatusCode::CREATED };
    Ok(json_response(status, &resource(cx, &principal)))
}

/// The object id of the workload (a system-assigned identity of the tenant) called `name`.
fn workload(cx: &Context<'_>, name: &str) -> Result<Uuid, ManagementError> {
    cx.directory
        .principals()
        .iter()
        .filter(|p| p.tenant_id == cx.tenant.id && p.name.eq_ignore_ascii_case(name))
        .find(|p| {
            cx.directory.managed_identities.get(&p.object_id).is_some_and(|m| m.kind == ManagedIdentityKind::System)
        })
        .map(|p| p.object_id)
        .ok_or_else(|| {
            ManagementError::bad_request(
                "InvalidWorkload",
                format!("'{name}' is not a workload (system-assigned identity) of this tenant."),
            )
        })
}

fn resource(cx: &Context<'_>, principal: &Principal) -> UserAssignedIdentity {
    let assigned_to =
        cx.directory.managed_identities.get(&principal.object_id).map(|m| {
            m.assigned_to.iter().filter_map(|id| cx.directory.principal(*id)).map(|p| p.name.clone()).collect()
        });
    UserAssignedIdentity {
        id: cx.directory.managed_identity_resource_id(principal.object_id).unwrap_or_default(),
        name: principal.name.clone(),
        kind: "Microsoft.ManagedIdentity/userAssignedIdentities".to_owned(),
        location: Some("local".to_owned()),
        tags: None,
        properties: UserAssignedIdentityProperties {
            tenant_id: Some(principal.tenant_id.to_string()),
            principal_id: Some(principal.object_id.to_string()),
            client_id: principal.client_id.map(|c| c.to_string()),
            assigned_to,
        },
    }
}
