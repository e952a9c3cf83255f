//! `Microsoft.KeyVault/vaults`: list, get, create or replace (PUT), update (PATCH) and delete vaults, with
//! their permission model, soft-delete settings, firewall, access policies, SKU and tags, shaped as Resource
//! Manager shapes them; and what Key Vault serves across a subscription: the name check and soft-deleted vaults
//! (list, get, purge; recovery is a PUT with `createMode: recover`). Changes take effect on the next data-plane
//! request. Every operation completes before its response, which the SDKs' pollers take as done.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use strongroom_core::directory::{
    AuthorizationModel, Change, DeletedVault, Sku, Vault, VaultKind, validate_location, validate_vault_name,
};
use strongroom_core::events::{Happening, VaultEvent};
use strongroom_core::network::{
    Bypass, DefaultAction, MAX_IP_RULES, MAX_VIRTUAL_NETWORK_RULES, NetworkRules, parse_ip_rule,
};
use strongroom_core::policy::{self, AccessPolicy, MAX_ENTRIES, PolicyEdit};
use strongroom_core::rbac::{Action, Scope, built_in_role};
use strongroom_proto::arm::{
    AccessPolicyEntry, AccessPolicyPermissions, CheckNameAvailabilityRequest, CheckNameAvailabilityResult,
    DeletedVaultProperties, DeletedVaultResource, IpRule, ListResult, NetworkAcls, VaultProperties, VaultResource,
    VaultSku, VirtualNetworkRule,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::deleted::DeletedKind;
use super::error::ManagementError;
use super::groups::{self, tags_from, tags_value};
use super::resource::{ArmPath, Tail, subscription_id_path, vault_id};
use super::{Context, json_response};
use crate::error::InternalFailure;

/// Serves a vault path.
pub async fn handle(cx: &mut Context<'_>, path: &ArmPath) -> Result<Response, ManagementError> {
    let name = path.vault.as_deref().unwrap_or_default();
    match (&path.tail, cx.method.clone()) {
        (Tail::Vaults, Method::GET) => list(cx),
        (Tail::Resource, Method::GET) => {
            let vault = cx.vault(name)?;
            cx.authorize(Action::VaultsRead, Some(&vault), &Scope::Vault, None)?;
            Ok(json_response(StatusCode::OK, &to_resource(cx, &vault)))
        }
        (Tail::Resource, Method::PUT) => put(cx, name).await,
        (Tail::Resource, Method::PATCH) => patch(cx, name).await,
        (Tail::Resource, Method::DELETE) => delete(cx, name).await,
        (Tail::AccessPolicies(kind), Method::PUT) => edit_access_policies(cx, name, kind).await,
        (_, method) => Err(ManagementError::method_not_allowed(method.as_str(), "a vault")),
    }
}

/// The vaults of the resource group (or of the subscription) the caller may read.
fn list(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
    let directory = std::sync::Arc::clone(&cx.directory);
    let (tenant, subscription) = (cx.tenant.id, cx.subscription_id());
    let group = cx.resource_group.clone();
    let mut value = Vec::new();
    let listed = directory
        .vaults()
        .iter()
        .filter(|v| v.kind == VaultKind::Vault && v.tenant_id == tenant && v.subscription_id == subscription);
    for vault in listed.filter(|v| group.as_deref().is_none_or(|g| v.resource_group.eq_ignore_ascii_case(g))) {
        if cx.authorize(Action::VaultsRead, Some(vault), &Scope::Vault, None).is_ok() {
            value.push(to_resource(cx, vault));
        }
    }
    // Listing filters rather than refuses: the record says it was allowed.
    cx.draft.action = Some(Action::VaultsRead);
    cx.draft.authorized = true;
    Ok(json_response(StatusCode::OK, &ListResult { value, next_link: None }))
}

async fn put(cx: &mut Context<'_>, name: &str) -> Result<Response, ManagementError> {
    let body: VaultResource = cx.json()?;
    if body.properties.create_mode.as_deref().is_some_and(|m| m.eq_ignore_ascii_case("recover")) {
        return recover(cx, name).await;
    }
    let taken = || {
        ManagementError::conflict(
            "VaultAlreadyExists",
            format!("The vault name '{name}' is already in use. Vault names are unique across tenants."),
        )
    };
    if let Some(deleted) = cx.directory.deleted_vault(name) {
        return Err(match deleted.vault.tenant_id == cx.tenant.id {
            true => ManagementError::conflict(
                "ConflictError",
                format!(
                    "A vault with the same name already exists in deleted state. You need to either recover or purge \
                     the existing key vault '{name}'."
                ),
            ),
            false => taken(),
        });
    }
    let existing = cx.directory.vault(name).cloned();
    if existing.is_some() && cx.vault(name).is_err() {
        // Another tenant's, or this tenant's filed elsewhere: the name is taken either way.
        return Err(taken());
    }
    let scope = if existing.is_some() { Scope::Vault } else { Scope::Tenant };
    cx.authorize(Action::VaultsWrite, existing.as_ref(), &scope, None)?;
    validate_vault_name(name)?;
    let group = groups::existing(cx)?;
    let location = match (&existing, body.location.as_deref()) {
        (Some(vault), Some(location)) if !location.eq_ignore_ascii_case(&vault.location) => {
            return Err(ManagementError::bad_request(
                "LocationNotAvailableForResourceType",
                format!("The vault '{name}' is in location '{}'; a vault cannot move.", vault.location),
            ));
        }
        (Some(vault), _) => vault.location.clone(),
        (None, Some(location)) => {
            validate_location(location)?;
            location.to_owned()
        }
        // Older clients leave it out: the vault takes its group's.
        (None, None) => group.location.clone(),
    };
    let base = existing.clone().unwrap_or_else(|| Vault {
        id: Uuid::new_v4(),
        kind: VaultKind::Vault,
        tenant_id: cx.tenant.id,
        name: name.to_owned(),
        authorization: AuthorizationModel::Rbac,
        soft_delete_retention_days: 90,
        purge_protection: false,
        network: NetworkRules::default(),
        access_policies: Vec::new(),
        subscription_id: group.subscription_id,
        resource_group: group.name.clone(),
        location: location.clone(),
        sku: Sku::Standard,
        tags: Default::default(),
    });
    // PUT replaces: what the body leaves out takes its default, except what can never be undone (and the
    // SKU, which only changes when asked).
    let defaults = Vault {
        authorization: AuthorizationModel::Rbac,
        soft_delete_retention_days: 90,
        network: NetworkRules::default(),
        access_policies: Vec::new(),
        tags: tags_from(body.tags.as_ref())?.unwrap_or_default(),
        ..base
    };
    let vault = merge(cx, defaults, &body.properties)?;
    authorize_permission_changes(cx, existing.as_ref(), &vault)?;
    cx.apply(vault_changes(cx, existing.as_ref(), &vault)).await?;
    let status = if existing.is_some() { StatusCode::OK } else { StatusCode::CREATED };
    Ok(json_response(status, &to_resource(cx, &vault)))
}

/// `PUT` with `createMode: recover`: brings this tenant's soft-deleted vault back, as it was, where it was.
async fn recover(cx: &mut Context<'_>, name: &str) -> Result<Response, ManagementError> {
    cx.authorize(Action::VaultsWrite, None, &Scope::Tenant, None)?;
    let group = groups::existing(cx)?;
    let deleted = cx
        .directory
        .deleted_vault(name)
        .filter(|d| d.vault.kind == VaultKind::Vault)
        .filter(|d| d.vault.tenant_id == cx.tenant.id && d.vault.subscription_id == group.subscription_id)
        .filter(|d| d.vault.resource_group.eq_ignore_ascii_case(&group.name))
        .cloned()
        .ok_or_else(|| DELETED.not_found(name))?;
    cx.apply(vec![Change::RecoverVault { vault_id: deleted.vault.id }]).await?;
    Ok(json_response(StatusCode::OK, &to_resource(cx, &deleted.vault)))
}

async fn patch(cx: &mut Context<'_>, name: &str) -> Result<Response, ManagementError> {
    let vault = cx.vault(name)?;
    cx.authorize(Action::VaultsWrite, Some(&vault), &Scope::Vault, None)?;
    let body: VaultResource = cx.json()?;
    let tags = tags_from(body.tags.as_ref())?.unwrap_or_else(|| vault.tags.clone());
    let updated = merge(cx, Vault { tags, ..vault.clone() }, &body.properties)?;
    authorize_permission_changes(cx, Some(&vault), &updated)?;
    if updated != vault {
        cx.apply(vault_changes(cx, Some(&vault), &updated)).await?;
    }
    Ok(json_response(StatusCode::OK, &to_resource(cx, &updated)))
}

/// Soft-deletes the vault: it stops serving at once and keeps its objects, recoverable until its retention
/// ends (or purged before, unless purge protection is on).
async fn delete(cx: &mut Context<'_>, name: &str) -> Result<Response, ManagementError> {
    let Ok(vault) = cx.vault(name) else {
        cx.authorize(Action::VaultsDelete, None, &Scope::Tenant, None)?;
        return Ok(json_response(StatusCode::NO_CONTENT, &serde_json::json!({})));
    };
    cx.authorize(Action::VaultsDelete, Some(&vault), &Scope::Vault, None)?;
    let now = cx.state.clock.now_seconds();
    cx.apply(vec![Change::SoftDeleteVault(DeletedVault::of(vault, now))]).await?;
    Ok(json_response(StatusCode::OK, &serde_json::json!({})))
}

/// Serves Key Vault's subscription-wide paths: `checkNameAvailability` (of vaults and of Managed HSMs),
/// Soft-deleted vaults.
const DELETED: DeletedKind<DeletedVaultResource> = DeletedKind {
    kind: VaultKind::Vault,
    read: Action::DeletedVaultsRead,
    purge: Action::DeletedVaultsPurge,
    noun: "vault",
    not_found_code: "DeletedVaultNotFound",
    purged: StatusCode::OK,
    resource: deleted_resource,
};

/// `deletedVaults`, and one deleted vault (`GET`, or `POST …/purge`).
pub async fn subscription_wide(cx: &mut Context<'_>, tail: &Tail) -> Result<Response, ManagementError> {
    match (tail, cx.method.clone()) {
        (Tail::CheckNameAvailability { managed_hsm }, Method::POST) => check_name(cx, *managed_hsm),
        (Tail::DeletedVaults, _) => DELETED.handle(cx, None).await,
        (Tail::DeletedVault { location, name, purge, .. }, _) => {
            DELETED.handle(cx, Some((location, name, *purge))).await
        }
        (_, method) => Err(ManagementError::method_not_allowed(method.as_str(), "Microsoft.KeyVault")),
    }
}

/// `checkNameAvailability`: whether a vault (or a Managed HSM) could be made with the name — valid, and used by
/// no vault or Managed HSM of any tenant, live or soft-deleted (which is all a caller learns of other tenants:
/// that the name is taken). Here vault and Managed HSM names are unique together, since their hosts share the
/// name's first label in one directory.
fn check_name(cx: &mut Context<'_>, managed_hsm: bool) -> Result<Response, ManagementError> {
    cx.authorize(Action::VaultsRead, None, &Scope::Tenant, None)?;
    let body: CheckNameAvailabilityRequest = cx.json()?;
    let name = body.name;
    let answer = if let Err(e) = validate_vault_name(&name) {
        CheckNameAvailabilityResult {
            name_available: false,
            reason: Some("AccountNameInvalid".to_owned()),
            message: Some(format!("Vault name '{name}' is invalid: {}.", e.message())),
        }
    } else if cx.directory.vault(&name).is_some() || cx.directory.deleted_vault(&name).is_some() {
        let what = if managed_hsm { "Managed HSM" } else { "vault" };
        CheckNameAvailabilityResult {
            name_available: false,
            reason: Some("AlreadyExists".to_owned()),
            message: Some(format!("The {what} name '{name}' is already in use.")),
        }
    } else {
        CheckNameAvailabilityResult { name_available: true, reason: None, message: None }
    };
    Ok(json_response(StatusCode::OK, &answer))
}

/// Unix `seconds` as an RFC 3339 date.
pub(super) fn date(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

fn deleted_resource(cx: &Context<'_>, deleted: &DeletedVault) -> DeletedVaultResource {
    let (vault, subscription) = (&deleted.vault, cx.shown_subscription());
    DeletedVaultResource {
        id: format!(
            "{}/providers/Microsoft.KeyVault/locations/{}/deletedVaults/{}",
            subscription_id_path(subscription),
            vault.location,
            vault.name
        ),
        name: vault.name.clone(),
        kind: "Microsoft.KeyVault/deletedVaults".to_owned(),
        location: None,
        tags: None,
        properties: DeletedVaultProperties {
            vault_id: vault_id(subscription, vault),
            location: vault.location.clone(),
            deletion_date: date(deleted.deleted_at),
            scheduled_purge_date: date(deleted.scheduled_purge),
            tags: Some(tags_value(&vault.tags)),
            purge_protection_enabled: vault.purge_protection,
        },
    }
}

/// Checks what a vault write changes about who may reach the data, as Azure does: changing the permission
/// model (`enableRbacAuthorization`) needs unrestricted `Microsoft.Authorization/roleAssignments/write` (Owner,
/// User Access Administrator, or a custom role with it: not the Key Vault Data Access Administrator, whose
/// grant is limited to the Key Vault data roles), and changing the access policies needs
/// `Microsoft.KeyVault/vaults/accessPolicies/write`. `vaults/write` alone changes neither: otherwise a
/// Contributor could switch a vault to access policies and write itself one.
fn authorize_permission_changes(
    cx: &mut Context<'_>,
    before: Option<&Vault>,
    after: &Vault,
) -> Result<(), ManagementError> {
    let scope = if before.is_some() { Scope::Vault } else { Scope::Tenant };
    if before.is_some_and(|b| b.authorization != after.authorization) {
        // A role that may hand out Owner may hand out any role: its roleAssignments/write is unrestricted.
        let any_role =
            built_in_role("Owner").ok_or_else(ManagementError::internal_missing("the built-in Owner role"))?;
        cx.authorize(Action::RoleAssignmentsWrite, before, &scope, Some(any_role))?;
    }
    if before.map_or(!after.access_policies.is_empty(), |b| b.access_policies != after.access_policies) {
        cx.authorize(Action::VaultAccessPoliciesWrite, before, &scope, None)?;
    }
    Ok(())
}

/// The write of `after`, with a `VaultAccessPolicyChanged` event in the same transaction when an existing
/// vault's access policies change.
fn vault_changes(cx: &Context<'_>, before: Option<&Vault>, after: &Vault) -> Vec<Change> {
    let mut changes = vec![Change::PutVault(after.clone())];
    if before.is_some_and(|b| b.access_policies != after.access_policies) {
        let event = VaultEvent::new(cx.state.clock.now_millis(), Happening::AccessPolicyChanged);
        changes.push(Change::RaiseEvent { vault_id: after.id, event });
    }
    changes
}

/// `PUT …/vaults/{name}/accessPolicies/{add|replace|remove}`: edits the vault's access-policy entries.
async fn edit_access_policies(cx: &mut Context<'_>, name: &str, kind: &str) -> Result<Response, ManagementError> {
    let vault = cx.vault(name)?;
    cx.authorize(Action::VaultAccessPoliciesWrite, Some(&vault), &Scope::Vault, None)?;
    let edit = PolicyEdit::parse(kind).ok_or_else(|| {
        ManagementError::bad_request(
            "BadRequest",
            format!("'{kind}' is not an access-policy edit: use add, replace or remove."),
        )
    })?;
    let body: VaultResource = cx.json()?;
    let entries = body.properties.access_policies.unwrap_or_default();
    if entries.len() > MAX_ENTRIES {
        return Err(ManagementError::bad_request(
            "BadRequest",
            format!("A vault has at most {MAX_ENTRIES} access-policy entries."),
        ));
    }
    let changes = entries.iter().map(|e| access_policy(cx, e)).collect::<Result<Vec<_>, _>>()?;
    let updated = Vault { access_policies: policy::edit(&vault.access_policies, edit, &changes)?, ..vault.clone() };
    if updated != vault {
        cx.apply(vault_changes(cx, Some(&vault), &updated)).await?;
    }
    let resource = to_resource(cx, &updated);
    Ok(json_response(
        StatusCode::OK,
        &VaultResource {
            id: format!("{}/accessPolicies/{}", resource.id, kind.to_ascii_lowercase()),
            name: kind.to_ascii_lowercase(),
            kind: "Microsoft.KeyVault/vaults/accessPolicies".to_owned(),
            location: resource.location,
            tags: None,
            properties: VaultProperties {
                access_policies: resource.properties.access_policies,
                ..VaultProperties::default()
            },
        },
    ))
}

/// The settings a key vault and a Managed HSM share, as a `PUT` or `PATCH` body gives them.
pub(super) struct SharedSettings<'a> {
    pub tenant_id: &'a Option<String>,
    pub enable_soft_delete: Option<bool>,
    pub soft_delete_retention_in_days: Option<u32>,
    pub enable_purge_protection: Option<bool>,
    pub public_network_access: &'a Option<String>,
    pub network_acls: &'a Option<NetworkAcls>,
}

/// Applies to `vault` (a key vault or a Managed HSM) the shared settings the body gives; what it leaves out
/// stays, and what cannot be undone (soft delete, purge protection) is refused.
pub(super) fn merge_shared(
    cx: &Context<'_>,
    vault: &mut Vault,
    settings: SharedSettings<'_>,
) -> Result<(), ManagementError> {
    let bad = |message: String| ManagementError::bad_request("BadRequest", message);
    if let Some(tenant) = settings.tenant_id
        && Uuid::parse_str(tenant).ok() != Some(cx.tenant.id)
    {
        return Err(bad(format!("tenantId must be the subscription's tenant, {}.", cx.tenant.id)));
    }
    if settings.enable_soft_delete == Some(false) {
        return Err(bad("Soft delete cannot be turned off.".to_owned()));
    }
    if let Some(days) = settings.soft_delete_retention_in_days {
        if !(7..=90).contains(&days) {
            return Err(bad("softDeleteRetentionInDays must be between 7 and 90.".to_owned()));
        }
        vault.soft_delete_retention_days = days;
    }
    match settings.enable_purge_protection {
        Some(false) if vault.purge_protection => {
            return Err(bad("Purge protection cannot be turned off once it is on.".to_owned()));
        }
        Some(on) => vault.purge_protection = on,
        None => {}
    }
    if let Some(access) = settings.public_network_access {
        vault.network.public_network_access = public_network_access(access)?;
    }
    if let Some(acls) = settings.network_acls {
        vault.network = network_rules(cx, vault.network.clone(), acls)?;
    }
    Ok(())
}

/// `vault` with the properties the body gives; what it leaves out stays.
fn merge(cx: &Context<'_>, mut vault: Vault, properties: &VaultProperties) -> Result<Vault, ManagementError> {
    let bad = |message: String| ManagementError::bad_request("BadRequest", message);
    let shared = SharedSettings {
        tenant_id: &properties.tenant_id,
        enable_soft_delete: properties.enable_soft_delete,
        soft_delete_retention_in_days: properties.soft_delete_retention_in_days,
        enable_purge_protection: properties.enable_purge_protection,
        public_network_access: &properties.public_network_access,
        network_acls: &properties.network_acls,
    };
    merge_shared(cx, &mut vault, shared)?;
    if let Some(sku) = &properties.sku {
        vault.sku = Sku::parse(&sku.name)?;
    }
    if let Some(rbac) = properties.enable_rbac_authorization {
        vault.authorization = if rbac { AuthorizationModel::Rbac } else { AuthorizationModel::AccessPolicies };
    }
    if let Some(entries) = &properties.access_policies {
        if entries.len() > MAX_ENTRIES {
            return Err(bad(format!("A vault has at most {MAX_ENTRIES} access-policy entries.")));
        }
        vault.access_policies = entries.iter().map(|e| access_policy(cx, e)).collect::<Result<_, _>>()?;
    }
    Ok(vault)
}

/// `publicNetworkAccess`: `Enabled` (true) or `Disabled`.
pub(super) fn public_network_access(text: &str) -> Result<bool, ManagementError> {
    match text.to_ascii_lowercase().as_str() {
        "enabled" => Ok(true),
        "disabled" => Ok(false),
        _ => Err(ManagementError::bad_request("BadRequest", "publicNetworkAccess is Enabled or Disabled.")),
    }
}

/// `rules` with what `acls` gives; what it leaves out stays.
pub(super) fn network_rules(
    cx: &Context<'_>,
    mut rules: NetworkRules,
    acls: &NetworkAcls,
) -> Result<NetworkRules, ManagementError> {
    let bad = |message: String| ManagementError::bad_request("BadRequest", message);
    if let Some(bypass) = &acls.bypass {
        rules.bypass = match bypass.to_ascii_lowercase().as_str() {
            "azureservices" => Bypass::AzureServices,
            "none" => Bypass::None,
            _ => return Err(bad("networkAcls.bypass is AzureServices or None.".to_owned())),
        };
    }
    if let Some(action) = &acls.default_action {
        rules.default_action = match action.to_ascii_lowercase().as_str() {
            "allow" => DefaultAction::Allow,
            "deny" => DefaultAction::Deny,
            _ => return Err(bad("networkAcls.defaultAction is Allow or Deny.".to_owned())),
        };
    }
    if let Some(ip_rules) = &acls.ip_rules {
        if ip_rules.len() > MAX_IP_RULES {
            return Err(bad(format!("A vault has at most {MAX_IP_RULES} IP rules.")));
        }
        rules.ip_rules = ip_rules.iter().map(|rule| parse_ip_rule(&rule.value)).collect::<Result<_, _>>()?;
    }
    if let Some(subnets) = &acls.virtual_network_rules {
        if subnets.len() > MAX_VIRTUAL_NETWORK_RULES {
            return Err(bad(format!("A vault has at most {MAX_VIRTUAL_NETWORK_RULES} virtual network rules.")));
        }
        rules.virtual_network_rules = subnets
            .iter()
            .map(|rule| {
                let short = subnet_name(&rule.id);
                cx.state
                    .network
                    .subnets
                    .iter()
                    .find(|s| s.id.eq_ignore_ascii_case(&short))
                    .map(|s| s.id.clone())
                    .ok_or_else(|| bad(format!("Unknown subnet '{}'.", rule.id)))
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(rules)
}

/// `{network}/{subnet}` from a subnet's resource id or from the short form itself.
fn subnet_name(id: &str) -> String {
    let segments: Vec<&str> = id.trim_matches('/').split('/').collect();
    match segments.iter().position(|s| s.eq_ignore_ascii_case("virtualNetworks")) {
        Some(i) if segments.len() >= i + 4 => format!("{}/{}", segments[i + 1], segments[i + 3]),
        _ => id.to_owned(),
    }
}

fn access_policy(cx: &Context<'_>, entry: &AccessPolicyEntry) -> Result<AccessPolicy, ManagementError> {
    if entry.application_id.as_deref().is_some_and(|a| !a.is_empty()) {
        return Err(ManagementError::bad_request(
            "BadRequest",
            "Compound identities (applicationId) are not supported; give the principal's objectId alone.",
        ));
    }
    if !entry.tenant_id.is_empty() && Uuid::parse_str(&entry.tenant_id).ok() != Some(cx.tenant.id) {
        return Err(ManagementError::bad_request("BadRequest", "An access policy's tenantId is the vault's tenant."));
    }
    let object_id = Uuid::parse_str(&entry.object_id).map_err(|_| {
        ManagementError::bad_request("BadRequest", format!("'{}' is not an object id.", entry.object_id))
    })?;
    let p = &entry.permissions;
    Ok(AccessPolicy::new(object_id, &p.secrets, &p.keys, &p.certificates)?)
}

/// The vault as a Resource Manager resource.
pub fn to_resource(cx: &Context<'_>, vault: &Vault) -> VaultResource {
    let network = &vault.network;
    VaultResource {
        id: vault_id(cx.shown_subscription(), vault),
        name: vault.name.clone(),
        kind: "Microsoft.KeyVault/vaults".to_owned(),
        location: Some(vault.location.clone()),
        tags: Some(tags_value(&vault.tags)),
        properties: VaultProperties {
            tenant_id: Some(vault.tenant_id.to_string()),
            sku: Some(VaultSku { family: "A".to_owned(), name: vault.sku.as_str().to_owned() }),
            vault_uri: Some(format!("{}/", cx.state.endpoints.vault_url(&vault.name))),
            enable_rbac_authorization: Some(vault.authorization == AuthorizationModel::Rbac),
            enable_soft_delete: Some(true),
            soft_delete_retention_in_days: Some(vault.soft_delete_retention_days),
            enable_purge_protection: vault.purge_protection.then_some(true),
            public_network_access: Some(public_network_access_value(network)),
            network_acls: Some(network_acls(network)),
            access_policies: Some(
                vault
                    .access_policies
                    .iter()
                    .map(|p| AccessPolicyEntry {
                        tenant_id: vault.tenant_id.to_string(),
                        object_id: p.object_id.to_string(),
                        application_id: None,
                        permissions: AccessPolicyPermissions {
                            keys: p.keys.clone(),
                            secrets: p.secrets.clone(),
                            certificates: p.certificates.clone(),
                        },
                    })
                    .collect(),
            ),
            provisioning_state: Some("Succeeded".to_owned()),
            create_mode: None,
        },
    }
}

/// `publicNetworkAccess` as ARM shows it.
pub(super) fn public_network_access_value(network: &NetworkRules) -> String {
    if network.public_network_access { "Enabled" } else { "Disabled" }.to_owned()
}

/// The firewall as ARM shows it.
pub(super) fn network_acls(network: &NetworkRules) -> NetworkAcls {
    NetworkAcls {
        bypass: Some(match network.bypass {
            Bypass::AzureServices => "AzureServices".to_owned(),
            Bypass::None => "None".to_owned(),
        }),
        default_action: Some(match network.default_action {
            DefaultAction::Allow => "Allow".to_owned(),
            DefaultAction::Deny => "Deny".to_owned(),
        }),
        ip_rules: Some(network.ip_rules.iter().map(|r| IpRule { value: r.to_string() }).collect()),
        virtual_network_rules: Some(
            network.virtual_network_rules.iter().map(|id| VirtualNetworkRule { id: id.clone() }).collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::subnet_name;

    #[test]
    fn subnets_are_named_by_resource_id_or_short_form() {
        assert_eq!(
            subnet_name(
                "/subscriptions/x/resourceGroups/r/providers/Microsoft.Network/virtualNetworks/corp/subnets/apps"
            ),
            "corp/apps"
        );
        assert_eq!(subnet_name("corp/apps"), "corp/apps");
    }
}
