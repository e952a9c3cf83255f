//! TLS for the main listener.
//!
//! With certificate files configured, those are served. Otherwise Strongroom keeps a local certificate
//! authority in the data directory (`ca.pem`, the file users trust, and `ca-key.pem`), created once, and
//! issues itself a fresh server certificate at every start covering localhost, 127.0.0.1, the login host,
//! the vault domain and every vault under it — so a change of host names needs no new trust.
//!
//! Each installation's CA has a subject of its own (a random suffix), and every certificate it issues names
//! it by its key identifier (Subject and Authority Key Identifiers), so a client that trusts the CAs of two
//! installations picks the right one. Beside `ca.pem` it keeps `ca-truststore.p12`, the same certificate as a
//! PKCS#12 trust store, which is what a Java developer hands the JVM (`javax.net.ssl.trustStore`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::Duration;

use crate::clock::Clock;
use crate::config::{ServerSettings, TlsFiles};
use crate::error::{Error, Result};

/// The file name of the local CA certificate in the data directory.
pub const CA_FILE: &str = "ca.pem";
/// The file name of the local CA certificate as a PKCS#12 trust store, beside [`CA_FILE`].
pub const TRUST_STORE_FILE: &str = "ca-truststore.p12";
/// The trust store's integrity password: the JDK's own default (a trust store holds nothing secret; the data
/// directory's permissions keep others from changing it).
pub const TRUST_STORE_PASSWORD: &str = "changeit";
const CA_KEY_FILE: &str = "ca-key.pem";
const CA_NAME: &str = "Strongroom local CA";

/// What the listener serves, and where the CA that users should trust is (when generated).
pub struct TlsMaterial {
    /// The rustls configuration (HTTP/2 and HTTP/1.1 by ALPN).
    pub config: Arc<ServerConfig>,
    /// The local CA certificate, if Strongroom generated the server certificate.
    pub ca_file: Option<PathBuf>,
}

/// TLS material for `settings`.
pub fn load(settings: &ServerSettings) -> Result<TlsMaterial> {
    let (chain, key, ca_file) = match &settings.tls {
        Some(files) => {
            let (chain, key) = read_files(files)?;
            (chain, key, None)
        }
        None => {
            let (chain, key) = issue_from_local_ca(&settings.data_dir, &host_names(settings))?;
            (chain, key, Some(settings.data_dir.join(CA_FILE)))
        }
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::tls("configuring TLS", e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Error::tls("loading the server certificate", e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsMaterial { config: Arc::new(config), ca_file })
}

fn host_names(settings: &ServerSettings) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
        settings.login_host.clone(),
        settings.management_host.clone(),
        settings.graph_host.clone(),
        settings.vault_domain.clone(),
        format!("*.{}", settings.vault_domain),
        settings.managed_hsm_domain.clone(),
        format!("*.{}", settings.managed_hsm_domain),
    ];
    names.dedup();
    names
}

fn read_files(files: &TlsFiles) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Error::tls(format_args!("reading {}", files.cert.display()), e))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| Error::tls(format_args!("reading {}", files.key.display()), e))?;
    Ok((chain, key))
}

/// A new CA's parameters: its common name ends in a random suffix, unique to the installation.
fn ca_params() -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| Error::tls("building the CA", e))?;
    let mut name = DistinguishedName::new();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    name.push(DnType::CommonName, format!("{CA_NAME} {}", &suffix[..12]));
    name.push(DnType::OrganizationName, "Strongroom");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    Ok(params)
}

/// The local CA's key, created with its certificate on first use.
fn local_ca_key(data_dir: &Path) -> Result<KeyPair> {
    let key_path = data_dir.join(CA_KEY_FILE);
    let cert_path = data_dir.join(CA_FILE);
    if let Ok(pem) = std::fs::read_to_string(&key_path)
        && cert_path.exists()
    {
        return KeyPair::from_pem(&pem).map_err(|e| Error::tls(format_args!("reading {}", key_path.display()), e));
    }
    let key = KeyPair::generate().map_err(|e| Error::tls("generating the CA key", e))?;
    let mut params = ca_params()?;
    let now = Clock::unmoved_now();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    let cert = params.self_signed(&key).map_err(|e| Error::tls("creating the CA certificate", e))?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, cert.pem())
        .map_err(|e| Error::io(format_args!("writing {}", cert_path.display()), e))?;
    Ok(key)
}

/// The installation's local CA, as an issuer of the server's certificate, with its certificate (DER); created on
/// first use. It signs nothing else: vault certificates come from their tenant's own CA.
fn local_ca(data_dir: &Path) -> Result<(Issuer<'static, KeyPair>, Vec<u8>)> {
    let ca_key = local_ca_key(data_dir)?;
    let ca_pem = std::fs::read(data_dir.join(CA_FILE)).map_err(|e| Error::io("reading the CA certificate", e))?;
    let ca_der = CertificateDer::from_pem_slice(&ca_pem).map_err(|e| Error::tls("reading the CA certificate", e))?;
    // The issuer's name and key identifier come from the stored certificate, whatever its age.
    let issuer = Issuer::from_ca_cert_der(&ca_der, ca_key).map_err(|e| Error::tls("reading the CA certificate", e))?;
    write_trust_store(&data_dir.join(TRUST_STORE_FILE), &ca_der)?;
    Ok((issuer, ca_der.to_vec()))
}

/// Writes the CA certificate as a PKCS#12 trust store: one certificate entry marked trusted for any purpose
/// (the attribute the JDK reads), written afresh at every start so that it always matches `ca.pem`.
fn write_trust_store(path: &Path, ca_der: &[u8]) -> Result<()> {
    let certificate =
        p12_keystore::Certificate::from_der(ca_der).map_err(|e| Error::tls("reading the CA certificate", e))?;
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry("strongroom-local-ca", p12_keystore::KeyStoreEntry::Certificate(certificate));
    let bytes = store.writer(TRUST_STORE_PASSWORD).write().map_err(|e| Error::tls("writing the CA trust store", e))?;
    std::fs::write(path, bytes).map_err(|e| Error::io(format_args!("writing {}", path.display()), e))
}

fn issue_from_local_ca(
    data_dir: &Path,
    names: &[String],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let (issuer, ca_der) = local_ca(data_dir)?;
    let ca_der = CertificateDer::from(ca_der);
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| Error::tls("building the server certificate", e))?;
    params.distinguished_name.push(DnType::CommonName, "Strongroom");
    params.subject_alt_names = names
        .iter()
        .map(|name| match name.parse() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => name.as_str().try_into().map(SanType::DnsName),
        })
        .collect::<Result<_, _>>()
        .map_err(|e| Error::tls("naming the server certificate", e))?;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // Not a CA, said explicitly: rcgen then writes the Subject Key Identifier too.
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    let now = Clock::unmoved_now();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(397);
    let key = KeyPair::generate().map_err(|e| Error::tls("generating the server key", e))?;
    let cert = params.signed_by(&key, &issuer).map_err(|e| Error::tls("signing the server certificate", e))?;
    let key = PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| Error::tls("encoding the server key", e))?;
    Ok((vec![cert.der().clone(), ca_der], key))
}

/// Writes a file readable by its owner only.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let context = || format!("writing {}", path.display());
    let mut file = options.open(path).map_err(|e| Error::io(context(), e))?;
    file.write_all(contents).map_err(|e| Error::io(context(), e))
}
