//! How an application proves itself at the token endpoint: a client secret (body or HTTP Basic), a
//! certificate assertion, or a federated assertion (workload identity).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use strongroom_core::assertion::{self, FederatedCredential, Refusal};
use strongroom_core::credential::{self, StoredSecret};
use strongroom_core::directory::{Directory, Principal, Tenant};
use strongroom_core::network::ClientAddress;
use strongroom_core::token::CLOCK_SKEW_SECONDS;
use strongroom_store::{Ephemeral, IfLive};
use uuid::Uuid;

use super::error::OAuthFailure;
use super::mint::ClientAuthentication;
use super::throttle::Presented;
use crate::state::AppState;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The request's view of the client: who it claims to be and where it sent the request.
pub struct Claimant<'a> {
    /// The tenant of the token endpoint.
    pub tenant: &'a Tenant,
    /// The application named by `client_id`.
    pub application: &'a Principal,
    /// The `client_id` as sent.
    pub client_id: &'a str,
    /// The client's address (the server's one rule), for brute-force protection.
    pub address: ClientAddress,
}

/// Checks the credential in `form` (or the Basic header) for `claimant`.
pub async fn authenticate(
    state: &AppState,
    directory: &Directory,
    claimant: &Claimant<'_>,
    form: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<ClientAuthentication, OAuthFailure> {
    let secret = form.get("client_secret").cloned().or_else(|| basic_credentials(headers).map(|(_, secret)| secret));
    if let Some(secret) = secret {
        return check_secret(state, directory, claimant, secret).await;
    }
    let Some(assertion) = form.get("client_assertion") else { return Err(OAuthFailure::missing_client_credential()) };
    if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
        return Err(OAuthFailure::invalid_assertion_type());
    }
    let owner = directory.credential_owner(claimant.application.object_id);
    let credentials = directory.application_credentials(owner).cloned().unwrap_or_default();
    let verified = if assertion::unverified_issuer(assertion).as_deref() == Some(claimant.client_id) {
        assertion::verify_certificate_assertion(
            assertion,
            &credentials.certificates,
            claimant.client_id,
            &token_endpoints(state, claimant),
            state.clock.now_seconds(),
        )
    } else {
        let federated = with_discovered_keys(state, credentials.federated, assertion).await;
        assertion::verify_federated_assertion(assertion, &federated).map(|(_, verified)| verified)
    }
    .map_err(OAuthFailure::refused_assertion)?;
    // An assertion works once, on any node: its id is kept in the store until the assertion expires, under
    // the application's client id as the directory spells it (not as the request did).
    if let Some(jti) = verified.jti
        && !state
            .store
            .put_ephemeral(
                Ephemeral {
                    kind: ASSERTION_IDS,
                    key: &format!("{}/{jti}", claimant.application.client_id.unwrap_or(claimant.application.object_id)),
                    value: &[],
                    // Kept as long as the assertion is accepted: its expiry plus the clock skew allowed.
                    expires: verified.expires.saturating_add(CLOCK_SKEW_SECONDS as i64 + 1),
                },
                state.clock.now_seconds(),
                IfLive::Keep,
            )
            .await?
    {
        return Err(OAuthFailure::refused_assertion(Refusal::Replayed));
    }
    Ok(ClientAuthentication::Certificate)
}

/// Checks a client secret: throttled by the caller's address (never by failures elsewhere), remembered once
/// verified so that warm requests skip Argon2id, which otherwise runs through the verification gate. A secret
/// remembered as right checks no guess, so it takes no slot in the throttle; a locked address still refuses it.
async fn check_secret(
    state: &AppState,
    directory: &Directory,
    claimant: &Claimant<'_>,
    secret: String,
) -> Result<ClientAuthentication, OAuthFailure> {
    let principal_key = claimant.application.object_id.to_string();
    let throttle = &state.sign_in_throttle;
    let owner = directory.credential_owner(claimant.application.object_id);
    let stored = directory.client_secrets(owner);
    let fingerprint = state.verified_secrets.fingerprint(owner, &secret);
    let matched = match state.verified_secrets.recall(&fingerprint, stored) {
        Some(known) => {
            throttle.check(Presented::ClientSecret, &principal_key, claimant.address)?;
            known
        }
        None => {
            let attempt = throttle.begin(Presented::ClientSecret, &principal_key, claimant.address).await?;
            let candidates = stored.to_vec();
            let matched = state
                .verification_gate
                .run(move || candidates.into_iter().find(|s| credential::verify_secret(&secret, &s.hash)))
                .await?;
            let Some(matched) = matched else {
                attempt.failed(state).await;
                return Err(OAuthFailure::invalid_client_secret(claimant.client_id));
            };
            state.verified_secrets.remember(fingerprint, &matched.hash);
            attempt.succeeded(state, Presented::ClientSecret).await;
            matched
        }
    };
    if matched.expires.is_some_and(|expires| expires <= state.clock.now_seconds()) {
        return Err(OAuthFailure::expired_client_secret(claimant.client_id));
    }
    Ok(ClientAuthentication::Secret)
}

/// `credentials` with the keys of the assertion's issuer filled in where they are found by discovery. An
/// issuer that cannot be reached leaves them empty, and the assertion matches nothing.
async fn with_discovered_keys(
    state: &AppState,
    mut credentials: Vec<FederatedCredential>,
    assertion: &str,
) -> Vec<FederatedCredential> {
    let issuer = assertion::unverified_issuer(assertion);
    let kid = assertion::unverified_key_id(assertion);
    for credential in credentials.iter_mut() {
        if credential.discovers_keys() && issuer.as_deref() == Some(credential.issuer.as_str()) {
            match state.issuer_keys.keys(&credential.issuer, kid.as_deref()).await {
                Ok(keys) => credential.keys = keys,
                Err(e) => tracing::warn!(issuer = %credential.issuer, "OpenID discovery failed: {e}"),
            }
        }
    }
    credentials
}

/// Every spelling of this token endpoint a client may have put in `aud`, from the configuration alone (never
/// from the request's `Host`): the configured login host, with the port it listens on and without (as behind a
/// proxy on 443), and the tenant by id or by name, on the v2.0 and v1 paths.
fn token_endpoints(state: &AppState, claimant: &Claimant<'_>) -> Vec<String> {
    let origins = [state.endpoints.authority_host().to_owned(), format!("https://{}", state.endpoints.login_host())];
    let tenants = [claimant.tenant.id.to_string(), claimant.tenant.name.clone()];
    let mut endpoints = Vec::new();
    for origin in &origins {
        for tenant in &tenants {
            endpoints.push(format!("{origin}/{tenant}/oauth2/v2.0/token"));
            endpoints.push(format!("{origin}/{tenant}/oauth2/token"));
        }
    }
    endpoints
}

/// `client_id` and `client_secret` from HTTP Basic authentication (RFC 6749 §2.3.1).
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |s: &str| form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((decode(id)?, decode(secret)?))
}

/// Client secrets that passed their Argon2id check, remembered by an HMAC-SHA-256 of (principal, secret) under
/// a key that lives only in this process, so that a warm token request costs a MAC instead of an Argon2id
/// derivation (tens of milliseconds). Only successes are remembered: a wrong secret always pays the full check
/// and the brute-force throttle. A remembered secret counts only while its stored hash is still one of the
/// principal's, so removing a secret takes effect at once. Bounded; when full it starts over.
pub struct VerifiedSecrets {
    key: aws_lc_rs::hmac::Key,
    remembered: Mutex<HashMap<[u8; 32], String>>,
}

/// What [`VerifiedSecrets`] remembers a presented secret by.
pub struct SecretFingerprint([u8; 32]);

const VERIFIED_SECRETS_CAPACITY: usize = 16_384;

impl VerifiedSecrets {
    /// An empty cache with a fresh random key.
    pub fn new() -> crate::error::Result<Self> {
        let key = aws_lc_rs::hmac::Key::generate(aws_lc_rs::hmac::HMAC_SHA256, &aws_lc_rs::rand::SystemRandom::new())
            .map_err(|_| {
            crate::error::Error::new(crate::error::ErrorKind::Domain, "starting the secret cache", "no random key")
        })?;
        Ok(Self { key, remembered: Mutex::default() })
    }

    /// The fingerprint of `secret` presented for `principal`.
    pub fn fingerprint(&self, principal: Uuid, secret: &str) -> SecretFingerprint {
        let mut context = aws_lc_rs::hmac::Context::with_key(&self.key);
        context.update(principal.as_bytes());
        context.update(secret.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(context.sign().as_ref());
        SecretFingerprint(bytes)
    }

    /// The stored secret a fingerprint was verified against, if it is still among `stored`.
    pub fn recall(&self, fingerprint: &SecretFingerprint, stored: &[StoredSecret]) -> Option<StoredSecret> {
        let remembered = self.lock();
        let hash = remembered.get(&fingerprint.0)?;
        stored.iter().find(|s| &s.hash == hash).cloned()
    }

    /// Remembers that the fingerprinted secret matched the stored `hash`.
    pub fn remember(&self, fingerprint: SecretFingerprint, hash: &str) {
        let mut remembered = self.lock();
        if remembered.len() >= VERIFIED_SECRETS_CAPACITY {
            remembered.clear();
        }
        remembered.insert(fingerprint.0, hash.to_owned());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], String>> {
        match self.remembered.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// The short-lived state that holds used assertion ids.
const ASSERTION_IDS: &str = "assertion-id";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_secret_is_recalled_only_for_its_principal_while_it_is_stored() {
        let Ok(cache) = VerifiedSecrets::new() else { return };
        let (app, other) = (Uuid::new_v4(), Uuid::new_v4());
        let stored = vec![StoredSecret { hash: "argon2-hash".into(), expires: None }];
        cache.remember(cache.fingerprint(app, "secret-value"), "argon2-hash");
        assert!(cache.recall(&cache.fingerprint(app, "secret-value"), &stored).is_some());
        assert!(cache.recall(&cache.fingerprint(app, "other-value"), &stored).is_none());
        assert!(cache.recall(&cache.fingerprint(other, "secret-value"), &stored).is_none());
        assert!(cache.recall(&cache.fingerprint(app, "secret-value"), &[]).is_none(), "removed secrets are forgotten");
    }
}
