//! Starts a server from a configuration snippet and talks to it like a client would.

use std::path::Path;

use serde_json::Value;
use strongroom_server::clock::Clock;
use strongroom_server::config::Config;
use strongroom_server::installation::{Installation, RunningServer};
use tempfile::TempDir;

/// Tenants, applications and vaults most tests use (tests/fixtures/standard-tenants.toml, which the Python suite
/// starts from too). Every client secret is `{app}-secret-0123456789`.
pub const STANDARD_TENANTS: &str = include_str!("../../../../tests/fixtures/standard-tenants.toml");

/// The `[server]` section every test server starts with (tests/fixtures/server.toml, shared with the Python
/// suite), its placeholders `{data_dir}` and `{listen}` still to fill in.
const SERVER_SECTION: &str = include_str!("../../../../tests/fixtures/server.toml");

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub dir: TempDir,
    pub http: reqwest::Client,
    /// The server's clock, kept across restarts: a test moves it to see what the server does later.
    pub clock: Clock,
    config_tail: String,
}

impl TestServer {
    /// A server whose configuration is `[server]` defaults plus `tail`.
    pub async fn start(tail: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::system();
        let server = boot(dir.path(), tail, &clock).await;
        let http = client(&server, dir.path());
        Self { server: Some(server), dir, http, clock, config_tail: tail.to_owned() }
    }

    /// Stops the server and starts it again on the same data directory (on a new port).
    pub async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        let server = boot(self.dir.path(), &self.config_tail, &self.clock).await;
        self.http = client(&server, self.dir.path());
        self.server = Some(server);
    }

    /// A client whose connections come from `local` (a loopback address such as 127.0.0.2).
    pub fn http_from(&self, local: std::net::IpAddr) -> reqwest::Client {
        client_from(self.running(), self.dir.path(), Some(local))
    }

    /// A client whose connections come from `local` and that resolves each of `hosts` to its address.
    pub fn http_with(&self, local: std::net::IpAddr, hosts: &[(String, std::net::SocketAddr)]) -> reqwest::Client {
        let ca = std::fs::read(self.dir.path().join("ca.pem")).unwrap();
        let mut builder = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .local_address(local);
        for (host, address) in hosts {
            builder = builder.resolve(host, *address);
        }
        builder.build().unwrap()
    }

    pub fn running(&self) -> &RunningServer {
        self.server.as_ref().unwrap()
    }

    pub fn tenant_id(&self, name: &str) -> String {
        self.running().state().directory().tenant(name).unwrap().id.to_string()
    }

    /// The object id of the principal called `name`.
    pub fn object_id(&self, name: &str) -> String {
        let directory = self.running().state().directory();
        directory.principals().iter().find(|p| p.name == name).unwrap().object_id.to_string()
    }

    pub fn client_id(&self, app: &str) -> String {
        let directory = self.running().state().directory();
        directory.principals().iter().find(|p| p.name == app).unwrap().client_id.unwrap().to_string()
    }

    pub fn authority_host(&self) -> String {
        self.running().endpoints().authority_host().to_owned()
    }

    pub fn vault_url(&self, vault: &str) -> String {
        self.running().endpoints().vault_url(vault)
    }

    pub fn resource(&self) -> String {
        self.running().endpoints().vault_resource().to_owned()
    }

    /// POSTs a token request form; returns the status and JSON body.
    pub async fn token_request(&self, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let url = format!("{}/{tenant}/oauth2/v2.0/token", self.authority_host());
        let response = self.http.post(url).form(form).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// The URL of the Managed HSM `name`.
    pub fn hsm_url(&self, name: &str) -> String {
        self.running().endpoints().origin(&format!("{name}.managedhsm.localhost"))
    }

    /// A vault token for `app` of `tenant` by the client-credentials grant.
    pub async fn token(&self, tenant: &str, app: &str) -> String {
        self.token_for(tenant, app, &self.resource()).await
    }

    /// A Managed HSM token for `app` of `tenant` by the client-credentials grant.
    pub async fn hsm_token(&self, tenant: &str, app: &str) -> String {
        let resource = self.running().endpoints().resource_of(strongroom_core::directory::VaultKind::ManagedHsm);
        self.token_for(tenant, app, resource).await
    }

    /// A token for `resource`, for `app` of `tenant` by the client-credentials grant.
    pub async fn token_for(&self, tenant: &str, app: &str, resource: &str) -> String {
        let client_id = self.client_id(app);
        let secret = format!("{app}-secret-0123456789");
        let scope = format!("{resource}/.default");
        let (status, body) = self
            .token_request(
                tenant,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &client_id),
                    ("client_secret", &secret),
                    ("scope", &scope),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Sends `method path` to `vault` with an optional bearer token and JSON body.
    pub async fn vault_call(
        &self,
        method: reqwest::Method,
        vault: &str,
        path_and_query: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let url = format!("{}{path_and_query}", self.vault_url(vault));
        let mut request = self.http.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }
}

async fn boot(dir: &Path, tail: &str, clock: &Clock) -> RunningServer {
    let server =
        SERVER_SECTION.replace("{data_dir}", &dir.display().to_string()).replace("{listen}", "\"127.0.0.1:0\"");
    // Tests of everything else run without Key Vault's service limits, as `strongroom dev` does (some write
    // hundreds of versions in a second); a test of the limits configures its own.
    let limits = if tail.contains("[service_limits]") { "" } else { "\n[service_limits]\npreset = \"off\"\n" };
    // Certificates are issued before create answers, so that tests read them without polling; a test of the
    // issuance window sets its own time.
    let issuance =
        if tail.contains("certificate_issuance_seconds") { "" } else { "certificate_issuance_seconds = 0\n" };
    let text = format!("{server}{issuance}{tail}{limits}");
    let config = Config::parse(&text, Path::new("test.toml")).unwrap();
    let installation = Installation::open_with_clock(config.server, clock.clone()).await.unwrap();
    installation.provision(&config.desired).await.unwrap();
    installation.start().await.unwrap()
}

fn client(server: &RunningServer, dir: &Path) -> reqwest::Client {
    client_from(server, dir, None)
}

fn client_from(server: &RunningServer, dir: &Path, local: Option<std::net::IpAddr>) -> reqwest::Client {
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    let builder =
        reqwest::Client::builder().tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()]).local_address(local);
    // Every name is the server's, vaults and HSMs made later included, so that a test can also knock at the
    // wrong one.
    builder.dns_resolver(std::sync::Arc::new(ToServer(server.address()))).build().unwrap()
}

/// Resolves every name to the server.
struct ToServer(std::net::SocketAddr);

impl reqwest::dns::Resolve for ToServer {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addresses: reqwest::dns::Addrs = Box::new(std::iter::once(self.0));
        Box::pin(std::future::ready(Ok(addresses)))
    }
}

/// A call to the vault `billing` at api-version 7.6 with `token`: status and JSON body (`null` when none).
pub async fn billing_call(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let separator = if path.contains('?') { '&' } else { '?' };
    let path = format!("{path}{separator}api-version=7.6");
    let response = server.vault_call(method, "billing", &path, Some(token), body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The versions of the object `name` of `collection` (`keys`, `certificates`) in the vault `billing`.
pub async fn billing_versions(server: &TestServer, token: &str, collection: &str, name: &str) -> Vec<Value> {
    let (status, body) =
        billing_call(server, token, reqwest::Method::GET, &format!("/{collection}/{name}/versions"), None).await;
    assert_eq!(status, 200, "{body}");
    body["value"].as_array().cloned().unwrap_or_default()
}

/// Whether the audit log holds a record of `operation` on the object `{collection}/{name}` itself.
pub fn audited(server: &TestServer, operation: &str, collection: &str, name: &str) -> bool {
    let audit = std::fs::read_to_string(server.dir.path().join("audit.log")).unwrap();
    let resource = format!("/{collection}/{name}");
    audit
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .any(|e| e["OperationName"] == operation && e["Id"].as_str().is_some_and(|r| r.ends_with(&resource)))
}

/// The `error` object of a Key Vault error response, with its status.
pub async fn vault_error(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].clone())
}

/// A raw TLS connection to `server` from the loopback address `local`, offering `alpn` (e.g. `http/1.1`),
/// for tests that speak HTTP by hand (partial headers, trickled bodies).
pub async fn tls_connect(
    server: &TestServer,
    local: std::net::IpAddr,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls_pki_types::pem::PemObject;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::new(local, 0)).unwrap();
    let stream = socket.connect(server.running().address()).await.unwrap();
    let mut roots = rustls::RootCertStore::empty();
    let ca = rustls_pki_types::CertificateDer::from_pem_file(server.dir.path().join("ca.pem")).unwrap();
    roots.add(ca).unwrap();
    let mut config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    connector.connect(rustls_pki_types::ServerName::try_from("localhost").unwrap(), stream).await.unwrap()
}

impl TestServer {
    /// Another node beside `first`, on the same storage (`tail` names it): its own data directory, the same
    /// root key, as an operator sets nodes up.
    pub async fn start_beside(first: &TestServer, tail: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(first.dir.path().join("root.key"), dir.path().join("root.key")).unwrap();
        let clock = Clock::system();
        let server = boot(dir.path(), tail, &clock).await;
        let http = client(&server, dir.path());
        Self { server: Some(server), dir, http, clock, config_tail: tail.to_owned() }
    }
}
