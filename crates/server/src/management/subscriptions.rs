//! The subscription level of Resource Manager, as sign-in and discovery use it: the caller's subscriptions and
//! tenants, one subscription, its locations, the resource providers and the generic resources query, and the
//! cloud's metadata endpoints. A subscription is shown to a principal that holds an Azure role anywhere in
//! its tenant (itself or through a group), as Azure shows it; to no one else.

use axum::http::StatusCode;
use axum::response::Response;
use strongroom_core::directory::{DEFAULT_LOCATION, Subscription, VaultKind};
use strongroom_core::rbac::{Action, Scope};
use strongroom_proto::arm::{
    CloudAuthentication, CloudMetadata, CloudSuffixes, GenericResource, ListResult, LocationMetadata, LocationResource,
    ProviderResource, ProviderResourceType, SubscriptionPolicies, SubscriptionResource, TenantResource,
};
use uuid::Uuid;

use super::error::ManagementError;
use super::groups::tags_value;
use super::resource::subscription_id_path;
use super::{Context, challenge, json_response, managed_hsms, query_value, vaults};
use crate::state::AppState;

/// The path of the cloud's metadata.
pub const METADATA_ENDPOINTS: &str = "/metadata/endpoints";

/// Azure's names of the Resource Manager resource, which the metadata lists after this server's own (the first
/// audience is what the Azure CLI asks tokens for).
const AZURE_MANAGEMENT_AUDIENCES: &[&str] = &["https://management.core.windows.net/", "https://management.azure.com/"];

/// The name of the cloud the metadata describes.
const CLOUD_NAME: &str = "Strongroom";

/// The Key Vault management API versions Strongroom answers to (the shapes it serves are common to them).
const KEY_VAULT_API_VERSIONS: &[&str] = &[
    "2024-12-01-preview",
    "2024-11-01",
    "2024-04-01-preview",
    "2023-08-01-preview",
    "2023-07-01",
    "2023-02-01",
    "2022-11-01",
    "2022-07-01",
    "2022-02-01-preview",
    "2021-11-01-preview",
    "2021-10-01",
    "2021-06-01-preview",
    "2021-04-01-preview",
    "2020-04-01-preview",
    "2019-09-01",
    "2018-02-14",
    "2016-10-01",
    "2015-06-01",
];

/// The resource types of `Microsoft.KeyVault` Strongroom serves.
const KEY_VAULT_RESOURCE_TYPES: &[&str] = &[
    "vaults",
    "vaults/accessPolicies",
    "deletedVaults",
    "locations",
    "locations/deletedVaults",
    "checkNameAvailability",
];

/// The subscription a path names: a subscription of the caller's tenant, or the tenant's own id, which older
/// clients use and which stands for its default subscription. Another tenant's is refused as Azure refuses a
/// token of the wrong tenant; an unknown one is not found.
pub fn resolve(cx: &Context<'_>, given: Uuid) -> Result<Subscription, ManagementError> {
    let found = cx
        .directory
        .subscription(given)
        .or_else(|| {
            cx.directory.tenants().iter().find(|t| t.id == given).and_then(|t| cx.directory.default_subscription(t.id))
        })
        .cloned();
    match found {
        Some(subscription) if subscription.tenant_id == cx.tenant.id => Ok(subscription),
        Some(_) => Err(ManagementError::wrong_tenant(challenge(cx.state))),
        None => Err(ManagementError::not_found(
            "SubscriptionNotFound",
            format!("The subscription '{given}' could not be found."),
        )),
    }
}

/// Whether the caller sees its tenant's subscriptions: it holds an Azure role there.
fn sees_subscriptions(cx: &Context<'_>) -> bool {
    cx.directory.holds_azure_role(cx.tenant.id, cx.caller.object_id)
}

/// `GET /subscriptions`: the subscriptions of the caller's tenant if it holds a role there, else none.
pub fn list(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
    cx.allow_listing(Action::SubscriptionsRead);
    let value = match sees_subscriptions(cx) {
        true => cx.directory.subscriptions_of(cx.tenant.id).into_iter().map(to_resource).collect(),
        false => Vec::new(),
    };
    Ok(json_response(StatusCode::OK, &ListResult { value, next_link: None }))
}

/// `GET /subscriptions/{id}`.
pub fn get(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
    let subscription = authorize_read(cx)?;
    Ok(json_response(StatusCode::OK, &to_resource(&subscription)))
}

/// The path's subscription, if the caller may see it.
fn authorize_read(cx: &mut Context<'_>) -> Result<Subscription, ManagementError> {
    let subscription = cx.subscription.clone().ok_or_else(ManagementError::internal)?;
    if !sees_subscriptions(cx) {
        return Err(ManagementError::authorization_failed(
            &cx.caller.claims.oid,
            Action::SubscriptionsRead.as_str(),
            &subscription_id_path(subscription.id),
        ));
    }
    cx.allow_listing(Action::SubscriptionsRead);
    Ok(subscription)
}

/// `GET /tenants`: the caller's own tenant.
pub fn tenants(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
    cx.allow_listing(Action::SubscriptionsRead);
    let tenant = &cx.tenant;
    let value = vec![TenantResource {
        id: format!("/tenants/{}", tenant.id),
        tenant_id: tenant.id.to_string(),
        tenant_category: "Home".to_owned(),
        display_name: tenant.name.clone(),
        default_domain: tenant.name.clone(),
        domains: vec![tenant.name.clone()],
        tenant_type: "AAD".to_owned(),
    }];
    Ok(json_response(StatusCode::OK, &ListResult { value, next_link: None }))
}

/// `GET /subscriptions/{id}/locations`: the one location resources are created in by default.
pub fn locations(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
    let subscription = authorize_read(cx)?;
    let value = vec![LocationResource {
        id: format!("{}/locations/{DEFAULT_LOCATION}", subscription_id_path(subscription.id)),
        name: DEFAULT_LOCATION.to_owned(),
        display_name: "Local".to_owned(),
        regional_display_name: "Local".to_owned(),
        kind: "Region".to_owned(),
        metadata: LocationMetadata { region_type: "Physical".to_owned(), region_category: "Recommended".to_owned() },
    }];
    Ok(json_response(StatusCode::OK, &ListResult { value, next_link: None }))
}

/// `GET [/subscriptions/{id}]/providers[/{namespace}]`: `Microsoft.KeyVault`, the one provider served.
pub fn providers(cx: &mut Context<'_>, namespace: Option<&str>) -> Result<Response, ManagementError> {
    cx.allow_listing(Action::SubscriptionsRead);
    let prefix = cx.subscription.as_ref().map(|s| subscription_id_path(s.id)).unwrap_or_default();
    let provider = ProviderResource {
        id: format!("{prefix}/providers/Microsoft.KeyVault"),
        namespace: "Microsoft.KeyVault".to_owned(),
        registration_state: "Registered".to_owned(),
        registration_policy: "RegistrationRequired".to_owned(),
        resource_types: KEY_VAULT_RESOURCE_TYPES
            .iter()
            .map(|kind| ProviderResourceType {
                resource_type: (*kind).to_owned(),
                locations: vec!["Local".to_owned()],
                api_versions: KEY_VAULT_API_VERSIONS.iter().map(|v| (*v).to_owned()).collect(),
            })
            .collect(),
    };
    match namespace {
        None => Ok(json_response(StatusCode::OK, &ListResult { value: vec![provider], next_link: None })),
        Some(namespace) if namespace.eq_ignore_ascii_case(&provider.namespace) => {
            Ok(json_response(StatusCode::OK, &provider))
        }
        Some(namespace) => Err(ManagementError::not_found(
            "InvalidResourceNamespace",
            format!("The resource namespace '{namespace}' is invalid."),
        )),
    }
}

/// `GET /subscriptions/{id}[/resourceGroups/{group}]/resources[?$filter=resourceType eq '…']`: the vaults and
/// Managed HSMs the caller may read, as generic resources (`$filter` may name a `resourceType`, a `name` or a
/// `resourceGroup`).
pub fn resources(cx: &mut Context<'_>) -> Result<Response, ManagementError> {
    let filter = Filter::parse(query_value(cx.query.as_deref(), "$filter").as_deref())?;
    let directory = std::sync::Arc::clone(&cx.directory);
    let (tenant, subscription) = (cx.tenant.id, cx.subscription_id());
    let group = cx.resource_group.clone().or(filter.resource_group.clone());
    let mut value = Vec::new();
    let in_scope = directory.vaults().iter().filter(|v| v.tenant_id == tenant && v.subscription_id == subscription);
    for vault in in_scope {
        let resource_type = match vault.kind {
            VaultKind::Vault => "Microsoft.KeyVault/vaults",
            VaultKind::ManagedHsm => "Microsoft.KeyVault/managedHSMs",
        };
        if group.as_deref().is_some_and(|g| !g.eq_ignore_ascii_case(&vault.resource_group))
            || filter.name.as_deref().is_some_and(|n| !n.eq_ignore_ascii_case(&vault.name))
            || filter.resource_type.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case(resource_type))
        {
            continue;
        }
        // As their own reads are authorized: a vault at its scope, an HSM at the subscription's.
        let (readable, id) = match vault.kind {
            VaultKind::Vault => (
                cx.authorize(Action::VaultsRead, Some(vault), &Scope::Vault, None).is_ok(),
                vaults::to_resource(cx, vault).id,
            ),
            VaultKind::ManagedHsm => (
                cx.authorize(Action::ManagedHsmsRead, None, &Scope::Tenant, None).is_ok(),
                managed_hsms::hsm_id(cx.shown_subscription(), vault),
            ),
        };
        if readable {
            value.push(GenericResource {
                id,
                name: vault.name.clone(),
                kind: resource_type.to_owned(),
                location: vault.location.clone(),
                tags: Some(tags_value(&vault.tags)),
            });
        }
    }
    cx.allow_listing(Action::VaultsRead);
    Ok(json_response(StatusCode::OK, &ListResult { value, next_link: None }))
}

/// What a resources query's `$filter` asks for: `field eq 'value'` clauses joined by `and`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Filter {
    resource_type: Option<String>,
    name: Option<String>,
    resource_group: Option<String>,
}

impl Filter {
    fn parse(text: Option<&str>) -> Result<Self, ManagementError> {
        let mut filter = Filter::default();
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            return Ok(filter);
        };
        let unsupported = || {
            ManagementError::bad_request(
                "InvalidFilterInQueryString",
                format!(
                    "The $filter '{text}' is not supported: use resourceType, name or resourceGroup eq 'value', joined by and."
                ),
            )
        };
        for clause in split_and(text) {
            let (field, value) = clause.split_once(" eq ").ok_or_else(unsupported)?;
            let value = value.trim().strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).ok_or_else(unsupported)?;
            let slot = match field.trim().to_ascii_lowercase().as_str() {
                "resourcetype" => &mut filter.resource_type,
                "name" => &mut filter.name,
                "resourcegroup" => &mut filter.resource_group,
                _ => return Err(unsupported()),
            };
            *slot = Some(value.to_owned());
        }
        Ok(filter)
    }
}

/// The clauses of a filter joined by ` and ` (any case).
fn split_and(text: &str) -> Vec<&str> {
    let lower = text.to_ascii_lowercase();
    let mut clauses = Vec::new();
    let mut start = 0;
    while let Some(at) = lower[start..].find(" and ") {
        clauses.push(&text[start..start + at]);
        start += at + 5;
    }
    clauses.push(&text[start..]);
    clauses
}

fn to_resource(subscription: &Subscription) -> SubscriptionResource {
    SubscriptionResource {
        id: subscription_id_path(subscription.id),
        subscription_id: subscription.id.to_string(),
        tenant_id: subscription.tenant_id.to_string(),
        display_name: subscription.name.clone(),
        state: "Enabled".to_owned(),
        subscription_policies: SubscriptionPolicies {
            location_placement_id: "Public_2014-09-01".to_owned(),
            quota_id: "PayAsYouGo_2014-09-01".to_owned(),
            spending_limit: "Off".to_owned(),
        },
        authorization_source: "RoleBased".to_owned(),
        managed_by_tenants: Vec::new(),
    }
}

/// `GET /metadata/endpoints?api-version=…`: this server as a cloud, at its Resource Manager and Graph URLs. From
/// `2019-05-01` up to `2022-09-01` Resource Manager answers a list of clouds (what the Azure CLI's
/// `ARM_CLOUD_METADATA_URL` and the management SDKs' discovery read); otherwise one object, which is what
/// `az cloud register --endpoint-resource-manager` reads (it asks `2022-09-01`).
pub fn metadata_endpoints(state: &AppState, query: Option<&str>) -> Response {
    let endpoints = &state.endpoints;
    let management = endpoints.management_resource().to_owned();
    let graph = endpoints.graph_resource().to_owned();
    let dns = |kind| endpoints.resource_of(kind).trim_start_matches("https://").to_owned();
    let cloud = CloudMetadata {
        name: CLOUD_NAME.to_owned(),
        resource_manager: management.clone(),
        microsoft_graph_resource_id: graph.clone(),
        graph: graph.clone(),
        graph_audience: graph.clone(),
        portal: management.clone(),
        authentication: CloudAuthentication {
            login_endpoint: endpoints.authority_host().to_owned(),
            audiences: std::iter::once(management.clone())
                .chain(AZURE_MANAGEMENT_AUDIENCES.iter().map(|a| (*a).to_owned()))
                .collect(),
            tenant: "common".to_owned(),
            identity_provider: "AAD".to_owned(),
        },
        suffixes: CloudSuffixes { key_vault_dns: dns(VaultKind::Vault), mhsm_dns: dns(VaultKind::ManagedHsm) },
        gallery: management.clone(),
        gallery_endpoint: management.clone(),
        graph_endpoint: graph,
        portal_endpoint: management,
    };
    match answers_a_list(&query_value(query, "api-version").unwrap_or_default()) {
        true => json_response(StatusCode::OK, &[cloud]),
        false => json_response(StatusCode::OK, &cloud),
    }
}

/// Whether the metadata endpoints answer `version` with a list of clouds rather than the one cloud: the list form
/// belongs to 2019-05-01 up to 2022-09-01, which went back to the object (the Azure CLI asks 2022-09-01 and reads an
/// object). Dated versions compare as text.
fn answers_a_list(version: &str) -> bool {
    ("2019-05-01".."2022-09-01").contains(&version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_comes_as_a_list_only_in_the_versions_that_had_one() {
        assert!(answers_a_list("2019-05-01") && answers_a_list("2020-06-01"));
        assert!(!answers_a_list("2015-01-01") && !answers_a_list("2022-09-01") && !answers_a_list(""));
    }

    #[test]
    fn resource_filters_name_a_type_a_name_or_a_group() {
        let parsed = Filter::parse(Some("resourceType eq 'Microsoft.KeyVault/vaults' and name eq 'ledger'")).ok();
        assert_eq!(
            parsed,
            Some(Filter {
                resource_type: Some("Microsoft.KeyVault/vaults".into()),
                name: Some("ledger".into()),
                resource_group: None
            })
        );
        assert_eq!(Filter::parse(None).ok(), Some(Filter::default()));
        assert!(Filter::parse(Some("tagName eq 'x'")).is_err());
        assert!(Filter::parse(Some("resourceType eq Microsoft.KeyVault/vaults")).is_err());
    }
}
