//! The vault data plane. Every request runs the seed's flow, one named stage after another:
//!
//! 1. [`challenge`] — no bearer token: `401` with `WWW-Authenticate`, before the request is looked at;
//! 2. [`firewall`] — the vault's network rules on the caller's address;
//! 3. [`authenticate`] — the token's signature, issuer, audience, lifetime and tenant;
//! 4. [`authorize`] — the RBAC data action the operation needs;
//! 5. [`throttle`] — the vault's service limits for the operation's kind: `429` with `Retry-After` past them
//!    (and, where test controls are on, the faults the vault was told to inject);
//! 6. [`operation`] — the operation itself: a row of [`operation::table`] names it, its handler runs it — in
//!    [`lifecycle`] (what every kind of object shares) or in its kind's module ([`secrets`], [`keys`],
//!    [`certificates`], …; a Managed HSM's own in [`local_rbac`] and [`settings`]) — with the request's
//!    [`context`]; a Managed HSM first needs its root secret ([`security_domain::activated_root`]), without
//!    which it serves only its security domain;
//! 7. [`audit`] — one record, whatever the outcome, begun before stage 1 and written last.

pub(crate) mod audit;
pub mod authenticate;
pub mod authorize;
mod certificate_authority;
pub mod certificates;
pub mod challenge;
pub mod context;
pub mod error;
pub mod firewall;
pub mod full_backup;
pub mod keys;
pub mod lifecycle;
pub mod local_rbac;
pub mod operation;
pub mod release;
pub mod rotation;
mod scheduled;
pub mod secrets;
pub mod security_domain;
pub mod settings;
pub mod throttle;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use axum::response::{IntoResponse, Response};
use strongroom_core::directory::VaultKind;
use strongroom_core::network::ClientAddress;
use strongroom_core::token::LastToken;
use strongroom_proto::audit::{AuditClaims, AuditIdentity};

use self::audit::VaultAudit;
use self::error::VaultError;
use self::operation::{Query, Routed};
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
    /// The TLS version agreed, as Key Vault's audit log spells it (`TLS1_3`); `None` on plain HTTP.
    pub tls_version: Option<&'static str>,
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
            tls_version: None,
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

/// Runs a request for the vault (or Managed HSM, by `kind`) `vault_name`, addressed as `host`, through every
/// stage.
pub async fn handle(
    state: Arc<AppState>,
    connection: ConnectionInfo,
    host: &str,
    vault_name: &str,
    kind: VaultKind,
    request: Request<Body>,
) -> Response {
    let mut audit = VaultAudit::begin(&state.clock, host, vault_name, connection.tls_version);
    let (parts, body) = request.into_parts();
    let client = connection.client;
    let outcome = run_stages(&state, &connection, client, host, (vault_name, kind), &parts, body, &mut audit).await;
    let (mut response, failure) = match outcome {
        Ok(response) => (response, None),
        Err(error) => (error.clone().into_response(), Some(error.specific_code())),
    };
    let client_text = connection.address_text(client);
    decorate(&mut response, audit.request_id(), &client_text);
    // Stage 7, after everything else: the record of what the request asked and what it was answered.
    audit.record(&state, &parts, &client_text.address, response.status(), failure).await;
    response
}

#[allow(clippy::too_many_arguments)] // the stages' inputs, spelled out rather than bundled
async fn run_stages(
    state: &Arc<AppState>,
    connection: &ConnectionInfo,
    client: ClientAddress,
    host: &str,
    (vault_name, kind): (&str, VaultKind),
    parts: &Parts,
    body: Body,
    audit: &mut VaultAudit<'_>,
) -> Result<Response, VaultError> {
    let directory = state.directory();
    // A name is a vault's or an HSM's: a vault's name at the HSM domain (or the reverse) addresses nothing.
    let vault = directory
        .vault(vault_name)
        .filter(|vault| vault.kind == kind)
        .ok_or_else(|| VaultError::vault_not_found(vault_name))?;
    // Routing reads only the request line; its verdict waits until the caller is known.
    let method = effective_method(parts);
    let route = Routed::route(&method, parts.uri.path(), kind);
    audit.operation_name = route.as_ref().map_or("Unknown", |routed| routed.operation.audit_name);

    let token = challenge::bearer_token(&parts.headers, &state.endpoints, vault)?;
    let allowed = firewall::check(state, &directory, vault, connection, client, token)?;
    audit.address_authorization = Some(allowed.address_type);
    let caller = match allowed.trusted_service {
        Some(caller) => caller,
        None => authenticate::validate(state, connection, vault, token)?,
    };
    audit.identity = Some(AuditIdentity {
        claim: AuditClaims {
            oid: caller.claims.oid.clone(),
            appid: caller.claims.appid.clone(),
            idtyp: caller.claims.idtyp.clone(),
        },
    });

    let operation = route?;
    let query = Query::parse(parts.uri.query())?;
    authorize::check(&directory, vault, &caller, &operation)?;
    audit.authorized = true;
    throttle::injected_fault(state, vault).await?;
    let admission = throttle::check(state, vault, operation.operation)?;
    let hsm_root = security_domain::activated_root(state, vault, operation.action).await?;

    let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|e| {
        if crate::http::timed_out(&e) {
            VaultError::bad_parameter("The request body did not arrive in time.")
        } else {
            VaultError::bad_parameter(format!("The request body is larger than the maximum of {MAX_BODY_BYTES} bytes."))
        }
    })?;
    let base_url = ["https://", host].concat();
    let cx = context::Context { state, vault, base_url: &base_url, query: &query, admission: &admission, hsm_root };
    operation.run(&cx, &body).await
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
