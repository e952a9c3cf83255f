//! What a Managed HSM's root secret protects: the material of the HSM's keys. Each key version's material is
//! sealed with AES-256-GCM under a key-encryption key that HKDF-SHA-256 derives from the root secret, bound to
//! the key's name and version. The derivation names no HSM, so HSMs that share a security domain (one restored
//! from another's) open each other's keys, and their backups, as Managed HSM's do; an HSM of another security
//! domain opens none of them.
//!
//! Layout of a sealed material: `nonce(12) ‖ ciphertext ‖ tag(16)`.
//!
//! A full backup also carries a proof of its security domain ([`HsmRoot::proof`]): nothing sealed under the
//! root, which opens only under the same root. It keeps a backup whose keys prove nothing (it has none) from
//! restoring its roles into an HSM of another security domain.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use zeroize::Zeroizing;

use super::{Result, SecurityDomainError};

/// HKDF's salt: the purpose, so that no other use of a root secret derives the same key.
const SALT: &[u8] = b"strongroom managed hsm root secret";
/// HKDF's info: what the derived key is for, and its version.
const KEY_SEALING: &[u8] = b"key material sealing v1";

/// The context of a security domain's proof; a key's context is `key/{name}/{version}`, never this.
const PROOF_CONTEXT: &str = "security domain proof";

const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// The length HKDF expands to: one AES-256 key.
struct KeyLength;

impl KeyType for KeyLength {
    fn len(&self) -> usize {
        KEY_LEN
    }
}

/// A Managed HSM's root secret, as the key that seals its keys' material.
pub struct HsmRoot {
    key_sealing: RandomizedNonceKey,
}

impl std::fmt::Debug for HsmRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HsmRoot(..)")
    }
}

impl HsmRoot {
    /// The key-sealing key of the root secret `root_secret`.
    pub fn new(root_secret: &[u8]) -> Result<Self> {
        if root_secret.len() < KEY_LEN {
            return Err(SecurityDomainError::Malformed("a root secret is at least 32 bytes"));
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        Salt::new(HKDF_SHA256, SALT)
            .extract(root_secret)
            .expand(&[KEY_SEALING], KeyLength)
            .and_then(|okm| okm.fill(bytes.as_mut_slice()))
            .map_err(|_| SecurityDomainError::Crypto("deriving the key-sealing key"))?;
        let key_sealing = RandomizedNonceKey::new(&AES_256_GCM, bytes.as_slice())
            .map_err(|_| SecurityDomainError::Crypto("loading the key-sealing key"))?;
        Ok(Self { key_sealing })
    }

    /// Seals a key version's `material`, bound to `context` (the key's name and version).
    pub fn seal(&self, material: &[u8], context: &str) -> Result<Vec<u8>> {
        let mut body = material.to_vec();
        let nonce = self
            .key_sealing
            .seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut body)
            .map_err(|_| SecurityDomainError::Crypto("sealing key material"))?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + body.len());
        sealed.extend_from_slice(nonce.as_ref());
        sealed.extend_from_slice(&body);
        Ok(sealed)
    }

    /// Opens what [`HsmRoot::seal`] sealed for the same `context`; [`SecurityDomainError::WrongKey`] when
    /// another security domain's root sealed it, or it was changed, or it belongs to another key.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(SecurityDomainError::Malformed("sealed key material is too short"));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecurityDomainError::Crypto("a nonce"))?;
        let mut plaintext = Zeroizing::new(body.to_vec());
        let length = self
            .key_sealing
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut plaintext)
            .map_err(|_| SecurityDomainError::WrongKey)?
            .len();
        plaintext.truncate(length);
        Ok(plaintext)
    }

    /// A proof of this root's security domain, for a full backup to carry.
    pub fn proof(&self) -> Result<Vec<u8>> {
        self.seal(&[], PROOF_CONTEXT)
    }

    /// Whether `proof` was made by a root of this security domain.
    pub fn proves(&self, proof: &[u8]) -> bool {
        self.open(proof, PROOF_CONTEXT).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_opens_under_the_same_root_and_context_only() -> Result<()> {
        let root = HsmRoot::new(&[7u8; 32])?;
        let sealed = root.seal(b"private key", "key/k1/v1")?;
        assert!(!sealed.windows(11).any(|w| w == b"private key"));
        assert_eq!(root.open(&sealed, "key/k1/v1")?.as_slice(), b"private key");
        // Another HSM restored from the same security domain derives the same key.
        assert_eq!(HsmRoot::new(&[7u8; 32])?.open(&sealed, "key/k1/v1")?.as_slice(), b"private key");
        assert_eq!(root.open(&sealed, "key/k2/v1").err(), Some(SecurityDomainError::WrongKey));
        assert_eq!(HsmRoot::new(&[8u8; 32])?.open(&sealed, "key/k1/v1").err(), Some(SecurityDomainError::WrongKey));
        let mut changed = sealed.clone();
        if let Some(last) = changed.last_mut() {
            *last ^= 1;
        }
        assert_eq!(root.open(&changed, "key/k1/v1").err(), Some(SecurityDomainError::WrongKey));
        assert!(HsmRoot::new(&[1u8; 16]).is_err());

        let proof = root.proof()?;
        assert!(HsmRoot::new(&[7u8; 32])?.proves(&proof));
        assert!(!HsmRoot::new(&[8u8; 32])?.proves(&proof));
        assert!(!root.proves(&sealed) && !root.proves(&[]), "a key's material is no proof");
        Ok(())
    }
}
