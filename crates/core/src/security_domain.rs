//! A Managed HSM's security domain: its root secret, sealed so that a quorum of its operators' RSA keys brings it
//! back, in the format the Azure CLI's `az keyvault security-domain` commands write and read.
//!
//! **Download** (the HSM's side): a fresh 32-byte *master key* seals the root secret as one datum (a compact JWE,
//! `dir` + `A256CBC-HS512`, under a key derived from the master key by SP 800-108 counter-mode HMAC-SHA-512 with
//! the datum's tag as label). The master key is split byte by byte with Shamir's scheme over GF(257) into one
//! share per wrapping certificate, any `required` of which rebuild it; a share is the little-endian array of the
//! 16-bit words `x << 9 | y`, and each is sealed to its certificate (`RSA-OAEP-256` + `A256CBC-HS512`).
//!
//! **Restore** (the operators' side, what `az keyvault security-domain restore-blob` does): open `required`
//! shares with the private keys, rebuild the master key, open the data, seal them again under a new master key,
//! and wrap that master key to the HSM's transfer key.
//!
//! **Upload** (the HSM's side): unwrap the new master key with the transfer key's private key and open the root
//! secret. The blob carries no shares: the quorum was needed to open the data, which only the true master key does.

mod root;

use std::ops::RangeInclusive;

use aws_lc_rs::cipher::{
    AES_256, DecryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{self, SHA256};
use aws_lc_rs::hmac::{self, HMAC_SHA512};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::certificate::{Subject, thumbprint};
use crate::error::{Error, ErrorKind};
use crate::key::{EncryptionAlgorithm, KeySpec, KeyType, PrivateKey};

pub use self::root::HsmRoot;

/// How many wrapping certificates a download takes, as the CLI and Managed HSM allow.
pub const WRAPPING_CERTIFICATES: RangeInclusive<usize> = 3..=10;

/// The smallest quorum.
pub const MIN_QUORUM: usize = 2;

/// The smallest RSA modulus of a wrapping certificate, in bits.
const MIN_RSA_BITS: usize = 2048;

/// The tag of the datum that holds the root secret; the CLI carries tags through a restore unchanged.
const ROOT_SECRET_TAG: &str = "strongroom-hsm-root-secret";

/// The only key derivation and sharing scheme the CLI knows.
const KDF: &str = "sp108_kdf";
const SHARING: &str = "shamir_share";

/// RSA key transport and content encryption, as the CLI reads and writes them.
const KEY_TRANSPORT: &str = "RSA-OAEP-256";
const DIRECT: &str = "dir";
const CONTENT_ENCRYPTION: &str = "A256CBC-HS512";

const MASTER_KEY_LEN: usize = 32;
/// A256CBC-HS512's key: 32 bytes of HMAC key, then 32 bytes of AES key.
const CEK_LEN: usize = 64;
const MAC_KEY_LEN: usize = 32;
const AUTHENTICATION_TAG_LEN: usize = 32;
const AES_BLOCK_LEN: usize = 16;

/// GF(257): one more than a byte, so every byte is an element and a share's `y` needs nine bits.
const FIELD: u32 = 257;
/// Share numbers (`x`) fit the seven bits above `y`.
const MAX_SHARES: usize = 126;

/// Why a security domain could not be made or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityDomainError {
    /// The number of certificates or the quorum is out of range.
    #[error(
        "A security domain is split among 3 to 10 wrapping certificates with a quorum from 2 to their number \
         ({certificates} certificates and a quorum of {required} were given)."
    )]
    Quorum {
        /// Certificates given.
        certificates: usize,
        /// Quorum asked.
        required: usize,
    },
    /// A wrapping (or transfer) certificate cannot receive a share.
    #[error("Wrapping certificate {index}: {reason}")]
    Certificate {
        /// Its position, from 0.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Fewer shares than the quorum could be opened.
    #[error("{opened} shares of the security domain could be opened with the keys given; it needs {required}.")]
    NotEnoughShares {
        /// Shares opened.
        opened: usize,
        /// The quorum.
        required: usize,
    },
    /// The data is not a security domain (or restore blob) in the expected shape.
    #[error("The security domain data is malformed: {0}.")]
    Malformed(&'static str),
    /// The data was sealed to another key than the one opening it.
    #[error("The security domain data was not sealed to this key.")]
    WrongKey,
    /// The data failed its integrity check: changed, or opened with a key rebuilt from wrong shares.
    #[error("The security domain data failed its integrity check.")]
    Tampered,
    /// A cryptographic primitive failed (randomness, key generation).
    #[error("A cryptographic operation failed: {0}.")]
    Crypto(&'static str),
}

impl From<SecurityDomainError> for Error {
    fn from(error: SecurityDomainError) -> Self {
        let kind = match error {
            SecurityDomainError::Crypto(_) => ErrorKind::Crypto,
            _ => ErrorKind::InvalidInput,
        };
        Error::new(kind, error)
    }
}

type Result<T, E = SecurityDomainError> = std::result::Result<T, E>;

/// An X.509 certificate with an RSA key of 2048 bits or more, to which a share (or a transfer) is sealed.
#[derive(Debug, Clone)]
pub struct WrappingCertificate {
    der: Vec<u8>,
    public: PublicEncryptingKey,
}

impl WrappingCertificate {
    /// Reads a certificate (DER); `index` names it in an error.
    pub fn from_der(der: &[u8], index: usize) -> Result<Self> {
        let refused = |reason| SecurityDomainError::Certificate { index, reason };
        let (_, parsed) = x509_parser::parse_x509_certificate(der).map_err(|_| refused("it is not X.509 DER."))?;
        let public = PublicEncryptingKey::from_der(parsed.tbs_certificate.subject_pki.raw)
            .map_err(|_| refused("its key is not RSA."))?;
        if public.key_size_bits() < MIN_RSA_BITS {
            return Err(refused("its RSA key is shorter than 2048 bits."));
        }
        Ok(Self { der: der.to_vec(), public })
    }

    /// The DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The SHA-256 thumbprint, base64url, as the security domain names the certificate (`x5t_256`).
    pub fn thumbprint_sha256(&self) -> String {
        URL_SAFE_NO_PAD.encode(digest::digest(&SHA256, &self.der))
    }

    /// A compact JWE of `plaintext` whose content key is sealed to this certificate with RSA-OAEP-256.
    fn seal(&self, plaintext: &[u8]) -> Result<String> {
        let mut cek = Zeroizing::new([0u8; CEK_LEN]);
        random(cek.as_mut_slice())?;
        let oaep = OaepPublicEncryptingKey::new(self.public.clone())
            .map_err(|_| SecurityDomainError::Crypto("reading an RSA key"))?;
        let mut encrypted_key = vec![0u8; oaep.ciphertext_size()];
        let encrypted_key = oaep
            .encrypt(&OAEP_SHA256_MGF1SHA256, cek.as_slice(), &mut encrypted_key, None)
            .map_err(|_| SecurityDomainError::Crypto("RSA-OAEP encryption"))?;
        let header =
            Header { alg: KEY_TRANSPORT.into(), enc: CONTENT_ENCRYPTION.into(), kid: self.thumbprint_sha256() };
        seal(&header, encrypted_key, cek.as_slice(), plaintext)
    }
}

/// The key pair an HSM hands out before an upload, and the certificate the CLI wraps the restored master key
/// to. Its private key is kept sealed while the HSM waits for the upload.
#[derive(Debug, Clone)]
pub struct TransferKey {
    key: PrivateKey,
    certificate: WrappingCertificate,
}

impl TransferKey {
    /// A new RSA-2048 key with a self-signed certificate valid from `now` (Unix seconds) for a year.
    pub fn generate(now: i64) -> Result<Self, Error> {
        let key =
            PrivateKey::generate(&KeySpec { kty: KeyType::Rsa, size: Some(2048), public_exponent: None, curve: None })?;
        let subject = Subject {
            name: "CN=Strongroom security domain transfer key".into(),
            dns_names: Vec::new(),
            emails: Vec::new(),
            upns: Vec::new(),
            uris: Vec::new(),
            ips: Vec::new(),
            ekus: Vec::new(),
            key_usage: vec!["keyEncipherment".into()],
            validity_months: 12,
        };
        let der = subject.self_signed(&key, now)?;
        Ok(Self { certificate: WrappingCertificate::from_der(&der, 0)?, key })
    }

    /// The transfer key as stored: its private key's PKCS#8 DER and its certificate's DER.
    pub fn from_parts(pkcs8: &[u8], certificate: &[u8]) -> Result<Self, Error> {
        Ok(Self { key: PrivateKey::from_pkcs8(pkcs8)?, certificate: WrappingCertificate::from_der(certificate, 0)? })
    }

    /// The private key's PKCS#8 DER, to be sealed.
    pub fn pkcs8(&self) -> &[u8] {
        self.key.material()
    }

    /// The certificate.
    pub fn certificate(&self) -> &WrappingCertificate {
        &self.certificate
    }

    /// The public key as the JSON Web Key text Managed HSM returns in `transfer_key` (a string holding JSON,
    /// which the CLI parses again and from which it takes `x5c`).
    pub fn jwk(&self) -> Result<String, Error> {
        let public = self.key.public_jwk()?;
        let der = self.certificate.der();
        let jwk = serde_json::json!({
            "kid": "TransferKey",
            "kty": "RSA",
            "key_ops": ["wrapKey", "encrypt", "verify"],
            "n": public.n,
            "e": public.e,
            "x5c": [STANDARD.encode(der)],
            "x5t": thumbprint(der),
            "x5t#S256": self.certificate.thumbprint_sha256(),
            "alg": KEY_TRANSPORT,
        });
        Ok(jwk.to_string())
    }

    /// Opens a compact JWE whose content key was sealed to this key with RSA-OAEP-256.
    fn open(&self, compact: &str) -> Result<Zeroizing<Vec<u8>>> {
        open_sealed(compact, &self.key)
    }
}

/// The security domain file (`--security-domain-file`).
#[derive(Serialize, Deserialize)]
struct SecurityDomainFile {
    #[serde(rename = "EncData")]
    enc_data: EncData,
    #[serde(rename = "SharedKeys")]
    shared_keys: SharedKeys,
}

/// The sealed data and how their keys derive from the master key.
#[derive(Serialize, Deserialize)]
struct EncData {
    data: Vec<Datum>,
    kdf: String,
}

/// One sealed datum: a compact JWE and the tag its key is derived with.
#[derive(Serialize, Deserialize)]
struct Datum {
    compact_jwe: String,
    tag: String,
}

/// The master key's shares, each sealed to a wrapping certificate.
#[derive(Serialize, Deserialize)]
struct SharedKeys {
    enc_shares: Vec<SealedKey>,
    required: usize,
    key_algorithm: String,
}

/// A compact JWE sealed to the certificate with SHA-256 thumbprint `x5t_256`.
#[derive(Serialize, Deserialize)]
struct SealedKey {
    enc_key: String,
    x5t_256: String,
}

/// What the CLI uploads: the data sealed under a new master key, and that master key sealed to the transfer key.
#[derive(Serialize, Deserialize)]
struct RestoreBlob {
    #[serde(rename = "EncData")]
    enc_data: EncData,
    #[serde(rename = "WrappedKey")]
    wrapped_key: SealedKey,
}

/// The security domain of `root_secret`, split among `certificates` so that any `required` of their private
/// keys bring it back: the JSON the CLI saves.
pub fn download(root_secret: &[u8], certificates: &[WrappingCertificate], required: usize) -> Result<String> {
    check_quorum(certificates.len(), required)?;
    let count = certificates.len();
    let master_key = new_master_key()?;
    let enc_data = seal_data(&master_key, &[(ROOT_SECRET_TAG, root_secret)])?;
    let enc_shares = split(master_key.as_slice(), count, required)?
        .iter()
        .zip(certificates)
        .map(|(share, certificate)| {
            Ok(SealedKey { enc_key: certificate.seal(share)?, x5t_256: certificate.thumbprint_sha256() })
        })
        .collect::<Result<_>>()?;
    let file = SecurityDomainFile {
        enc_data,
        shared_keys: SharedKeys { enc_shares, required, key_algorithm: SHARING.into() },
    };
    serde_json::to_string(&file).map_err(|_| SecurityDomainError::Crypto("writing JSON"))
}

/// Checks that `certificates` wrapping certificates and a quorum of `required` make a security domain.
pub fn check_quorum(certificates: usize, required: usize) -> Result<()> {
    match WRAPPING_CERTIFICATES.contains(&certificates) && (MIN_QUORUM..=certificates).contains(&required) {
        true => Ok(()),
        false => Err(SecurityDomainError::Quorum { certificates, required }),
    }
}

/// The operators' side: opens `required` shares of `security_domain` with the wrapping keys given (a
/// certificate and its private key each), rebuilds the master key, and seals the data again for `transfer`: the
/// restore blob the CLI uploads.
pub fn restore_blob(
    security_domain: &str,
    wrapping_keys: &[(WrappingCertificate, PrivateKey)],
    transfer: &WrappingCertificate,
) -> Result<String> {
    let file: SecurityDomainFile =
        serde_json::from_str(security_domain).map_err(|_| SecurityDomainError::Malformed("not a security domain"))?;
    let shared = &file.shared_keys;
    if shared.key_algorithm != SHARING {
        return Err(SecurityDomainError::Malformed("the shares are not Shamir shares"));
    }
    if !(MIN_QUORUM..=*WRAPPING_CERTIFICATES.end()).contains(&shared.required) {
        return Err(SecurityDomainError::Malformed("the quorum is out of range"));
    }
    let mut shares = Vec::new();
    for (certificate, key) in wrapping_keys {
        let thumbprint = certificate.thumbprint_sha256();
        let Some(sealed) = shared.enc_shares.iter().find(|s| s.x5t_256 == thumbprint) else { continue };
        shares.push(open_sealed(&sealed.enc_key, key)?);
        if shares.len() == shared.required {
            break;
        }
    }
    let master_key = combine(&shares, shared.required)?;
    let data = open_data(&master_key, &file.enc_data)?;
    let new_master_key = new_master_key()?;
    let plain: Vec<(&str, &[u8])> = data.iter().map(|(tag, value)| (tag.as_str(), value.as_slice())).collect();
    let blob = RestoreBlob {
        enc_data: seal_data(&new_master_key, &plain)?,
        wrapped_key: SealedKey {
            enc_key: transfer.seal(new_master_key.as_slice())?,
            x5t_256: transfer.thumbprint_sha256(),
        },
    };
    serde_json::to_string(&blob).map_err(|_| SecurityDomainError::Crypto("writing JSON"))
}

/// The HSM's side of an upload: the root secret in the restore `blob`, which must be wrapped to `transfer_key`.
pub fn upload(blob: &str, transfer_key: &TransferKey) -> Result<Zeroizing<Vec<u8>>> {
    let blob: RestoreBlob =
        serde_json::from_str(blob).map_err(|_| SecurityDomainError::Malformed("not a security domain restore blob"))?;
    if blob.wrapped_key.x5t_256 != transfer_key.certificate.thumbprint_sha256() {
        return Err(SecurityDomainError::WrongKey);
    }
    let master_key = transfer_key.open(&blob.wrapped_key.enc_key)?;
    if master_key.len() != MASTER_KEY_LEN {
        return Err(SecurityDomainError::Malformed("the wrapped master key is not 32 bytes"));
    }
    open_data(&master_key, &blob.enc_data)?
        .into_iter()
        .find_map(|(tag, value)| (tag == ROOT_SECRET_TAG).then_some(value))
        .ok_or(SecurityDomainError::Malformed("it holds no Strongroom HSM root secret"))
}

/// A new HSM's root secret: 32 random bytes, made when its security domain is first downloaded.
pub fn new_root_secret() -> Result<Zeroizing<Vec<u8>>> {
    new_master_key()
}

fn new_master_key() -> Result<Zeroizing<Vec<u8>>> {
    let mut key = Zeroizing::new(vec![0u8; MASTER_KEY_LEN]);
    random(&mut key)?;
    Ok(key)
}

fn random(out: &mut [u8]) -> Result<()> {
    aws_lc_rs::rand::fill(out).map_err(|_| SecurityDomainError::Crypto("no randomness"))
}

/// Seals each `(tag, value)` under the key the master key derives for its tag.
fn seal_data(master_key: &[u8], data: &[(&str, &[u8])]) -> Result<EncData> {
    let data = data
        .iter()
        .map(|(tag, value)| {
            let header = Header { alg: DIRECT.into(), enc: CONTENT_ENCRYPTION.into(), kid: (*tag).into() };
            let key = derive_key(master_key, tag);
            Ok(Datum { compact_jwe: seal(&header, &[], &key, value)?, tag: (*tag).into() })
        })
        .collect::<Result<_>>()?;
    Ok(EncData { data, kdf: KDF.into() })
}

/// Opens every datum with the keys the master key derives; a wrong master key fails the integrity check.
fn open_data(master_key: &[u8], enc_data: &EncData) -> Result<Vec<(String, Zeroizing<Vec<u8>>)>> {
    if enc_data.kdf != KDF {
        return Err(SecurityDomainError::Malformed("the key derivation is not sp108_kdf"));
    }
    enc_data
        .data
        .iter()
        .map(|datum| {
            let jwe = Jwe::parse(&datum.compact_jwe)?;
            if jwe.header.alg != DIRECT {
                return Err(SecurityDomainError::Malformed("a datum is not sealed directly"));
            }
            Ok((datum.tag.clone(), jwe.open(&derive_key(master_key, &datum.tag))?))
        })
        .collect()
}

/// SP 800-108 in counter mode with HMAC-SHA-512, label `tag`, empty context, 512 bits: one HMAC block of
/// `[1]₃₂ ‖ tag ‖ 0x00 ‖ [512]₃₂`.
fn derive_key(master_key: &[u8], tag: &str) -> Zeroizing<Vec<u8>> {
    let mut input = Vec::with_capacity(tag.len() + 9);
    input.extend_from_slice(&1u32.to_be_bytes());
    input.extend_from_slice(tag.as_bytes());
    input.push(0);
    input.extend_from_slice(&512u32.to_be_bytes());
    Zeroizing::new(hmac::sign(&hmac::Key::new(HMAC_SHA512, master_key), &input).as_ref().to_vec())
}

/// A compact JWE's protected header, in the members the CLI writes.
#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    enc: String,
    #[serde(default)]
    kid: String,
}

/// A parsed compact JWE.
struct Jwe {
    encoded_header: String,
    header: Header,
    encrypted_key: Vec<u8>,
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
    tag: Vec<u8>,
}

/// Seals `plaintext` with A256CBC-HS512 under `cek` (RFC 7518 §5.2.5): a compact JWE carrying `encrypted_key`.
fn seal(header: &Header, encrypted_key: &[u8], cek: &[u8], plaintext: &[u8]) -> Result<String> {
    let encoded_header = URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(header).map_err(|_| SecurityDomainError::Crypto("writing a JWE header"))?);
    let (mac_key, aes_key) = split_cek(cek)?;
    let encrypting = UnboundCipherKey::new(&AES_256, aes_key)
        .and_then(PaddedBlockEncryptingKey::cbc_pkcs7)
        .map_err(|_| SecurityDomainError::Crypto("reading an AES key"))?;
    let mut ciphertext = plaintext.to_vec();
    let context = encrypting.encrypt(&mut ciphertext).map_err(|_| SecurityDomainError::Crypto("AES-CBC"))?;
    let DecryptionContext::Iv128(iv) = context else { return Err(SecurityDomainError::Crypto("AES-CBC")) };
    let iv = iv.as_ref().to_vec();
    let tag = authentication_tag(mac_key, &encoded_header, &iv, &ciphertext);
    let mut parts = vec![encoded_header];
    parts.extend([encrypted_key, &iv, &ciphertext, &tag].iter().map(|part| URL_SAFE_NO_PAD.encode(part)));
    Ok(parts.join("."))
}

/// Opens a compact JWE whose content key is sealed to `key` with RSA-OAEP-256.
fn open_sealed(compact: &str, key: &PrivateKey) -> Result<Zeroizing<Vec<u8>>> {
    let jwe = Jwe::parse(compact)?;
    if jwe.header.alg != KEY_TRANSPORT {
        return Err(SecurityDomainError::Malformed("a key is not sealed with RSA-OAEP-256"));
    }
    let cek = key
        .decrypt(EncryptionAlgorithm::RsaOaep256, &jwe.encrypted_key, &Default::default())
        .map_err(|_| SecurityDomainError::WrongKey)?;
    jwe.open(&cek)
}

fn split_cek(cek: &[u8]) -> Result<(&[u8], &[u8])> {
    if cek.len() != CEK_LEN {
        return Err(SecurityDomainError::WrongKey);
    }
    Ok(cek.split_at(MAC_KEY_LEN))
}

/// The first half of HMAC-SHA-512 over the header's text, the IV, the ciphertext and the header's length in bits.
fn authentication_tag(mac_key: &[u8], encoded_header: &str, iv: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let header_bits = (encoded_header.len() as u64).saturating_mul(8);
    let mut context = hmac::Context::with_key(&hmac::Key::new(HMAC_SHA512, mac_key));
    for part in [encoded_header.as_bytes(), iv, ciphertext, &header_bits.to_be_bytes()] {
        context.update(part);
    }
    context.sign().as_ref()[..AUTHENTICATION_TAG_LEN].to_vec()
}

impl Jwe {
    fn parse(compact: &str) -> Result<Self> {
        let malformed = || SecurityDomainError::Malformed("a compact JWE is not five base64url parts");
        let parts: Vec<&str> = compact.split('.').collect();
        let [encoded_header, encrypted_key, iv, ciphertext, tag] = parts.as_slice() else { return Err(malformed()) };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).map_err(|_| malformed());
        let header: Header = serde_json::from_slice(&decode(encoded_header)?)
            .map_err(|_| SecurityDomainError::Malformed("a JWE header is not JSON with alg and enc"))?;
        Ok(Self {
            encoded_header: (*encoded_header).to_owned(),
            header,
            encrypted_key: decode(encrypted_key)?,
            iv: decode(iv)?,
            ciphertext: decode(ciphertext)?,
            tag: decode(tag)?,
        })
    }

    /// The plaintext, once the tag is checked: A256CBC-HS512 only.
    fn open(&self, cek: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if self.header.enc != CONTENT_ENCRYPTION {
            return Err(SecurityDomainError::Malformed("the content encryption is not A256CBC-HS512"));
        }
        let (mac_key, aes_key) = split_cek(cek)?;
        let expected = authentication_tag(mac_key, &self.encoded_header, &self.iv, &self.ciphertext);
        verify_slices_are_equal(&expected, &self.tag).map_err(|_| SecurityDomainError::Tampered)?;
        let iv = FixedLength::<AES_BLOCK_LEN>::try_from(self.iv.as_slice())
            .map_err(|_| SecurityDomainError::Malformed("the IV is not 16 bytes"))?;
        let decrypting = UnboundCipherKey::new(&AES_256, aes_key)
            .and_then(PaddedBlockDecryptingKey::cbc_pkcs7)
            .map_err(|_| SecurityDomainError::Crypto("reading an AES key"))?;
        let mut buffer = Zeroizing::new(self.ciphertext.clone());
        let len = decrypting
            .decrypt(&mut buffer, DecryptionContext::Iv128(iv))
            .map_err(|_| SecurityDomainError::Tampered)?
            .len();
        buffer.truncate(len);
        Ok(buffer)
    }
}

/// Shamir's scheme over GF(257), byte by byte: `shares` arrays of little-endian words `x << 9 | y`, share `x`
/// being the value at `x` of a random polynomial of degree `required - 1` whose constant term is the byte.
fn split(secret: &[u8], shares: usize, required: usize) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    if shares > MAX_SHARES || required < MIN_QUORUM || required > shares {
        return Err(SecurityDomainError::Quorum { certificates: shares, required });
    }
    let mut out = vec![Zeroizing::new(Vec::with_capacity(secret.len() * 2)); shares];
    let mut coefficients = Zeroizing::new(vec![0u32; required]);
    for &byte in secret {
        coefficients[0] = u32::from(byte);
        for coefficient in &mut coefficients[1..] {
            *coefficient = random_element()?;
        }
        for (x, share) in (1u32..).zip(out.iter_mut()) {
            let y = coefficients.iter().rev().fold(0, |acc, c| (acc * x + c) % FIELD);
            let word = u16::try_from(x << 9 | y).map_err(|_| SecurityDomainError::Crypto("share arithmetic"))?;
            share.extend_from_slice(&word.to_le_bytes());
        }
    }
    Ok(out)
}

/// A uniform element of GF(257): 65535 = 255 × 257, so a 16-bit draw below it reduces without bias.
fn random_element() -> Result<u32> {
    loop {
        let mut draw = [0u8; 2];
        random(&mut draw)?;
        let draw = u32::from(u16::from_le_bytes(draw));
        if draw < 255 * FIELD {
            return Ok(draw % FIELD);
        }
    }
}

/// The secret `required` of the shares rebuild by Lagrange interpolation at 0; fewer are refused.
fn combine(shares: &[Zeroizing<Vec<u8>>], required: usize) -> Result<Zeroizing<Vec<u8>>> {
    if shares.len() < required {
        return Err(SecurityDomainError::NotEnoughShares { opened: shares.len(), required });
    }
    let malformed = SecurityDomainError::Malformed;
    let shares = &shares[..required];
    let len = shares.first().map_or(0, |s| s.len());
    if len == 0 || !len.is_multiple_of(2) || shares.iter().any(|s| s.len() != len) {
        return Err(malformed("the shares are not word arrays of one length"));
    }
    let word = |share: &[u8], i: usize| u32::from(u16::from_le_bytes([share[2 * i], share[2 * i + 1]]));
    let xs: Vec<u32> = shares.iter().map(|s| word(s, 0) >> 9).collect();
    if xs.iter().enumerate().any(|(i, x)| *x == 0 || xs[..i].contains(x)) {
        return Err(malformed("the shares' numbers are not distinct"));
    }
    // The Lagrange basis at 0 depends on the x alone: ∏ xⱼ / (xⱼ − xᵢ) over j ≠ i.
    let basis: Vec<u32> = xs
        .iter()
        .map(|&xi| {
            let (numerator, denominator) = xs
                .iter()
                .filter(|&&xj| xj != xi)
                .fold((1, 1), |(n, d), &xj| (n * xj % FIELD, d * ((xj + FIELD - xi) % FIELD) % FIELD));
            numerator * inverse(denominator) % FIELD
        })
        .collect();
    let mut secret = Zeroizing::new(Vec::with_capacity(len / 2));
    for i in 0..len / 2 {
        let mut byte = 0;
        for ((share, &x), &b) in shares.iter().zip(&xs).zip(&basis) {
            let w = word(share, i);
            if w >> 9 != x || w & 0x1ff >= FIELD {
                return Err(malformed("a share's words disagree"));
            }
            byte = (byte + b * (w & 0x1ff)) % FIELD;
        }
        secret.push(u8::try_from(byte).map_err(|_| SecurityDomainError::Tampered)?);
    }
    Ok(secret)
}

/// The inverse in GF(257), by Fermat: a²⁵⁵.
fn inverse(a: u32) -> u32 {
    (0..FIELD - 2).fold(1, |acc, _| acc * a % FIELD)
}

#[cfg(test)]
mod tests;
