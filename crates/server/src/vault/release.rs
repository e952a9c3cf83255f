//! `POST /keys/{name}[/{version}]/release`: secure key release. The key must be exportable and enabled; the
//! target's attestation token must come from an authority the key's release policy names (its signing keys
//! found by OpenID discovery, as for federated credentials) and carry the claims the policy asks for. The key
//! then leaves wrapped for the RSA key the attestation vouches for (`x-ms-runtime.keys`), inside a JWS the
//! server signs with its token signing key, which the tenant's JWKS publishes.

use axum::Json;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use strongroom_core::assertion;
use strongroom_core::release::{ReleasePolicy, ReleaseWrapping, verify_attestation};
use strongroom_proto::keyvault::{KeyReleaseParameters, KeyReleaseResult};

use super::context::{Context, parse_body};
use super::error::VaultError;
use super::keys;
use crate::error::InternalFailure;

fn refused(message: &str) -> VaultError {
    VaultError::forbidden(message.to_owned())
}

/// The RSA key the attestation vouches for: the first RSA JWK of `x-ms-runtime.keys` (at the top, or inside
/// `x-ms-isolation-tee` as confidential VMs' tokens have it), as (kid, n, e).
fn runtime_key(claims: &Value) -> Option<(String, Vec<u8>, Vec<u8>)> {
    let runtime = claims.get("x-ms-runtime").or_else(|| claims.get("x-ms-isolation-tee")?.get("x-ms-runtime"))?;
    let key = runtime.get("keys")?.as_array()?.iter().find(|k| k.get("kty").and_then(Value::as_str) == Some("RSA"))?;
    let member = |name: &str| URL_SAFE_NO_PAD.decode(key.get(name)?.as_str()?.trim_end_matches('=')).ok();
    let kid = key.get("kid").and_then(Value::as_str).unwrap_or_default().to_owned();
    Some((kid, member("n")?, member("e")?))
}

/// Releases the key to the attested target.
pub async fn release(cx: &Context<'_>, name: &str, version: Option<&str>, body: &[u8]) -> Result<Response, VaultError> {
    let params: KeyReleaseParameters = parse_body(body, "KeyReleaseParameters")?;
    let target = params.target.filter(|t| !t.is_empty()).ok_or_else(|| {
        VaultError::bad_parameter("'target', the attestation token of the release's target, is required.")
    })?;
    let wrapping = ReleaseWrapping::parse(params.enc.as_deref())?;
    let (version, key) = keys::load(cx, name, version).await?;
    keys::usable(&version, "release", cx.state.clock.now_seconds())?;
    let facts = keys::facts(&version)?;
    let stated = facts.release_policy.as_ref().filter(|_| facts.exportable).ok_or_else(|| {
        VaultError::bad_parameter(
            "The key is not exportable: only a key created exportable, with a release policy, can be released.",
        )
    })?;
    let policy = ReleasePolicy::parse(&keys::decode(stated.data.as_deref(), "release_policy.data")?)?;

    let issuer = assertion::unverified_issuer(&target)
        .ok_or_else(|| VaultError::bad_parameter("The attestation token is not a JWT with an issuer."))?;
    if !policy.trusts(&issuer) {
        return Err(refused("The attestation token's issuer is not an authority of the key's release policy."));
    }
    let kid = assertion::unverified_key_id(&target);
    let authority_keys = cx.state.issuer_keys.keys(&issuer, kid.as_deref()).await.map_err(|e| {
        tracing::warn!(%issuer, "the attestation authority's keys could not be fetched: {e}");
        refused("The attestation authority's signing keys could not be fetched.")
    })?;
    let claims = verify_attestation(&target, &issuer, &authority_keys)
        .map_err(|_| refused("The attestation token could not be verified."))?;
    if !policy.allows(&issuer, &claims) {
        return Err(refused("The attestation does not satisfy the key's release policy."));
    }
    let (target_kid, n, e) = runtime_key(&claims).ok_or_else(|| {
        VaultError::bad_parameter("The attestation token holds no RSA key of its target (x-ms-runtime.keys).")
    })?;

    let ciphertext = wrapping.wrap(&n, &e, key.material())?;
    let key_hsm = json!({
        "schema_version": "1.0",
        "header": {"kid": target_kid, "alg": "dir", "enc": wrapping.as_str()},
        "ciphertext": URL_SAFE_NO_PAD.encode(ciphertext),
        "generator": "Strongroom",
    });
    let bundle = keys::bundle(cx, &version, Some(&key))?;
    let mut released = serde_json::to_value(&bundle).map_err(VaultError::internal_while("encoding a released key"))?;
    released["key"]["key_hsm"] = Value::String(URL_SAFE_NO_PAD.encode(key_hsm.to_string()));
    let payload = json!({
        "request": {
            "api-version": cx.query.api_version,
            "enc": wrapping.as_str(),
            "kid": keys::kid(cx, &version),
            "nonce": params.nonce,
        },
        "response": {"key": released},
    });
    let signing = cx.state.keys.get();
    let value = signing
        .current()
        .and_then(|k| k.sign(&payload))
        .map_err(VaultError::internal_while("signing a key release"))?;
    Ok(Json(KeyReleaseResult { value }).into_response())
}
