//! `Microsoft.KeyVault/managedHSMs`: create (PUT), read, list, update (PATCH) and delete Managed HSMs, and the
//! soft-deleted ones (list, get, purge; recovery is a PUT with `createMode: recover`), shaped as Resource
//! Manager shapes them. An HSM is a vault of [`VaultKind::ManagedHsm`], so its name is unique together with
//! the vaults'. Who may use its keys is the HSM's own local RBAC: the `initialAdminObjectIds` of its creation
//! become Managed HSM Administrators at `/`, who manage the rest on its data plane. Azure roles manage the
//! resource only (Owner and Contributor; Reader reads; Key Vault Contributor, as in Azure, does not reach
//! HSMs), and are checked at the subscription's scope: this server assigns no Azure role at an HSM's scope.
//! Every operation completes before its response, which the SDKs' pollers take as done.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use strongroom_core::directory::{
    AuthorizationModel, Change, DeletedVault, Sku, Vault, VaultKind, validate_location, validate_vault_name,
};
use strongroom_core::network::NetworkRules;
use strongroom_core::rbac::{Action, Scope, hsm};
use strongroom_proto::arm::{
    DeletedManagedHsmProperties, DeletedManagedHsmResource, ListResult, ManagedHsmProperties, ManagedHsmResource,
    SecurityDomainProperties, VaultSku,
};
use uuid::Uuid;

use super::deleted::DeletedKind;
use super::error::ManagementError;
use super::groups::{self, tags_from, tags_value};
use super::resource::{Tail, resource_group_id, subscription_id_path};
use super::vaults::{SharedSettings, date, merge_shared, network_acls, public_network_access_value};
use super::{Context, json_response};
use crate::vault::security_domain;

/// Most principals one creation makes administrators.
const MAX_INITIAL_ADMINISTRATORS: usize = 100;

/// Soft-deleted Managed HSMs.
const DELETED: DeletedKind<DeletedManagedHsmResource> = DeletedKind {
    kind: VaultKind::ManagedHsm,
    read: Action::DeletedManagedHsmsRead,
    purge: Action::DeletedManagedHsmsPurge,
    noun: "Managed HSM",
    not_found_code: "DeletedManagedHsmNotFound",
    purged: StatusCode::ACCEPTED,
    resource: deleted_resource,
};

/// Serves a Managed HSM path, or one of soft-deleted HSMs.
pub async fn handle(cx: &mut Context<'_>, tail: &Tail) -> Result<Response, ManagementError> {
    match (tail, cx.method.clone()) {
        (Tail::ManagedHsms, Method::GET) => list(cx).await,
        (Tail::ManagedHsm(name), Method::GET) => {
            let hsm = cx.filed(name, VaultKind::ManagedHsm)?;
            cx.authorize(Action::ManagedHsmsRead, None, &Scope::Tenant, None)?;
            Ok(json_response(StatusCode::OK, &resource(cx, &hsm).await?))
        }
        (Tail::ManagedHsm(name), Method::PUT) => put(cx, name).await,
        (Tail::ManagedHsm(name), Method::PATCH) => patch(cx, name).await,
        (Tail::ManagedHsm(name), Method::DELETE) => delete(cx, name).await,
        (Tail::DeletedManagedHsms, _) => DELETED.handle(cx, None).await,
        (Tail::DeletedVault { location, name, purge, .. }, _) => {
            DELETED.handle(cx, Some((location, name, *purge))).await
        }
        (_, method) => Err(ManagementError::method_not_allowed(method.as_str(), "a Managed HSM")),
    }
}

/// The HSMs of the resource group (or of the subscription), or none when the caller may not read HSMs.
async fn list(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
    let readable = cx.authorize(Action::ManagedHsmsRead, None, &Scope::Tenant, None).is_ok();
    // Listing filters rather than refuses: the record says it was allowed.
    cx.allow_listing(Action::ManagedHsmsRead);
    let (tenant, subscription, group) = (cx.tenant.id, cx.subscription_id(), cx.resource_group.as_deref());
    let hsms = cx
        .directory
        .vaults()
        .iter()
        .filter(|_| readable)
        .filter(|v| v.kind == VaultKind::ManagedHsm && v.tenant_id == tenant && v.subscription_id == subscription)
        .filter(|v| group.is_none_or(|g| v.resource_group.eq_ignore_ascii_case(g)));
    let mut value = Vec::new();
    for hsm in hsms {
        value.push(resource(cx, hsm).await?);
    }
    Ok(json_response(StatusCode::OK, &ListResult { value, next_link: None }))
}

/// `PUT`: creates the HSM with its initial administrators, or replaces an existing one's settings (what the
/// body leaves out takes its default, except what cannot be undone; the administrators are the HSM's own
/// business by then, as in Azure).
async fn put(cx: &mut Context<'_>, name: &str) -> Result<Response, ManagementError> {
    let body: ManagedHsmResource = cx.json()?;
    if body.properties.create_mode.as_deref().is_some_and(|m| m.eq_ignore_ascii_case("recover")) {
        return recover(cx, name).await;
    }
    let taken = || {
        ManagementError::conflict(
            "ConflictError",
            format!("The name '{name}' is already in use. Managed HSM and vault names are unique across tenants."),
        )
    };
    if let Some(deleted) = cx.directory.deleted_vault(name) {
        return Err(match deleted.vault.tenant_id == cx.tenant.id && deleted.vault.kind == VaultKind::ManagedHsm {
            true => ManagementError::conflict(
                "ConflictError",
                format!(
                    "A Managed HSM named '{name}' already exists in deleted state. You need to either recover or \
                     purge it."
                ),
            ),
            false => taken(),
        });
    }
    let existing = cx.directory.vault(name).cloned();
    if existing.is_some() && cx.filed(name, VaultKind::ManagedHsm).is_err() {
        // A vault, another tenant's HSM, or this tenant's filed elsewhere: the name is taken either way.
        return Err(taken());
    }
    cx.authorize(Action::ManagedHsmsWrite, None, &Scope::Tenant, None)?;
    validate_vault_name(name)?;
    let group = groups::existing(cx)?;
    let tags = tags_from(body.tags.as_ref())?.unwrap_or_default();
    if let Some(hsm) = existing {
        if body.location.as_deref().is_some_and(|l| !l.eq_ignore_ascii_case(&hsm.location)) {
            return Err(ManagementError::bad_request(
                "LocationNotAvailableForResourceType",
                format!("The Managed HSM '{name}' is in location '{}'; an HSM cannot move.", hsm.location),
            ));
        }
        let defaults = Vault { network: NetworkRules::default(), tags, ..hsm.clone() };
        let updated = merge(cx, defaults, &body.properties)?;
        if updated != hsm {
            cx.apply(vec![Change::PutVault(updated.clone())]).await?;
        }
        return Ok(json_response(StatusCode::OK, &resource(cx, &updated).await?));
    }
    let location = match body.location.as_deref() {
        Some(location) => {
            validate_location(location)?;
            location.to_owned()
        }
        None => group.location.clone(),
    };
    let administrators = initial_administrators(&body.properties)?;
    let new = Vault {
        id: Uuid::new_v4(),
        kind: VaultKind::ManagedHsm,
        tenant_id: cx.tenant.id,
        name: name.to_owned(),
        authorization: AuthorizationModel::Rbac,
        soft_delete_retention_days: 90,
        purge_protection: false,
        network: NetworkRules::default(),
        access_policies: Vec::new(),
        subscription_id: group.subscription_id,
        resource_group: group.name.clone(),
        location,
        // Every key of an HSM is a hardware key: it holds what a premium vault does.
        sku: Sku::Premium,
        tags,
    };
    let hsm = merge(cx, new, &body.properties)?;
    let assignments = hsm::initial_administrators(&administrators)?;
    let mut changes = vec![Change::PutVault(hsm.clone())];
    changes.extend(assignments.into_iter().map(|assignment| Change::PutRoleAssignment {
        tenant_id: hsm.tenant_id,
        vault_id: Some(hsm.id),
        assignment,
    }));
    cx.apply(changes).await?;
    // 200 rather than 201: the SDK's create accepts 200 or 202 only.
    Ok(json_response(StatusCode::OK, &resource(cx, &hsm).await?))
}

/// `initialAdminObjectIds`: at least one object id, as Azure requires of a new HSM.
fn initial_administrators(properties: &ManagedHsmProperties) -> Result<Vec<Uuid>, ManagementError> {
    let bad = |message: String| ManagementError::bad_request("BadRequest", message);
    let ids = properties.initial_admin_object_ids.as_deref().unwrap_or_default();
    if ids.is_empty() {
        return Err(bad("A new Managed HSM needs initialAdminObjectIds: at least one administrator.".to_owned()));
    }
    if ids.len() > MAX_INITIAL_ADMINISTRATORS {
        return Err(bad(format!("A Managed HSM starts with at most {MAX_INITIAL_ADMINISTRATORS} administrators.")));
    }
    ids.iter()
        .map(|id| Uuid::parse_str(id).map_err(|_| bad(format!("'{id}' in initialAdminObjectIds is not an object id."))))
        .collect()
}

/// `PUT` with `createMode: recover`: brings this tenant's soft-deleted HSM back, as it was, where it was.
async fn recover(cx: &mut Context<'_>, name: &str) -> Result<Response, ManagementError> {
    cx.authorize(Action::ManagedHsmsWrite, None, &Scope::Tenant, None)?;
    let group = groups::existing(cx)?;
    let deleted = cx
        .directory
        .deleted_vault(name)
        .filter(|d| d.vault.kind == VaultKind::ManagedHsm)
        .filter(|d| d.vault.tenant_id == cx.tenant.id && d.vault.subscription_id == group.subscription_id)
        .filter(|d| d.vault.resource_group.eq_ignore_ascii_case(&group.name))
        .cloned()
        .ok_or_else(|| DELETED.not_found(name))?;
    cx.apply(vec![Change::RecoverVault { vault_id: deleted.vault.id }]).await?;
    Ok(json_response(StatusCode::OK, &resource(cx, &deleted.vault).await?))
}

async fn patch(cx: &mut Context<'_>, name: &str) -> Result<Response, ManagementError> {
    let hsm = cx.filed(name, VaultKind::ManagedHsm)?;
    cx.authorize(Action::ManagedHsmsWrite, None, &Scope::Tenant, None)?;
    let body: ManagedHsmResource = cx.json()?;
    let tags = tags_from(body.tags.as_ref())?.unwrap_or_else(|| hsm.tags.clone());
    let updated = merge(cx, Vault { tags, ..hsm.clone() }, &body.properties)?;
    if updated != hsm {
        cx.apply(vec![Change::PutVault(updated.clone())]).await?;
    }
    Ok(json_response(StatusCode::OK, &resource(cx, &updated).await?))
}

/// Soft-deletes the HSM: it stops serving at once and keeps its keys and role assignments, recoverable until its
/// retention ends (or purged before, unless purge protection is on).
async fn delete(cx: &mut Context<'_>, name: &str) -> Result<Response, ManagementError> {
    let Ok(hsm) = cx.filed(name, VaultKind::ManagedHsm) else {
        cx.authorize(Action::ManagedHsmsDelete, None, &Scope::Tenant, None)?;
        return Ok(json_response(StatusCode::NO_CONTENT, &serde_json::json!({})));
    };
    cx.authorize(Action::ManagedHsmsDelete, None, &Scope::Tenant, None)?;
    let now = cx.state.clock.now_seconds();
    cx.apply(vec![Change::SoftDeleteVault(DeletedVault::of(hsm, now))]).await?;
    Ok(json_response(StatusCode::OK, &serde_json::json!({})))
}

/// `hsm` with the settings the body gives; what it leaves out stays.
fn merge(cx: &Context<'_>, mut hsm: Vault, properties: &ManagedHsmProperties) -> Result<Vault, ManagementError> {
    let shared = SharedSettings {
        tenant_id: &properties.tenant_id,
        enable_soft_delete: properties.enable_soft_delete,
        soft_delete_retention_in_days: properties.soft_delete_retention_in_days,
        enable_purge_protection: properties.enable_purge_protection,
        public_network_access: &properties.public_network_access,
        network_acls: &properties.network_acls,
    };
    merge_shared(cx, &mut hsm, shared)?;
    Ok(hsm)
}

/// The resource id of an HSM, in the subscription shown as `subscription_id`.
pub(super) fn hsm_id(subscription_id: Uuid, hsm: &Vault) -> String {
    format!(
        "{}/providers/Microsoft.KeyVault/managedHSMs/{}",
        resource_group_id(subscription_id, &hsm.resource_group),
        hsm.name
    )
}

/// The HSM as a Resource Manager resource, with whether it is activated.
async fn resource(cx: &Context<'_>, hsm: &Vault) -> Result<ManagedHsmResource, ManagementError> {
    let activated = security_domain::root_of(cx.state, hsm.id).await.map_err(|e| {
        tracing::error!(hsm = %hsm.name, "reading whether a Managed HSM is activated failed: {}", e.message());
        ManagementError::internal()
    })?;
    Ok(to_resource(cx, hsm, activated.is_some()))
}

/// The HSM as a Resource Manager resource. Its administrators are those who hold Managed HSM Administrator at
/// `/` now, which its creation's `initialAdminObjectIds` were. A new HSM is not activated until its security
/// domain is downloaded, as in Azure.
fn to_resource(cx: &Context<'_>, hsm: &Vault, activated: bool) -> ManagedHsmResource {
    let administrators = hsm::administrators(cx.directory.role_assignments(hsm.id));
    ManagedHsmResource {
        id: hsm_id(cx.shown_subscription(), hsm),
        name: hsm.name.clone(),
        kind: "Microsoft.KeyVault/managedHSMs".to_owned(),
        location: Some(hsm.location.clone()),
        sku: Some(VaultSku { family: "B".to_owned(), name: "Standard_B1".to_owned() }),
        tags: Some(tags_value(&hsm.tags)),
        properties: ManagedHsmProperties {
            tenant_id: Some(hsm.tenant_id.to_string()),
            initial_admin_object_ids: Some(administrators.iter().map(Uuid::to_string).collect()),
            hsm_uri: Some(format!("{}/", cx.state.endpoints.url_of(hsm))),
            enable_soft_delete: Some(true),
            soft_delete_retention_in_days: Some(hsm.soft_delete_retention_days),
            enable_purge_protection: Some(hsm.purge_protection),
            create_mode: None,
            status_message: Some("The Managed HSM is provisioned and ready to serve requests.".to_owned()),
            provisioning_state: Some("Succeeded".to_owned()),
            network_acls: Some(network_acls(&hsm.network)),
            public_network_access: Some(public_network_access_value(&hsm.network)),
            security_domain_properties: Some(match activated {
                true => SecurityDomainProperties {
                    activation_status: "Active".to_owned(),
                    activation_status_message: "The Managed HSM is active.".to_owned(),
                },
                false => SecurityDomainProperties {
                    activation_status: "NotActivated".to_owned(),
                    activation_status_message: "Download the security domain to activate the Managed HSM.".to_owned(),
                },
            }),
        },
    }
}

fn deleted_resource(cx: &Context<'_>, deleted: &DeletedVault) -> DeletedManagedHsmResource {
    let (hsm, subscription) = (&deleted.vault, cx.shown_subscription());
    DeletedManagedHsmResource {
        id: format!(
            "{}/providers/Microsoft.KeyVault/locations/{}/deletedManagedHSMs/{}",
            subscription_id_path(subscription),
            hsm.location,
            hsm.name
        ),
        name: hsm.name.clone(),
        kind: "Microsoft.KeyVault/deletedManagedHSMs".to_owned(),
        location: None,
        tags: None,
        properties: DeletedManagedHsmProperties {
            mhsm_id: hsm_id(subscription, hsm),
            location: hsm.location.clone(),
            deletion_date: date(deleted.deleted_at),
            scheduled_purge_date: date(deleted.scheduled_purge),
            tags: Some(tags_value(&hsm.tags)),
            purge_protection_enabled: hsm.purge_protection,
        },
    }
}
