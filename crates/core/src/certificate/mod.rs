//! Certificates: what a certificate policy asks an issued certificate to say, the self-signed issuance that
//! honours it (rcgen, signing with the certificate's own key), and the forms its secret takes — PKCS#12
//! (p12-keystore) or PEM. The rules of Key Vault's certificate objects live in the submodules: the policy
//! ([`policy`]), its lifetime actions ([`lifetime`]), issuance and pending requests ([`issuance`]), and the
//! vault's issuers and contacts ([`issuer`]).

pub mod issuance;
pub mod issuer;
pub mod lifetime;
pub mod policy;

use std::net::IpAddr;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, OtherNameValue, SanType, SerialNumber,
};
use rustls_pki_types::PrivatePkcs8KeyDer;
use time::OffsetDateTime;

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::key::{Curve, KeySpec, KeyType, PrivateKey};

/// The content type of a secret holding a PKCS#12 file.
pub const PKCS12: &str = "application/x-pkcs12";
/// The content type of a secret holding PEM (private key, then certificates).
pub const PEM: &str = "application/x-pem-file";

/// The user principal name `otherName` (Microsoft, 1.3.6.1.4.1.311.20.2.3).
const UPN_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 20, 2, 3];

/// A key usage, as Key Vault names it.
const KEY_USAGES: [(&str, KeyUsagePurpose); 9] = [
    ("digitalSignature", KeyUsagePurpose::DigitalSignature),
    ("nonRepudiation", KeyUsagePurpose::ContentCommitment),
    ("keyEncipherment", KeyUsagePurpose::KeyEncipherment),
    ("dataEncipherment", KeyUsagePurpose::DataEncipherment),
    ("keyAgreement", KeyUsagePurpose::KeyAgreement),
    ("keyCertSign", KeyUsagePurpose::KeyCertSign),
    ("cRLSign", KeyUsagePurpose::CrlSign),
    ("encipherOnly", KeyUsagePurpose::EncipherOnly),
    ("decipherOnly", KeyUsagePurpose::DecipherOnly),
];

/// What an issued certificate says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// The subject, an X.500 name: `CN=example, O=Contoso, C=US`.
    pub name: String,
    /// DNS names.
    pub dns_names: Vec<String>,
    /// E-mail addresses.
    pub emails: Vec<String>,
    /// User principal names.
    pub upns: Vec<String>,
    /// URIs.
    pub uris: Vec<String>,
    /// IP addresses.
    pub ips: Vec<IpAddr>,
    /// Extended key usage OIDs, dotted.
    pub ekus: Vec<String>,
    /// Key usages, as Key Vault names them.
    pub key_usage: Vec<String>,
    /// Months of validity, 1..=1200.
    pub validity_months: u32,
}

fn invalid(what: impl std::fmt::Display) -> Error {
    Error::invalid_input(format_args!("{what}"))
}

/// An X.500 name from its text: `KEY=value` pairs separated by commas (or semicolons), `\,` for a comma in a
/// value.
fn distinguished_name(text: &str) -> Result<DistinguishedName> {
    let mut name = DistinguishedName::new();
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ',' | ';' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let (key, value) =
            part.split_once('=').ok_or_else(|| invalid(format_args!("The subject part '{part}' is not KEY=value.")))?;
        let kind = match key.trim().to_ascii_uppercase().as_str() {
            "CN" => DnType::CommonName,
            "O" => DnType::OrganizationName,
            "OU" => DnType::OrganizationalUnitName,
            "L" => DnType::LocalityName,
            "ST" | "S" => DnType::StateOrProvinceName,
            "C" => DnType::CountryName,
            "E" | "EMAIL" => DnType::CustomDnType(vec![1, 2, 840, 113_549, 1, 9, 1]),
            "DC" => DnType::CustomDnType(vec![0, 9, 2342, 19_200_300, 100, 1, 25]),
            other => return Err(invalid(format_args!("The subject attribute '{other}' is not supported."))),
        };
        name.push(kind, value.trim());
    }
    Ok(name)
}

fn oid(text: &str) -> Result<Vec<u64>> {
    let arcs: Option<Vec<u64>> = text.split('.').map(|arc| arc.parse().ok()).collect();
    arcs.filter(|a| a.len() >= 2).ok_or_else(|| invalid(format_args!("'{text}' is not an OID.")))
}

fn ia5(text: &str) -> Result<rcgen::string::Ia5String> {
    rcgen::string::Ia5String::try_from(text).map_err(|_| invalid(format_args!("'{text}' is not ASCII.")))
}

/// `start` plus `months` calendar months, at the same time of day: a 12-month certificate lasts a year. A day
/// the later month lacks is clamped to its last day (January 31 plus one month is February 28, or 29 in a
/// leap year), as .NET's `AddMonths` does, which is how Key Vault counts `validity_months`.
fn add_calendar_months(start: OffsetDateTime, months: u32) -> Option<OffsetDateTime> {
    let index = u32::from(u8::from(start.month())) - 1 + months;
    let year = start.year().checked_add(i32::try_from(index / 12).ok()?)?;
    let month = time::Month::try_from(u8::try_from(index % 12 + 1).ok()?).ok()?;
    let day = start.day().min(month.length(year));
    Some(start.replace_date(time::Date::from_calendar_date(year, month, day).ok()?))
}

impl Subject {
    /// Checks what can be checked without issuing.
    pub fn validate(&self) -> Result<()> {
        if !(1..=1200).contains(&self.validity_months) {
            return Err(invalid("validity_months is 1 to 1200."));
        }
        self.params(0).map(drop)
    }

    fn params(&self, now: i64) -> Result<CertificateParams> {
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(&self.name)?;
        for dns in &self.dns_names {
            params.subject_alt_names.push(SanType::DnsName(ia5(dns)?));
        }
        for email in &self.emails {
            params.subject_alt_names.push(SanType::Rfc822Name(ia5(email)?));
        }
        for uri in &self.uris {
            params.subject_alt_names.push(SanType::URI(ia5(uri)?));
        }
        for ip in &self.ips {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        for upn in &self.upns {
            params
                .subject_alt_names
                .push(SanType::OtherName((UPN_OID.to_vec(), OtherNameValue::Utf8String(upn.clone()))));
        }
        for eku in &self.ekus {
            params.extended_key_usages.push(match eku.as_str() {
                "1.3.6.1.5.5.7.3.1" => ExtendedKeyUsagePurpose::ServerAuth,
                "1.3.6.1.5.5.7.3.2" => ExtendedKeyUsagePurpose::ClientAuth,
                "1.3.6.1.5.5.7.3.3" => ExtendedKeyUsagePurpose::CodeSigning,
                "1.3.6.1.5.5.7.3.4" => ExtendedKeyUsagePurpose::EmailProtection,
                "1.3.6.1.5.5.7.3.8" => ExtendedKeyUsagePurpose::TimeStamping,
                "1.3.6.1.5.5.7.3.9" => ExtendedKeyUsagePurpose::OcspSigning,
                other => ExtendedKeyUsagePurpose::Other(oid(other)?),
            });
        }
        for usage in &self.key_usage {
            let purpose = KEY_USAGES
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(usage))
                .map(|(_, purpose)| *purpose)
                .ok_or_else(|| invalid(format_args!("'{usage}' is not a key usage.")))?;
            params.key_usages.push(purpose);
        }
        let start = OffsetDateTime::from_unix_timestamp(now).map_err(|_| invalid("the clock is out of range"))?;
        params.not_before = start;
        params.not_after =
            add_calendar_months(start, self.validity_months).ok_or_else(|| invalid("the validity is out of range"))?;
        let mut serial = [0u8; 16];
        aws_lc_rs::rand::fill(&mut serial).map_err(|_| invalid("no randomness for a serial number"))?;
        serial[0] &= 0x7f;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        Ok(params)
    }

    /// A certificate for `key` that `key` signs itself, valid from `now` for the policy's months: DER.
    pub fn self_signed(&self, key: &PrivateKey, now: i64) -> Result<Vec<u8>> {
        let params = self.params(now)?;
        let pair = signing_pair(key)?;
        let certificate = params.self_signed(&pair).map_err(|e| invalid(format_args!("issuing failed: {e}")))?;
        Ok(certificate.der().to_vec())
    }

    /// A certificate for `key` signed by `issuer` (a CA), valid from `now` for the policy's months: DER.
    pub fn signed_by(
        &self,
        key: &PrivateKey,
        issuer: &rcgen::Issuer<'_, impl rcgen::SigningKey>,
        now: i64,
    ) -> Result<Vec<u8>> {
        let params = self.params(now)?;
        let pair = signing_pair(key)?;
        let certificate = params.signed_by(&pair, issuer).map_err(|e| invalid(format_args!("issuing failed: {e}")))?;
        Ok(certificate.der().to_vec())
    }

    /// A certificate signing request for `key`: DER.
    pub fn signing_request(&self, key: &PrivateKey) -> Result<Vec<u8>> {
        // A request names no serial number: the issuer chooses it.
        let mut params = self.params(0)?;
        params.serial_number = None;
        let pair = signing_pair(key)?;
        let request = params.serialize_request(&pair).map_err(|e| invalid(format_args!("a CSR failed: {e}")))?;
        Ok(request.der().to_vec())
    }
}

/// rcgen's view of one of our keys, with the signature algorithm its type implies.
/// What a tenant's certificate authority may put in a certificate: DNS names under the tenant's domains only,
/// and never a name the server itself answers to — so that no vault role holder can mint a certificate for the
/// token service, a vault, or a name the operator did not give the tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssuingRules {
    /// The DNS domains (each with its subdomains) certificates may name, lower-case.
    pub domains: Vec<String>,
    /// Host names the server answers to (its authority host, `localhost`): no certificate may cover one.
    pub server_hosts: Vec<String>,
    /// Domains whose every name is the server's (the vault domains): no certificate may name one of them.
    pub server_domains: Vec<String>,
}

/// Whether `name` is `domain` or one of its subdomains.
fn is_within(name: &str, domain: &str) -> bool {
    name == domain || name.strip_suffix(domain).is_some_and(|rest| rest.ends_with('.'))
}

impl IssuingRules {
    /// Checks that a certificate saying `subject` is one this CA may issue: at least one DNS name, every DNS name
    /// (and a common name that is a DNS name) within the tenant's domains and covering no name of the server's,
    /// and no IP address, URI, e-mail or UPN (the CA's name constraints permit DNS names only).
    pub fn check(&self, subject: &Subject) -> Result<()> {
        if !(subject.ips.is_empty() && subject.uris.is_empty() && subject.emails.is_empty() && subject.upns.is_empty())
        {
            return Err(invalid(
                "The tenant's certificate authority issues certificates for DNS names only: leave out IP addresses, \
                 URIs, e-mail addresses and UPNs.",
            ));
        }
        if subject.dns_names.is_empty() {
            return Err(invalid("A certificate of the tenant's certificate authority names at least one DNS name."));
        }
        let common_name = common_name(&subject.name).filter(|cn| cn.contains('.'));
        subject
            .dns_names
            .iter()
            .map(String::as_str)
            .chain(common_name.as_deref())
            .try_for_each(|name| self.allows(name))
    }

    /// Whether the DNS name `requested` (`*.` for a wildcard) may be in a certificate.
    fn allows(&self, requested: &str) -> Result<()> {
        let name = requested.trim_end_matches('.').to_ascii_lowercase();
        let base = name.strip_prefix("*.").unwrap_or(&name);
        // A wildcard covers every name one label below its base.
        let covers =
            |host: &str| name == host || (name != base && host.split_once('.').is_some_and(|(_, p)| p == base));
        let server_name = self.server_hosts.iter().any(|h| covers(h))
            || self.server_domains.iter().any(|d| is_within(base, d) || covers(d));
        if server_name {
            return Err(invalid(format_args!(
                "The name '{requested}' is this server's own (its token service or its vaults): no vault certificate \
                 may name it."
            )));
        }
        if !self.domains.iter().any(|d| is_within(base, d)) {
            return Err(invalid(format_args!(
                "The name '{requested}' is outside the domains the tenant's certificate authority may issue for ({}).",
                self.domains.join(", ")
            )));
        }
        Ok(())
    }
}

/// The value of the first `CN=` of an X.500 name, if any.
fn common_name(name: &str) -> Option<String> {
    name.split([',', ';'])
        .filter_map(|part| part.split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("CN"))
        .map(|(_, value)| value.trim().to_owned())
}

/// A tenant's certificate authority: an intermediate-less CA of the tenant's own (never the one behind the
/// server's TLS), whose X.509 name constraints permit only the tenant's DNS domains and no IP address, so that
/// even a certificate it signed by mistake would not be trusted for another name.
pub struct TenantAuthority {
    /// Its certificate, DER.
    pub certificate: Vec<u8>,
    key: PrivateKey,
    params: CertificateParams,
}

impl std::fmt::Debug for TenantAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantAuthority").finish_non_exhaustive()
    }
}

impl TenantAuthority {
    /// A new CA for the tenant `tenant_id`, limited to `domains`, valid ten years from `now`.
    pub fn generate(tenant_id: Uuid, domains: &[String], now: i64) -> Result<Self> {
        let key = PrivateKey::generate(&KeySpec {
            kty: KeyType::Ec,
            size: None,
            public_exponent: None,
            curve: Some(Curve::P256),
        })?;
        let mut params = authority_params(tenant_id, domains);
        let start = OffsetDateTime::from_unix_timestamp(now).map_err(|_| invalid("the clock is out of range"))?;
        params.not_before = start - time::Duration::days(1);
        params.not_after = start + time::Duration::days(3650);
        let certificate =
            params.self_signed(&signing_pair(&key)?).map_err(|e| invalid(format_args!("creating a CA failed: {e}")))?;
        Ok(Self { certificate: certificate.der().to_vec(), key, params })
    }

    /// The CA `generate` made for the same tenant and domains, from its certificate and its key.
    pub fn from_parts(tenant_id: Uuid, domains: &[String], certificate: Vec<u8>, key: PrivateKey) -> Self {
        Self { certificate, key, params: authority_params(tenant_id, domains) }
    }

    /// Its private key, to be kept sealed.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// A certificate saying `subject` for `key`, signed by this CA, valid from `now`: DER. The caller has
    /// checked the names with [`IssuingRules::check`].
    pub fn issue(&self, subject: &Subject, key: &PrivateKey, now: i64) -> Result<Vec<u8>> {
        // Signing needs only the CA's name and key, which are rebuilt exactly as they were created.
        let issuer = Issuer::new(self.params.clone(), signing_pair(&self.key)?);
        subject.signed_by(key, &issuer, now)
    }
}

/// A tenant CA's certificate parameters: its name, its path length of 0 and its name constraints.
fn authority_params(tenant_id: Uuid, domains: &[String]) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, format!("Strongroom tenant CA {tenant_id}"));
    params.distinguished_name.push(DnType::OrganizationName, "Strongroom");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: domains.iter().map(|d| GeneralSubtree::DnsName(d.clone())).collect(),
        excluded_subtrees: vec![
            GeneralSubtree::IpAddress(CidrSubnet::V4([0; 4], [0; 4])),
            GeneralSubtree::IpAddress(CidrSubnet::V6([0; 16], [0; 16])),
        ],
    });
    params
}

fn signing_pair(key: &PrivateKey) -> Result<KeyPair> {
    let algorithm = match key.curve() {
        None if key.kty().operations().contains(&"sign") => &rcgen::PKCS_RSA_SHA256,
        Some(Curve::P256) => &rcgen::PKCS_ECDSA_P256_SHA256,
        Some(Curve::P384) => &rcgen::PKCS_ECDSA_P384_SHA384,
        Some(Curve::P521) => &rcgen::PKCS_ECDSA_P521_SHA512,
        _ => return Err(invalid("A certificate's key is RSA, or EC on P-256, P-384 or P-521.")),
    };
    KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(key.material()), algorithm)
        .map_err(|e| invalid(format_args!("the key cannot sign a certificate: {e}")))
}

/// The `x5t` of a certificate: its SHA-1 thumbprint, base64url.
pub fn thumbprint(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der))
}

/// The PEM form of a certificate's secret: the private key (when it may leave) and then the chain.
pub fn pem(chain: &[Vec<u8>], key: Option<&PrivateKey>) -> String {
    let block = |label: &str, der: &[u8]| {
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body.as_bytes().chunks(64).filter_map(|c| std::str::from_utf8(c).ok()).collect();
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
    };
    let mut text = key.map(|k| block("PRIVATE KEY", k.material())).unwrap_or_default();
    for certificate in chain {
        text.push_str(&block("CERTIFICATE", certificate));
    }
    text
}

/// A certificate's validity, Unix seconds: not before, not after.
pub fn validity(der: &[u8]) -> Result<(i64, i64)> {
    let (_, parsed) =
        x509_parser::parse_x509_certificate(der).map_err(|_| invalid("The certificate is not X.509 DER."))?;
    Ok((parsed.validity().not_before.timestamp(), parsed.validity().not_after.timestamp()))
}

/// The certificates one `x5c` entry of a merge holds, leaf first, each checked to be X.509: DER; or text — PEM
/// (`CERTIFICATE` blocks), or the base64 of DER or of PEM, line breaks and stray `-----…-----` markers allowed.
/// The JavaScript SDK's own sample sends the characters of a PEM file less its first line (so with its
/// `-----END CERTIFICATE-----`) as the entry's bytes, which Key Vault accepts.
pub fn merged_certificates(entry: &[u8]) -> Result<Vec<Vec<u8>>> {
    let not_x509 = || invalid("The certificate is not X.509 DER.");
    if x509_parser::parse_x509_certificate(entry).is_ok() {
        return Ok(vec![entry.to_vec()]);
    }
    let text = std::str::from_utf8(entry).map_err(|_| not_x509())?;
    if text.contains("-----BEGIN ") {
        let mut certificates = Vec::new();
        for block in x509_parser::pem::Pem::iter_from_buffer(entry) {
            let block = block.map_err(|_| not_x509())?;
            if block.label == "CERTIFICATE" {
                x509_parser::parse_x509_certificate(&block.contents).map_err(|_| not_x509())?;
                certificates.push(block.contents);
            }
        }
        return match certificates.is_empty() {
            true => Err(not_x509()),
            false => Ok(certificates),
        };
    }
    // What lies between two `-----` is a marker; the rest is base64.
    let unmarked: String = text.split("-----").step_by(2).collect();
    let compact: String = unmarked.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let decoded = STANDARD.decode(compact).map_err(|_| not_x509())?;
    // Each decoding is shorter than its text, so this ends.
    match decoded.is_empty() {
        true => Err(not_x509()),
        false => merged_certificates(&decoded),
    }
}

/// A certificate's subject, as text (`CN=…, O=…`).
pub fn subject_of(der: &[u8]) -> Result<String> {
    let (_, parsed) =
        x509_parser::parse_x509_certificate(der).map_err(|_| invalid("The certificate is not X.509 DER."))?;
    Ok(parsed.subject().to_string())
}

/// Whether the leaf certificate `der` is for `key`.
pub fn certifies(der: &[u8], key: &PrivateKey) -> Result<bool> {
    use x509_parser::public_key::PublicKey;
    let (_, parsed) =
        x509_parser::parse_x509_certificate(der).map_err(|_| invalid("The certificate is not X.509 DER."))?;
    let public = key.public_jwk()?;
    let decode = |text: Option<String>| URL_SAFE_NO_PAD.decode(text.unwrap_or_default()).unwrap_or_default();
    let strip = |bytes: &[u8]| bytes.iter().skip_while(|b| **b == 0).copied().collect::<Vec<u8>>();
    Ok(match parsed.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            strip(rsa.modulus) == strip(&decode(public.n)) && strip(rsa.exponent) == strip(&decode(public.e))
        }
        Ok(PublicKey::EC(point)) => {
            let mut ours = vec![4u8];
            ours.extend(decode(public.x));
            ours.extend(decode(public.y));
            point.data() == ours.as_slice()
        }
        _ => false,
    })
}

/// The private key (if any) and the chain (leaf first) of a PEM text (a PKCS#8 `PRIVATE KEY` and
/// `CERTIFICATE`s) or of a PKCS#12 file opened with `password`; whether it was PEM.
fn read_bundle(bytes: &[u8], password: &str) -> Result<(Option<PrivateKey>, Vec<Vec<u8>>, bool)> {
    let is_pem = bytes.windows(11).take(64).any(|w| w == b"-----BEGIN ");
    if is_pem {
        let mut key = None;
        let mut chain = Vec::new();
        for block in x509_parser::pem::Pem::iter_from_buffer(bytes) {
            let block = block.map_err(|_| invalid("The PEM text cannot be read."))?;
            match block.label.as_str() {
                "PRIVATE KEY" => key = Some(PrivateKey::from_pkcs8(&block.contents)?),
                "CERTIFICATE" => chain.push(block.contents),
                "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => {
                    return Err(invalid("The PEM private key must be an unencrypted PKCS#8 'PRIVATE KEY'."));
                }
                _ => {}
            }
        }
        return Ok((key, chain, true));
    }
    use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
    let store = KeyStore::from_pkcs12(bytes, password, Pkcs12ImportPolicy::Strict)
        .map_err(|_| invalid("The PKCS#12 file cannot be opened: wrong password, or not a PKCS#12 file."))?;
    if let Some((_, chain)) = store.private_key_chain() {
        let key = PrivateKey::from_pkcs8(chain.key().as_der())?;
        return Ok((Some(key), chain.certs().iter().map(|c| c.as_der().to_vec()).collect(), false));
    }
    let chain = store
        .entries()
        .filter_map(|(_, entry)| match entry {
            KeyStoreEntry::Certificate(c) => Some(c.as_der().to_vec()),
            _ => None,
        })
        .collect();
    Ok((None, chain, false))
}

/// The private key and the chain (leaf first) of an imported file — PEM, or PKCS#12 opened with `password` —
/// and whether it was PEM. The key must be there, and be the leaf's.
pub fn open(bytes: &[u8], password: &str) -> Result<(PrivateKey, Vec<Vec<u8>>, bool)> {
    let (key, chain, is_pem) = read_bundle(bytes, password)?;
    let key = key.ok_or_else(|| invalid("The imported file holds no private key."))?;
    let leaf = chain.first().ok_or_else(|| invalid("The imported file holds no certificate."))?;
    if !certifies(leaf, &key)? {
        return Err(invalid("The private key is not the certificate's."));
    }
    Ok((key, chain, is_pem))
}

/// A certificate secret's value in the other form: PKCS#12 (base64) to PEM text, or PEM to PKCS#12.
pub fn convert(value: &str, to: &str) -> Result<String> {
    let bytes = match value.trim_start().starts_with("-----BEGIN ") {
        true => value.as_bytes().to_vec(),
        false => STANDARD.decode(value.trim()).map_err(|_| invalid("The certificate secret is not base64."))?,
    };
    let (key, chain, _) = read_bundle(&bytes, "")?;
    match to {
        PEM => Ok(pem(&chain, key.as_ref())),
        PKCS12 => Ok(STANDARD.encode(pkcs12(&chain, key.as_ref())?)),
        other => Err(invalid(format_args!("'{other}' is not a certificate content type: use {PKCS12} or {PEM}."))),
    }
}

/// The PKCS#12 form of a certificate's secret, protected by an empty password as Key Vault's are: the chain,
/// and the private key when it may leave (PBES2 with AES-256 and HMAC-SHA-256).
pub fn pkcs12(chain: &[Vec<u8>], key: Option<&PrivateKey>) -> Result<Vec<u8>> {
    use p12_keystore::{KeyStore, KeyStoreEntry, PrivateKeyChain};
    let failed = |e: p12_keystore::error::Error| invalid(format_args!("writing the PKCS#12 file failed: {e}"));
    let certificates: Vec<p12_keystore::Certificate> = chain
        .iter()
        .map(|der| p12_keystore::Certificate::from_der(der))
        .collect::<std::result::Result<_, _>>()
        .map_err(failed)?;
    let mut store = KeyStore::new();
    match key {
        Some(key) => {
            let local_key_id = digest::digest(&digest::SHA256, key.material()).as_ref()[..20].to_vec();
            let private = p12_keystore::PrivateKey::from_der(key.material()).map_err(failed)?;
            store.add_entry(
                "1",
                KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, private, certificates)),
            );
        }
        None => {
            for (index, certificate) in certificates.into_iter().enumerate() {
                store.add_entry(&index.to_string(), KeyStoreEntry::Certificate(certificate));
            }
        }
    }
    store.writer("").write().map_err(failed)
}

#[cfg(test)]
mod tests {
    use x509_parser::prelude::*;

    use super::*;
    use crate::key::{KeySpec, KeyType};

    fn subject() -> Subject {
        Subject {
            name: "CN=app.contoso.com, O=Contoso\\, Ltd, C=US".into(),
            dns_names: vec!["app.contoso.com".into(), "www.contoso.com".into()],
            emails: vec!["ops@contoso.com".into()],
            upns: vec!["svc@contoso.com".into()],
            uris: vec!["https://contoso.com/app".into()],
            ips: vec!["10.0.0.1".parse().unwrap_or(IpAddr::from([10, 0, 0, 1]))],
            ekus: vec!["1.3.6.1.5.5.7.3.1".into(), "1.2.3.4".into()],
            key_usage: vec!["digitalSignature".into(), "keyEncipherment".into()],
            validity_months: 12,
        }
    }

    #[test]
    fn self_signed_certificates_say_what_the_policy_says() -> Result<()> {
        for spec in [
            KeySpec { kty: KeyType::Rsa, size: Some(2048), public_exponent: None, curve: None },
            KeySpec { kty: KeyType::Ec, size: None, public_exponent: None, curve: Some(Curve::P384) },
        ] {
            let key = PrivateKey::generate(&spec)?;
            let der = subject().self_signed(&key, 1_700_000_000)?;
            let (_, parsed) = X509Certificate::from_der(&der).map_err(invalid)?;
            assert_eq!(parsed.subject().to_string(), "CN=app.contoso.com, O=Contoso, Ltd, C=US");
            assert_eq!(parsed.issuer(), parsed.subject(), "self-signed");
            assert_eq!(parsed.validity().not_before.timestamp(), 1_700_000_000);
            // 2023-11-14 plus 12 months is 2024-11-14: a year, with February 29 in it.
            assert_eq!(parsed.validity().not_after.timestamp() - 1_700_000_000, 366 * 86_400);
            let sans = parsed.subject_alternative_name().map_err(invalid)?.map(|e| e.value.general_names.len());
            assert_eq!(sans, Some(6));
            let usage = parsed.key_usage().map_err(invalid)?.map(|e| e.value);
            assert!(usage.is_some_and(|u| u.digital_signature() && u.key_encipherment() && !u.key_cert_sign()));
            let eku = parsed.extended_key_usage().map_err(invalid)?.map(|e| e.value.clone());
            assert!(eku.is_some_and(|e| e.server_auth && e.other.len() == 1));
            assert_eq!(thumbprint(&der).len(), 27);
            let pfx = pkcs12(std::slice::from_ref(&der), Some(&key))?;
            let opened = p12_keystore::KeyStore::from_pkcs12(&pfx, "", p12_keystore::Pkcs12ImportPolicy::Strict)
                .map_err(invalid)?;
            let (_, chain) = opened.private_key_chain().ok_or_else(|| invalid("no key in the PKCS#12 file"))?;
            assert_eq!(chain.key().as_der(), key.material());
            assert_eq!(chain.certs()[0].as_der(), der.as_slice());
            assert!(pem(std::slice::from_ref(&der), Some(&key)).starts_with("-----BEGIN PRIVATE KEY-----\n"));
        }
        Ok(())
    }

    #[test]
    fn a_merged_entry_is_der_pem_or_base64_text_of_either() -> Result<()> {
        let key = PrivateKey::generate(&KeySpec {
            kty: KeyType::Ec,
            size: None,
            public_exponent: None,
            curve: Some(Curve::P256),
        })?;
        let der = subject().self_signed(&key, 1_700_000_000)?;
        let pem_text = pem(std::slice::from_ref(&der), None);
        let body: String = pem_text.lines().filter(|l| !l.starts_with("-----")).collect();
        let two = pem(&[der.clone(), der.clone()], None);
        for entry in [
            der.clone(),
            pem_text.clone().into_bytes(),
            body.clone().into_bytes(),
            pem_text.lines().skip(1).collect::<String>().into_bytes(),
            STANDARD.encode(&pem_text).into_bytes(),
        ] {
            assert_eq!(merged_certificates(&entry)?, vec![der.clone()]);
        }
        assert_eq!(merged_certificates(two.as_bytes())?.len(), 2);
        let message = |r: Result<Vec<Vec<u8>>>| r.err().map(|e| e.message().to_owned()).unwrap_or_default();
        for bad in [
            &b""[..],
            b"not a certificate",
            b"\xff\xfe",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            assert_eq!(message(merged_certificates(bad)), "The certificate is not X.509 DER.");
        }
        Ok(())
    }

    #[test]
    fn bad_policies_are_refused() {
        let with = |change: &dyn Fn(&mut Subject)| {
            let mut s = subject();
            change(&mut s);
            s.validate()
        };
        assert!(with(&|s| s.name = "CN".into()).is_err());
        assert!(with(&|s| s.name = "XX=1".into()).is_err());
        assert!(with(&|s| s.key_usage = vec!["everything".into()]).is_err());
        assert!(with(&|s| s.ekus = vec!["not.an.oid".into()]).is_err());
        assert!(with(&|s| s.validity_months = 0).is_err());
        assert!(with(&|s| s.dns_names = vec!["ünicode.example".into()]).is_err());
        assert!(subject().validate().is_ok());
    }

    #[test]
    fn validity_is_counted_in_calendar_months_clamped_to_the_month_end() {
        use ::time::macros::datetime;
        let plus = |start: OffsetDateTime, months| add_calendar_months(start, months);
        assert_eq!(plus(datetime!(2025-01-31 10:30 UTC), 1), Some(datetime!(2025-02-28 10:30 UTC)));
        assert_eq!(plus(datetime!(2024-01-31 10:30 UTC), 1), Some(datetime!(2024-02-29 10:30 UTC)), "leap year");
        assert_eq!(plus(datetime!(2024-02-29 00:00 UTC), 12), Some(datetime!(2025-02-28 00:00 UTC)));
        assert_eq!(plus(datetime!(2024-02-29 00:00 UTC), 48), Some(datetime!(2028-02-29 00:00 UTC)));
        assert_eq!(plus(datetime!(2025-03-31 00:00 UTC), 1), Some(datetime!(2025-04-30 00:00 UTC)));
        assert_eq!(plus(datetime!(2025-12-15 23:59:59 UTC), 1), Some(datetime!(2026-01-15 23:59:59 UTC)));
        assert_eq!(plus(datetime!(2025-08-31 00:00 UTC), 6), Some(datetime!(2026-02-28 00:00 UTC)));
        assert_eq!(plus(datetime!(2025-06-01 00:00 UTC), 12), Some(datetime!(2026-06-01 00:00 UTC)));
        assert_eq!(plus(datetime!(2025-06-01 00:00 UTC), 1200), Some(datetime!(2125-06-01 00:00 UTC)));
    }

    fn rules() -> IssuingRules {
        IssuingRules {
            domains: vec!["contoso.com".into(), "localhost".into()],
            server_hosts: vec!["localhost".into(), "login.localhost".into()],
            server_domains: vec!["vault.localhost".into()],
        }
    }

    fn for_names(names: &[&str]) -> Subject {
        Subject {
            name: format!("CN={}", names.first().copied().unwrap_or("x")),
            dns_names: names.iter().map(|n| (*n).to_owned()).collect(),
            validity_months: 12,
            ..Subject::default()
        }
    }

    #[test]
    fn a_tenant_ca_issues_only_for_its_domains_and_never_for_the_server() {
        for allowed in
            [&["app.contoso.com"][..], &["*.contoso.com", "contoso.com"], &["App.Contoso.COM."], &["dev.localhost"]]
        {
            assert!(rules().check(&for_names(allowed)).is_ok(), "{allowed:?}");
        }
        for refused in [
            &["www.example.com"][..],
            &["evilcontoso.com"],
            &["app.contoso.com", "www.example.com"],
            &["login.localhost"],
            &["LOGIN.localhost"],
            &["localhost"],
            &["*.localhost"],
            &["billing.vault.localhost"],
            &["*.vault.localhost"],
            &["vault.localhost"],
            &[],
        ] {
            assert!(rules().check(&for_names(refused)).is_err(), "{refused:?}");
        }
        let mut named_for_the_server = for_names(&["app.contoso.com"]);
        named_for_the_server.name = "CN=login.localhost".into();
        assert!(rules().check(&named_for_the_server).is_err(), "the common name is checked too");
        let mut with_ip = for_names(&["app.contoso.com"]);
        with_ip.ips = vec![IpAddr::from([127, 0, 0, 1])];
        assert!(rules().check(&with_ip).is_err());
    }

    #[test]
    fn a_tenant_ca_is_name_constrained_and_signs_what_it_issues() -> Result<()> {
        let tenant = Uuid::from_u128(7);
        let domains = vec!["contoso.com".to_owned()];
        let generated = TenantAuthority::generate(tenant, &domains, 1_700_000_000)?;
        let authority =
            TenantAuthority::from_parts(tenant, &domains, generated.certificate.clone(), generated.key().clone());
        let key =
            PrivateKey::generate(&KeySpec { kty: KeyType::Rsa, size: Some(2048), public_exponent: None, curve: None })?;
        let leaf = authority.issue(&for_names(&["app.contoso.com"]), &key, 1_700_000_000)?;
        let (_, ca) = X509Certificate::from_der(&authority.certificate).map_err(invalid)?;
        let (_, issued) = X509Certificate::from_der(&leaf).map_err(invalid)?;
        assert_eq!(issued.issuer(), ca.subject());
        let constraints = ca.name_constraints().map_err(invalid)?.map(|c| c.value.clone());
        let permitted = constraints.and_then(|c| c.permitted_subtrees).unwrap_or_default();
        assert!(matches!(
            permitted.as_slice(),
            [x509_parser::extensions::GeneralSubtree {
                base: x509_parser::extensions::GeneralName::DNSName("contoso.com"),
                ..
            }]
        ));
        assert!(
            ca.basic_constraints()
                .map_err(invalid)?
                .is_some_and(|b| b.value.ca && b.value.path_len_constraint == Some(0))
        );
        Ok(())
    }

    /// A PEM file and a PKCS#12 file of one certificate with its key, made once for every case.
    fn import_fixtures() -> Option<&'static (Vec<u8>, Vec<u8>)> {
        static FIXTURES: std::sync::OnceLock<Option<(Vec<u8>, Vec<u8>)>> = std::sync::OnceLock::new();
        FIXTURES
            .get_or_init(|| {
                let spec = KeySpec { kty: KeyType::Ec, size: None, public_exponent: None, curve: Some(Curve::P256) };
                let key = PrivateKey::generate(&spec).ok()?;
                let der = for_names(&["app.contoso.com"]).self_signed(&key, 1_700_000_000).ok()?;
                let chain = std::slice::from_ref(&der);
                Some((pem(chain, Some(&key)).into_bytes(), pkcs12(chain, Some(&key)).ok()?))
            })
            .as_ref()
    }

    /// `valid` with the bytes at `flips` changed, then cut `cut` bytes short (modulo its length).
    fn mutated(valid: &[u8], flips: &[(usize, u8)], cut: usize) -> Vec<u8> {
        let mut bytes = valid.to_vec();
        for (at, xor) in flips {
            let len = bytes.len();
            if let Some(byte) = bytes.get_mut(at % len.max(1)) {
                *byte ^= xor | 1;
            }
        }
        bytes.truncate(bytes.len().saturating_sub(cut % (bytes.len() + 1)));
        bytes
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(192))]

        #[test]
        fn imported_files_of_any_shape_never_panic(
            random in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            flips in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 0..6),
            cut in proptest::prelude::any::<usize>(),
            as_pem in proptest::prelude::any::<bool>(),
            password in proptest::prelude::any::<String>(),
        ) {
            let _ = open(&random, &password);
            let _ = convert(&String::from_utf8_lossy(&random), PEM);
            if let Some((pem_file, pfx)) = import_fixtures() {
                let damaged = mutated(if as_pem { pem_file } else { pfx }, &flips, cut);
                let _ = open(&damaged, "");
                let _ = convert(&STANDARD.encode(&damaged), PEM);
                let _ = convert(&String::from_utf8_lossy(&damaged), PKCS12);
            }
        }

        #[test]
        fn certificate_policies_of_any_shape_never_panic(
            name in proptest::prelude::any::<String>(),
            dns_names in proptest::collection::vec(proptest::prelude::any::<String>(), 0..4),
            ekus in proptest::collection::vec(proptest::prelude::any::<String>(), 0..3),
            key_usage in proptest::collection::vec(proptest::prelude::any::<String>(), 0..3),
            validity_months in proptest::prelude::any::<u32>(),
        ) {
            let subject = Subject { name, dns_names, ekus, key_usage, validity_months, ..Subject::default() };
            let _ = subject.validate();
            let _ = rules().check(&subject);
        }
    }
}
