//! Envelope encryption at rest.
//!
//! Every sealed record gets its own random 256-bit data key; the record is encrypted with AES-256-GCM under
//! that key, and the data key is encrypted (wrapped) with AES-256-GCM under the installation's root key. Both
//! bind the record's identity as associated data, so a sealed value moved to another row does not open.
//!
//! Layout: `1 ‖ nonce(12) ‖ wrapped data key(32+16) ‖ nonce(12) ‖ ciphertext ‖ tag(16)`.

use std::io::Write;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};

const FORMAT_VERSION: u8 = 1;
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const WRAPPED_KEY_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;

/// The root key: it wraps every data key. Kept in a file of the data directory or given by the environment.
pub struct RootKey {
    key: RandomizedNonceKey,
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(..)")
    }
}

impl RootKey {
    /// A root key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != KEY_LEN {
            return Err(Error::new(ErrorKind::Seal, "loading the root key", "a root key is exactly 32 bytes"));
        }
        let key = RandomizedNonceKey::new(&AES_256_GCM, bytes)
            .map_err(|_| Error::new(ErrorKind::Seal, "loading the root key", "the key was rejected"))?;
        Ok(Self { key })
    }

    /// The root key in the file at `path`, created there (readable by its owner only) on first use.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        let io_error = |e: std::io::Error| Error::new(ErrorKind::Io, format_args!("root key {}", path.display()), e);
        match std::fs::read(path) {
            Ok(bytes) => Self::from_bytes(&Zeroizing::new(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes = random::<KEY_LEN>()?;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(io_error)?;
                file.write_all(bytes.as_slice()).map_err(io_error)?;
                file.sync_all().map_err(io_error)?;
                Self::from_bytes(bytes.as_slice())
            }
            Err(e) => Err(io_error(e)),
        }
    }

    /// Encrypts `plaintext`, bound to `context` (the identity of the record it belongs to).
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>> {
        let data_key_bytes = random::<KEY_LEN>()?;
        let data_key = RandomizedNonceKey::new(&AES_256_GCM, data_key_bytes.as_slice())
            .map_err(|_| seal_error("creating a data key"))?;

        let mut wrapped = data_key_bytes.to_vec();
        let wrap_nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(context), &mut wrapped)
            .map_err(|_| seal_error("wrapping a data key"))?;

        let mut body = plaintext.to_vec();
        let body_nonce = data_key
            .seal_in_place_append_tag(Aad::from(context), &mut body)
            .map_err(|_| seal_error("encrypting a record"))?;

        let mut sealed = Vec::with_capacity(1 + WRAPPED_KEY_LEN + NONCE_LEN + body.len());
        sealed.push(FORMAT_VERSION);
        sealed.extend_from_slice(wrap_nonce.as_ref());
        sealed.extend_from_slice(&wrapped);
        sealed.extend_from_slice(body_nonce.as_ref());
        sealed.extend_from_slice(&body);
        Ok(sealed)
    }

    /// Decrypts what [`RootKey::seal`] produced for the same `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let rest = match sealed.split_first() {
            Some((&FORMAT_VERSION, rest)) if rest.len() >= WRAPPED_KEY_LEN + NONCE_LEN + TAG_LEN => rest,
            _ => return Err(seal_error("opening a record: unknown format")),
        };
        let (wrap_nonce, rest) = rest.split_at(NONCE_LEN);
        let (wrapped, rest) = rest.split_at(KEY_LEN + TAG_LEN);
        let (body_nonce, body) = rest.split_at(NONCE_LEN);

        let mut data_key_bytes = Zeroizing::new(wrapped.to_vec());
        let data_key_bytes = self
            .key
            .open_in_place(nonce(wrap_nonce)?, Aad::from(context), &mut data_key_bytes)
            .map_err(|_| seal_error("unwrapping a data key (wrong root key or tampered record)"))?;
        let data_key =
            RandomizedNonceKey::new(&AES_256_GCM, data_key_bytes).map_err(|_| seal_error("loading a data key"))?;

        let mut plaintext = Zeroizing::new(body.to_vec());
        let length = data_key
            .open_in_place(nonce(body_nonce)?, Aad::from(context), &mut plaintext)
            .map_err(|_| seal_error("decrypting a record (tampered record)"))?
            .len();
        plaintext.truncate(length);
        Ok(plaintext)
    }
}

fn nonce(bytes: &[u8]) -> Result<Nonce> {
    Nonce::try_assume_unique_for_key(bytes).map_err(|_| seal_error("reading a nonce"))
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>> {
    let mut bytes = Zeroizing::new([0u8; N]);
    SystemRandom::new().fill(bytes.as_mut_slice()).map_err(|_| seal_error("drawing random bytes"))?;
    Ok(bytes)
}

fn seal_error(context: &str) -> Error {
    Error::new(ErrorKind::Seal, context, "the cryptographic operation failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Result<RootKey> {
        RootKey::from_bytes(random::<KEY_LEN>()?.as_slice())
    }

    #[test]
    fn sealed_data_opens_with_the_same_key_and_context_only() -> Result<()> {
        let root = key()?;
        let sealed = root.seal(b"s3cret", b"vault/db")?;
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(root.open(&sealed, b"vault/db")?.as_slice(), b"s3cret");
        assert!(root.open(&sealed, b"vault/other").is_err());
        assert!(key()?.open(&sealed, b"vault/db").is_err());
        Ok(())
    }

    #[test]
    fn tampering_is_detected() -> Result<()> {
        let root = key()?;
        let mut sealed = root.seal(b"value", b"ctx")?;
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(root.open(&sealed, b"ctx").is_err());
        assert!(root.open(&sealed[..10], b"ctx").is_err());
        Ok(())
    }

    #[test]
    fn the_root_key_file_is_created_once() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::new(ErrorKind::Io, "tempdir", e))?;
        let path = dir.path().join("root.key");
        let sealed = RootKey::load_or_create(&path)?.seal(b"v", b"c")?;
        assert_eq!(RootKey::load_or_create(&path)?.open(&sealed, b"c")?.as_slice(), b"v");
        assert!(RootKey::from_bytes(&[0u8; 5]).is_err());
        Ok(())
    }
}
