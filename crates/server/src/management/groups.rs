//! `Microsoft.Resources/resourceGroups`: a subscription's resource groups, which file its vaults — list, get,
//! check (`HEAD`), create or change tags (`PUT`), and delete with the vaults in it (soft-deleted, as Azure
//! deletes them). Groups are governed by the tenant's role assignments (a group is not a scope of its own).

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use strongroom_core::directory::{
    Change, DEFAULT_RESOURCE_GROUP, DeletedVault, ManagedIdentityKind, ResourceGroup, Tags, VaultKind,
    validate_location, validate_resource_group_name, validate_tags,
};
use strongroom_core::rbac::{Action, Scope};
use strongroom_proto::arm::{ListResult, ResourceGroupProperties, ResourceGroupResource};

use super::error::ManagementError;
use super::resource::{Tail, resource_group_id};
use super::{Context, json_response};

/// Serves `/subscriptions/{id}/resourcegroups[/{group}]`.
pub async fn handle(cx: &mut Context<'_>, tail: &Tail) -> Result<Response, ManagementError> {
    match (tail, cx.method.clone()) {
        (Tail::ResourceGroups, Method::GET) => {
            cx.authorize(Action::ResourceGroupsRead, None, &Scope::Tenant, None)?;
            let subscription = cx.subscription_id();
            let value = cx
                .directory
                .resource_groups
                .iter()
                .filter(|g| g.subscription_id == subscription)
                .map(|g| to_resource(cx, g))
                .collect();
            Ok(json_response(StatusCode::OK, &ListResult { value, next_link: None }))
        }
        (Tail::ResourceGroup, Method::GET) => {
            cx.authorize(Action::ResourceGroupsRead, None, &Scope::Tenant, None)?;
            Ok(json_response(StatusCode::OK, &to_resource(cx, &existing(cx)?)))
        }
        (Tail::ResourceGroup, Method::HEAD) => {
            cx.authorize(Action::ResourceGroupsRead, None, &Scope::Tenant, None)?;
            let status = if existing(cx).is_ok() { StatusCode::NO_CONTENT } else { StatusCode::NOT_FOUND };
            Ok(status.into_response())
        }
        (Tail::ResourceGroup, Method::PUT | Method::PATCH) => put(cx).await,
        (Tail::ResourceGroup, Method::DELETE) => delete(cx).await,
        (_, method) => Err(ManagementError::method_not_allowed(method.as_str(), "resource groups")),
    }
}

/// The resource group the path names, or `ResourceGroupNotFound`.
pub fn existing(cx: &Context<'_>) -> Result<ResourceGroup, ManagementError> {
    let name = cx.resource_group.as_deref().unwrap_or_default();
    cx.directory.resource_group(cx.subscription_id(), name).cloned().ok_or_else(|| not_found(name))
}

/// 404 for a resource group that does not exist.
pub fn not_found(name: &str) -> ManagementError {
    ManagementError::not_found("ResourceGroupNotFound", format!("Resource group '{name}' could not be found."))
}

/// `PUT` creates the group or sets its tags; `PATCH` sets its tags. A group keeps the location it was made in.
async fn put(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
    let name = cx.resource_group.clone().unwrap_or_default();
    let body: ResourceGroupResource = cx.json()?;
    cx.authorize(Action::ResourceGroupsWrite, None, &Scope::Tenant, None)?;
    validate_resource_group_name(&name)?;
    let tags = tags_from(body.tags.as_ref())?;
    let found = existing(cx).ok();
    let group = match found.clone() {
        Some(group) => {
            if let Some(location) = body.location.as_deref().filter(|l| !l.eq_ignore_ascii_case(&group.location)) {
                return Err(ManagementError::conflict(
                    "InvalidResourceGroupLocation",
                    format!(
                        "Invalid resource group location '{location}'. The Resource group already exists in location '{}'.",
                        group.location
                    ),
                ));
            }
            ResourceGroup { tags: tags.unwrap_or(group.tags.clone()), ..group }
        }
        None if cx.method == Method::PATCH => return Err(not_found(&name)),
        None => {
            let location = body.location.clone().ok_or_else(|| {
                ManagementError::bad_request(
                    "LocationRequired",
                    "The location property is required for this definition.",
                )
            })?;
            validate_location(&location)?;
            ResourceGroup { subscription_id: cx.subscription_id(), name, location, tags: tags.unwrap_or_default() }
        }
    };
    if found.as_ref() != Some(&group) {
        cx.apply(vec![Change::PutResourceGroup(group.clone())]).await?;
    }
    let status = if found.is_some() { StatusCode::OK } else { StatusCode::CREATED };
    Ok(json_response(status, &to_resource(cx, &group)))
}

/// Deletes the group and soft-deletes its vaults and Managed HSMs (each needs `vaults/delete` or
/// `managedHSMs/delete` too), in one transaction. The
/// default group of the default subscription also holds the tenant's user-assigned identities, which
/// Strongroom does not delete with it: while there are any, it stays.
async fn delete(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
    cx.authorize(Action::ResourceGroupsDelete, None, &Scope::Tenant, None)?;
    let group = existing(cx)?;
    let holds_identities = group.name.eq_ignore_ascii_case(DEFAULT_RESOURCE_GROUP)
        && cx.directory.default_subscription(cx.tenant.id).is_some_and(|s| s.id == group.subscription_id)
        && cx.directory.principals().iter().any(|p| {
            p.tenant_id == cx.tenant.id
                && cx
                    .directory
                    .managed_identity(p.object_id)
                    .is_some_and(|(_, mi)| mi.kind == ManagedIdentityKind::User)
        });
    if holds_identities {
        return Err(ManagementError::conflict(
            "ResourceGroupNotEmpty",
            format!("Resource group '{}' holds user-assigned managed identities; delete them first.", group.name),
        ));
    }
    let directory = std::sync::Arc::clone(&cx.directory);
    let now = cx.state.clock.now_seconds();
    let mut changes = Vec::new();
    for vault in directory.vaults_in_group(group.subscription_id, &group.name) {
        match vault.kind {
            VaultKind::Vault => cx.authorize(Action::VaultsDelete, Some(vault), &Scope::Vault, None)?,
            // An HSM's own assignments are its local RBAC's: Azure roles reach it from the subscription only.
            VaultKind::ManagedHsm => cx.authorize(Action::ManagedHsmsDelete, None, &Scope::Tenant, None)?,
        }
        changes.push(Change::SoftDeleteVault(DeletedVault::of(vault.clone(), now)));
    }
    cx.draft.action = Some(Action::ResourceGroupsDelete);
    changes.push(Change::DeleteResourceGroup { subscription_id: group.subscription_id, name: group.name });
    cx.apply(changes).await?;
    Ok(StatusCode::OK.into_response())
}

/// Tags as a request gives them: an object of strings, checked; `None` when absent.
pub fn tags_from(value: Option<&Value>) -> Result<Option<Tags>, ManagementError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let invalid = || ManagementError::bad_request("InvalidTag", "Tags are an object whose values are strings.");
    let object = value.as_object().ok_or_else(invalid)?;
    let tags = object
        .iter()
        .map(|(name, value)| value.as_str().map(|v| (name.clone(), v.to_owned())).ok_or_else(invalid))
        .collect::<Result<Tags, _>>()?;
    validate_tags(&tags)?;
    Ok(Some(tags))
}

/// Tags as a response shows them.
pub fn tags_value(tags: &Tags) -> Value {
    Value::Object(tags.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

fn to_resource(cx: &Context<'_>, group: &ResourceGroup) -> ResourceGroupResource {
    ResourceGroupResource {
        id: resource_group_id(cx.shown_subscription(), &group.name),
        name: group.name.clone(),
        kind: "Microsoft.Resources/resourceGroups".to_owned(),
        location: Some(group.location.clone()),
        tags: Some(tags_value(&group.tags)),
        properties: ResourceGroupProperties { provisioning_state: Some("Succeeded".to_owned()) },
    }
}
