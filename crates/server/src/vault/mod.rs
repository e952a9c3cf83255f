//! The vault data plane. Every request runs the seed's flow, one named stage after another:
//!
//! 1. [`challenge`] — no bearer token: `401` with `WWW-Authenticate`, before the request is looked at;
//! 2. [`firewall`] — the vault's network rules on the caller's address;
//! 3. [`authenticate`] — the token's signature, issuer, audience, lifetime and tenant;
//! 4. [`authorize`] — the RBAC data action the operation needs;
//! 5. [`operation`] — the operation itself, in [`lifecycle`] (what every kind of object shares) or in its kind's
//!    module ([`secrets`], [`keys`], [`certificates`]), with the request's [`context`];
//! 6. audit — one record, whatever the outcome ([`crate::audit`]).

pub mod authenticate;
pub mod authorize;
mod certificate_authority;
pub mod certificates;
pub mod challenge;
pub mod context;
pub mod error;
pub mod firewall;
pub mod keys;
pub mod lifecycle;
pub mod operation;
pub mod release;
pub mod rotation;
mod scheduled;
pub mod secrets;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use axum::response::{IntoResponse, Response};
use strongroom_core::network::ClientAddress;
use strongroom_core::token::LastToken;
use strongroom_proto::audit::{AuditClaims, AuditIdentity, AuditRecord};
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use self::certificates::Certificates;
use self::error::VaultError;
use self::keys::Keys;
use self::operation::{CertificateOp, KeyOperation, Operation, Query};
use self::secrets::Secrets;
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
    /// The client of the request at hand, by the server's one rule ([`firewall::client_address`]): the peer
    /// until the request's forwarding headers are read, which dispatch does for every request.
    pub client: ClientAddress,
    /// The peer's address as responses and audit records spell it, formatted once for the connection's
    /// requests (the peer is the client unless a trusted proxy forwards for another).
    peer_text: Arc<AddressText>,
    /// The bearer token the connection presented last, recognised again without hashing it.
    last_token: Arc<LastToken>,
}

impl ConnectionInfo {
    /// A connection from `peer`, accepted on `local` (a private endpoint's listener names its vault).
    pub fn new(peer: SocketAddr, local: SocketAddr, private_endpoint: Option<Arc<str>>) -> Self {
        Self {
            peer,
            local,
            private_endpoint,
            client: ClientAddress::Known(strongroom_core::network::canonical(peer.ip())),
            peer_text: Arc::new(AddressText::new(peer.ip())),
            last_token: Arc::default(),
        }
    }

    /// The TCP peer, canonical: what a workload proves by its source address (IMDS, Cloud Shell) must be
    /// where the connection comes from, never what a forwarding header says, trusted proxy or not.
    pub fn peer_address(&self) -> ClientAddress {
        ClientAddress::Known(strongroom_core::network::canonical(self.peer.ip()))
    }

    /// `client` as responses and audit records spell it.
    fn address_text(&self, client: ClientAddress) -> Arc<AddressText> {
        match client {
            ClientAddress::Known(address) if address == self.peer.ip() => Arc::clone(&self.peer_text),
            ClientAddress::Known(address) => Arc::new(AddressText::new(address)),
            ClientAddress::Unknown => Arc::new(AddressText { address: client.to_string(), network_info: None }),
        }
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

/// What an operation answers, once it has run.
type OperationFuture<'a> = Pin<Box<dyn Future<Output = Result<Response, VaultError>> + Send + 'a>>;

/// Runs a request for the vault `vault_name`, addressed as `host`, through every stage.
pub async fn handle(
    state: Arc<AppState>,
    connection: ConnectionInfo,
    host: &str,
    vault_name: &str,
    request: Request<Body>,
) -> Response {
    let started = Instant::now();
    let time = state.clock.now().format(&Rfc3339).unwrap_or_default();
    let request_id = crate::audit::request_id();
    let (parts, body) = request.into_parts();
    let client = connection.client;
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
        // Strings on the warm path are joined, not formatted: `format!`'s machinery cost more than the copying.
        resource_id: state.directory().vault(vault_name).map(|v| {
            ["/tenants/", v.tenant_id.hyphenated().encode_lower(&mut Uuid::encode_buffer()), "/vaults/", &v.name]
                .concat()
        }),
        operation_name: draft.operation_name.to_owned(),
        operation_version: Query::raw_api_version(parts.uri.query()),
        identity: draft.identity,
        request_uri: ["https://", host, parts.uri.path_and_query().map_or(parts.uri.path(), |pq| pq.as_str())].concat(),
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
    client: ClientAddress,
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
        None => authenticate::validate(state, connection, vault, token)?,
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

    let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|e| {
        if crate::http::timed_out(&e) {
            VaultError::bad_parameter("The request body did not arrive in time.")
        } else {
            VaultError::bad_parameter(format!("The request body is larger than the maximum of {MAX_BODY_BYTES} bytes."))
        }
    })?;
    let base_url = ["https://", host].concat();
    let cx = context::Context { state, vault, base_url: &base_url, query: &query };
    perform(&cx, &operation, &body).await
}

/// Stage 5: the operation. Each operation's future is boxed on its own, so that a request's future is as
/// large as the operation it runs rather than the largest of all (moving a future of several kilobytes into
/// the connection's task cost every request a copy of that size).
fn perform<'a>(cx: &'a context::Context<'a>, operation: &'a Operation, body: &'a [u8]) -> OperationFuture<'a> {
    match operation {
        Operation::SetSecret { name } => Box::pin(secrets::set(cx, name, body)),
        Operation::GetSecret { name, version } => Box::pin(lifecycle::get::<Secrets>(cx, name, version.as_deref())),
        Operation::UpdateSecret { name, version } => Box::pin(secrets::update(cx, name, version.as_deref(), body)),
        Operation::DeleteSecret { name } => Box::pin(lifecycle::delete::<Secrets>(cx, name)),
        Operation::ListSecrets => Box::pin(lifecycle::list::<Secrets>(cx)),
        Operation::ListSecretVersions { name } => Box::pin(lifecycle::list_versions::<Secrets>(cx, name)),
        Operation::BackupSecret { name } => Box::pin(lifecycle::backup::<Secrets>(cx, name)),
        Operation::RestoreSecret => Box::pin(lifecycle::restore::<Secrets>(cx, body)),
        Operation::ListDeletedSecrets => Box::pin(lifecycle::list_deleted::<Secrets>(cx)),
        Operation::GetDeletedSecret { name } => Box::pin(lifecycle::get_deleted::<Secrets>(cx, name)),
        Operation::RecoverDeletedSecret { name } => Box::pin(lifecycle::recover::<Secrets>(cx, name)),
        Operation::PurgeDeletedSecret { name } => Box::pin(lifecycle::purge::<Secrets>(cx, name)),
        Operation::Key(key) => match key {
            KeyOperation::Create { name } => Box::pin(keys::create(cx, name, body)),
            KeyOperation::Get { name, version } => Box::pin(lifecycle::get::<Keys>(cx, name, version.as_deref())),
            KeyOperation::Update { name, version } => Box::pin(keys::update(cx, name, version.as_deref(), body)),
            KeyOperation::Delete { name } => Box::pin(lifecycle::delete::<Keys>(cx, name)),
            KeyOperation::Import { name } => Box::pin(keys::import(cx, name, body)),
            KeyOperation::Rotate { name } => Box::pin(keys::rotate(cx, name)),
            KeyOperation::GetRotationPolicy { name } => Box::pin(rotation::get_policy(cx, name)),
            KeyOperation::SetRotationPolicy { name } => Box::pin(rotation::set_policy(cx, name, body)),
            KeyOperation::GetAttestation { name, version } => {
                Box::pin(lifecycle::get::<Keys>(cx, name, version.as_deref()))
            }
            KeyOperation::RandomBytes => Box::pin(std::future::ready(keys::random_bytes(body))),
            KeyOperation::Release { name, version } => Box::pin(release::release(cx, name, version.as_deref(), body)),
            KeyOperation::Backup { name } => Box::pin(lifecycle::backup::<Keys>(cx, name)),
            KeyOperation::Restore => Box::pin(lifecycle::restore::<Keys>(cx, body)),
            KeyOperation::List => Box::pin(lifecycle::list::<Keys>(cx)),
            KeyOperation::ListVersions { name } => Box::pin(lifecycle::list_versions::<Keys>(cx, name)),
            KeyOperation::ListDeleted => Box::pin(lifecycle::list_deleted::<Keys>(cx)),
            KeyOperation::GetDeleted { name } => Box::pin(lifecycle::get_deleted::<Keys>(cx, name)),
            KeyOperation::Recover { name } => Box::pin(lifecycle::recover::<Keys>(cx, name)),
            KeyOperation::Purge { name } => Box::pin(lifecycle::purge::<Keys>(cx, name)),
            KeyOperation::Crypto { name, version, operation } => {
                Box::pin(keys::crypto(cx, name, version.as_deref(), *operation, body))
            }
        },
        Operation::Certificate(certificate) => match certificate {
            CertificateOp::Create { name } => Box::pin(certificates::create(cx, name, body)),
            CertificateOp::Import { name } => Box::pin(certificates::import(cx, name, body)),
            CertificateOp::Get { name, version } => {
                Box::pin(lifecycle::get::<Certificates>(cx, name, version.as_deref()))
            }
            CertificateOp::GetOperation { name } => Box::pin(certificates::get_operation(cx, name)),
            CertificateOp::Merge { name } => Box::pin(certificates::merge(cx, name, body)),
            CertificateOp::CancelOperation { name } => Box::pin(certificates::cancel_operation(cx, name, body)),
            CertificateOp::DeleteOperation { name } => Box::pin(certificates::delete_operation(cx, name)),
            CertificateOp::GetPolicy { name } => Box::pin(certificates::get_policy(cx, name)),
            CertificateOp::List => Box::pin(certificates::list(cx)),
            CertificateOp::Backup { name } => Box::pin(lifecycle::backup::<Certificates>(cx, name)),
            CertificateOp::Restore => Box::pin(lifecycle::restore::<Certificates>(cx, body)),
            CertificateOp::ListIssuers => Box::pin(certificates::list_issuers(cx)),
            CertificateOp::GetIssuer { name } => Box::pin(certificates::get_issuer(cx, name)),
            CertificateOp::SetIssuer { name, replace } => Box::pin(certificates::set_issuer(cx, name, body, *replace)),
            CertificateOp::DeleteIssuer { name } => Box::pin(certificates::delete_issuer(cx, name)),
            CertificateOp::GetContacts => Box::pin(certificates::get_contacts(cx)),
            CertificateOp::SetContacts => Box::pin(certificates::set_contacts(cx, body)),
            CertificateOp::DeleteContacts => Box::pin(certificates::delete_contacts(cx)),
            CertificateOp::ListVersions { name } => Box::pin(lifecycle::list_versions::<Certificates>(cx, name)),
            CertificateOp::Update { name, version } => {
                Box::pin(certificates::update(cx, name, version.as_deref(), body))
            }
            CertificateOp::UpdatePolicy { name } => Box::pin(certificates::update_policy(cx, name, body)),
            CertificateOp::Delete { name } => Box::pin(lifecycle::delete::<Certificates>(cx, name)),
            CertificateOp::ListDeleted => Box::pin(lifecycle::list_deleted::<Certificates>(cx)),
            CertificateOp::GetDeleted { name } => Box::pin(lifecycle::get_deleted::<Certificates>(cx, name)),
            CertificateOp::Recover { name } => Box::pin(lifecycle::recover::<Certificates>(cx, name)),
            CertificateOp::Purge { name } => Box::pin(lifecycle::purge::<Certificates>(cx, name)),
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
