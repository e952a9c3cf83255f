//! Keys: RSA and elliptic-curve key material and the cryptographic operations Key Vault performs with it,
//! all done by aws-lc-rs. Private material leaves this module only as PKCS#8 DER, to be sealed by the store;
//! what clients see is the public JWK.
//!
//! Key Vault signs and verifies a digest the client computed, so the digest's length is checked against the
//! algorithm's hash; elliptic-curve signatures are the raw `r‖s` of JOSE, not DER.

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    self, KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
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
}

impl KeyType {
    /// The JWK name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::RsaHsm => "RSA-HSM",
            KeyType::Ec => "EC",
            KeyType::EcHsm => "EC-HSM",
        }
    }

    /// The type named `text`.
    pub fn parse(text: &str) -> Result<Self> {
        [KeyType::Rsa, KeyType::RsaHsm, KeyType::Ec, KeyType::EcHsm]
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| {
                Error::invalid_input(format_args!(
                    "The key type '{text}' is not supported: use RSA, RSA-HSM, EC or EC-HSM."
                ))
            })
    }

    fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa | KeyType::RsaHsm)
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
    /// RSA modulus bits (2048, 3072, 4096; default 2048).
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
    /// `RSA`, `RSA-HSM`, `EC`, `EC-HSM`.
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

/// An RSA encryption (and key-wrapping) algorithm of Key Vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptionAlgorithm {
    /// RSAES-OAEP with SHA-1 (legacy, still Key Vault's most used).
    RsaOaep,
    /// RSAES-OAEP with SHA-256.
    RsaOaep256,
    /// RSAES-PKCS1-v1_5 (legacy).
    Rsa15,
}

impl EncryptionAlgorithm {
    /// The algorithm named `text`.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "RSA-OAEP" => Ok(EncryptionAlgorithm::RsaOaep),
            "RSA-OAEP-256" => Ok(EncryptionAlgorithm::RsaOaep256),
            "RSA1_5" => Ok(EncryptionAlgorithm::Rsa15),
            _ => Err(Error::invalid_input(format_args!(
                "'{text}' is not a supported encryption algorithm for this key: use RSA-OAEP, RSA-OAEP-256 or RSA1_5."
            ))),
        }
    }
}

/// A private key: its type and curve, and its PKCS#8 DER (zeroed when dropped).
#[derive(Clone)]
pub struct PrivateKey {
    kty: KeyType,
    curve: Option<Curve>,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey").field("kty", &self.kty).field("curve", &self.curve).finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn failed(what: &str) -> Error {
    Error::invalid_input(format_args!("The key operation failed: {what}."))
}

impl PrivateKey {
    /// Generates a key as `spec` says.
    pub fn generate(spec: &KeySpec) -> Result<Self> {
        if spec.kty.is_rsa() {
            if spec.curve.is_some() {
                return Err(Error::invalid_input("An RSA key has no curve."));
            }
            if spec.public_exponent.is_some_and(|e| e != 65537) {
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
            let der = pair.as_der().map_err(|_| failed("encoding an RSA key"))?;
            return Ok(Self { kty: spec.kty, curve: None, pkcs8: Zeroizing::new(der.as_ref().to_vec()) });
        }
        if spec.size.is_some() || spec.public_exponent.is_some() {
            return Err(Error::invalid_input("An EC key has a curve, not a size or exponent."));
        }
        let curve = spec.curve.unwrap_or(Curve::P256);
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(curve.signing(), &aws_lc_rs::rand::SystemRandom::new())
            .map_err(|_| failed("generating an EC key"))?;
        Ok(Self { kty: spec.kty, curve: Some(curve), pkcs8: Zeroizing::new(pkcs8.as_ref().to_vec()) })
    }

    /// A key from an imported JWK with its private members; `hsm` asks for the `-HSM` type.
    pub fn import(jwk: &PrivateJwk, hsm: bool) -> Result<Self> {
        let kty = KeyType::parse(&jwk.kty)?;
        let rejected = |what: &str| Error::invalid_input(format_args!("The imported {what} key is not valid."));
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
            let der = pair.as_der().map_err(|_| rejected("RSA"))?;
            let kty = if hsm { KeyType::RsaHsm } else { kty };
            return Ok(Self { kty, curve: None, pkcs8: Zeroizing::new(der.as_ref().to_vec()) });
        }
        let curve = Curve::parse(jwk.crv.as_deref().unwrap_or_default())?;
        let mut point = vec![4u8];
        point.extend_from_slice(&member(&jwk.x, "x")?);
        point.extend_from_slice(&member(&jwk.y, "y")?);
        let pair = EcdsaKeyPair::from_private_key_and_public_key(curve.signing(), &member(&jwk.d, "d")?, &point)
            .map_err(|_| rejected("EC"))?;
        let der = pair.to_pkcs8v1().map_err(|_| rejected("EC"))?;
        let kty = if hsm { KeyType::EcHsm } else { kty };
        Ok(Self { kty, curve: Some(curve), pkcs8: Zeroizing::new(der.as_ref().to_vec()) })
    }

    /// A key as stored: type, curve and PKCS#8 DER, checked.
    pub fn from_pkcs8(kty: KeyType, curve: Option<Curve>, pkcs8: &[u8]) -> Result<Self> {
        let key = Self { kty, curve, pkcs8: Zeroizing::new(pkcs8.to_vec()) };
        match key.curve {
            None => key.rsa().map(drop)?,
            Some(_) => key.ec().map(drop)?,
        }
        Ok(key)
    }

    /// The PKCS#8 DER, to be sealed.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The type.
    pub fn kty(&self) -> KeyType {
        self.kty
    }

    /// The curve of an EC key.
    pub fn curve(&self) -> Option<Curve> {
        self.curve
    }

    fn rsa(&self) -> Result<rsa::KeyPair> {
        rsa::KeyPair::from_pkcs8(&self.pkcs8).map_err(|_| Error::invalid_input("stored RSA key material is unreadable"))
    }

    fn ec(&self) -> Result<EcdsaKeyPair> {
        let curve = self.curve.ok_or_else(|| Error::invalid_input("an EC key needs a curve"))?;
        EcdsaKeyPair::from_pkcs8(curve.signing(), &self.pkcs8)
            .map_err(|_| Error::invalid_input("stored EC key material is unreadable"))
    }

    /// The RSA modulus size in bits, or the curve's order size for EC keys.
    pub fn size_bits(&self) -> Result<usize> {
        match self.curve {
            None => Ok(self.rsa()?.public_modulus_len() * 8),
            Some(curve) => Ok(curve.coordinate_len() * 8),
        }
    }

    /// The public JWK members.
    pub fn public_jwk(&self) -> Result<PublicJwk> {
        match self.curve {
            None => {
                let pair = self.rsa()?;
                let public = pair.public_key();
                Ok(PublicJwk {
                    n: Some(b64(public.modulus().big_endian_without_leading_zero())),
                    e: Some(b64(public.exponent().big_endian_without_leading_zero())),
                    ..PublicJwk::default()
                })
            }
            Some(curve) => {
                let pair = self.ec()?;
                // An uncompressed point: 0x04 ‖ x ‖ y.
                let point = pair.public_key().as_ref();
                let len = curve.coordinate_len();
                if point.len() != 1 + 2 * len {
                    return Err(failed("reading the public point"));
                }
                Ok(PublicJwk {
                    crv: Some(curve),
                    x: Some(b64(&point[1..=len])),
                    y: Some(b64(&point[1 + len..])),
                    ..PublicJwk::default()
                })
            }
        }
    }

    /// Checks that `alg` suits this key and `digest` has its hash's length.
    fn signing_digest(&self, alg: SignatureAlgorithm, digest: &[u8]) -> Result<Digest> {
        if alg.curve() != self.curve {
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
        let public = match self.curve {
            None => self.rsa()?.public_key().as_der().map_err(|_| failed("encoding the public key"))?.as_ref().to_vec(),
            Some(_) => self.ec()?.public_key().as_ref().to_vec(),
        };
        Ok(UnparsedPublicKey::new(alg.verification(), public).verify_digest(&digest, signature).is_ok())
    }

    fn rsa_public(&self) -> Result<PublicEncryptingKey> {
        if self.curve.is_some() {
            return Err(Error::invalid_input("An EC key cannot encrypt; use an RSA key."));
        }
        let decrypting = PrivateDecryptingKey::from_pkcs8(&self.pkcs8).map_err(|_| failed("reading the key"))?;
        Ok(decrypting.public_key())
    }

    /// Encrypts (or wraps) `plaintext` with the public key.
    pub fn encrypt(&self, alg: EncryptionAlgorithm, plaintext: &[u8]) -> Result<Vec<u8>> {
        let public = self.rsa_public()?;
        let too_long = || Error::invalid_input("The plaintext is too long for this key and algorithm.");
        match alg {
            EncryptionAlgorithm::Rsa15 => {
                let key = Pkcs1PublicEncryptingKey::new(public).map_err(|_| failed("reading the key"))?;
                if plaintext.len() > key.max_plaintext_size() {
                    return Err(too_long());
                }
                let mut out = vec![0u8; key.ciphertext_size()];
                Ok(key.encrypt(plaintext, &mut out).map_err(|_| failed("encrypting"))?.to_vec())
            }
            EncryptionAlgorithm::RsaOaep | EncryptionAlgorithm::RsaOaep256 => {
                let oaep =
                    if alg == EncryptionAlgorithm::RsaOaep { &OAEP_SHA1_MGF1SHA1 } else { &OAEP_SHA256_MGF1SHA256 };
                let key = OaepPublicEncryptingKey::new(public).map_err(|_| failed("reading the key"))?;
                if plaintext.len() > key.max_plaintext_size(oaep) {
                    return Err(too_long());
                }
                let mut out = vec![0u8; key.ciphertext_size()];
                Ok(key.encrypt(oaep, plaintext, &mut out, None).map_err(|_| failed("encrypting"))?.to_vec())
            }
        }
    }

    /// Decrypts (or unwraps) `ciphertext` with the private key.
    pub fn decrypt(&self, alg: EncryptionAlgorithm, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if self.curve.is_some() {
            return Err(Error::invalid_input("An EC key cannot decrypt; use an RSA key."));
        }
        let private = PrivateDecryptingKey::from_pkcs8(&self.pkcs8).map_err(|_| failed("reading the key"))?;
        let mut out = Zeroizing::new(vec![0u8; private.key_size_bytes()]);
        // One answer for every malformed ciphertext, so that the failure says nothing about the padding.
        let refused = || Error::invalid_input("The ciphertext could not be decrypted with this key and algorithm.");
        let len = match alg {
            EncryptionAlgorithm::Rsa15 => {
                let key = Pkcs1PrivateDecryptingKey::new(private).map_err(|_| failed("reading the key"))?;
                key.decrypt(ciphertext, &mut out).map_err(|_| refused())?.len()
            }
            EncryptionAlgorithm::RsaOaep | EncryptionAlgorithm::RsaOaep256 => {
                let oaep =
                    if alg == EncryptionAlgorithm::RsaOaep { &OAEP_SHA1_MGF1SHA1 } else { &OAEP_SHA256_MGF1SHA256 };
                let key = OaepPrivateDecryptingKey::new(private).map_err(|_| failed("reading the key"))?;
                key.decrypt(oaep, ciphertext, &mut out, None).map_err(|_| refused())?.len()
            }
        };
        out.truncate(len);
        Ok(out)
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
            assert_eq!(PrivateKey::from_pkcs8(KeyType::Ec, Some(curve), ec.pkcs8())?.public_jwk()?, jwk);
        }
        let p256 = key(KeyType::Ec, None, Some(Curve::P256))?;
        let sha384 = digest::digest(&digest::SHA384, b"m");
        assert!(p256.sign(SignatureAlgorithm::Es384, sha384.as_ref()).is_err(), "ES384 on P-256");
        assert!(p256.encrypt(EncryptionAlgorithm::RsaOaep, b"x").is_err());
        Ok(())
    }

    #[test]
    fn rsa_encryption_round_trips_with_every_algorithm() -> Result<()> {
        let rsa = key(KeyType::RsaHsm, Some(3072), None)?;
        assert_eq!(rsa.kty().as_str(), "RSA-HSM");
        for alg in [EncryptionAlgorithm::RsaOaep, EncryptionAlgorithm::RsaOaep256, EncryptionAlgorithm::Rsa15] {
            let ciphertext = rsa.encrypt(alg, b"plaintext")?;
            assert_eq!(ciphertext.len(), 384);
            assert_eq!(rsa.decrypt(alg, &ciphertext)?.as_slice(), b"plaintext");
        }
        assert!(rsa.encrypt(EncryptionAlgorithm::RsaOaep256, &[0u8; 400]).is_err(), "too long");
        assert!(rsa.decrypt(EncryptionAlgorithm::RsaOaep, &[1u8; 384]).is_err());
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
        assert!(KeyType::parse("oct").is_err() && Curve::parse("P-192").is_err());
        assert!(SignatureAlgorithm::parse("HS256").is_err());
    }
}
