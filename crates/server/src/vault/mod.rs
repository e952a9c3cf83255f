//! The vault data plane. Every request runs the seed's flow, one named stage after another:
//!
//! 1. [`challenge`] — no bearer token: `401` with `WWW-Authenticate`, before the request is looked at;
//! 2. [`firewall`] — the vault's network rules on the caller's address;
//! 3. [`authenticate`] — the token's signature, issuer, audience, lifetime and tenant;
//! 4. [`authorize`] — the RBAC data action the operation needs;
//! 5. [`operation`], [`secrets`] and [`keys`] — the operation itself;
//! 6. audit — one record, whatever the outcome ([`crate::audit`]).

pub mod authenticate;
pub mod authorize;
pub mod certificates;
pub mod challenge;
pub mod error;
pub mod firewall;
pub mod keys;
pub mod operation;
pub mod release;
pub mod rotation;
mod scheduled;
pub mod secrets;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use axum::response::{IntoResponse, Response};
use strongroom_proto::audit::{AuditClaims, AuditIdentity, AuditRecord};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use self::error::VaultError;
use self::operation::{CertificateOp, KeyOperation, Operation, Query};
use crate::audit::RequestFacts;
use crate::state::AppState;

/// Largest request body read, in bytes: a 25 KiB secret value fits even fully JSON-escaped.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// Where a request came from.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The TCP peer's address.
    pub peer: SocketAddr,
    /// The listener's address the connection arrived on.
    pub local: SocketAddr,
    /// The vault whose private endpoint the connection arrived on, if it came in on one.
    pub private_endpoint: Option<Arc<str>>,
    /// The peer's address as responses and audit records spell it, formatted once for the connection's
    /// requests (the peer is the client unless a trusted proxy forwards for another).
    peer_text: Arc<AddressText>,
}

impl ConnectionInfo {
    /// A connection from `peer`, accepted on `local` (a private endpoint's listener names its vault).
    pub fn new(peer: SocketAddr, local: SocketAddr, private_endpoint: Option<Arc<str>>) -> Self {
        Self { peer, local, private_endpoint, peer_text: Arc::new(AddressText::new(peer.ip())) }
    }

    /// `client` as responses and audit records spell it.
    fn address_text(&self, client: IpAddr) -> Arc<AddressText> {
        if client == self.peer.ip() { Arc::clone(&self.peer_text) } else { Arc::new(AddressText::new(client)) }
    }
}

/// A client address, spelt out for the audit record and for Key Vault's `x-ms-keyvault-network-info` header.
#[derive(Debug)]
struct AddressText {
    address: String,
    network_info: Option<HeaderValue>,
}

impl AddressText {
    fn new(client: IpAddr) -> Self {
        let family = if client.is_ipv4() { ("Ipv4", "InterNetwork") } else { ("Ipv6", "InterNetworkV6") };
        let network_info = format!("conn_type={};addr={client};act_addr_fam={};", family.0, family.1);
        Self { address: client.to_string(), network_info: HeaderValue::from_str(&network_info).ok() }
    }
}

/// What the audit record learns as the stages run.
struct AuditDraft {
    operation_name: &'static str,
    identity: Option<AuditIdentity>,
    address_authorized: bool,
    rbac_authorized: bool,
}

/// Runs a request for the vault `vault_name`, addressed as `host`, through every stage.
pub async fn handle(
    state: Arc<AppState>,
    connection: ConnectionInfo,
    host: &str,
    vault_name: &str,
    request: Request<Body>,
) -> Response {
    let started = Instant::now();
    let time = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
    let request_id = crate::audit::request_id();
    let (parts, body) = request.into_parts();
    let client = firewall::client_address(&state, &connection, &parts.headers);
    let mut draft =
        AuditDraft { operation_name: "Unknown", identity: None, address_authorized: false, rbac_authorized: false };

    let outcome = run_stages(&state, &connection, client, host, vault_name, &parts, body, &mut draft).await;
    let (mut response, failure) = match outcome {
        Ok(response) => (response, None),
        Err(error) => (error.clone().into_response(), Some(error.specific_code())),
    };
    let client_text = connection.address_text(client);
    decorate(&mut response, &request_id, &client_text);

    // Stage 6: the audit record. The query carries no secrets; bodies and tokens are never recorded.
    let facts = RequestFacts {
        time,
        started,
        request_id,
        headers: &parts.headers,
        client: &client_text.address,
        status: response.status(),
        failure,
    };
    let record = AuditRecord {
        resource_id: state.directory().vault(vault_name).map(|v| format!("/tenants/{}/vaults/{}", v.tenant_id, v.name)),
        operation_name: draft.operation_name.to_owned(),
        operation_version: Query::raw_api_version(parts.uri.query()),
        identity: draft.identity,
        request_uri: format!("https://{host}{}", parts.uri.path_and_query().map_or(parts.uri.path(), |pq| pq.as_str())),
        is_address_authorized: Some(draft.address_authorized),
        is_rbac_authorized: Some(draft.rbac_authorized),
        ..facts.record()
    };
    state.audit.record(record).await;
    response
}

#[allow(clippy::too_many_arguments)] // the stages' inputs, spelled out rather than bundled
async fn run_stages(
    state: &AppState,
    connection: &ConnectionInfo,
    client: IpAddr,
    host: &str,
    vault_name: &str,
    parts: &Parts,
    body: Body,
    draft: &mut AuditDraft,
) -> Result<Response, VaultError> {
    let directory = state.directory();
    let vault = directory.vault(vault_name).ok_or_else(|| VaultError::vault_not_found(vault_name))?;
    // Routing reads only the request line; its verdict waits until the caller is known.
    let route = Operation::route(&effective_method(parts), parts.uri.path());
    draft.operation_name = route.as_ref().map_or("Unknown", Operation::audit_name);

    let token = challenge::bearer_token(&parts.headers, &state.endpoints, vault)?;
    let trusted_service = firewall::check(state, &directory, vault, connection, client, token)?;
    draft.address_authorized = true;
    let caller = match trusted_service {
        Some(caller) => caller,
        None => authenticate::validate(state, vault, token)?,
    };
    draft.identity = Some(AuditIdentity {
        claim: AuditClaims {
            oid: caller.claims.oid.clone(),
            appid: caller.claims.appid.clone(),
            tid: caller.claims.tid.clone(),
        },
    });

    let operation = route?;
    let query = Query::parse(parts.uri.query())?;
    authorize::check(&directory, vault, &caller, (operation.action(), operation.permission()), operation.target())?;
    draft.rbac_authorized = true;

    let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        VaultError::bad_parameter(format!("The request body is larger than the maximum of {MAX_BODY_BYTES} bytes."))
    })?;
    let base_url = format!("https://{host}");
    let cx = secrets::Context { state, vault, base_url: &base_url, query: &query };
    match &operation {
        Operation::SetSecret { name } => secrets::set(&cx, name, &body).await,
        Operation::GetSecret { name, version } => secrets::get(&cx, name, version.as_deref()).await,
        Operation::UpdateSecret { name, version } => secrets::update(&cx, name, version.as_deref(), &body).await,
        Operation::DeleteSecret { name } => secrets::delete(&cx, name).await,
        Operation::ListSecrets => secrets::list(&cx).await,
        Operation::ListSecretVersions { name } => secrets::list_versions(&cx, name).await,
        Operation::BackupSecret { name } => secrets::backup(&cx, name).await,
        Operation::RestoreSecret => secrets::restore(&cx, &body).await,
        Operation::ListDeletedSecrets => secrets::list_deleted(&cx).await,
        Operation::GetDeletedSecret { name } => secrets::get_deleted(&cx, name).await,
        Operation::RecoverDeletedSecret { name } => secrets::recover(&cx, name).await,
        Operation::PurgeDeletedSecret { name } => secrets::purge(&cx, name).await,
        Operation::Key(key) => match key {
            KeyOperation::Create { name } => keys::create(&cx, name, &body).await,
            KeyOperation::Get { name, version } => keys::get(&cx, name, version.as_deref()).await,
            KeyOperation::Update { name, version } => keys::update(&cx, name, version.as_deref(), &body).await,
            KeyOperation::Delete { name } => keys::delete(&cx, name).await,
            KeyOperation::Import { name } => keys::import(&cx, name, &body).await,
            KeyOperation::Rotate { name } => keys::rotate(&cx, name).await,
            KeyOperation::GetRotationPolicy { name } => rotation::get_policy(&cx, name).await,
            KeyOperation::SetRotationPolicy { name } => rotation::set_policy(&cx, name, &body).await,
            KeyOperation::GetAttestation { name, version } => keys::get(&cx, name, version.as_deref()).await,
            KeyOperation::RandomBytes => keys::random_bytes(&body),
            KeyOperation::Release { name, version } => release::release(&cx, name, version.as_deref(), &body).await,
            KeyOperation::Backup { name } => keys::backup(&cx, name).await,
            KeyOperation::Restore => keys::restore(&cx, &body).await,
            KeyOperation::List => keys::list(&cx).await,
            KeyOperation::ListVersions { name } => keys::list_versions(&cx, name).await,
            KeyOperation::ListDeleted => keys::list_deleted(&cx).await,
            KeyOperation::GetDeleted { name } => keys::get_deleted(&cx, name).await,
            KeyOperation::Recover { name } => keys::recover(&cx, name).await,
            KeyOperation::Purge { name } => keys::purge(&cx, name).await,
            KeyOperation::Crypto { name, version, operation } => {
                keys::crypto(&cx, name, version.as_deref(), *operation, &body).await
            }
        },
        Operation::Certificate(certificate) => match certificate {
            CertificateOp::Create { name } => certificates::create(&cx, name, &body).await,
            CertificateOp::Import { name } => certificates::import(&cx, name, &body).await,
            CertificateOp::Get { name, version } => certificates::get(&cx, name, version.as_deref()).await,
            CertificateOp::GetOperation { name } => certificates::get_operation(&cx, name).await,
            CertificateOp::Merge { name } => certificates::merge(&cx, name, &body).await,
            CertificateOp::CancelOperation { name } => certificates::cancel_operation(&cx, name, &body).await,
            CertificateOp::DeleteOperation { name } => certificates::delete_operation(&cx, name).await,
            CertificateOp::GetPolicy { name } => certificates::get_policy(&cx, name).await,
            CertificateOp::List => certificates::list(&cx).await,
            CertificateOp::Backup { name } => certificates::backup(&cx, name).await,
            CertificateOp::Restore => certificates::restore(&cx, &body).await,
            CertificateOp::ListIssuers => certificates::list_issuers(&cx).await,
            CertificateOp::GetIssuer { name } => certificates::get_issuer(&cx, name).await,
            CertificateOp::SetIssuer { name, replace } => certificates::set_issuer(&cx, name, &body, *replace).await,
            CertificateOp::DeleteIssuer { name } => certificates::delete_issuer(&cx, name).await,
            CertificateOp::GetContacts => certificates::get_contacts(&cx).await,
            CertificateOp::SetContacts => certificates::set_contacts(&cx, &body).await,
            CertificateOp::DeleteContacts => certificates::delete_contacts(&cx).await,
            CertificateOp::ListVersions { name } => certificates::list_versions(&cx, name).await,
            CertificateOp::Update { name, version } => certificates::update(&cx, name, version.as_deref(), &body).await,
            CertificateOp::UpdatePolicy { name } => certificates::update_policy(&cx, name, &body).await,
            CertificateOp::Delete { name } => certificates::delete(&cx, name).await,
            CertificateOp::ListDeleted => certificates::list_deleted(&cx).await,
            CertificateOp::GetDeleted { name } => certificates::get_deleted(&cx, name).await,
            CertificateOp::Recover { name } => certificates::recover(&cx, name).await,
            CertificateOp::Purge { name } => certificates::purge(&cx, name).await,
        },
    }
}

/// The method a request means: clients that cannot send PATCH or DELETE POST with `X-HTTP-METHOD`.
fn effective_method(parts: &Parts) -> Method {
    let overridden = parts
        .headers
        .get("x-http-method")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Method::from_bytes(v.trim().to_ascii_uppercase().as_bytes()).ok());
    match overridden {
        Some(method) if parts.method == Method::POST => method,
        _ => parts.method.clone(),
    }
}

/// The headers Key Vault puts on every response.
fn decorate(response: &mut Response, request_id: &str, client: &AddressText) {
    const REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-request-id");
    const SERVICE_VERSION: HeaderName = HeaderName::from_static("x-ms-keyvault-service-version");
    const NETWORK_INFO: HeaderName = HeaderName::from_static("x-ms-keyvault-network-info");
    const REGION: HeaderName = HeaderName::from_static("x-ms-keyvault-region");
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID, value);
    }
    headers.insert(SERVICE_VERSION, HeaderValue::from_static(concat!("strongroom/", env!("CARGO_PKG_VERSION"))));
    if let Some(value) = &client.network_info {
        headers.insert(NETWORK_INFO, value.clone());
    }
    headers.insert(REGION, HeaderValue::from_static("local"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}
