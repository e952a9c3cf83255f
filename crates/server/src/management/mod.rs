//! The management API: Azure-Resource-Manager-shaped subscriptions, resource groups, vaults, Managed HSMs,
//! access control and user-assigned managed identities ([`subscriptions`], [`groups`], [`vaults`],
//! [`managed_hsms`], [`access`], [`identities`])
//! and a Microsoft-Graph-shaped directory ([`directory`]), served on every host but the vaults'. Every request
//! runs (the cloud's metadata, [`subscriptions::metadata_endpoints`], is public and skips them):
//!
//! 1. authenticate — a bearer token this service issued for a management resource (this server's Resource
//!    Manager or Graph URL, or Azure's names for them), in the tenant the path names;
//! 2. authorize — the control-plane action at the resource's scope (Azure RBAC: Owner, Contributor, Key Vault
//!    Contributor, Data Access Administrator, custom roles), or the directory action (Entra directory roles),
//!    decided from the directory snapshot;
//! 3. operation — checked, applied to the store in one transaction, the snapshot replaced so that the next
//!    request anywhere sees the change;
//! 4. audit — one record, allowed or refused.

pub mod access;
mod deleted;
pub mod directory;
pub mod error;
pub mod events;
pub mod groups;
pub mod identities;
pub mod logs;
pub mod managed_hsms;
pub mod resource;
pub mod subscriptions;
pub mod test_controls;
pub mod vaults;

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use strongroom_core::directory::Change;
use strongroom_core::directory::{DEFAULT_RESOURCE_GROUP, Directory, Subscription, Tenant, Vault, VaultKind};
use strongroom_core::network::ClientAddress;
use strongroom_core::rbac::{self, Action, RoleDefinition, Scope};
use strongroom_core::token::{AccessClaims, Expected};
use strongroom_proto::audit::{Activity, ActivityAuthorization, ActivityProperties, ActivityRequest, AuditRecord};
use uuid::Uuid;

use self::error::ManagementError;
use crate::audit::{Arrival, RequestFacts};
use crate::state::AppState;

/// Largest request body read.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Whether `path` belongs to the management API rather than the token service.
pub fn serves(path: &str) -> bool {
    let lower = path.trim_end_matches('/').to_ascii_lowercase();
    ["/subscriptions", "/tenants", "/providers"].contains(&lower.as_str())
        || is_metadata_endpoints(path)
        || ["/subscriptions/", "/providers/", "/v1.0/"].iter().any(|prefix| lower.starts_with(prefix))
}

/// Whether `path` asks for the cloud's metadata. Clients append it to the Resource Manager URL as the user typed
/// it, so `az cloud register --endpoint-resource-manager https://…/` asks for `//metadata/endpoints`.
fn is_metadata_endpoints(path: &str) -> bool {
    path.trim_matches('/').eq_ignore_ascii_case(subscriptions::METADATA_ENDPOINTS.trim_start_matches('/'))
}

/// The authenticated caller of a management request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Its object id.
    pub object_id: Uuid,
    /// The groups it belongs to, transitively, from the directory.
    pub groups: Vec<Uuid>,
    /// The validated token's claims.
    pub claims: Arc<AccessClaims>,
}

/// What an operation has to work with.
pub struct Context<'a> {
    /// Server state.
    pub state: &'a AppState,
    /// The directory snapshot the request is decided on.
    pub directory: Arc<Directory>,
    /// The caller's tenant.
    pub tenant: Tenant,
    /// The subscription a Resource Manager path names (checked to be the caller's tenant's).
    pub subscription: Option<Subscription>,
    /// The resource group a Resource Manager path names, as the path spells it.
    pub resource_group: Option<String>,
    /// The path's subscription segment when it is the tenant's id (older clients): ids are shown with it, so
    /// that what such a client reads matches what it addresses.
    pub addressed_as: Option<Uuid>,
    /// The caller.
    pub caller: Caller,
    /// The method.
    pub method: Method,
    /// The raw query.
    pub query: Option<String>,
    /// The request body.
    pub body: Bytes,
    /// `https://{host}[:port]` as the client addressed this server, for Graph's links.
    pub origin: String,
    /// What the audit record learns as the request runs.
    draft: AuditDraft,
}

#[derive(Default)]
struct AuditDraft {
    action: Option<Action>,
    authorized: bool,
}

impl Context<'_> {
    /// Grants the control-plane `action` on the resource at `scope` (of `vault`, if any), or refuses with
    /// `AuthorizationFailed`; `assigning` is the role a role-assignment change hands out or takes away.
    pub fn authorize(
        &mut self,
        action: Action,
        vault: Option<&Vault>,
        scope: &Scope,
        assigning: Option<&RoleDefinition>,
    ) -> Result<(), ManagementError> {
        self.draft.action = Some(action);
        let tenant_assignments = self.directory.tenant_role_assignments(self.tenant.id);
        let vault_assignments = vault.map_or(&[][..], |v| self.directory.role_assignments(v.id));
        let caller = rbac::Caller { object_id: self.caller.object_id, groups: &self.caller.groups };
        if rbac::is_permitted_on(tenant_assignments.iter().chain(vault_assignments), caller, action, scope, assigning) {
            self.draft.authorized = true;
            return Ok(());
        }
        let scope_id = resource::scope_id(self.shown_subscription(), vault, scope);
        Err(ManagementError::authorization_failed(&self.caller.claims.oid, action.as_str(), &scope_id))
    }

    /// Grants the directory `action` in the caller's tenant, or refuses with `Authorization_RequestDenied`.
    pub fn authorize_directory(&mut self, action: Action) -> Result<(), ManagementError> {
        self.draft.action = Some(action);
        if self.permits_directory(action) {
            self.draft.authorized = true;
            return Ok(());
        }
        Err(ManagementError::insufficient_privileges())
    }

    /// Whether the caller's directory roles grant `action` in its tenant (asked, not yet decided).
    pub fn permits_directory(&self, action: Action) -> bool {
        let caller = rbac::Caller { object_id: self.caller.object_id, groups: &self.caller.groups };
        let assignments = self.directory.tenant_role_assignments(self.tenant.id);
        rbac::is_permitted_on(assignments, caller, action, &Scope::Tenant, None)
    }

    /// Applies `changes` in one transaction and takes the new directory up. The request holds the write
    /// lock (every non-GET does, from after its body has arrived), so nothing else changed the directory
    /// since it was read.
    pub async fn apply(&mut self, changes: Vec<Change>) -> Result<(), ManagementError> {
        if !changes.is_empty() {
            self.state.store.apply(changes).await?;
            let directory = self.state.store.load_directory().await?;
            self.state.directory.set(directory);
            self.directory = self.state.directory();
        }
        Ok(())
    }

    /// The request body as `T`, or 400 naming what is wrong.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ManagementError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ManagementError::bad_request("InvalidRequestContent", format!("The request body is not valid: {e}"))
        })
    }

    /// The subscription the path names, or the tenant's default one (paths outside a subscription).
    pub fn subscription_id(&self) -> Uuid {
        self.subscription
            .as_ref()
            .or_else(|| self.directory.default_subscription(self.tenant.id))
            .map_or(self.tenant.id, |s| s.id)
    }

    /// The subscription id resource ids show: the path's segment (a subscription's id, or its tenant's).
    pub fn shown_subscription(&self) -> Uuid {
        self.addressed_as.unwrap_or_else(|| self.subscription_id())
    }

    /// The vault of the caller's tenant called `name`, filed in the subscription and resource group the path
    /// names.
    pub fn vault(&self, name: &str) -> Result<Vault, ManagementError> {
        self.filed(name, VaultKind::Vault)
    }

    /// The vault or Managed HSM (by `kind`) of the caller's tenant called `name`, filed in the subscription and
    /// resource group the path names.
    pub fn filed(&self, name: &str, kind: VaultKind) -> Result<Vault, ManagementError> {
        let group = self.resource_group.as_deref().unwrap_or(DEFAULT_RESOURCE_GROUP);
        let resource_type = match kind {
            VaultKind::Vault => "vaults",
            VaultKind::ManagedHsm => "managedHSMs",
        };
        self.directory
            .vault(name)
            .filter(|v| v.kind == kind)
            .filter(|v| v.tenant_id == self.tenant.id && v.subscription_id == self.subscription_id())
            .filter(|v| v.resource_group.eq_ignore_ascii_case(group))
            .cloned()
            .ok_or_else(|| {
                ManagementError::not_found(
                    "ResourceNotFound",
                    format!(
                        "The Resource 'Microsoft.KeyVault/{resource_type}/{name}' under resource group '{group}' was not found."
                    ),
                )
            })
    }

    /// Audits a listing as allowed: it shows what the caller may see rather than refusing.
    pub fn allow_listing(&mut self, action: Action) {
        self.draft.action = Some(action);
        self.draft.authorized = true;
    }
}

/// A JSON response.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    (status, Json(body)).into_response()
}

/// Runs a management request through every stage.
pub async fn handle(state: Arc<AppState>, client: ClientAddress, request: Request<Body>) -> Response {
    let arrival = Arrival::at(&state.clock);
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let mut caller_ids = None;
    let mut draft = AuditDraft::default();
    let outcome = run(&state, &parts.method, &parts.uri, &parts.headers, body, &mut caller_ids, &mut draft).await;
    let (mut response, failure) = match outcome {
        Ok(response) => (response, None),
        Err(error) => (error.clone().into_response(), Some(error.code())),
    };
    if let Ok(value) = arrival.request_id.parse() {
        response.headers_mut().insert("x-ms-request-id", value);
    }
    let status = response.status();
    let settled = RequestFacts { arrival, headers: &parts.headers, status }.settle();
    let action = draft.action.map_or("Unknown", Action::as_str);
    let client = client.to_string();
    let (caller, tenant_id) = caller_ids.unwrap_or_default();
    let record = AuditRecord::Activity(Box::new(Activity {
        category_value: "Administrative".to_owned(),
        operation_name_value: action.to_owned(),
        activity_status_value: settled.result_type.to_owned(),
        activity_substatus_value: settled.reason.to_owned(),
        level: if status.is_success() { "Informational" } else { "Error" }.to_owned(),
        caller,
        caller_ip_address: client.clone(),
        correlation_id: settled.correlation_id(),
        resource_id: path.clone(),
        tenant_id,
        authorization: ActivityAuthorization { action: action.to_owned(), scope: path, granted: draft.authorized },
        http_request: ActivityRequest {
            client_request_id: settled.client_request_id,
            client_ip_address: client,
            method: parts.method.to_string(),
            api_version: query_value(parts.uri.query(), "api-version").unwrap_or_default(),
        },
        properties: ActivityProperties {
            status_code: settled.reason.to_owned(),
            http_status_code: status.as_u16(),
            status_message: failure.map(str::to_owned),
            duration_ms: settled.duration_ms,
        },
        event_data_id: settled.request_id,
        time_generated: settled.time,
    }));
    state.audit.record(record).await;
    response
}

#[allow(clippy::too_many_arguments)] // the stages' inputs and outputs, spelled out rather than bundled
async fn run(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    caller_ids: &mut Option<(String, String)>,
    draft: &mut AuditDraft,
) -> Result<Response, ManagementError> {
    let (path, query) = (uri.path(), uri.query());
    let addressed = uri.authority().map(|a| a.as_str()).or_else(|| headers.get(header::HOST)?.to_str().ok());
    let origin =
        addressed.map_or_else(|| state.endpoints.authority_host().to_owned(), |host| format!("https://{host}"));
    if is_metadata_endpoints(path) {
        // Clouds are discovered before anyone signs in.
        return Ok(subscriptions::metadata_endpoints(state, query));
    }
    // Who asks, and what they send, are settled before the write lock: a caller that is slow to send its
    // body (or sends a bad token) never holds up another tenant's write.
    let (tenant, caller) = authenticate(state, &state.directory(), headers)?;
    *caller_ids = Some((caller.claims.oid.clone(), caller.claims.tid.clone()));
    let body = read_body(body).await?;
    // Changes are planned and applied one at a time, each against the directory the last one left.
    let _writing = match *method {
        Method::GET | Method::HEAD => None,
        _ => Some(state.directory.lock_writes().await),
    };
    // The directory may have changed while the body arrived: the caller's tenant and groups are read again
    // from the snapshot the request is decided on.
    let directory = state.directory();
    let tenant = directory.tenants().iter().find(|t| t.id == tenant.id).cloned().ok_or_else(|| {
        ManagementError::authentication_failed("The access token's tenant no longer exists.", challenge(state))
    })?;
    let caller = Caller { groups: directory.groups_of(caller.object_id), ..caller };
    let mut cx = Context {
        state,
        directory,
        tenant,
        subscription: None,
        resource_group: None,
        addressed_as: None,
        caller,
        method: method.clone(),
        query: query.map(str::to_owned),
        body,
        origin,
        draft: AuditDraft::default(),
    };
    let lower = path.trim_end_matches('/').to_ascii_lowercase();
    let result = if let Some(rest) = lower.strip_prefix("/v1.0/") {
        let rest_original = &path[path.len() - rest.len()..];
        directory::handle(&mut cx, rest_original).await
    } else if lower == "/subscriptions" {
        subscriptions::list(&mut cx)
    } else if lower == "/tenants" {
        subscriptions::tenants(&mut cx)
    } else if lower == "/providers" || lower.starts_with("/providers/") {
        let namespace = path.trim_end_matches('/').split('/').nth(2);
        subscriptions::providers(&mut cx, namespace)
    } else {
        let arm = resource::ArmPath::parse(path)?;
        arm_request(&mut cx, &arm).await
    };
    *draft = std::mem::take(&mut cx.draft);
    result
}

/// A Resource Manager path below `/subscriptions/{id}`: the subscription (and resource group) it names must be
/// the caller's tenant's, then the operation module serves it.
async fn arm_request(cx: &mut Context<'_>, arm: &resource::ArmPath) -> Result<Response, ManagementError> {
    use resource::Tail;
    let subscription = subscriptions::resolve(cx, arm.subscription)?;
    cx.addressed_as = (arm.subscription == subscription.tenant_id).then_some(arm.subscription);
    cx.subscription = Some(subscription);
    cx.resource_group = arm.resource_group.clone();
    let names_group = arm.resource_group.is_some() && !matches!(arm.tail, Tail::ResourceGroup);
    if names_group {
        groups::existing(cx)?;
    }
    match &arm.tail {
        Tail::Subscription => subscriptions::get(cx),
        Tail::Locations => subscriptions::locations(cx),
        Tail::Providers(namespace) => subscriptions::providers(cx, namespace.as_deref()),
        Tail::Resources => subscriptions::resources(cx),
        Tail::ResourceGroups | Tail::ResourceGroup => groups::handle(cx, &arm.tail).await,
        Tail::Resource | Tail::Vaults | Tail::AccessPolicies(_) => vaults::handle(cx, arm).await,
        Tail::ManagedHsms
        | Tail::ManagedHsm(_)
        | Tail::DeletedManagedHsms
        | Tail::DeletedVault { managed_hsm: true, .. } => managed_hsms::handle(cx, &arm.tail).await,
        Tail::CheckNameAvailability { .. } | Tail::DeletedVaults | Tail::DeletedVault { .. } => {
            vaults::subscription_wide(cx, &arm.tail).await
        }
        Tail::RoleAssignments(_) | Tail::RoleDefinitions(_) => {
            // A resource group is not a scope of its own: an assignment there would reach the whole tenant.
            let writes = !matches!(cx.method, Method::GET | Method::HEAD);
            if writes && arm.resource_group.is_some() && arm.vault.is_none() {
                return Err(ManagementError::bad_request(
                    "InvalidScope",
                    "Strongroom does not assign roles at a resource group's scope; assign at the subscription, a \
                     vault or an object.",
                ));
            }
            match arm.tail {
                Tail::RoleAssignments(_) => access::assignments(cx, arm).await,
                _ => access::definitions(cx, arm).await,
            }
        }
        Tail::AuditLogs => logs::query(cx, arm).await,
        Tail::EventSubscriptions(name) => events::subscriptions(cx, arm, name.as_deref()).await,
        Tail::DeadLetteredEvents => events::dead_letters(cx, arm).await,
        Tail::Faults => test_controls::faults(cx, arm).await,
        Tail::Clock => test_controls::clock(cx).await,
        Tail::ManagedIdentities(name) => {
            // User-assigned identities live in the default group of the default subscription.
            let default = cx.directory.default_subscription(cx.tenant.id).map(|s| s.id);
            let in_default =
                arm.resource_group.as_deref().is_some_and(|g| g.eq_ignore_ascii_case(DEFAULT_RESOURCE_GROUP));
            if !in_default || default != Some(cx.subscription_id()) {
                return Err(groups::not_found(arm.resource_group.as_deref().unwrap_or_default()));
            }
            identities::handle(cx, name.as_deref()).await
        }
    }
}

/// The request body, at most [`MAX_BODY_BYTES`]; the listener bounds the time it may take to arrive.
async fn read_body(body: Body) -> Result<Bytes, ManagementError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|e| {
        if crate::http::timed_out(&e) {
            ManagementError::bad_request("RequestTimeout", "The request body did not arrive in time.")
        } else {
            ManagementError::bad_request("RequestTooLarge", "The request body is too large.")
        }
    })
}

/// The challenge of a refused management request: where to get a token.
fn challenge(state: &AppState) -> String {
    format!(
        "Bearer authorization_uri=\"{}/common\", error=\"invalid_token\", error_description=\"The access token is missing or invalid.\"",
        state.endpoints.authority_host()
    )
}

/// Stage 1: the bearer token, validated for a management resource in its own tenant.
fn authenticate(
    state: &AppState,
    directory: &Directory,
    headers: &HeaderMap,
) -> Result<(Tenant, Caller), ManagementError> {
    let refuse = |reason: &str| ManagementError::authentication_failed(reason, challenge(state));
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or_else(|| refuse("The 'Authorization' header is missing."))?;
    // The tenant is read before the signature is checked only to know whose issuer to expect; validation
    // then checks the issuer and `tid` against it.
    let tenant = unverified_tenant(token)
        .and_then(|id| directory.tenants().iter().find(|t| t.id == id).cloned())
        .ok_or_else(|| refuse("The access token is not from a tenant of this server."))?;
    let issuer = state.endpoints.issuer(tenant.id);
    let audiences = state.endpoints.management_audiences();
    let expected = Expected { issuer: &issuer, audiences: &audiences, tenant_id: tenant.id };
    let claims = state
        .validated_tokens
        .validate(&state.keys.get(), token, &expected, state.clock.now_seconds())
        .map_err(|e| refuse(e.message()))?;
    let object_id = Uuid::parse_str(&claims.oid).map_err(|_| refuse("The access token's oid is not a GUID."))?;
    let groups = directory.groups_of(object_id);
    Ok((tenant, Caller { object_id, groups, claims }))
}

fn unverified_tenant(token: &str) -> Option<Uuid> {
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims["tid"].as_str().and_then(|t| Uuid::parse_str(t).ok())
}

/// The value of `name` in a query string.
pub fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes()).find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_endpoint_is_found_after_a_resource_manager_url_ending_in_a_slash() {
        for path in ["/metadata/endpoints", "//metadata/endpoints", "/Metadata/Endpoints/"] {
            assert!(serves(path) && is_metadata_endpoints(path), "{path}");
        }
        assert!(!serves("/metadata/identity/oauth2/token") && !is_metadata_endpoints("/metadata/endpoints/x"));
    }
}
