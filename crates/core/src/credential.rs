//! Client secrets: generated with the system's CSPRNG, stored only as Argon2id hashes.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result};

/// A stored client secret: its Argon2id hash and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecret {
    /// The PHC string.
    pub hash: String,
    /// End of validity, Unix seconds; `None` for a secret that does not expire.
    pub expires: Option<i64>,
}

/// A client secret as declared: its value and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredSecret {
    /// The secret, in clear.
    pub value: String,
    /// End of validity, Unix seconds.
    pub expires: Option<i64>,
}

/// A fresh client secret: 32 random bytes, base64url (43 characters), like Entra's 40-character secrets.
pub fn generate_client_secret() -> Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    SystemRandom::new().fill(&mut bytes).map_err(|_| Error::crypto("the system random generator failed"))?;
    Ok(bytes)
}

/// The Argon2id hash of `secret` in PHC string form, with a fresh salt.
pub fn hash_secret(secret: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| Error::crypto(format_args!("encoding a salt failed: {e}")))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::crypto(format_args!("hashing a client secret failed: {e}")))
}

/// Whether `secret` matches the PHC `hash`. The comparison inside Argon2 is constant-time.
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(secret.as_bytes(), &parsed).is_ok())
}

/// The installation's key for finding a workload's secret by a keyed hash (HMAC-SHA-256): a secret presented
/// to a managed-identity endpoint is found in one step, where checking it against each workload's Argon2id hash
/// would cost one slow hash per workload of every tenant. The key is sealed in the store; without it a MAC says
/// nothing about the secret.
pub struct WorkloadSecretKey(aws_lc_rs::hmac::Key);

impl WorkloadSecretKey {
    /// The key made of `bytes` (32 random bytes).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, bytes))
    }

    /// The keyed hash of `secret`, base64url.
    pub fn mac(&self, secret: &str) -> String {
        URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&self.0, secret.as_bytes()).as_ref())
    }
}

impl std::fmt::Debug for WorkloadSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkloadSecretKey(..)")
    }
}

/// Whether two keyed hashes are equal, compared in constant time.
pub fn macs_equal(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// Longest user name a sign-in accepts (Entra's user principal names are far shorter).
pub const MAX_SIGN_IN_NAME_CHARS: usize = 256;

/// Whether `name` may be a user's sign-in name at all: not empty, not too long, and free of control characters
/// and line or paragraph separators — which name no user and could break a log line or a cluster notice.
pub fn is_valid_sign_in_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.chars().count() <= MAX_SIGN_IN_NAME_CHARS
        && !name.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hashes_find_a_secret_under_their_key_only() {
        let key = WorkloadSecretKey::from_bytes(&[7; 32]);
        let mac = key.mac("web-01-identity-header-0123456789");
        assert!(macs_equal(&mac, &key.mac("web-01-identity-header-0123456789")));
        assert!(!macs_equal(&mac, &key.mac("web-01-identity-header-012345678")));
        assert!(!mac.contains("identity-header"));
        let other = WorkloadSecretKey::from_bytes(&[8; 32]);
        assert!(!macs_equal(&mac, &other.mac("web-01-identity-header-0123456789")));
    }

    #[test]
    fn a_hash_verifies_its_secret_only() -> Result<()> {
        let secret = generate_client_secret()?;
        assert_eq!(secret.len(), 43);
        let hash = hash_secret(&secret)?;
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains(&secret));
        assert!(verify_secret(&secret, &hash));
        assert!(!verify_secret("something-else", &hash));
        assert!(!verify_secret(&secret, "not a hash"));
        Ok(())
    }

    #[test]
    fn secrets_are_random() -> Result<()> {
        assert_ne!(generate_client_secret()?, generate_client_secret()?);
        Ok(())
    }

    #[test]
    fn sign_in_names_refuse_control_characters() {
        assert!(is_valid_sign_in_name("alice@contoso"));
        assert!(is_valid_sign_in_name("Zoë Ünïcode"));
        for bad in ["", "  ", "alice\nfailure", "alice\r", "a\u{0}b", "a\u{85}b", "a\u{2028}b", &"x".repeat(257)] {
            assert!(!is_valid_sign_in_name(bad), "{bad:?}");
        }
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            /// Any text: an answer, never a panic; a line break anywhere is refused.
            #[test]
            fn any_name_is_judged_and_line_breaks_never_pass(name in any::<String>(), at in any::<prop::sample::Index>()) {
                let _ = is_valid_sign_in_name(&name);
                let chars: Vec<char> = name.chars().collect();
                let cut = if chars.is_empty() { 0 } else { at.index(chars.len()) };
                let broken: String = chars[..cut].iter().chain(['\n'].iter()).chain(chars[cut..].iter()).collect();
                prop_assert!(!is_valid_sign_in_name(&broken));
            }
        }
    }
}
