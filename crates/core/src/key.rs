//! Keys: RSA, elliptic-curve and AES (`oct`) key material and the cryptographic operations Key Vault performs
//! with it, all done by aws-lc-rs except AES key wrap at every key size, which the RustCrypto `aes-kw` crate
//! does (aws-lc-rs has no 192-bit key wrap). Private material leaves this module only as PKCS#8 DER (or the raw
//! AES key), to be sealed by the store; what clients see is the public JWK, and of an AES key nothing.
//!
//! Key Vault signs and verifies a digest the client computed, so the digest's length is checked against the
//! algorithm's hash; elliptic-curve signatures are the raw `r‖s` of JOSE, not DER.

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    self, KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey, PrivateDecryptingKey,
};
use aws_lc_rs::signature::{self, EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair, RsaEncoding, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// A key's type, as JSON Web Key names it; `-HSM` types are accepted and reported as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    /// RSA.
    #[serde(rename = "RSA")]
    Rsa,
    /// RSA, "in an HSM".
    #[serde(rename = "RSA-HSM")]
    RsaHsm,
    /// Elliptic curve.
    #[serde(rename = "EC")]
    Ec,
    /// Elliptic curve, "in an HSM".
    #[serde(rename = "EC-HSM")]
    EcHsm,
    /// Symmetric (AES), as Managed HSM has them.
    #[serde(rename = "oct")]
    Oct,
    /// Symmetric (AES), "in an HSM".
    #[serde(rename = "oct-HSM")]
    OctHsm,
}

const KEY_TYPES: [KeyType; 6] =
    [KeyType::Rsa, KeyType::RsaHsm, KeyType::Ec, KeyType::EcHsm, KeyType::Oct, KeyType::OctHsm];

impl KeyType {
    /// The JWK name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::RsaHsm => "RSA-HSM",
            KeyType::Ec => "EC",
            KeyType::EcHsm => "EC-HSM",
            KeyType::Oct => "oct",
            KeyType::OctHsm => "oct-HSM",
        }
    }

    /// The type named `text`.
    pub fn parse(text: &str) -> Result<Self> {
        KEY_TYPES.into_iter().find(|t| t.as_str() == text).ok_or_else(|| {
            Error::invalid_input(format_args!(
                "The key type '{text}' is not supported: use RSA, RSA-HSM, EC, EC-HSM, oct or oct-HSM."
            ))
        })
    }

    /// The same type, "in an HSM".
    pub fn hsm(self) -> Self {
        match self {
            KeyType::Rsa | KeyType::RsaHsm => KeyType::RsaHsm,
            KeyType::Ec | KeyType::EcHsm => KeyType::EcHsm,
            KeyType::Oct | KeyType::OctHsm => KeyType::OctHsm,
        }
    }

    /// The operations (`key_ops`) a key of this type can perform.
    pub fn operations(self) -> &'static [&'static str] {
        match self {
            KeyType::Rsa | KeyType::RsaHsm => &["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"],
            KeyType::Ec | KeyType::EcHsm => &["sign", "verify"],
            KeyType::Oct | KeyType::OctHsm => &["encrypt", "decrypt", "wrapKey", "unwrapKey"],
        }
    }

    fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa | KeyType::RsaHsm)
    }

    fn is_oct(self) -> bool {
        matches!(self, KeyType::Oct | KeyType::OctHsm)
    }
}

/// An elliptic curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Curve {
    /// NIST P-256.
    #[serde(rename = "P-256")]
    P256,
    /// NIST P-384.
    #[serde(rename = "P-384")]
    P384,
    /// NIST P-521.
    #[serde(rename = "P-521")]
    P521,
    /// SECG secp256k1.
    #[serde(rename = "P-256K")]
    P256K,
}

impl Curve {
    /// The JWK name.
    pub fn as_str(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
            Curve::P256K => "P-256K",
        }
    }

    /// The curve named `text`.
    pub fn parse(text: &str) -> Result<Self> {
        [Curve::P256, Curve::P384, Curve::P521, Curve::P256K].into_iter().find(|c| c.as_str() == text).ok_or_else(
            || {
                Error::invalid_input(format_args!(
                    "The curve '{text}' is not supported: use P-256, P-384, P-521 or P-256K."
                ))
            },
        )
    }

    /// The one signature algorithm of the curve, for signing with a digest of its size.
    fn signing(self) -> &'static EcdsaSigningAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            Curve::P521 => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
            Curve::P256K => &signature::ECDSA_P256K1_SHA256_FIXED_SIGNING,
        }
    }

    /// Bytes of one coordinate.
    fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 | Curve::P256K => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
}

/// What to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// The type.
    pub kty: KeyType,
    /// RSA modulus bits (2048, 3072, 4096; default 2048), or AES key bits (128, 192, 256; default 256).
    pub size: Option<u32>,
    /// RSA public exponent (only 65537).
    pub public_exponent: Option<u32>,
    /// EC curve (default P-256).
    pub curve: Option<Curve>,
}

/// The public half of a key as JSON Web Key members (base64url), never any private member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// RSA modulus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// EC curve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<Curve>,
    /// EC x coordinate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

/// A JSON Web Key with its private members, as an import carries it (binary members base64url). Its `Debug`
/// shows no member.
#[derive(Clone, Default, Deserialize)]
pub struct PrivateJwk {
    /// `RSA`, `RSA-HSM`, `EC`, `EC-HSM`, `oct`, `oct-HSM`.
    pub kty: String,
    /// Permitted operations, if the key names them.
    #[serde(default)]
    pub key_ops: Option<Vec<String>>,
    /// EC curve.
    #[serde(default)]
    pub crv: Option<String>,
    /// RSA modulus.
    #[serde(default)]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(default)]
    pub e: Option<String>,
    /// RSA private exponent, or the EC private scalar.
    #[serde(default)]
    pub d: Option<String>,
    /// RSA first prime.
    #[serde(default)]
    pub p: Option<String>,
    /// RSA second prime.
    #[serde(default)]
    pub q: Option<String>,
    /// RSA first CRT exponent.
    #[serde(default)]
    pub dp: Option<String>,
    /// RSA second CRT exponent.
    #[serde(default)]
    pub dq: Option<String>,
    /// RSA CRT coefficient.
    #[serde(default)]
    pub qi: Option<String>,
    /// EC x coordinate.
    #[serde(default)]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(default)]
    pub y: Option<String>,
    /// The AES key.
    #[serde(default)]
    pub k: Option<String>,
}

impl std::fmt::Debug for PrivateJwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateJwk").field("kty", &self.kty).finish_non_exhaustive()
    }
}

/// A required base64url member of an imported key, decoded (and zeroed when dropped).
fn member(value: &Option<String>, name: &str) -> Result<Zeroizing<Vec<u8>>> {
    let value = value
        .as_deref()
        .ok_or_else(|| Error::invalid_input(format_args!("The imported key has no '{name}' member.")))?;
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map(Zeroizing::new)
        .map_err(|_| Error::invalid_input(format_args!("The imported key's '{name}' member is not base64url.")))
}

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

const SIGNATURE_ALGORITHMS: [(SignatureAlgorithm, &str); 10] = [
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
    fn digest(self) -> &'static digest::Algorithm {
        use SignatureAlgorithm::*;
        match self {
            Rs256 | Ps256 | Es256 | Es256K => &digest::SHA256,
            Rs384 | Ps384 | Es384 => &digest::SHA384,
            Rs512 | Ps512 | Es512 => &digest::SHA512,
        }
    }

    /// The curve an ECDSA algorithm needs; `None` for RSA algorithms.
    fn curve(self) -> Option<Curve> {
        match self {
            SignatureAlgorithm::Es256 => Some(Curve::P256),
            SignatureAlgorithm::Es384 => Some(Curve::P384),
            SignatureAlgorithm::Es512 => Some(Curve::P521),
            SignatureAlgorithm::Es256K => Some(Curve::P256K),
            _ => None,
        }
    }

    fn rsa_encoding(self) -> Option<&'static dyn RsaEncoding> {
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

    fn verification(self) -> &'static dyn signature::VerificationAlgorithm {
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
    fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            128 => Some(AesKeySize::Bits128),
            192 => Some(AesKeySize::Bits192),
            256 => Some(AesKeySize::Bits256),
            _ => None,
        }
    }

    fn bits(self) -> usize {
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
    fn suits(self, kty: KeyType, wrapping: bool) -> bool {
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

/// What an AES operation takes besides the data: the IV (CBC, and GCM when decrypting), the additional
/// authenticated data and the tag (GCM).
#[derive(Debug, Clone, Copy, Default)]
pub struct CipherInput<'a> {
    /// The initialisation vector.
    pub iv: Option<&'a [u8]>,
    /// GCM's additional authenticated data.
    pub aad: Option<&'a [u8]>,
    /// GCM's authentication tag.
    pub tag: Option<&'a [u8]>,
}

/// What encryption gives back: the ciphertext, and for AES the IV used and GCM's tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    /// The ciphertext.
    pub value: Vec<u8>,
    /// The IV used (AES).
    pub iv: Option<Vec<u8>>,
    /// The authentication tag (AES-GCM).
    pub tag: Option<Vec<u8>>,
}

/// The key material by kind: PKCS#8 DER for RSA and EC (with the key parsed once, since parsing an RSA key
/// costs as much as a signature), the raw key for AES; the bytes are zeroed when dropped.
#[derive(Clone)]
enum Material {
    Rsa(Zeroizing<Vec<u8>>, rsa::KeyPair),
    Ec(Curve, Zeroizing<Vec<u8>>, EcdsaKeyPair),
    Aes(AesKeySize, Zeroizing<Vec<u8>>),
}

impl Material {
    fn rsa(der: Zeroizing<Vec<u8>>) -> Result<Self> {
        let pair = rsa::KeyPair::from_pkcs8(&der)
            .map_err(|_| Error::invalid_input("stored RSA key material is unreadable"))?;
        Ok(Material::Rsa(der, pair))
    }

    fn ec(curve: Curve, der: Zeroizing<Vec<u8>>) -> Result<Self> {
        let pair = EcdsaKeyPair::from_pkcs8(curve.signing(), &der)
            .map_err(|_| Error::invalid_input("stored EC key material is unreadable"))?;
        Ok(Material::Ec(curve, der, pair))
    }
}

/// A private (or secret) key: its type and its material.
#[derive(Clone)]
pub struct PrivateKey {
    kty: KeyType,
    material: Material,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey").field("kty", &self.kty).field("curve", &self.curve()).finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn failed(what: &str) -> Error {
    Error::invalid_input(format_args!("The key operation failed: {what}."))
}

fn aes_size_of(len: usize) -> Result<AesKeySize> {
    u32::try_from(len * 8)
        .ok()
        .and_then(AesKeySize::from_bits)
        .ok_or_else(|| Error::invalid_input("An AES key is 128, 192 or 256 bits."))
}

impl PrivateKey {
    /// Generates a key as `spec` says.
    pub fn generate(spec: &KeySpec) -> Result<Self> {
        if spec.kty.is_oct() {
            if spec.curve.is_some() || spec.public_exponent.is_some() {
                return Err(Error::invalid_input("An oct key has a size, not a curve or exponent."));
            }
            let bits = spec.size.unwrap_or(256);
            let size = AesKeySize::from_bits(bits).ok_or_else(|| {
                Error::invalid_input(format_args!("The oct key size {bits} is not supported: use 128, 192 or 256."))
            })?;
            let mut key = Zeroizing::new(vec![0u8; size.bits() / 8]);
            aws_lc_rs::rand::fill(&mut key).map_err(|_| failed("generating an AES key"))?;
            return Ok(Self { kty: spec.kty, material: Material::Aes(size, key) });
        }
        if spec.kty.is_rsa() {
            if spec.curve.is_some() {
                return Err(Error::invalid_input("An RSA key has no curve."));
            }
            // The Java SDK sends 0 when no exponent was chosen; Key Vault takes it as the default.
            if spec.public_exponent.is_some_and(|e| e != 65537 && e != 0) {
                return Err(Error::invalid_input("The public exponent of an RSA key is 65537."));
            }
            let size = match spec.size.unwrap_or(2048) {
                2048 => KeySize::Rsa2048,
                3072 => KeySize::Rsa3072,
                4096 => KeySize::Rsa4096,
                other => {
                    return Err(Error::invalid_input(format_args!(
                        "The RSA key size {other} is not supported: use 2048, 3072 or 4096."
                    )));
                }
            };
            let pair = rsa::KeyPair::generate(size).map_err(|_| failed("generating an RSA key"))?;
            let der = Zeroizing::new(pair.as_der().map_err(|_| failed("encoding an RSA key"))?.as_ref().to_vec());
            return Ok(Self { kty: spec.kty, material: Material::Rsa(der, pair) });
        }
        if spec.size.is_some() || spec.public_exponent.is_some() {
            return Err(Error::invalid_input("An EC key has a curve, not a size or exponent."));
        }
        let curve = spec.curve.unwrap_or(Curve::P256);
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(curve.signing(), &aws_lc_rs::rand::SystemRandom::new())
            .map_err(|_| failed("generating an EC key"))?;
        Ok(Self { kty: spec.kty, material: Material::ec(curve, Zeroizing::new(pkcs8.as_ref().to_vec()))? })
    }

    /// A key from an imported JWK with its private members; `hsm` asks for the `-HSM` type.
    pub fn import(jwk: &PrivateJwk, hsm: bool) -> Result<Self> {
        let kty = KeyType::parse(&jwk.kty)?;
        let kty = if hsm { kty.hsm() } else { kty };
        let rejected = |what: &str| Error::invalid_input(format_args!("The imported {what} key is not valid."));
        if kty.is_oct() {
            let key = member(&jwk.k, "k")?;
            return Ok(Self { kty, material: Material::Aes(aes_size_of(key.len())?, key) });
        }
        if kty.is_rsa() {
            let components = rsa::KeyPairComponents {
                public_key: rsa::PublicKeyComponents { n: member(&jwk.n, "n")?, e: member(&jwk.e, "e")? },
                d: member(&jwk.d, "d")?,
                p: member(&jwk.p, "p")?,
                q: member(&jwk.q, "q")?,
                dP: member(&jwk.dp, "dp")?,
                dQ: member(&jwk.dq, "dq")?,
                qInv: member(&jwk.qi, "qi")?,
            };
            let pair = rsa::KeyPair::from_components(&components).map_err(|_| rejected("RSA"))?;
            if ![256, 384, 512].contains(&pair.public_modulus_len()) {
                return Err(Error::invalid_input("An imported RSA key is 2048, 3072 or 4096 bits."));
            }
            let der = Zeroizing::new(pair.as_der().map_err(|_| rejected("RSA"))?.as_ref().to_vec());
            return Ok(Self { kty, material: Material::Rsa(der, pair) });
        }
        let curve = Curve::parse(jwk.crv.as_deref().unwrap_or_default())?;
        let mut point = vec![4u8];
        point.extend_from_slice(&member(&jwk.x, "x")?);
        point.extend_from_slice(&member(&jwk.y, "y")?);
        let pair = EcdsaKeyPair::from_private_key_and_public_key(curve.signing(), &member(&jwk.d, "d")?, &point)
            .map_err(|_| rejected("EC"))?;
        let der = Zeroizing::new(pair.to_pkcs8v1().map_err(|_| rejected("EC"))?.as_ref().to_vec());
        Ok(Self { kty, material: Material::Ec(curve, der, pair) })
    }

    /// A key from PKCS#8 DER of unknown kind (an imported certificate's): RSA, or EC on a supported curve.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self> {
        let der = Zeroizing::new(der.to_vec());
        if let Ok(pair) = rsa::KeyPair::from_pkcs8(&der) {
            return Ok(Self { kty: KeyType::Rsa, material: Material::Rsa(der, pair) });
        }
        for curve in [Curve::P256, Curve::P384, Curve::P521, Curve::P256K] {
            if let Ok(pair) = EcdsaKeyPair::from_pkcs8(curve.signing(), &der) {
                return Ok(Self { kty: KeyType::Ec, material: Material::Ec(curve, der, pair) });
            }
        }
        Err(Error::invalid_input("The private key is not a PKCS#8 RSA or EC key Strongroom supports."))
    }

    /// A key as stored: type, curve and material (PKCS#8 DER, or the raw AES key), checked.
    pub fn from_material(kty: KeyType, curve: Option<Curve>, material: &[u8]) -> Result<Self> {
        let bytes = Zeroizing::new(material.to_vec());
        let material = match (kty.is_oct(), kty.is_rsa(), curve) {
            (true, _, None) => Material::Aes(aes_size_of(bytes.len())?, bytes),
            (false, true, None) => Material::rsa(bytes)?,
            (false, false, Some(curve)) => Material::ec(curve, bytes)?,
            _ => return Err(Error::invalid_input("stored key material does not match its type")),
        };
        Ok(Self { kty, material })
    }

    /// The material, to be sealed: PKCS#8 DER, or the raw AES key.
    pub fn material(&self) -> &[u8] {
        match &self.material {
            Material::Rsa(der, _) | Material::Ec(_, der, _) => der,
            Material::Aes(_, key) => key,
        }
    }

    /// The type.
    pub fn kty(&self) -> KeyType {
        self.kty
    }

    /// The curve of an EC key.
    pub fn curve(&self) -> Option<Curve> {
        match self.material {
            Material::Ec(curve, ..) => Some(curve),
            _ => None,
        }
    }

    fn rsa(&self) -> Result<&rsa::KeyPair> {
        match &self.material {
            Material::Rsa(_, pair) => Ok(pair),
            _ => Err(Error::invalid_input("This operation needs an RSA key.")),
        }
    }

    fn ec(&self) -> Result<&EcdsaKeyPair> {
        match &self.material {
            Material::Ec(_, _, pair) => Ok(pair),
            _ => Err(Error::invalid_input("This operation needs an EC key.")),
        }
    }

    /// The RSA modulus size in bits, the curve's order size for EC keys, the key size for AES keys.
    pub fn size_bits(&self) -> Result<usize> {
        match &self.material {
            Material::Rsa(_, pair) => Ok(pair.public_modulus_len() * 8),
            Material::Ec(curve, ..) => Ok(curve.coordinate_len() * 8),
            Material::Aes(size, _) => Ok(size.bits()),
        }
    }

    /// The public JWK members; none for an AES key, whose every member is secret.
    pub fn public_jwk(&self) -> Result<PublicJwk> {
        match &self.material {
            Material::Rsa(_, pair) => {
                let public = pair.public_key();
                Ok(PublicJwk {
                    n: Some(b64(public.modulus().big_endian_without_leading_zero())),
                    e: Some(b64(public.exponent().big_endian_without_leading_zero())),
                    ..PublicJwk::default()
                })
            }
            Material::Ec(curve, _, pair) => {
                // An uncompressed point: 0x04 ‖ x ‖ y.
                let point = pair.public_key().as_ref();
                let len = curve.coordinate_len();
                if point.len() != 1 + 2 * len {
                    return Err(failed("reading the public point"));
                }
                Ok(PublicJwk {
                    crv: Some(*curve),
                    x: Some(b64(&point[1..=len])),
                    y: Some(b64(&point[1 + len..])),
                    ..PublicJwk::default()
                })
            }
            Material::Aes(..) => Ok(PublicJwk::default()),
        }
    }

    /// Checks that `alg` suits this key and `digest` has its hash's length.
    fn signing_digest(&self, alg: SignatureAlgorithm, digest: &[u8]) -> Result<Digest> {
        let suits = match alg.curve() {
            Some(curve) => self.curve() == Some(curve),
            None => self.kty.is_rsa(),
        };
        if !suits {
            return Err(Error::invalid_input(format_args!(
                "The algorithm {} cannot be used with this key.",
                SIGNATURE_ALGORITHMS.iter().find(|(a, _)| *a == alg).map_or("", |(_, n)| n)
            )));
        }
        let hash = alg.digest();
        if digest.len() != hash.output_len() {
            return Err(Error::invalid_input(format_args!(
                "The digest is {} bytes; this algorithm signs a {}-byte digest.",
                digest.len(),
                hash.output_len()
            )));
        }
        Digest::import_less_safe(digest, hash).map_err(|_| failed("reading the digest"))
    }

    /// Signs a digest.
    pub fn sign(&self, alg: SignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        let digest = self.signing_digest(alg, digest)?;
        match alg.rsa_encoding() {
            Some(encoding) => {
                let pair = self.rsa()?;
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign_digest(encoding, &digest, &mut signature).map_err(|_| failed("signing"))?;
                Ok(signature)
            }
            None => Ok(self.ec()?.sign_digest(&digest).map_err(|_| failed("signing"))?.as_ref().to_vec()),
        }
    }

    /// Whether `signature` is this key's signature of `digest` under `alg`.
    pub fn verify(&self, alg: SignatureAlgorithm, digest: &[u8], signature: &[u8]) -> Result<bool> {
        let digest = self.signing_digest(alg, digest)?;
        let public = match self.material {
            Material::Ec(..) => self.ec()?.public_key().as_ref().to_vec(),
            _ => self.rsa()?.public_key().as_der().map_err(|_| failed("encoding the public key"))?.as_ref().to_vec(),
        };
        Ok(UnparsedPublicKey::new(alg.verification(), public).verify_digest(&digest, signature).is_ok())
    }

    /// Checks that `alg` suits this key for encryption (or for wrapping) and gives the AES key it needs.
    fn check(&self, alg: EncryptionAlgorithm, wrapping: bool) -> Result<Option<&[u8]>> {
        if !alg.suits(self.kty, wrapping) {
            let what = if wrapping { "wrapKey/unwrapKey" } else { "encrypt/decrypt" };
            return Err(Error::invalid_input(format_args!(
                "The algorithm {alg} cannot be used for {what} with a {} key.",
                self.kty.as_str()
            )));
        }
        match (&self.material, alg) {
            (Material::Aes(size, key), EncryptionAlgorithm::Aes(wanted, _)) if *size == wanted => Ok(Some(key)),
            (Material::Aes(size, _), _) => Err(Error::invalid_input(format_args!(
                "The algorithm {alg} needs a key of its own size; this key is {} bits.",
                size.bits()
            ))),
            _ => Ok(None),
        }
    }

    /// Encrypts `plaintext`: with the RSA public key, or with the AES key in the algorithm's mode.
    pub fn encrypt(&self, alg: EncryptionAlgorithm, plaintext: &[u8], input: &CipherInput<'_>) -> Result<Encrypted> {
        match (self.check(alg, false)?, alg) {
            (Some(key), EncryptionAlgorithm::Aes(_, mode)) => aes::encrypt(key, mode, plaintext, input),
            _ => Ok(Encrypted { value: self.rsa_encrypt(alg, plaintext)?, iv: None, tag: None }),
        }
    }

    /// Decrypts `ciphertext`: with the RSA private key, or with the AES key in the algorithm's mode.
    pub fn decrypt(
        &self,
        alg: EncryptionAlgorithm,
        ciphertext: &[u8],
        input: &CipherInput<'_>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        match (self.check(alg, false)?, alg) {
            (Some(key), EncryptionAlgorithm::Aes(_, mode)) => aes::decrypt(key, mode, ciphertext, input),
            _ => self.rsa_decrypt(alg, ciphertext),
        }
    }

    /// Wraps a key: with the RSA public key, or by AES key wrap.
    pub fn wrap(&self, alg: EncryptionAlgorithm, key: &[u8]) -> Result<Vec<u8>> {
        match self.check(alg, true)? {
            Some(kek) => aes::wrap(kek, key),
            None => self.rsa_encrypt(alg, key),
        }
    }

    /// Unwraps a key: with the RSA private key, or by AES key unwrap.
    pub fn unwrap_key(&self, alg: EncryptionAlgorithm, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        match self.check(alg, true)? {
            Some(kek) => aes::unwrap(kek, wrapped),
            None => self.rsa_decrypt(alg, wrapped),
        }
    }

    fn rsa_encrypt(&self, alg: EncryptionAlgorithm, plaintext: &[u8]) -> Result<Vec<u8>> {
        let Material::Rsa(der, _) = &self.material else {
            return Err(Error::invalid_input("This operation needs an RSA key."));
        };
        let public = PrivateDecryptingKey::from_pkcs8(der).map_err(|_| failed("reading the key"))?.public_key();
        let too_long = || Error::invalid_input("The plaintext is too long for this key and algorithm.");
        match rsa_oaep(alg) {
            None => {
                let key = Pkcs1PublicEncryptingKey::new(public).map_err(|_| failed("reading the key"))?;
                if plaintext.len() > key.max_plaintext_size() {
                    return Err(too_long());
                }
                let mut out = vec![0u8; key.ciphertext_size()];
                Ok(key.encrypt(plaintext, &mut out).map_err(|_| failed("encrypting"))?.to_vec())
            }
            Some(oaep) => {
                let key = OaepPublicEncryptingKey::new(public).map_err(|_| failed("reading the key"))?;
                if plaintext.len() > key.max_plaintext_size(oaep) {
                    return Err(too_long());
                }
                let mut out = vec![0u8; key.ciphertext_size()];
                Ok(key.encrypt(oaep, plaintext, &mut out, None).map_err(|_| failed("encrypting"))?.to_vec())
            }
        }
    }

    fn rsa_decrypt(&self, alg: EncryptionAlgorithm, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let Material::Rsa(der, _) = &self.material else {
            return Err(Error::invalid_input("This operation needs an RSA key."));
        };
        let private = PrivateDecryptingKey::from_pkcs8(der).map_err(|_| failed("reading the key"))?;
        let mut out = Zeroizing::new(vec![0u8; private.key_size_bytes()]);
        let len = match rsa_oaep(alg) {
            None => {
                let key = Pkcs1PrivateDecryptingKey::new(private).map_err(|_| failed("reading the key"))?;
                key.decrypt(ciphertext, &mut out).map_err(|_| undecryptable())?.len()
            }
            Some(oaep) => {
                let key = OaepPrivateDecryptingKey::new(private).map_err(|_| failed("reading the key"))?;
                key.decrypt(oaep, ciphertext, &mut out, None).map_err(|_| undecryptable())?.len()
            }
        };
        out.truncate(len);
        Ok(out)
    }
}

/// The OAEP parameters of an RSA algorithm; `None` for PKCS#1 v1.5.
fn rsa_oaep(alg: EncryptionAlgorithm) -> Option<&'static rsa::OaepAlgorithm> {
    match alg {
        EncryptionAlgorithm::RsaOaep => Some(&OAEP_SHA1_MGF1SHA1),
        EncryptionAlgorithm::RsaOaep256 => Some(&OAEP_SHA256_MGF1SHA256),
        _ => None,
    }
}

/// One answer for every ciphertext that does not decrypt, so that the failure says nothing about padding or tag.
fn undecryptable() -> Error {
    Error::invalid_input("The ciphertext could not be decrypted with this key and algorithm.")
}

/// AES in Key Vault's modes.
mod aes {
    use aes_kw::{KekAes128, KekAes192, KekAes256};
    use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
    use aws_lc_rs::cipher::{
        self, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, PaddedBlockDecryptingKey,
        PaddedBlockEncryptingKey, UnboundCipherKey,
    };
    use aws_lc_rs::iv::FixedLength;
    use zeroize::Zeroizing;

    use super::{AesMode, Encrypted, failed, undecryptable};
    use crate::error::{Error, Result};

    const GCM_IV_LEN: usize = 12;
    const GCM_TAG_LEN: usize = 16;
    const BLOCK_LEN: usize = 16;

    fn gcm_key(key: &[u8]) -> Result<LessSafeKey> {
        let algorithm = match key.len() {
            16 => &aead::AES_128_GCM,
            24 => &aead::AES_192_GCM,
            _ => &aead::AES_256_GCM,
        };
        Ok(LessSafeKey::new(UnboundKey::new(algorithm, key).map_err(|_| failed("reading the key"))?))
    }

    fn cipher_key(key: &[u8]) -> Result<UnboundCipherKey> {
        let algorithm = match key.len() {
            16 => &cipher::AES_128,
            24 => &cipher::AES_192,
            _ => &cipher::AES_256,
        };
        UnboundCipherKey::new(algorithm, key).map_err(|_| failed("reading the key"))
    }

    fn cbc_iv(iv: Option<&[u8]>) -> Result<FixedLength<BLOCK_LEN>> {
        let iv = iv.ok_or_else(|| Error::invalid_input("AES-CBC needs an initialisation vector 'iv'."))?;
        FixedLength::try_from(iv).map_err(|_| Error::invalid_input("The AES-CBC 'iv' is 16 bytes."))
    }

    pub(super) fn encrypt(
        key: &[u8],
        mode: AesMode,
        plaintext: &[u8],
        input: &super::CipherInput<'_>,
    ) -> Result<Encrypted> {
        match mode {
            AesMode::Gcm => {
                if input.iv.is_some() {
                    return Err(Error::invalid_input("AES-GCM makes its own initialisation vector; send no 'iv'."));
                }
                let mut iv = [0u8; GCM_IV_LEN];
                aws_lc_rs::rand::fill(&mut iv).map_err(|_| failed("making an IV"))?;
                let mut out = plaintext.to_vec();
                let tag = gcm_key(key)?
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(iv),
                        Aad::from(input.aad.unwrap_or_default()),
                        &mut out,
                    )
                    .map_err(|_| failed("encrypting"))?;
                Ok(Encrypted { value: out, iv: Some(iv.to_vec()), tag: Some(tag.as_ref().to_vec()) })
            }
            AesMode::Cbc | AesMode::CbcPad => {
                let iv = cbc_iv(input.iv)?;
                let iv_bytes = iv.as_ref().to_vec();
                let mut out = plaintext.to_vec();
                if mode == AesMode::Cbc {
                    if out.is_empty() || !out.len().is_multiple_of(BLOCK_LEN) {
                        return Err(Error::invalid_input(
                            "AES-CBC without padding encrypts whole 16-byte blocks; use CBCPAD for other lengths.",
                        ));
                    }
                    EncryptingKey::cbc(cipher_key(key)?)
                        .and_then(|k| k.less_safe_encrypt(&mut out, EncryptionContext::Iv128(iv)))
                        .map_err(|_| failed("encrypting"))?;
                } else {
                    PaddedBlockEncryptingKey::cbc_pkcs7(cipher_key(key)?)
                        .and_then(|k| k.less_safe_encrypt(&mut out, EncryptionContext::Iv128(iv)))
                        .map_err(|_| failed("encrypting"))?;
                }
                Ok(Encrypted { value: out, iv: Some(iv_bytes), tag: None })
            }
            AesMode::Kw => Err(failed("key wrap is not encryption")),
        }
    }

    pub(super) fn decrypt(
        key: &[u8],
        mode: AesMode,
        ciphertext: &[u8],
        input: &super::CipherInput<'_>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        match mode {
            AesMode::Gcm => {
                let iv = input.iv.ok_or_else(|| Error::invalid_input("AES-GCM decryption needs the 'iv'."))?;
                let nonce = Nonce::try_assume_unique_for_key(iv)
                    .map_err(|_| Error::invalid_input("The AES-GCM 'iv' is 12 bytes."))?;
                let tag = input.tag.ok_or_else(|| Error::invalid_input("AES-GCM decryption needs the 'tag'."))?;
                if tag.len() != GCM_TAG_LEN {
                    return Err(Error::invalid_input("The AES-GCM 'tag' is 16 bytes."));
                }
                let mut buffer = Zeroizing::new([ciphertext, tag].concat());
                let len = gcm_key(key)?
                    .open_in_place(nonce, Aad::from(input.aad.unwrap_or_default()), &mut buffer)
                    .map_err(|_| undecryptable())?
                    .len();
                buffer.truncate(len);
                Ok(buffer)
            }
            AesMode::Cbc | AesMode::CbcPad => {
                let iv = cbc_iv(input.iv)?;
                let mut buffer = Zeroizing::new(ciphertext.to_vec());
                if buffer.is_empty() || !buffer.len().is_multiple_of(BLOCK_LEN) {
                    return Err(undecryptable());
                }
                let len = if mode == AesMode::Cbc {
                    DecryptingKey::cbc(cipher_key(key)?)
                        .and_then(|k| k.decrypt(&mut buffer, DecryptionContext::Iv128(iv)).map(|plain| plain.len()))
                } else {
                    PaddedBlockDecryptingKey::cbc_pkcs7(cipher_key(key)?)
                        .and_then(|k| k.decrypt(&mut buffer, DecryptionContext::Iv128(iv)).map(|plain| plain.len()))
                }
                .map_err(|_| undecryptable())?;
                buffer.truncate(len);
                Ok(buffer)
            }
            AesMode::Kw => Err(failed("key unwrap is not decryption")),
        }
    }

    /// RFC 3394 key wrap: the key to wrap is a whole number of 8-byte blocks, at least two.
    pub(super) fn wrap(kek: &[u8], key: &[u8]) -> Result<Vec<u8>> {
        if key.len() < 16 || !key.len().is_multiple_of(8) {
            return Err(Error::invalid_input("AES key wrap wraps keys of 16 bytes or more, in 8-byte steps."));
        }
        let wrapped = match kek.len() {
            16 => KekAes128::try_from(kek).map_err(|_| failed("reading the key"))?.wrap_vec(key),
            24 => KekAes192::try_from(kek).map_err(|_| failed("reading the key"))?.wrap_vec(key),
            _ => KekAes256::try_from(kek).map_err(|_| failed("reading the key"))?.wrap_vec(key),
        };
        wrapped.map_err(|_| failed("wrapping"))
    }

    /// RFC 3394 key unwrap; the integrity check failing is a refusal like any undecryptable input.
    pub(super) fn unwrap(kek: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let unwrapped = match kek.len() {
            16 => KekAes128::try_from(kek).map_err(|_| failed("reading the key"))?.unwrap_vec(wrapped),
            24 => KekAes192::try_from(kek).map_err(|_| failed("reading the key"))?.unwrap_vec(wrapped),
            _ => KekAes256::try_from(kek).map_err(|_| failed("reading the key"))?.unwrap_vec(wrapped),
        };
        unwrapped.map(Zeroizing::new).map_err(|_| undecryptable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kty: KeyType, size: Option<u32>, curve: Option<Curve>) -> Result<PrivateKey> {
        PrivateKey::generate(&KeySpec { kty, size, public_exponent: None, curve })
    }

    #[test]
    fn rsa_keys_sign_digests_and_verify_them() -> Result<()> {
        let rsa = key(KeyType::Rsa, None, None)?;
        assert_eq!(rsa.size_bits()?, 2048);
        assert_eq!(rsa.public_jwk()?.e.as_deref(), Some("AQAB"));
        let digest = digest::digest(&digest::SHA256, b"message");
        for alg in [SignatureAlgorithm::Rs256, SignatureAlgorithm::Ps256] {
            let signature = rsa.sign(alg, digest.as_ref())?;
            assert_eq!(signature.len(), 256);
            assert!(rsa.verify(alg, digest.as_ref(), &signature)?);
            assert!(!rsa.verify(alg, &[0u8; 32], &signature)?);
        }
        assert!(rsa.sign(SignatureAlgorithm::Rs384, digest.as_ref()).is_err(), "a SHA-256 digest for RS384");
        assert!(rsa.sign(SignatureAlgorithm::Es256, digest.as_ref()).is_err(), "an EC algorithm on RSA");
        Ok(())
    }

    #[test]
    fn ec_keys_sign_with_their_curves_algorithm_in_raw_form() -> Result<()> {
        for (curve, alg, hash, len) in [
            (Curve::P256, SignatureAlgorithm::Es256, &digest::SHA256, 64),
            (Curve::P384, SignatureAlgorithm::Es384, &digest::SHA384, 96),
            (Curve::P521, SignatureAlgorithm::Es512, &digest::SHA512, 132),
            (Curve::P256K, SignatureAlgorithm::Es256K, &digest::SHA256, 64),
        ] {
            let ec = key(KeyType::Ec, None, Some(curve))?;
            let jwk = ec.public_jwk()?;
            assert_eq!(jwk.crv, Some(curve));
            let digest = digest::digest(hash, b"message");
            let signature = ec.sign(alg, digest.as_ref())?;
            assert_eq!(signature.len(), len, "{curve:?}");
            assert!(ec.verify(alg, digest.as_ref(), &signature)?);
            assert_eq!(PrivateKey::from_material(KeyType::Ec, Some(curve), ec.material())?.public_jwk()?, jwk);
        }
        let p256 = key(KeyType::Ec, None, Some(Curve::P256))?;
        let sha384 = digest::digest(&digest::SHA384, b"m");
        assert!(p256.sign(SignatureAlgorithm::Es384, sha384.as_ref()).is_err(), "ES384 on P-256");
        assert!(p256.encrypt(EncryptionAlgorithm::RsaOaep, b"x", &CipherInput::default()).is_err());
        Ok(())
    }

    #[test]
    fn rsa_encryption_round_trips_with_every_algorithm() -> Result<()> {
        let rsa = key(KeyType::RsaHsm, Some(3072), None)?;
        assert_eq!(rsa.kty().as_str(), "RSA-HSM");
        let none = CipherInput::default();
        for alg in [EncryptionAlgorithm::RsaOaep, EncryptionAlgorithm::RsaOaep256, EncryptionAlgorithm::Rsa15] {
            let ciphertext = rsa.encrypt(alg, b"plaintext", &none)?.value;
            assert_eq!(ciphertext.len(), 384);
            assert_eq!(rsa.decrypt(alg, &ciphertext, &none)?.as_slice(), b"plaintext");
            let wrapped = rsa.wrap(alg, &[9u8; 32])?;
            assert_eq!(rsa.unwrap_key(alg, &wrapped)?.as_slice(), &[9u8; 32]);
        }
        assert!(rsa.encrypt(EncryptionAlgorithm::RsaOaep256, &[0u8; 400], &none).is_err(), "too long");
        assert!(rsa.decrypt(EncryptionAlgorithm::RsaOaep, &[1u8; 384], &none).is_err());
        assert!(rsa.encrypt(EncryptionAlgorithm::parse("A256GCM")?, b"x", &none).is_err(), "AES with RSA");
        Ok(())
    }

    #[test]
    fn aes_keys_encrypt_in_every_mode_and_wrap_at_every_size() -> Result<()> {
        for bits in [128, 192, 256] {
            let aes = key(KeyType::OctHsm, Some(bits), None)?;
            assert_eq!(aes.size_bits()?, bits as usize);
            assert_eq!(aes.public_jwk()?, PublicJwk::default(), "nothing of an AES key is public");
            let gcm = EncryptionAlgorithm::parse(&format!("A{bits}GCM"))?;
            let sealed =
                aes.encrypt(gcm, b"plaintext", &CipherInput { aad: Some(b"context"), ..Default::default() })?;
            let (iv, tag) = (sealed.iv.clone().unwrap_or_default(), sealed.tag.clone().unwrap_or_default());
            assert_eq!((iv.len(), tag.len()), (12, 16));
            let opened = CipherInput { iv: Some(&iv), aad: Some(b"context"), tag: Some(&tag) };
            assert_eq!(aes.decrypt(gcm, &sealed.value, &opened)?.as_slice(), b"plaintext");
            let wrong_aad = CipherInput { aad: Some(b"other"), ..opened };
            assert!(aes.decrypt(gcm, &sealed.value, &wrong_aad).is_err(), "the tag covers the aad");

            let iv = [3u8; 16];
            let with_iv = CipherInput { iv: Some(&iv), ..Default::default() };
            let cbc = EncryptionAlgorithm::parse(&format!("A{bits}CBC"))?;
            let block = aes.encrypt(cbc, &[5u8; 32], &with_iv)?;
            assert_eq!(block.value.len(), 32);
            assert_eq!(aes.decrypt(cbc, &block.value, &with_iv)?.as_slice(), &[5u8; 32]);
            assert!(aes.encrypt(cbc, b"not a block", &with_iv).is_err());
            let cbcpad = EncryptionAlgorithm::parse(&format!("A{bits}CBCPAD"))?;
            let padded = aes.encrypt(cbcpad, b"eleven byte", &with_iv)?;
            assert_eq!(padded.value.len(), 16);
            assert_eq!(aes.decrypt(cbcpad, &padded.value, &with_iv)?.as_slice(), b"eleven byte");

            let kw = EncryptionAlgorithm::parse(&format!("A{bits}KW"))?;
            let wrapped = aes.wrap(kw, &[7u8; 32])?;
            assert_eq!(wrapped.len(), 40);
            assert_eq!(aes.unwrap_key(kw, &wrapped)?.as_slice(), &[7u8; 32]);
            assert!(aes.encrypt(kw, &[7u8; 32], &with_iv).is_err(), "KW is for wrapKey");
            assert!(aes.wrap(gcm, &[7u8; 32]).is_err(), "GCM is for encrypt");
            let restored = PrivateKey::from_material(KeyType::OctHsm, None, aes.material())?;
            assert_eq!(restored.unwrap_key(kw, &wrapped)?.as_slice(), &[7u8; 32]);
        }
        let aes128 = key(KeyType::Oct, Some(128), None)?;
        assert!(aes128.encrypt(EncryptionAlgorithm::parse("A256GCM")?, b"x", &CipherInput::default()).is_err());
        assert!(aes128.sign(SignatureAlgorithm::Rs256, &[0u8; 32]).is_err());
        Ok(())
    }

    #[test]
    fn rfc_3394_key_wrap_gives_the_published_answer() -> Result<()> {
        // RFC 3394 §4.1: 128 bits of key data wrapped with a 128-bit KEK.
        let kek: Vec<u8> = (0u8..16).collect();
        let data: Vec<u8> = (0u8..16).map(|i| i * 0x11).collect();
        let jwk = PrivateJwk { kty: "oct".into(), k: Some(URL_SAFE_NO_PAD.encode(&kek)), ..PrivateJwk::default() };
        let wrapped = PrivateKey::import(&jwk, false)?.wrap(EncryptionAlgorithm::parse("A128KW")?, &data)?;
        let expected = [
            0x1F, 0xA6, 0x8B, 0x0A, 0x81, 0x12, 0xB4, 0x47, 0xAE, 0xF3, 0x4B, 0xD8, 0xFB, 0x5A, 0x7B, 0x82, 0x9D, 0x3E,
            0x86, 0x23, 0x71, 0xD2, 0xCF, 0xE5,
        ];
        assert_eq!(wrapped, expected);
        Ok(())
    }

    #[test]
    fn algorithm_names_round_trip() -> Result<()> {
        for name in ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5", "A128GCM", "A192CBC", "A256CBCPAD", "A192KW"] {
            assert_eq!(EncryptionAlgorithm::parse(name)?.to_string(), name);
        }
        for bad in ["A512GCM", "A128", "A128XTS", "RSA-OAEP-384", "Aé12GCM"] {
            assert!(EncryptionAlgorithm::parse(bad).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn imports_refuse_inconsistent_or_incomplete_keys() -> Result<()> {
        let public = key(KeyType::Ec, None, Some(Curve::P256))?.public_jwk()?;
        // A private scalar that is not the point's.
        let mismatched = PrivateJwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: public.x.clone(),
            y: public.y.clone(),
            d: Some(URL_SAFE_NO_PAD.encode([7u8; 32])),
            ..PrivateJwk::default()
        };
        assert!(PrivateKey::import(&mismatched, false).is_err());
        let incomplete = PrivateJwk { kty: "RSA".into(), n: Some("AQAB".into()), ..PrivateJwk::default() };
        assert!(PrivateKey::import(&incomplete, true).is_err());
        Ok(())
    }

    #[test]
    fn bad_specifications_are_refused() {
        let spec = |kty, size, public_exponent, curve| KeySpec { kty, size, public_exponent, curve };
        assert!(PrivateKey::generate(&spec(KeyType::Rsa, Some(1024), None, None)).is_err());
        assert!(PrivateKey::generate(&spec(KeyType::Rsa, None, Some(3), None)).is_err());
        assert!(PrivateKey::generate(&spec(KeyType::Ec, Some(256), None, None)).is_err());
        assert!(PrivateKey::generate(&spec(KeyType::Oct, Some(512), None, None)).is_err());
        assert!(KeyType::parse("OKP").is_err() && Curve::parse("P-192").is_err());
        assert!(SignatureAlgorithm::parse("HS256").is_err());
    }

    #[test]
    fn an_exponent_of_zero_is_the_default() -> Result<()> {
        let key =
            PrivateKey::generate(&KeySpec { kty: KeyType::Rsa, size: None, public_exponent: Some(0), curve: None })?;
        assert_eq!(key.public_jwk()?.e.as_deref(), Some("AQAB"));
        Ok(())
    }
}
