//! Keys: RSA, elliptic-curve and AES (`oct`) key material and the cryptographic operations Key Vault performs
//! with it, all done by aws-lc-rs except AES key wrap at every key size, which the RustCrypto `aes-kw` crate
//! does (aws-lc-rs has no 192-bit key wrap). Private material leaves this module only as PKCS#8 DER (or the raw
//! AES key), to be sealed by the store; what clients see is the public JWK, and of an AES key nothing.
//!
//! Key Vault signs and verifies a digest the client computed, so the digest's length is checked against the
//! algorithm's hash; elliptic-curve signatures are the raw `r‖s` of JOSE, not DER.

use aws_lc_rs::digest::Digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    self, KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey, PrivateDecryptingKey,
};
use aws_lc_rs::signature::{self, EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

mod algorithm;

use algorithm::SIGNATURE_ALGORITHMS;
pub use algorithm::{AesKeySize, AesMode, EncryptionAlgorithm, SignatureAlgorithm};

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

    /// Whether the type is one of the `-HSM` types, which only a premium vault may hold.
    pub fn is_hsm(self) -> bool {
        matches!(self, KeyType::RsaHsm | KeyType::EcHsm | KeyType::OctHsm)
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
mod aes;

#[cfg(test)]
mod tests;
