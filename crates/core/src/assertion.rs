//! Client assertions: JWTs by which an application proves itself instead of sending a secret.
//!
//! - A **certificate assertion** is signed with the private key of a certificate registered on the
//!   application; its header names the certificate by thumbprint (`x5t`, SHA-1, as MSAL sends it, or
//!   `x5t#S256`), compared after normalising base64, base64url and padding. `iss` and `sub` are the client id
//!   and `aud` the token endpoint. MSAL writes `exp` and `iat` as floats and sends no `nbf`.
//! - A **federated assertion** is a token of an external issuer (a Kubernetes service account, a CI system)
//!   matched against the application's federated credentials by issuer, subject and audience, and verified
//!   with the issuer's keys.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::token::CLOCK_SKEW_SECONDS;

/// A certificate registered on an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateCredential {
    /// SHA-1 of the certificate's DER (what `x5t` names), base64url.
    pub sha1: String,
    /// SHA-256 of the certificate's DER (what `x5t#S256` names), base64url.
    pub sha256: String,
    /// The subject public key info, DER, base64.
    pub public_key: String,
    /// The certificate's end of validity, Unix seconds.
    pub not_after: i64,
}

impl CertificateCredential {
    /// The certificates of a PEM file (one or more `CERTIFICATE` blocks).
    pub fn from_pem(pem: &[u8]) -> Result<Vec<Self>> {
        let mut certificates = Vec::new();
        for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
            let block = block.map_err(|e| Error::invalid_input(format_args!("not a PEM certificate: {e}")))?;
            if block.label == "CERTIFICATE" {
                certificates.push(Self::from_der(&block.contents)?);
            }
        }
        if certificates.is_empty() {
            return Err(Error::invalid_input("the file holds no PEM certificate"));
        }
        Ok(certificates)
    }

    /// A certificate from its DER.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let (_, certificate) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| Error::invalid_input(format_args!("not an X.509 certificate: {e}")))?;
        Ok(Self {
            sha1: URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der)),
            sha256: URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, der)),
            public_key: STANDARD.encode(certificate.public_key().raw),
            not_after: certificate.validity().not_after.timestamp(),
        })
    }
}

/// A federated identity credential: which external tokens stand for the application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederatedCredential {
    /// Its name, unique on the application.
    #[serde(default)]
    pub name: String,
    /// The external issuer (`iss`).
    pub issuer: String,
    /// The external subject (`sub`).
    pub subject: String,
    /// The audience the external token must carry (`api://AzureADTokenExchange` by convention).
    pub audience: String,
    /// The issuer's signing keys (a JWKS document); empty when they are found by OpenID discovery.
    pub keys: Vec<IssuerKey>,
}

impl FederatedCredential {
    /// Whether the issuer's keys are found by OpenID discovery rather than given.
    pub fn discovers_keys(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks what an API caller gives: a name, an `https` issuer, a subject and an audience.
    pub fn validate(&self) -> Result<()> {
        let filled = [&self.name, &self.issuer, &self.subject, &self.audience].iter().all(|v| !v.trim().is_empty());
        if !filled {
            return Err(Error::invalid_input(
                "a federated credential needs a name, an issuer, a subject and an audience",
            ));
        }
        if self.discovers_keys() && !self.issuer.starts_with("https://") {
            return Err(Error::invalid_input(
                "an issuer whose keys are found by OpenID discovery must be an https URL",
            ));
        }
        Ok(())
    }
}

/// One RSA key of an external issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerKey {
    /// Key id.
    pub kid: Option<String>,
    /// Modulus, base64url.
    pub n: String,
    /// Exponent, base64url.
    pub e: String,
}

impl IssuerKey {
    /// The RSA keys of a JWKS document.
    pub fn from_jwks(jwks: &[u8]) -> Result<Vec<Self>> {
        #[derive(Deserialize)]
        struct Jwks {
            keys: Vec<Value>,
        }
        let jwks: Jwks =
            serde_json::from_slice(jwks).map_err(|e| Error::invalid_input(format_args!("not a JWKS document: {e}")))?;
        let keys: Vec<Self> = jwks
            .keys
            .iter()
            .filter(|key| key["kty"] == "RSA")
            .filter_map(|key| {
                Some(IssuerKey {
                    kid: key["kid"].as_str().map(str::to_owned),
                    n: key["n"].as_str()?.to_owned(),
                    e: key["e"].as_str()?.to_owned(),
                })
            })
            .collect();
        if keys.is_empty() {
            return Err(Error::invalid_input("the JWKS document has no RSA key"));
        }
        Ok(keys)
    }
}

/// Why an assertion was refused, with Entra's code for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a JWT, or claims of the wrong type.
    Malformed,
    /// No registered certificate has the thumbprint in the header (AADSTS700027).
    UnknownCertificate,
    /// The signature does not verify (AADSTS700027).
    BadSignature,
    /// Outside `nbf`..`exp` (AADSTS700024).
    OutsideValidity,
    /// `iss`/`sub` are not the client id (AADSTS50048).
    WrongSubject,
    /// `aud` is not this token endpoint (AADSTS50027).
    WrongAudience,
    /// The assertion's `jti` was used before (AADSTS50012).
    Replayed,
    /// A certificate assertion without `jti`, which replay protection needs (AADSTS50027).
    MissingId,
    /// A certificate assertion that lives longer than [`MAX_ASSERTION_LIFETIME_SECONDS`] (AADSTS700024).
    TooLong,
    /// No federated credential matches issuer, subject and audience (AADSTS70021).
    NoFederatedMatch,
}

/// The longest a certificate assertion may live: `exp` at most this far after `nbf` (or `iat`, or now), with
/// [`CLOCK_SKEW_SECONDS`] of tolerance. MSAL and the Azure SDKs write ten minutes.
pub const MAX_ASSERTION_LIFETIME_SECONDS: i64 = 600;

/// What a verified certificate assertion says.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedAssertion {
    /// The assertion's id, for replay detection.
    pub jti: Option<String>,
    /// Its expiry, Unix seconds.
    pub expires: i64,
}

/// The unverified `iss` of an assertion, to tell certificate assertions (`iss` = client id) from federated
/// ones.
pub fn unverified_issuer(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims["iss"].as_str().map(str::to_owned)
}

/// The unverified key id (`kid`) in an assertion's header, to pick an issuer's key.
pub fn unverified_key_id(assertion: &str) -> Option<String> {
    jsonwebtoken::decode_header(assertion).ok()?.kid
}

/// Checks a certificate assertion of `client_id` against its certificates; `audiences` are the token
/// endpoint URLs the client may have addressed; `now` is Unix seconds.
pub fn verify_certificate_assertion(
    assertion: &str,
    certificates: &[CertificateCredential],
    client_id: &str,
    audiences: &[String],
    now: i64,
) -> std::result::Result<VerifiedAssertion, Refusal> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| Refusal::Malformed)?;
    let algorithm = match header.alg {
        Algorithm::RS256 | Algorithm::PS256 => header.alg,
        _ => return Err(Refusal::BadSignature),
    };
    let by_sha1 = header.x5t.as_deref().and_then(thumbprint);
    let by_sha256 = header.x5t_s256.as_deref().and_then(thumbprint);
    let certificate = certificates
        .iter()
        .find(|c| {
            by_sha1.as_ref().is_some_and(|t| thumbprint(&c.sha1).as_ref() == Some(t))
                || by_sha256.as_ref().is_some_and(|t| thumbprint(&c.sha256).as_ref() == Some(t))
        })
        .ok_or(Refusal::UnknownCertificate)?;
    let public_key = STANDARD.decode(&certificate.public_key).map_err(|_| Refusal::BadSignature)?;

    // The signature is jsonwebtoken's to check; the claims are checked here because MSAL sends float times.
    let mut validation = Validation::new(algorithm);
    validation.algorithms = vec![Algorithm::RS256, Algorithm::PS256];
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(assertion, &DecodingKey::from_rsa_der(&public_key), &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => Refusal::BadSignature,
            _ => Refusal::Malformed,
        })?
        .claims;

    if claims["iss"].as_str() != Some(client_id) || claims["sub"].as_str() != Some(client_id) {
        return Err(Refusal::WrongSubject);
    }
    let audience_ok = match &claims["aud"] {
        Value::String(aud) => audiences.iter().any(|a| same_url(a, aud)),
        Value::Array(auds) => {
            auds.iter().filter_map(Value::as_str).any(|aud| audiences.iter().any(|a| same_url(a, aud)))
        }
        _ => false,
    };
    if !audience_ok {
        return Err(Refusal::WrongAudience);
    }
    let time = |name: &str| claims[name].as_f64().filter(|t| t.is_finite());
    let expires = time("exp").ok_or(Refusal::Malformed)?;
    let skew = CLOCK_SKEW_SECONDS as f64;
    let now = now as f64;
    let not_before = time("nbf");
    if expires + skew < now || not_before.is_some_and(|nbf| nbf - skew > now) {
        return Err(Refusal::OutsideValidity);
    }
    // The lifetime counts from the earliest instant the assertion names for its start, or from now.
    let start = not_before.or_else(|| time("iat")).map_or(now, |start| start.min(now));
    if expires - start > (MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS as i64) as f64 {
        return Err(Refusal::TooLong);
    }
    let jti = claims["jti"].as_str().filter(|jti| !jti.is_empty()).ok_or(Refusal::MissingId)?;
    Ok(VerifiedAssertion { jti: Some(jti.to_owned()), expires: expires as i64 })
}

/// Checks a federated assertion against `credentials`; returns the matching credential.
pub fn verify_federated_assertion<'a>(
    assertion: &str,
    credentials: &'a [FederatedCredential],
) -> std::result::Result<(&'a FederatedCredential, VerifiedAssertion), Refusal> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| Refusal::Malformed)?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256) {
        return Err(Refusal::BadSignature);
    }
    let issuer = unverified_issuer(assertion).ok_or(Refusal::Malformed)?;
    for credential in credentials.iter().filter(|c| c.issuer == issuer) {
        let keys = credential.keys.iter().filter(|k| header.kid.is_none() || k.kid.is_none() || k.kid == header.kid);
        for key in keys {
            let Ok(decoding) = DecodingKey::from_rsa_components(&key.n, &key.e) else { continue };
            let mut validation = Validation::new(header.alg);
            validation.leeway = CLOCK_SKEW_SECONDS;
            validation.set_issuer(&[&credential.issuer]);
            validation.set_audience(&[&credential.audience]);
            validation.sub = Some(credential.subject.clone());
            validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
            match jsonwebtoken::decode::<Value>(assertion, &decoding, &validation) {
                Ok(data) => {
                    let expires = data.claims["exp"].as_i64().unwrap_or_default();
                    let jti = data.claims["jti"].as_str().map(str::to_owned);
                    return Ok((credential, VerifiedAssertion { jti, expires }));
                }
                Err(e) => match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => continue,
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature
                    | jsonwebtoken::errors::ErrorKind::ImmatureSignature => return Err(Refusal::OutsideValidity),
                    // Another subject or audience: maybe another credential of the same issuer matches.
                    _ => break,
                },
            }
        }
    }
    Err(Refusal::NoFederatedMatch)
}

/// A thumbprint's bytes, whatever base64 alphabet and padding it came in.
fn thumbprint(text: &str) -> Option<Vec<u8>> {
    let normalised: String = text
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    STANDARD_NO_PAD.decode(normalised).ok()
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/').eq_ignore_ascii_case(b.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_compare_across_alphabets_and_padding() {
        let bytes = [0xfbu8, 0xff, 0x01, 0x02, 0x03];
        let forms =
            [STANDARD.encode(bytes), URL_SAFE_NO_PAD.encode(bytes), format!("{}=", URL_SAFE_NO_PAD.encode(bytes))];
        for form in forms {
            assert_eq!(thumbprint(&form).as_deref(), Some(bytes.as_slice()), "{form}");
        }
    }

    #[test]
    fn issuers_are_read_without_trusting_them() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"https://issuer.example"}"#);
        assert_eq!(unverified_issuer(&format!("e30.{payload}.sig")).as_deref(), Some("https://issuer.example"));
        assert_eq!(unverified_issuer("garbage"), None);
    }

    #[test]
    fn pem_without_certificates_is_refused() {
        assert!(CertificateCredential::from_pem(b"nothing here").is_err());
    }

    #[test]
    fn certificate_assertions_need_a_jti_and_a_short_life() {
        // The claims are checked after the signature, so a real key signs them.
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::KeyPair;
        let Ok(rsa) = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048) else { return };
        let Ok(spki) = rsa.public_key().as_der() else { return };
        let certificate = CertificateCredential {
            sha1: URL_SAFE_NO_PAD.encode([1u8; 20]),
            sha256: URL_SAFE_NO_PAD.encode([2u8; 32]),
            public_key: STANDARD.encode(spki.as_ref()),
            not_after: i64::MAX,
        };
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"RS256","typ":"JWT","x5t":"{}"}}"#, certificate.sha1));
        let now = 1_700_000_000i64;
        let audience = "https://login.localhost/t/oauth2/v2.0/token".to_owned();
        let verify = |claims: Value| {
            let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
            let mut signature = vec![0u8; rsa.public_modulus_len()];
            let rng = aws_lc_rs::rand::SystemRandom::new();
            if rsa.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut signature).is_err() {
                return Err(Refusal::Malformed);
            }
            let assertion = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
            let audiences = std::slice::from_ref(&audience);
            verify_certificate_assertion(&assertion, std::slice::from_ref(&certificate), "app", audiences, now)
        };
        let claims = |exp: i64, jti: Option<&str>| {
            let mut claims = serde_json::json!({"iss": "app", "sub": "app", "aud": audience, "iat": now, "exp": exp});
            if let Some(jti) = jti {
                claims["jti"] = jti.into();
            }
            claims
        };
        assert!(verify(claims(now + 600, Some("one"))).is_ok(), "what MSAL sends");
        assert_eq!(verify(claims(now + 600, None)), Err(Refusal::MissingId));
        assert_eq!(verify(claims(now + 10 * 365 * 86_400, Some("two"))), Err(Refusal::TooLong));
        let mut old_start = claims(now + 300, Some("three"));
        old_start["nbf"] = (now - 3_600).into();
        assert_eq!(verify(old_start), Err(Refusal::TooLong), "an hour since nbf");
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            /// Any text, or three base64url parts of any bytes: a refusal, never a panic.
            #[test]
            fn any_assertion_is_refused_without_panic(text in any::<String>(), parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..96), 3)) {
                let forged = parts.iter().map(|p| URL_SAFE_NO_PAD.encode(p)).collect::<Vec<_>>().join(".");
                for assertion in [text.as_str(), forged.as_str()] {
                    let _ = unverified_issuer(assertion);
                    let _ = unverified_key_id(assertion);
                    prop_assert!(verify_certificate_assertion(assertion, &[], "app", &[], 0).is_err());
                    prop_assert!(verify_federated_assertion(assertion, &[]).is_err());
                }
            }
        }
    }
}
