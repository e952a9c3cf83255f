//! `/{tenant}/v2.0/.well-known/openid-configuration` and `/{tenant}/discovery/v2.0/keys`, for a tenant and
//! for the multi-tenant authorities (`organizations`, `common`, `consumers`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use strongroom_proto::oauth::{JsonWebKey, JsonWebKeySet, OpenIdConfiguration};

use super::authority::{Authority, CONSUMERS_TENANT_ID};
use super::error::OAuthFailure;
use crate::state::AppState;

/// The OpenID Connect discovery document of a tenant. Every URL in it comes from the configured login host
/// and port, never from the request's `Host`: a forged `Host` (or a cache that keys without it) must not
/// send anyone's sign-in, tokens or key lookups elsewhere.
pub async fn openid_configuration(
    state: State<Arc<AppState>>,
    tenant: Path<String>,
) -> Result<Json<OpenIdConfiguration>, OAuthFailure> {
    document(state, tenant, "/v2.0").await
}

/// The v1 discovery document: the same service, with the v1 token and authorize endpoints.
pub async fn openid_configuration_v1(
    state: State<Arc<AppState>>,
    tenant: Path<String>,
) -> Result<Json<OpenIdConfiguration>, OAuthFailure> {
    document(state, tenant, "").await
}

async fn document(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    version: &str,
) -> Result<Json<OpenIdConfiguration>, OAuthFailure> {
    let directory = state.directory();
    let host = state.endpoints.authority_host();
    // A multi-tenant authority's document names its endpoints under its own name and its issuer as Entra's
    // template, `{tenantid}` standing for the tenant of the user who signs in.
    let (base, issuer) = match Authority::parse(&directory, &tenant)? {
        Authority::Tenant(tenant) => (state.endpoints.authority(tenant.id), state.endpoints.issuer(tenant.id)),
        Authority::AnyOrganization => {
            (format!("{host}/{}", tenant.to_ascii_lowercase()), format!("{host}/{{tenantid}}/v2.0"))
        }
        Authority::Consumers => (format!("{host}/consumers"), state.endpoints.issuer(CONSUMERS_TENANT_ID)),
    };
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    Ok(Json(OpenIdConfiguration {
        issuer,
        authorization_endpoint: format!("{base}/oauth2{version}/authorize"),
        token_endpoint: format!("{base}/oauth2{version}/token"),
        device_authorization_endpoint: format!("{base}/oauth2{version}/devicecode"),
        jwks_uri: format!("{base}/discovery{version}/keys"),
        end_session_endpoint: format!("{base}/oauth2{version}/logout"),
        token_endpoint_auth_methods_supported: strings(&["client_secret_post", "client_secret_basic"]),
        response_modes_supported: strings(&["query", "fragment", "form_post"]),
        response_types_supported: strings(&["code", "id_token", "code id_token", "id_token token"]),
        scopes_supported: strings(&["openid", "profile", "email", "offline_access"]),
        subject_types_supported: strings(&["pairwise"]),
        id_token_signing_alg_values_supported: strings(&["RS256"]),
        claims_supported: strings(&["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "ver", "nonce"]),
        tenant_region_scope: Some("WW".to_owned()),
        cloud_instance_name: "strongroom".to_owned(),
    }))
}

/// The signing keys, for any known tenant (they are shared, as Entra's are).
pub async fn keys(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
) -> Result<Json<JsonWebKeySet>, OAuthFailure> {
    Authority::parse(&state.directory(), &tenant)?;
    let issuer = format!("{}/{{tenantid}}/v2.0", state.endpoints.authority_host());
    let key_set = state.keys.get();
    let keys = key_set
        .keys()
        .iter()
        .map(|key| JsonWebKey {
            kty: "RSA".to_owned(),
            usage: "sig".to_owned(),
            kid: key.kid().to_owned(),
            alg: "RS256".to_owned(),
            n: key.modulus().to_owned(),
            e: key.exponent().to_owned(),
            issuer: issuer.clone(),
        })
        .collect();
    Ok(Json(JsonWebKeySet { keys }))
}
