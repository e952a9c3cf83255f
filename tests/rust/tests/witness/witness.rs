//! The installation under test: key material written before `strongroom serve` starts, the server process
//! (stopped on drop), and what every SDK client and credential is given — an HTTP client that trusts the
//! installation's CA and maps `*.localhost` to 127.0.0.1 (the two things a user does with a trust-store entry
//! and a hosts-file line), and the authority host. The SDKs themselves are not touched.

use azure_core::{
    base64,
    cloud::{CloudConfiguration, CustomConfiguration},
    credentials::{Secret, TokenCredential},
    error::ErrorKind,
    http::{ClientOptions, StatusCode, Transport},
};
use azure_identity::{
    ClientCertificateCredential, ClientCertificateCredentialOptions, ClientSecretCredential,
    ClientSecretCredentialOptions,
};
use azure_security_keyvault_certificates::{CertificateClient, CertificateClientOptions};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use openssl::{
    asn1::Asn1Time,
    bn::{BigNum, MsbOption},
    hash::MessageDigest,
    pkcs12::Pkcs12,
    pkey::{PKey, Private},
    rsa::Rsa,
    sign::Signer,
    x509::{
        X509, X509Builder, X509NameBuilder,
        extension::{BasicConstraints, KeyUsage},
    },
};
use std::{
    fmt,
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// The witness installation's tenant, applications and managed identity (tests/witness/strongroom.toml).
pub const TENANT: &str = "3d9a6b1e-5c2f-4e8a-9b7d-1f2e3a4b5c6d";
pub const ADMIN_APP: &str = "9e0c1f2a-0000-4000-8000-00000000b001";
pub const READER_APP: &str = "9e0c1f2a-0000-4000-8000-00000000b002";
pub const NOBODY_APP: &str = "9e0c1f2a-0000-4000-8000-00000000b003";
pub const CERT_APP: &str = "9e0c1f2a-0000-4000-8000-00000000b004";
pub const WORKLOAD_APP: &str = "9e0c1f2a-0000-4000-8000-00000000b005";
pub const IDENTITY_HEADER: &str = "web-01-identity-header-0123456789";
pub const FEDERATED_ISSUER: &str = "https://issuer.witness.test";
pub const FEDERATED_SUBJECT: &str = "system:serviceaccount:prod:witness";
pub const SEEDED_VALUE: &str = "seeded-value-42";

/// What a test returns; any error fails it.
pub type Outcome = Result<(), Failure>;
/// Why a test failed.
pub type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Returned (as the error) by a test that cannot run here; reported, not counted as a failure.
#[derive(Debug)]
pub struct Skipped(pub String);

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "skipped: {}", self.0)
    }
}

impl std::error::Error for Skipped {}

/// Fails the test with a message unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(format!($($message)+).into());
        }
    };
}

/// Every application's client secret, as the installation names it.
pub fn secret_of(app: &str) -> String {
    format!("{app}-secret-0123456789")
}

/// A name no other test (and no earlier run against a kept folder) uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{}", nanos % 1_000_000, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// The running installation and the key material its configuration names.
pub struct Witness {
    server: Server,
    http: reqwest::Client,
    /// cert-app's certificate and key as PKCS#12 (no password): what ClientCertificateCredential takes.
    pub cert_app_pkcs12: Vec<u8>,
    /// The federated issuer's signing key (its public half is issuer-jwks.json).
    issuer_key: PKey<Private>,
}

impl Witness {
    /// Writes the configuration and key material into a fresh folder and starts `strongroom serve` there.
    pub fn start() -> Result<Self, Failure> {
        let folder = std::env::temp_dir().join(unique_name(&format!("strongroom-rust-{}", std::process::id())));
        std::fs::create_dir(&folder)?;
        let prepared = prepare(&folder);
        let (cert_app_pkcs12, issuer_key) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&folder);
                return Err(error);
            }
        };
        let server = Server::start(folder)?;
        let ca = reqwest::Certificate::from_pem(&std::fs::read(server.folder.join("ca.pem"))?)?;
        // The port of the address is ignored: reqwest takes it from the URL.
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let http = reqwest::Client::builder()
            .add_root_certificate(ca)
            .resolve("localhost", loopback)
            .resolve("witness.vault.localhost", loopback)
            .resolve("walled.vault.localhost", loopback)
            .resolve("witness-hsm.managedhsm.localhost", loopback)
            // As the SDK's own default client: no redirects followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { server, http, cert_app_pkcs12, issuer_key })
    }

    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// The authority host, as `ClientOptions::cloud` gives it to every credential.
    pub fn authority(&self) -> String {
        format!("https://localhost:{}/", self.server.port)
    }

    pub fn vault_url(&self, vault: &str) -> String {
        format!("https://{vault}.vault.localhost:{}/", self.server.port)
    }

    pub fn managed_hsm_url(&self, hsm: &str) -> String {
        format!("https://{hsm}.managedhsm.localhost:{}/", self.server.port)
    }

    /// What every SDK client and credential here is given: the transport and the authority; the SDK's own
    /// retry policy is kept.
    pub fn client_options(&self) -> ClientOptions {
        let mut cloud = CustomConfiguration::default();
        cloud.authority_host = self.authority();
        ClientOptions {
            transport: Some(Transport::new(Arc::new(self.http.clone()))),
            cloud: Some(Arc::new(CloudConfiguration::Custom(cloud))),
            ..Default::default()
        }
    }

    pub fn secret_credential(&self, app: &str, secret: &str) -> Result<Arc<dyn TokenCredential>, Failure> {
        let options = ClientSecretCredentialOptions { client_options: self.client_options() };
        Ok(ClientSecretCredential::new(TENANT, app.to_string(), Secret::from(secret.to_string()), Some(options))?)
    }

    pub fn admin(&self) -> Result<Arc<dyn TokenCredential>, Failure> {
        self.secret_credential(ADMIN_APP, &secret_of("admin"))
    }

    pub fn certificate_credential(&self) -> Result<Arc<dyn TokenCredential>, Failure> {
        let options =
            ClientCertificateCredentialOptions { client_options: self.client_options(), ..Default::default() };
        Ok(ClientCertificateCredential::new(
            TENANT.to_string(),
            CERT_APP.to_string(),
            self.cert_app_pkcs12.clone().into(),
            Some(options),
        )?)
    }

    pub fn secrets(&self, vault: &str, credential: Arc<dyn TokenCredential>) -> Result<SecretClient, Failure> {
        let options = SecretClientOptions { client_options: self.client_options(), ..Default::default() };
        Ok(SecretClient::new(&self.vault_url(vault), credential, Some(options))?)
    }

    pub fn keys(&self) -> Result<KeyClient, Failure> {
        let options = KeyClientOptions { client_options: self.client_options(), ..Default::default() };
        Ok(KeyClient::new(&self.vault_url("witness"), self.admin()?, Some(options))?)
    }

    /// The admin's client of the witness Managed HSM, which holds the AES keys a vault refuses.
    pub fn hsm_keys(&self) -> Result<KeyClient, Failure> {
        let options = KeyClientOptions { client_options: self.client_options(), ..Default::default() };
        Ok(KeyClient::new(&self.managed_hsm_url("witness-hsm"), self.admin()?, Some(options))?)
    }

    pub fn certificates(&self) -> Result<CertificateClient, Failure> {
        let options = CertificateClientOptions { client_options: self.client_options(), ..Default::default() };
        Ok(CertificateClient::new(&self.vault_url("witness"), self.admin()?, Some(options))?)
    }

    /// What a Kubernetes cluster would project into the workload's pod: a token of the federated issuer for
    /// the workload's service account, RS256.
    pub fn federated_token(&self) -> Result<String, Failure> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "issuer-key-1"});
        let claims = serde_json::json!({
            "iss": FEDERATED_ISSUER, "sub": FEDERATED_SUBJECT, "aud": "api://AzureADTokenExchange",
            "iat": now, "nbf": now, "exp": now + 600,
        });
        let signing_input = format!(
            "{}.{}",
            base64::encode_url_safe(serde_json::to_vec(&header)?),
            base64::encode_url_safe(serde_json::to_vec(&claims)?)
        );
        let mut signer = Signer::new(MessageDigest::sha256(), &self.issuer_key)?;
        signer.update(signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", base64::encode_url_safe(signer.sign_to_vec()?)))
    }

    pub fn folder(&self) -> &Path {
        &self.server.folder
    }

    /// The end of the server's log, for a failed run.
    pub fn print_server_log_tail(&self) {
        if let Ok(log) = std::fs::read_to_string(self.server.folder.join("server.log")) {
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("--- the last lines of strongroom's log ---");
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{line}");
            }
        }
    }
}

/// Writes into the folder, before the server starts, strongroom.toml (listening on `STRONGROOM_WITNESS_PORT`
/// when set), cert-app.crt and issuer-jwks.json; returns cert-app's PKCS#12 and the issuer's key.
fn prepare(folder: &Path) -> Result<(Vec<u8>, PKey<Private>), Failure> {
    // The project's folder as cargo names it when it runs the tests, not as it was when they were built: a build
    // cached from another checkout would otherwise look for the configuration where that checkout was.
    let project = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let config = std::fs::read_to_string(Path::new(&project).join("../witness/strongroom.toml"))?;
    let config = match std::env::var("STRONGROOM_WITNESS_PORT") {
        Ok(port) if port.parse::<u16>().is_ok() => {
            config.replace("\nlisten = \"127.0.0.1:0\"", &format!("\nlisten = \"127.0.0.1:{port}\""))
        }
        _ => config,
    };
    std::fs::write(folder.join("strongroom.toml"), config)?;

    let cert_key = rsa_key(2048)?;
    let certificate = self_signed(&cert_key, "cert-app", false)?;
    std::fs::write(folder.join("cert-app.crt"), certificate.to_pem()?)?;
    let pkcs12 = Pkcs12::builder().name("cert-app").pkey(&cert_key).cert(&certificate).build2("")?;

    let issuer_key = rsa_key(2048)?;
    let rsa = issuer_key.rsa()?;
    let jwks = serde_json::json!({"keys": [{
        "kty": "RSA", "kid": "issuer-key-1", "use": "sig",
        "n": base64::encode_url_safe(rsa.n().to_vec()), "e": base64::encode_url_safe(rsa.e().to_vec()),
    }]});
    std::fs::write(folder.join("issuer-jwks.json"), serde_json::to_vec(&jwks)?)?;
    Ok((pkcs12.to_der()?, issuer_key))
}

pub fn rsa_key(bits: u32) -> Result<PKey<Private>, Failure> {
    Ok(PKey::from_rsa(Rsa::generate(bits)?)?)
}

/// A self-signed certificate for `common_name`, valid from an hour ago for 30 days; a CA's when `ca`.
pub fn self_signed(key: &PKey<Private>, common_name: &str, ca: bool) -> Result<X509, Failure> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", common_name)?;
    let name = name.build();
    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    builder.set_serial_number(random_serial()?.as_ref())?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(key)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let now = i64::try_from(now)?;
    builder.set_not_before(Asn1Time::from_unix(now - 3600)?.as_ref())?;
    builder.set_not_after(Asn1Time::from_unix(now + 30 * 86_400)?.as_ref())?;
    if ca {
        builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        builder.append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().build()?)?;
    }
    builder.sign(key, MessageDigest::sha256())?;
    Ok(builder.build())
}

pub fn random_serial() -> Result<openssl::asn1::Asn1Integer, Failure> {
    let mut serial = BigNum::new()?;
    serial.rand(64, MsbOption::MAYBE_ZERO, false)?;
    Ok(serial.to_asn1_integer()?)
}

/// The strongroom process, killed and its folder removed on drop.
struct Server {
    child: Child,
    folder: PathBuf,
    port: u16,
}

impl Server {
    /// Runs `strongroom serve` in `folder` and waits until it says where it listens.
    fn start(folder: PathBuf) -> Result<Self, Failure> {
        let binary = std::env::var("STRONGROOM_BIN").unwrap_or_else(|_| "strongroom".to_string());
        let log = std::fs::File::create(folder.join("server.log"))?;
        let spawned = Command::new(&binary)
            .arg("serve")
            .arg("--config")
            .arg(folder.join("strongroom.toml"))
            .current_dir(&folder)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&folder);
                return Err(format!("running {binary}: {error}").into());
            }
        };
        let (ready, listening) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            // Reads every line (so the pipe never fills) and reports the port once.
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(address) = line.strip_prefix("strongroom listening on https://") {
                        let port = address.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
                        let _ = ready.send(port);
                    }
                }
            });
        }
        let mut server = Self { child, folder, port: 0 };
        match listening.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(port)) => {
                server.port = port;
                Ok(server)
            }
            _ => {
                let log = std::fs::read_to_string(server.folder.join("server.log")).unwrap_or_default();
                Err(format!("strongroom did not start:\n{log}").into())
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// The HTTP status and body of the service's refusal inside `error` (an SDK error may wrap it, as a
/// credential's error wraps the token endpoint's answer).
pub fn refusal(error: &azure_core::Error) -> Option<(StatusCode, serde_json::Value)> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(azure) = error.downcast_ref::<azure_core::Error>()
            && let ErrorKind::HttpResponse { status, raw_response, .. } = azure.kind()
        {
            let body = raw_response
                .as_ref()
                .and_then(|response| serde_json::from_slice(response.body()).ok())
                .unwrap_or(serde_json::Value::Null);
            return Some((*status, body));
        }
        current = error.source();
    }
    None
}

/// Expects `result` to be the service's refusal with `status`; returns the refusal's body.
pub fn expect_refusal<T>(result: azure_core::Result<T>, status: u16, what: &str) -> Result<serde_json::Value, Failure> {
    match result {
        Ok(_) => Err(format!("{what}: expected {status}, got a success").into()),
        Err(error) => match refusal(&error) {
            Some((actual, body)) if u16::from(actual) == status => Ok(body),
            Some((actual, body)) => Err(format!("{what}: expected {status}, got {actual:?} {body}").into()),
            None => Err(format!("{what}: expected {status}, got {error:#}").into()),
        },
    }
}

/// Key Vault's error code and inner error code (`error.code`, `error.innererror.code`) of a refusal's body.
pub fn error_codes(body: &serde_json::Value) -> (&str, &str) {
    let error = &body["error"];
    (error["code"].as_str().unwrap_or(""), error["innererror"]["code"].as_str().unwrap_or(""))
}

/// Retries `check` until it succeeds or ten seconds pass (deletion and recovery are answered at once here,
/// but an application written for Azure polls, and so does this).
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = azure_core::Result<T>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match check().await {
            Ok(value) => return Ok(value),
            Err(error) if std::time::Instant::now() > deadline => return Err(format!("{what}: {error}").into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
