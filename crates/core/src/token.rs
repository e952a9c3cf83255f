//! Access tokens: RS256 JWTs with Entra's claims, minted by the token service and validated on every vault
//! request.
//!
//! Minting signs the compact JWS with aws-lc-rs and a key pair parsed once (jsonwebtoken would re-parse the
//! private key for every signature). Validation is jsonwebtoken's: RS256 only, the key chosen by `kid`,
//! `exp`/`nbf` with a small skew, `iss` and `aud` exact, then the tenant.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::constant_time;
use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const CLOCK_SKEW_SECONDS: u64 = 60;

/// The claims of an access token (Entra v2.0 names; `appid`/`appidacr` also carried for v1 readers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The resource the token is for, e.g. `https://vault.localhost:8443`.
    pub aud: String,
    /// `https://{login}/{tenant-id}/v2.0`.
    pub iss: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds.
    pub nbf: i64,
    /// Expires, Unix seconds.
    pub exp: i64,
    /// Tenant id.
    pub tid: String,
    /// Object id of the principal.
    pub oid: String,
    /// Subject: the object id for app-only tokens.
    pub sub: String,
    /// Client id of the application that asked for the token (v2 name).
    pub azp: String,
    /// How the client authenticated: `0` public, `1` secret, `2` certificate (v2 name).
    pub azpacr: String,
    /// The client id again, under its v1 name.
    pub appid: String,
    /// The authentication method again, under its v1 name.
    pub appidacr: String,
    /// `app` for app-only tokens, `user` for user tokens.
    pub idtyp: String,
    /// Token format version.
    pub ver: String,
    /// Unique token id.
    pub uti: String,
    /// Group object ids of the principal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// For managed identities: the identity's Azure resource id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xms_mirid: Option<String>,
    /// Delegated scopes of a user token (`user_impersonation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    /// Where left-out claims can be fetched (group overage): `{"groups": "src1"}`.
    #[serde(rename = "_claim_names", default, skip_serializing_if = "Option::is_none")]
    pub claim_names: Option<serde_json::Value>,
    /// The sources `_claim_names` refers to.
    #[serde(rename = "_claim_sources", default, skip_serializing_if = "Option::is_none")]
    pub claim_sources: Option<serde_json::Value>,
}

/// Entra's JWT limit on group ids; past it the claim is replaced by an overage pointer.
pub const MAX_GROUPS_IN_TOKEN: usize = 200;

/// The `groups` claim for `groups`, or — past [`MAX_GROUPS_IN_TOKEN`] — no ids and the overage claims
/// (`_claim_names`, `_claim_sources`) that tell a reader to ask the directory.
pub fn group_claims(
    object_id: &str,
    groups: &[String],
) -> (Vec<String>, Option<serde_json::Value>, Option<serde_json::Value>) {
    if groups.len() <= MAX_GROUPS_IN_TOKEN {
        return (groups.to_vec(), None, None);
    }
    let names = serde_json::json!({ "groups": "src1" });
    let sources = serde_json::json!({
        "src1": { "endpoint": format!("https://graph.microsoft.com/v1.0/users/{object_id}/getMemberObjects") }
    });
    (Vec::new(), Some(names), Some(sources))
}

/// The claims of an ID token: who signed in, for the client that asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdClaims {
    /// The client id.
    pub aud: String,
    /// The tenant's issuer.
    pub iss: String,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expires.
    pub exp: i64,
    /// The user's object id.
    pub sub: String,
    /// The user's object id.
    pub oid: String,
    /// The tenant id.
    pub tid: String,
    /// `name@tenant`.
    pub preferred_username: String,
    /// The user's name.
    pub name: String,
    /// The nonce of the sign-in request, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Token format version.
    pub ver: String,
}

/// An RSA signing key of the token service.
pub struct SigningKey {
    kid: String,
    key_pair: RsaKeyPair,
    decoding: DecodingKey,
    modulus: String,
    exponent: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh RSA-2048 key.
    pub fn generate() -> Result<Self> {
        let key_pair =
            RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| Error::crypto("RSA key generation failed"))?;
        Self::from_key_pair(key_pair)
    }

    /// The key stored as unencrypted PKCS#8 DER.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self> {
        let key_pair = RsaKeyPair::from_pkcs8(der).map_err(|e| Error::crypto(format_args!("bad signing key: {e}")))?;
        Self::from_key_pair(key_pair)
    }

    fn from_key_pair(key_pair: RsaKeyPair) -> Result<Self> {
        let public = key_pair.public_key();
        let n = public.modulus();
        let e = public.exponent();
        let (n, e) = (n.big_endian_without_leading_zero(), e.big_endian_without_leading_zero());
        let decoding = DecodingKey::from_rsa_raw_components(n, e);
        // Like Entra's, the key id is a 20-byte thumbprint in base64url; here of the public key.
        let thumbprint = digest::digest(&digest::SHA256, public.as_ref());
        let kid = URL_SAFE_NO_PAD.encode(&thumbprint.as_ref()[..20]);
        let (modulus, exponent) = (URL_SAFE_NO_PAD.encode(n), URL_SAFE_NO_PAD.encode(e));
        Ok(Self { kid, key_pair, decoding, modulus, exponent })
    }

    /// The key as unencrypted PKCS#8 DER, for sealed storage.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>> {
        let der = self.key_pair.as_der().map_err(|_| Error::crypto("exporting the signing key failed"))?;
        Ok(der.as_ref().to_vec())
    }

    /// The key id tokens carry in their header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public modulus, base64url.
    pub fn modulus(&self) -> &str {
        &self.modulus
    }

    /// The public exponent, base64url.
    pub fn exponent(&self) -> &str {
        &self.exponent
    }

    /// `claims` as a compact RS256 JWS.
    pub fn sign(&self, claims: &impl Serialize) -> Result<String> {
        #[derive(Serialize)]
        struct Header<'a> {
            typ: &'a str,
            alg: &'a str,
            kid: &'a str,
        }
        let header = Header { typ: "JWT", alg: "RS256", kid: &self.kid };
        let signing_input = format!("{}.{}", base64url_json(&header)?, base64url_json(claims)?);
        let mut signature = vec![0u8; self.key_pair.public_modulus_len()];
        self.key_pair
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature)
            .map_err(|_| Error::crypto("signing a token failed"))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

fn base64url_json(value: &impl Serialize) -> Result<String> {
    let json = serde_json::to_vec(value).map_err(|e| Error::crypto(format_args!("token encoding failed: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// What a token presented to a vault must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The issuer of the vault's tenant.
    pub issuer: &'a str,
    /// Accepted audiences: the vault resource (and Key Vault's application id).
    pub audiences: &'a [&'a str],
    /// The vault's tenant.
    pub tenant_id: Uuid,
}

impl Expected<'_> {
    /// Whether claims whose signature was checked before still pass: issuer, audience, tenant, and lifetime
    /// at `now` (Unix seconds), with the usual skew.
    pub fn admits(&self, claims: &AccessClaims, now: i64) -> bool {
        let skew = i64::try_from(CLOCK_SKEW_SECONDS).unwrap_or(60);
        claims.iss == self.issuer
            && self.audiences.contains(&claims.aud.as_str())
            && Uuid::parse_str(&claims.tid).ok() == Some(self.tenant_id)
            && claims.nbf - skew <= now
            && now <= claims.exp + skew
    }
}

/// A token's claims, checked, and the key whose signature was checked: a cached token is recognised only while
/// that key is still in the key set, so that removing a key (rotation, or an emergency revocation) ends every
/// token it signed at once, cached or not.
#[derive(Debug, Clone)]
struct Checked {
    kid: Arc<str>,
    claims: Arc<AccessClaims>,
}

impl Checked {
    /// Whether these claims may be taken without checking the signature again: the key is still in `keys`
    /// and the claims pass `expected` at `now`.
    fn still_valid(&self, keys: &KeySet, expected: &Expected<'_>, now: i64) -> bool {
        keys.keys.iter().any(|key| *key.kid == *self.kid) && expected.admits(&self.claims, now)
    }
}

/// Tokens whose signature has been checked, by the SHA-256 of the token (the token itself is not kept). A
/// warm request skips the signature check, the costliest step, and re-checks only the claims, against what
/// the vault at hand expects, and that the key that signed the token is still in use. Bounded: when full,
/// expired entries go, and if that is not enough, all do.
#[derive(Debug)]
pub struct ValidatedTokens {
    entries: std::sync::RwLock<HashMap<[u8; 32], Checked>>,
    capacity: usize,
}

impl Default for ValidatedTokens {
    fn default() -> Self {
        Self::with_capacity(65_536)
    }
}

impl ValidatedTokens {
    /// A cache of at most `capacity` tokens.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { entries: std::sync::RwLock::default(), capacity }
    }

    /// Validates `token` as [`KeySet::validate`] does, at `now` (Unix seconds), from the cache when it can.
    pub fn validate(&self, keys: &KeySet, token: &str, expected: &Expected<'_>, now: i64) -> Result<Arc<AccessClaims>> {
        self.check(keys, token, expected, now).map(|checked| checked.claims)
    }

    fn check(&self, keys: &KeySet, token: &str, expected: &Expected<'_>, now: i64) -> Result<Checked> {
        // The whole token, so that a tampered one is never a hit (hashing only the signature, which binds the
        // rest, was tried: it answered a spliced payload with the signed claims, and a tampered token must fail).
        let mut id = [0u8; 32];
        id.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
        let cached = match self.entries.read() {
            Ok(entries) => entries.get(&id).cloned(),
            Err(poisoned) => poisoned.into_inner().get(&id).cloned(),
        };
        // A cached token that no longer passes is validated afresh, so its refusal says exactly why.
        if let Some(checked) = cached.filter(|checked| checked.still_valid(keys, expected, now)) {
            return Ok(checked);
        }
        let (claims, key) = keys.verify(token, expected, now)?;
        let checked = Checked { kid: Arc::from(key.kid.as_str()), claims: Arc::new(claims) };
        let mut entries = match self.entries.write() {
            Ok(entries) => entries,
            Err(poisoned) => poisoned.into_inner(),
        };
        if entries.len() >= self.capacity {
            entries.retain(|_, checked| checked.claims.exp >= now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(id, checked.clone());
        Ok(checked)
    }
}

/// The token a connection presented last, with its validated claims. A client sends the same token on every
/// request of a connection until it renews it; recognising it again by comparing it (in constant time) with
/// the one kept here costs far less than hashing it to look it up in [`ValidatedTokens`] — SHA-256 of a
/// kilobyte-long token was ~5% of a warm request. Only an identical token is recognised, and its claims (and
/// that its signing key is still in use) are re-checked against the request's expectations every time. The
/// token lives as long as its connection and is zeroized when replaced or dropped.
#[derive(Default)]
pub struct LastToken {
    last: std::sync::Mutex<Option<(Zeroizing<String>, Checked)>>,
}

impl std::fmt::Debug for LastToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LastToken(..)")
    }
}

impl LastToken {
    /// Validates `token` as [`ValidatedTokens::validate`] does, recognising the token this connection presented
    /// last without consulting the cache.
    pub fn validate(
        &self,
        cache: &ValidatedTokens,
        keys: &KeySet,
        token: &str,
        expected: &Expected<'_>,
        now: i64,
    ) -> Result<Arc<AccessClaims>> {
        if let Some(checked) = self.recall(token).filter(|checked| checked.still_valid(keys, expected, now)) {
            return Ok(checked.claims);
        }
        let checked = cache.check(keys, token, expected, now)?;
        let claims = Arc::clone(&checked.claims);
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Zeroizing::new(token.to_owned()), checked));
        }
        Ok(claims)
    }

    fn recall(&self, token: &str) -> Option<Checked> {
        let last = self.last.lock().ok()?;
        let (known, checked) = last.as_ref()?;
        constant_time::verify_slices_are_equal(known.as_bytes(), token.as_bytes()).ok()?;
        Some(checked.clone())
    }
}

/// The signing keys in use: the newest signs, all of them verify until their tokens have expired.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<SigningKey>,
}

impl KeySet {
    /// A key set whose first key signs.
    pub fn new(keys: Vec<SigningKey>) -> Self {
        Self { keys }
    }

    /// The key that signs new tokens.
    pub fn current(&self) -> Result<&SigningKey> {
        self.keys.first().ok_or_else(|| Error::crypto("no signing key"))
    }

    /// Every key, newest first.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// Validates `token` against `expected` at `now` (Unix seconds), returning its claims. The error message
    /// says why a token was refused (never the token itself).
    pub fn validate(&self, token: &str, expected: &Expected<'_>, now: i64) -> Result<AccessClaims> {
        self.verify(token, expected, now).map(|(claims, _)| claims)
    }

    /// [`KeySet::validate`], also telling which key's signature was checked.
    fn verify(&self, token: &str, expected: &Expected<'_>, now: i64) -> Result<(AccessClaims, &SigningKey)> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Error::invalid_credential("The access token is malformed."))?;
        if header.alg != Algorithm::RS256 {
            return Err(Error::invalid_credential("The access token is not signed with RS256."));
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.iter().find(|k| k.kid == kid))
            .ok_or_else(|| Error::invalid_credential("The access token is signed by an unknown key."))?;

        // jsonwebtoken checks the signature and that the claims are there; the claims are judged here, in
        // jsonwebtoken's order, against the caller's `now` (jsonwebtoken would read the system clock).
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
        let claims =
            jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation).map_err(|e| refusal(&e))?.claims;
        let skew = i64::try_from(CLOCK_SKEW_SECONDS).unwrap_or(60);
        if claims.exp < now - skew {
            return Err(Error::invalid_credential("The access token has expired."));
        }
        if claims.nbf > now + skew {
            return Err(Error::invalid_credential("The access token is not valid yet."));
        }
        if claims.iss != expected.issuer {
            return Err(Error::invalid_credential(format!("AKV10032: Invalid issuer. Expected {}.", expected.issuer)));
        }
        if !expected.audiences.contains(&claims.aud.as_str()) {
            return Err(Error::invalid_credential(format!(
                "AKV10022: Invalid audience. Expected {}.",
                expected.audiences.join(" or ")
            )));
        }
        if Uuid::parse_str(&claims.tid).ok() != Some(expected.tenant_id) {
            return Err(Error::invalid_credential("The access token is for another tenant."));
        }
        Ok((claims, key))
    }
}

fn refusal(error: &jsonwebtoken::errors::Error) -> Error {
    use jsonwebtoken::errors::ErrorKind as Jwt;
    let message = match error.kind() {
        Jwt::InvalidSignature => "The access token's signature is invalid.".to_owned(),
        Jwt::MissingRequiredClaim(claim) => format!("The access token has no '{claim}' claim."),
        _ => "The access token is malformed.".to_owned(),
    };
    Error::invalid_credential(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn cached_tokens_are_rechecked_against_each_expectation_and_the_clock() -> Result<()> {
        let keys = KeySet::new(vec![SigningKey::generate()?]);
        let token = keys.current()?.sign(&claims())?;
        let cache = ValidatedTokens::with_capacity(2);
        let expected = Expected { issuer: ISSUER, audiences: &[AUDIENCE], tenant_id: tenant() };
        let first = cache.validate(&keys, &token, &expected, now())?;
        let second = cache.validate(&keys, &token, &expected, now())?;
        assert!(Arc::ptr_eq(&first, &second), "the second validation is a cache hit");
        let other_tenant = Expected { tenant_id: Uuid::new_v4(), ..expected };
        assert!(cache.validate(&keys, &token, &other_tenant, now()).is_err());
        let other_audience = Expected { audiences: &["https://elsewhere"], ..expected };
        assert!(cache.validate(&keys, &token, &other_audience, now()).is_err());
        assert!(!expected.admits(&first, now() + 7200), "a cached token's lifetime is checked on every hit");
        let forged = format!("{}x", &token[..token.len() - 1]);
        assert!(cache.validate(&keys, &forged, &expected, now()).is_err(), "another token is checked in full");
        let (signed, signature) = token.rsplit_once('.').unwrap_or_default();
        let header = signed.split_once('.').map(|(header, _)| header).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).map_err(|e| Error::crypto(e.to_string()))?);
        let spliced = format!("{header}.{payload}.{signature}");
        assert!(cache.validate(&keys, &spliced, &expected, now()).is_err(), "a cached signature on another payload");
        Ok(())
    }

    #[test]
    fn a_connection_recognises_only_the_very_token_it_presented_last() -> Result<()> {
        let keys = KeySet::new(vec![SigningKey::generate()?]);
        let token = keys.current()?.sign(&claims())?;
        let cache = ValidatedTokens::with_capacity(8);
        let last = LastToken::default();
        let expected = Expected { issuer: ISSUER, audiences: &[AUDIENCE], tenant_id: tenant() };
        let first = last.validate(&cache, &keys, &token, &expected, now())?;
        let again = last.validate(&cache, &keys, &token, &expected, now())?;
        assert!(Arc::ptr_eq(&first, &again));
        assert!(!format!("{last:?}").contains(&token[..20]), "the token is never printed");
        // The claims are re-checked on every recognition.
        let other_tenant = Expected { tenant_id: Uuid::new_v4(), ..expected };
        assert!(last.validate(&cache, &keys, &token, &other_tenant, now()).is_err());
        // A token that differs anywhere — its payload spliced onto the known signature, one character of the
        // signature, or a prefix — is validated in full and refused.
        let (signed, signature) = token.rsplit_once('.').unwrap_or_default();
        let header = signed.split_once('.').map(|(header, _)| header).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).map_err(|e| Error::crypto(e.to_string()))?);
        for tampered in [
            format!("{header}.{payload}.{signature}"),
            format!("{}x", &token[..token.len() - 1]),
            token[..token.len() - 1].to_owned(),
        ] {
            assert!(last.validate(&cache, &keys, &tampered, &expected, now()).is_err());
        }
        // A second valid token replaces the first as the one recognised, and the first still validates.
        let second = keys.current()?.sign(&claims())?;
        let other = last.validate(&cache, &keys, &second, &expected, now())?;
        assert!(!Arc::ptr_eq(&first, &other));
        assert!(last.validate(&cache, &keys, &token, &expected, now()).is_ok());
        Ok(())
    }

    #[test]
    fn a_cached_token_is_refused_once_its_signing_key_is_removed() -> Result<()> {
        let (old, new) = (SigningKey::generate()?, SigningKey::generate()?);
        let token = old.sign(&claims())?;
        let before = KeySet::new(vec![SigningKey::from_pkcs8(&old.to_pkcs8()?)?]);
        let after = KeySet::new(vec![new]);
        let (cache, last) = (ValidatedTokens::with_capacity(8), LastToken::default());
        let expected = Expected { issuer: ISSUER, audiences: &[AUDIENCE], tenant_id: tenant() };
        last.validate(&cache, &before, &token, &expected, now())?;
        cache.validate(&before, &token, &expected, now())?;
        let refused = last.validate(&cache, &after, &token, &expected, now());
        assert_eq!(refused.map(drop).map_err(|e| e.kind()), Err(ErrorKind::InvalidCredential), "the connection's");
        let refused = cache.validate(&after, &token, &expected, now());
        assert_eq!(refused.map(drop).map_err(|e| e.kind()), Err(ErrorKind::InvalidCredential), "the cache's");
        Ok(())
    }

    const ISSUER: &str = "https://login.localhost:8443/0b1f6c0e-6c3b-4a55-9a57-2f8a1d2b7e10/v2.0";
    const AUDIENCE: &str = "https://vault.localhost:8443";

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
    }

    fn tenant() -> Uuid {
        Uuid::parse_str("0b1f6c0e-6c3b-4a55-9a57-2f8a1d2b7e10").unwrap_or_default()
    }

    fn claims() -> AccessClaims {
        let now = now();
        let oid = Uuid::new_v4().to_string();
        let client = Uuid::new_v4().to_string();
        AccessClaims {
            aud: AUDIENCE.into(),
            iss: ISSUER.into(),
            iat: now,
            nbf: now,
            exp: now + 3600,
            tid: tenant().to_string(),
            oid: oid.clone(),
            sub: oid,
            azp: client.clone(),
            azpacr: "1".into(),
            appid: client,
            appidacr: "1".into(),
            idtyp: "app".into(),
            ver: "2.0".into(),
            uti: Uuid::new_v4().simple().to_string(),
            groups: vec![],
            xms_mirid: None,
            scp: None,
            claim_names: None,
            claim_sources: None,
        }
    }

    fn expected(tenant_id: Uuid) -> Expected<'static> {
        Expected { issuer: ISSUER, audiences: &[AUDIENCE], tenant_id }
    }

    fn refused(keys: &KeySet, token: &str) -> String {
        match keys.validate(token, &expected(tenant()), now()) {
            Ok(_) => "accepted".into(),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidCredential);
                e.message().to_owned()
            }
        }
    }

    #[test]
    fn a_minted_token_validates_and_keeps_its_claims() -> Result<()> {
        let key = SigningKey::generate()?;
        let token = key.sign(&claims())?;
        let keys = KeySet::new(vec![key]);
        let validated = keys.validate(&token, &expected(tenant()), now())?;
        assert_eq!(validated.aud, AUDIENCE);
        assert_eq!(validated.idtyp, "app");
        Ok(())
    }

    #[test]
    fn validity_is_judged_at_the_time_given_not_by_the_system_clock() -> Result<()> {
        let key = SigningKey::generate()?;
        let later = now() + 40 * 86_400;
        let minted_later = AccessClaims { iat: later, nbf: later, exp: later + 3600, ..claims() };
        let token = key.sign(&minted_later)?;
        let keys = KeySet::new(vec![key]);
        assert!(keys.validate(&token, &expected(tenant()), later).is_ok(), "valid at the time it was minted for");
        let refused = keys.validate(&token, &expected(tenant()), now()).map(drop).map_err(|e| e.message().to_owned());
        assert_eq!(refused, Err("The access token is not valid yet.".to_owned()));
        let refused = keys.validate(&token, &expected(tenant()), later + 7200).map(drop).map_err(|e| e.kind());
        assert_eq!(refused, Err(ErrorKind::InvalidCredential), "expired an hour after its exp");
        Ok(())
    }

    #[test]
    fn a_stored_key_signs_like_the_original() -> Result<()> {
        let key = SigningKey::generate()?;
        let restored = SigningKey::from_pkcs8(&key.to_pkcs8()?)?;
        assert_eq!(key.kid(), restored.kid());
        let token = restored.sign(&claims())?;
        assert!(KeySet::new(vec![key]).validate(&token, &expected(tenant()), now()).is_ok());
        Ok(())
    }

    #[test]
    fn forged_and_misdirected_tokens_are_refused() -> Result<()> {
        let key = SigningKey::generate()?;
        let stranger = SigningKey::generate()?;
        let keys = KeySet::new(vec![key]);
        let key = keys.current()?;

        assert!(refused(&keys, &stranger.sign(&claims())?).contains("unknown key"));

        // Same kid, other key: the signature check must catch it.
        let forged = stranger.sign(&claims())?;
        let mut parts: Vec<&str> = forged.split('.').collect();
        let genuine = key.sign(&claims())?;
        let genuine_header = genuine.split('.').next().unwrap_or_default().to_owned();
        parts[0] = &genuine_header;
        assert!(refused(&keys, &parts.join(".")).contains("signature"));

        let expired = AccessClaims { exp: now() - 3600, nbf: now() - 7200, iat: now() - 7200, ..claims() };
        assert!(refused(&keys, &key.sign(&expired)?).contains("expired"));

        let early = AccessClaims { nbf: now() + 3600, exp: now() + 7200, ..claims() };
        assert!(refused(&keys, &key.sign(&early)?).contains("not valid yet"));

        let elsewhere = AccessClaims { aud: "https://management.azure.com".into(), ..claims() };
        assert!(refused(&keys, &key.sign(&elsewhere)?).contains("AKV10022"));

        let other_issuer = AccessClaims { iss: "https://login.localhost:8443/other/v2.0".into(), ..claims() };
        assert!(refused(&keys, &key.sign(&other_issuer)?).contains("AKV10032"));

        let other_tenant = AccessClaims { tid: Uuid::new_v4().to_string(), ..claims() };
        assert!(refused(&keys, &key.sign(&other_tenant)?).contains("another tenant"));

        assert!(refused(&keys, "not.a.token").contains("malformed"));
        Ok(())
    }

    #[test]
    fn more_than_200_groups_become_an_overage_pointer() {
        let few: Vec<String> = (0..200).map(|i| i.to_string()).collect();
        assert_eq!(group_claims("oid", &few).0.len(), 200);
        let many: Vec<String> = (0..201).map(|i| i.to_string()).collect();
        let (ids, names, sources) = group_claims("oid", &many);
        assert!(ids.is_empty());
        assert_eq!(names, Some(serde_json::json!({"groups": "src1"})));
        assert!(sources.is_some_and(|s| s["src1"]["endpoint"].as_str().is_some_and(|e| e.contains("/users/oid/"))));
    }

    #[test]
    fn unsigned_tokens_are_refused() -> Result<()> {
        let keys = KeySet::new(vec![SigningKey::generate()?]);
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap_or_default());
        assert_ne!(refused(&keys, &format!("{header}.{body}.")), "accepted");
        Ok(())
    }
}
