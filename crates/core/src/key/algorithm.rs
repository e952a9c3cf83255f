//! The algorithms Key Vault names on the wire: signature algorithms with their digests and aws-lc-rs
//! algorithms, and the RSA and AES encryption algorithms with their key sizes and modes.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, RsaEncoding};

use super::{Curve, KeyType};
use crate::error::{Error, Result};

/// A signature algorithm of Key Vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// ECDSA on P-521 with SHA-512.
    Es512,
    /// ECDSA on secp256k1 with SHA-256.
    Es256K,
}

pub(super) const SIGNATURE_ALGORITHMS: [(SignatureAlgorithm, &str); 10] = [
    (SignatureAlgorithm::Rs256, "RS256"),
    (SignatureAlgorithm::Rs384, "RS384"),
    (SignatureAlgorithm::Rs512, "RS512"),
    (SignatureAlgorithm::Ps256, "PS256"),
    (SignatureAlgorithm::Ps384, "PS384"),
    (SignatureAlgorithm::Ps512, "PS512"),
    (SignatureAlgorithm::Es256, "ES256"),
    (SignatureAlgorithm::Es384, "ES384"),
    (SignatureAlgorithm::Es512, "ES512"),
    (SignatureAlgorithm::Es256K, "ES256K"),
];

impl SignatureAlgorithm {
    /// The algorithm named `text`.
    pub fn parse(text: &str) -> Result<Self> {
        SIGNATURE_ALGORITHMS
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(alg, _)| *alg)
            .ok_or_else(|| Error::invalid_input(format_args!("'{text}' is not a supported signature algorithm.")))
    }

    /// The hash the digest must come from.
    pub(super) fn digest(self) -> &'static digest::Algorithm {
        use SignatureAlgorithm::*;
        match self {
            Rs256 | Ps256 | Es256 | Es256K => &digest::SHA256,
            Rs384 | Ps384 | Es384 => &digest::SHA384,
            Rs512 | Ps512 | Es512 => &digest::SHA512,
        }
    }

    /// The curve an ECDSA algorithm needs; `None` for RSA algorithms.
    pub(super) fn curve(self) -> Option<Curve> {
        match self {
            SignatureAlgorithm::Es256 => Some(Curve::P256),
            SignatureAlgorithm::Es384 => Some(Curve::P384),
            SignatureAlgorithm::Es512 => Some(Curve::P521),
            SignatureAlgorithm::Es256K => Some(Curve::P256K),
            _ => None,
        }
    }

    pub(super) fn rsa_encoding(self) -> Option<&'static dyn RsaEncoding> {
        match self {
            SignatureAlgorithm::Rs256 => Some(&signature::RSA_PKCS1_SHA256),
            SignatureAlgorithm::Rs384 => Some(&signature::RSA_PKCS1_SHA384),
            SignatureAlgorithm::Rs512 => Some(&signature::RSA_PKCS1_SHA512),
            SignatureAlgorithm::Ps256 => Some(&signature::RSA_PSS_SHA256),
            SignatureAlgorithm::Ps384 => Some(&signature::RSA_PSS_SHA384),
            SignatureAlgorithm::Ps512 => Some(&signature::RSA_PSS_SHA512),
            _ => None,
        }
    }

    pub(super) fn verification(self) -> &'static dyn signature::VerificationAlgorithm {
        match self {
            SignatureAlgorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            SignatureAlgorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            SignatureAlgorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            SignatureAlgorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
            SignatureAlgorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
            SignatureAlgorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
            SignatureAlgorithm::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            SignatureAlgorithm::Es384 => &signature::ECDSA_P384_SHA384_FIXED,
            SignatureAlgorithm::Es512 => &signature::ECDSA_P521_SHA512_FIXED,
            SignatureAlgorithm::Es256K => &signature::ECDSA_P256K1_SHA256_FIXED,
        }
    }
}

/// The length of an AES key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AesKeySize {
    /// 128 bits.
    Bits128,
    /// 192 bits.
    Bits192,
    /// 256 bits.
    Bits256,
}

impl AesKeySize {
    pub(super) fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            128 => Some(AesKeySize::Bits128),
            192 => Some(AesKeySize::Bits192),
            256 => Some(AesKeySize::Bits256),
            _ => None,
        }
    }

    pub(super) fn bits(self) -> usize {
        match self {
            AesKeySize::Bits128 => 128,
            AesKeySize::Bits192 => 192,
            AesKeySize::Bits256 => 256,
        }
    }
}

/// An AES mode of Key Vault (Managed HSM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AesMode {
    /// Galois/counter mode: authenticated, the IV made by the server, the tag returned.
    Gcm,
    /// Cipher block chaining without padding: whole blocks only, the IV given by the client.
    Cbc,
    /// Cipher block chaining with PKCS#7 padding, the IV given by the client.
    CbcPad,
    /// Key wrap (RFC 3394).
    Kw,
}

const AES_MODES: [(AesMode, &str); 4] =
    [(AesMode::Gcm, "GCM"), (AesMode::Cbc, "CBC"), (AesMode::CbcPad, "CBCPAD"), (AesMode::Kw, "KW")];

/// An encryption (and key-wrapping) algorithm of Key Vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptionAlgorithm {
    /// RSAES-OAEP with SHA-1 (legacy, still Key Vault's most used).
    RsaOaep,
    /// RSAES-OAEP with SHA-256.
    RsaOaep256,
    /// RSAES-PKCS1-v1_5 (legacy).
    Rsa15,
    /// AES with a key of the given size, in the given mode (`A128GCM`, `A256KW`, ...).
    Aes(AesKeySize, AesMode),
}

impl EncryptionAlgorithm {
    /// The algorithm named `text`.
    pub fn parse(text: &str) -> Result<Self> {
        let unknown = || {
            Error::invalid_input(format_args!(
                "'{text}' is not a supported encryption algorithm: use RSA-OAEP, RSA-OAEP-256, RSA1_5, or \
                 A128/A192/A256 with GCM, CBC, CBCPAD or KW."
            ))
        };
        match text {
            "RSA-OAEP" => return Ok(EncryptionAlgorithm::RsaOaep),
            "RSA-OAEP-256" => return Ok(EncryptionAlgorithm::RsaOaep256),
            "RSA1_5" => return Ok(EncryptionAlgorithm::Rsa15),
            _ => {}
        }
        let rest =
            text.strip_prefix('A').filter(|rest| rest.len() > 3 && rest.is_char_boundary(3)).ok_or_else(unknown)?;
        let (bits, mode) = rest.split_at(3);
        let size = bits.parse().ok().and_then(AesKeySize::from_bits).ok_or_else(unknown)?;
        let mode = AES_MODES.iter().find(|(_, name)| *name == mode).map(|(mode, _)| *mode).ok_or_else(unknown)?;
        Ok(EncryptionAlgorithm::Aes(size, mode))
    }

    /// Whether the algorithm encrypts (rather than wraps) with a key of `kty`, or wraps if `wrapping`.
    pub(super) fn suits(self, kty: KeyType, wrapping: bool) -> bool {
        match self {
            EncryptionAlgorithm::RsaOaep | EncryptionAlgorithm::RsaOaep256 | EncryptionAlgorithm::Rsa15 => kty.is_rsa(),
            EncryptionAlgorithm::Aes(_, mode) => kty.is_oct() && (mode == AesMode::Kw) == wrapping,
        }
    }
}

impl std::fmt::Display for EncryptionAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncryptionAlgorithm::RsaOaep => f.write_str("RSA-OAEP"),
            EncryptionAlgorithm::RsaOaep256 => f.write_str("RSA-OAEP-256"),
            EncryptionAlgorithm::Rsa15 => f.write_str("RSA1_5"),
            EncryptionAlgorithm::Aes(size, mode) => {
                let mode = AES_MODES.iter().find(|(m, _)| m == mode).map_or("", |(_, name)| name);
                write!(f, "A{}{mode}", size.bits())
            }
        }
    }
}
