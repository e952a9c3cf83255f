//! The managed-identity endpoints: how a workload gets a token without holding a credential.
//!
//! - IMDS (`GET /metadata/identity/oauth2/token[/]`, plain HTTP on `imds_listen`): `Metadata: true` required;
//!   the workload is the caller's source address, as on a VM.
//! - `/msi/token` (on the HTTPS listener and on `imds_listen`): App Service (`GET` with `X-IDENTITY-HEADER`),
//!   Azure ML (`GET` with `secret`) — the workload proves itself with its secret — and Cloud Shell (`POST`,
//!   form `resource`), identified by source address.
//!
//! Without a selector a workload gets its own (system-assigned) identity; `client_id`, `object_id` (or
//! `principal_id`) and `msi_res_id` (or `mi_res_id`) select a user-assigned identity assigned to it. Every
//! source gets one all-strings response that every SDK reads (`expires_in` for IMDS readers, `expires_on` for
//! App Service readers, `resource` for Cloud Shell, `token_type` for Service Fabric).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use strongroom_core::credential;
use strongroom_core::directory::{Directory, ManagedIdentityKind, Principal};
use strongroom_core::network::ClientAddress;
use uuid::Uuid;

use super::error::OAuthFailure;
use super::mint::{self, AppToken, ClientAuthentication};
use super::sign_in_log::SignInLog;
use super::throttle::Presented;
use crate::state::AppState;
use crate::vault::ConnectionInfo;

/// A refused managed-identity request, in the `{"error","error_description"}` shape these endpoints use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedIdentityFailure {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl ManagedIdentityFailure {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self { status, error, description: description.into() }
    }

    fn missing_metadata_header() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", "Required metadata header not specified")
    }

    fn missing_resource() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", "Required query variable 'resource' is missing")
    }

    fn unknown_resource(resource: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            format!("AADSTS500011: The resource principal named {resource} was not found in the tenant."),
        )
    }

    fn unknown_source(address: ClientAddress) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("Identity not found: no workload calls from {address}."),
        )
    }

    fn bad_secret() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "The workload's identity secret is missing or wrong.",
        )
    }

    fn from_token_service(failure: &OAuthFailure) -> Self {
        Self::new(failure.status(), "invalid_request", failure.message().to_owned())
    }

    fn no_such_identity() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Identity not found: the workload has no such managed identity.",
        )
    }

    fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "The token could not be issued.")
    }
}

impl IntoResponse for ManagedIdentityFailure {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: &'static str,
            error_description: String,
        }
        (self.status, Json(Body { error: self.error, error_description: self.description })).into_response()
    }
}

/// The response every managed-identity source accepts: numbers as strings, as real IMDS sends them.
#[derive(Debug, Serialize)]
struct ManagedIdentityToken {
    access_token: String,
    client_id: String,
    expires_in: String,
    expires_on: String,
    ext_expires_in: String,
    not_before: String,
    resource: String,
    token_type: &'static str,
}

/// How the workload proved who it is.
enum Proof {
    /// The caller's address (IMDS, Cloud Shell).
    Address(ClientAddress),
    /// The workload's secret (App Service, Azure ML), and where it came from.
    Secret {
        /// The secret.
        secret: String,
        /// The caller, whose failures are throttled.
        from: ClientAddress,
    },
}

/// `GET /metadata/identity/oauth2/token[/]`.
pub async fn imds(
    State(state): State<Arc<AppState>>,
    axum::Extension(connection): axum::Extension<ConnectionInfo>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ManagedIdentityFailure> {
    let mut log = SignInLog::managed_identity_request(&state, connection.peer_address().to_string(), &headers);
    let metadata = headers.get("metadata").and_then(|v| v.to_str().ok());
    let result = if metadata.is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        issue(&state, Proof::Address(connection.peer_address()), &query, &mut log).await
    } else {
        Err(ManagedIdentityFailure::missing_metadata_header())
    };
    logged(&state, log, result).await
}

/// `/msi/token`: App Service and Azure ML (`GET`, secret header) or Cloud Shell (`POST`, source address).
pub async fn msi(
    State(state): State<Arc<AppState>>,
    axum::Extension(connection): axum::Extension<ConnectionInfo>,
    method: Method,
    headers: HeaderMap,
    Query(mut query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ManagedIdentityFailure> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut log = SignInLog::managed_identity_request(&state, connection.client.to_string(), &headers);
    let proof = if method == Method::POST {
        // Cloud Shell posts a form and proves nothing but where it calls from.
        query.extend(form_urlencoded::parse(&body).into_owned());
        match header("metadata") {
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Proof::Address(connection.peer_address())),
            _ => Err(ManagedIdentityFailure::missing_metadata_header()),
        }
    } else {
        match header("x-identity-header").or_else(|| header("secret")) {
            Some(secret) => Ok(Proof::Secret { secret, from: connection.client }),
            None => Err(ManagedIdentityFailure::bad_secret()),
        }
    };
    let result = match proof {
        Ok(proof) => issue(&state, proof, &query, &mut log).await,
        Err(refusal) => Err(refusal),
    };
    logged(&state, log, result).await
}

/// Writes the sign-in row of a managed identity's token request, then gives its result back.
async fn logged(
    state: &AppState,
    log: SignInLog,
    result: Result<Response, ManagedIdentityFailure>,
) -> Result<Response, ManagedIdentityFailure> {
    let (status, failure) = match &result {
        Ok(response) => (response.status(), None),
        Err(failure) => (failure.status, Some((failure.error.to_owned(), failure.description.clone()))),
    };
    log.finish(state, status, failure).await;
    result
}

async fn issue(
    state: &AppState,
    proof: Proof,
    query: &HashMap<String, String>,
    log: &mut SignInLog,
) -> Result<Response, ManagedIdentityFailure> {
    let resource =
        query.get("resource").filter(|r| !r.is_empty()).ok_or_else(ManagedIdentityFailure::missing_resource)?;
    log.resource = Some(resource.chars().take(512).collect());
    let audience =
        mint::audience_for(state, resource).ok_or_else(|| ManagedIdentityFailure::unknown_resource(resource))?;
    let directory = state.directory();
    let workload = match proof {
        Proof::Address(client) => {
            let workload = client.ip().and_then(|address| directory.workload_at(address));
            workload.ok_or_else(|| ManagedIdentityFailure::unknown_source(client))?.object_id
        }
        Proof::Secret { secret, from } => workload_with_secret(state, &directory, secret, from).await?,
    };
    let identity = select(&directory, workload, query)?;
    let client_id = identity.client_id.ok_or_else(ManagedIdentityFailure::internal)?;
    (log.tenant, log.app_id) = (identity.tenant_id.to_string(), client_id.to_string());
    let minted = mint::app_token(
        state,
        AppToken {
            principal: identity,
            client_id,
            audience,
            authentication: ClientAuthentication::Certificate,
            managed_identity_resource_id: directory.managed_identity_resource_id(identity.object_id),
        },
    )
    .ok_or_else(ManagedIdentityFailure::internal)?;
    let expires_on = minted.issued_at + i64::try_from(minted.lifetime).unwrap_or(0);
    Ok(Json(ManagedIdentityToken {
        access_token: minted.token,
        client_id: client_id.to_string(),
        expires_in: minted.lifetime.to_string(),
        expires_on: expires_on.to_string(),
        ext_expires_in: minted.lifetime.to_string(),
        not_before: minted.issued_at.to_string(),
        resource: resource.clone(),
        token_type: "Bearer",
    })
    .into_response())
}

/// The workload whose secret is `secret`, found by the secret's keyed hash under the installation's key
/// (HMAC-SHA-256, compared in constant time): one hash per request, whatever the number of workloads, and no
/// Argon2id. The caller's address takes a slot in the sign-in throttle first: ten wrong secrets lock it.
async fn workload_with_secret(
    state: &AppState,
    directory: &Directory,
    secret: String,
    from: ClientAddress,
) -> Result<Uuid, ManagedIdentityFailure> {
    let refused = |failure: OAuthFailure| ManagedIdentityFailure::from_token_service(&failure);
    let attempt =
        state.sign_in_throttle.begin(Presented::ClientSecret, WORKLOAD_SECRETS, from).await.map_err(refused)?;
    let mac = state.workload_key.mac(&secret);
    let workload = directory
        .managed_identities
        .iter()
        .filter(|(_, mi)| mi.kind == ManagedIdentityKind::System)
        .find(|(_, mi)| mi.identity_header_mac.as_deref().is_some_and(|stored| credential::macs_equal(stored, &mac)))
        .map(|(id, _)| *id);
    match workload {
        Some(workload) => {
            attempt.succeeded(state, Presented::ClientSecret).await;
            Ok(workload)
        }
        None => {
            attempt.failed(state).await;
            Err(ManagedIdentityFailure::bad_secret())
        }
    }
}

/// What the sign-in throttle counts wrong workload secrets against (besides the caller's address).
const WORKLOAD_SECRETS: &str = "managed-identity-workloads";

/// The identity a request selects among the workload's own and those assigned to it.
fn select<'a>(
    directory: &'a Directory,
    workload: Uuid,
    query: &HashMap<String, String>,
) -> Result<&'a Principal, ManagedIdentityFailure> {
    let identities = directory.identities_of(workload);
    let param = |names: &[&str]| names.iter().find_map(|name| query.get(*name)).filter(|v| !v.is_empty());
    let guid = |value: &String| Uuid::parse_str(value).ok();
    let chosen = if let Some(client_id) = param(&["client_id", "clientid"]) {
        identities.into_iter().find(|p| p.client_id.is_some() && p.client_id == guid(client_id))
    } else if let Some(object_id) = param(&["object_id", "principal_id"]) {
        identities.into_iter().find(|p| Some(p.object_id) == guid(object_id))
    } else if let Some(resource_id) = param(&["msi_res_id", "mi_res_id"]) {
        identities.into_iter().find(|p| {
            directory.managed_identity_resource_id(p.object_id).is_some_and(|id| id.eq_ignore_ascii_case(resource_id))
        })
    } else {
        identities.into_iter().next()
    };
    chosen.ok_or_else(ManagedIdentityFailure::no_such_identity)
}
