//! Stage 1, the challenge: a request without a bearer token is answered `401` with the
//! `WWW-Authenticate` header that tells SDKs where to get a token and for which resource — before anything
//! else of the request is looked at, since SDKs probe with an empty body.

use axum::http::{HeaderMap, header};
use strongroom_core::directory::Vault;

use super::error::VaultError;
use crate::endpoints::Endpoints;

/// The `WWW-Authenticate` value for `vault`: its tenant's authority and the resource of its kind (vaults',
/// or Managed HSMs').
pub fn header_value(endpoints: &Endpoints, vault: &Vault) -> String {
    format!(
        "Bearer authorization=\"{}\", resource=\"{}\"",
        endpoints.authority(vault.tenant_id),
        endpoints.resource_of(vault.kind)
    )
}

/// The challenge that asks for a token issued after `now` (Unix seconds): Continuous Access Evaluation's
/// `insufficient_claims`, which the SDKs answer by getting a new token past their cache.
pub fn claims_challenge(endpoints: &Endpoints, vault: &Vault, now: i64) -> String {
    use base64::Engine;
    let claims = format!(r#"{{"access_token":{{"nbf":{{"essential":true,"value":"{now}"}}}}}}"#);
    let claims = base64::engine::general_purpose::STANDARD.encode(claims);
    format!("{}, error=\"insufficient_claims\", claims=\"{claims}\"", header_value(endpoints, vault))
}

/// The bearer token of the request, or the challenge.
pub fn bearer_token<'a>(headers: &'a HeaderMap, endpoints: &Endpoints, vault: &Vault) -> Result<&'a str, VaultError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .map(|(_, token)| token.trim())
        .ok_or_else(|| VaultError::missing_token(header_value(endpoints, vault)))
}
