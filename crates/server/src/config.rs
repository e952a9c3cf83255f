//! The configuration file: server settings, then the desired state applied at every start.
//!
//! Parsing is strict. An unknown key is an error naming the file, the line and the key. A key of the
//! documented format that this version does not implement yet is also an error ("not supported yet") as soon
//! as its value asks for behaviour — never silently ignored. The validated result is a [`Config`]: plain
//! settings plus a [`DesiredState`] for the domain.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::audit::file::AuditSettings;
use ipnet::IpNet;
use serde::Deserialize;
use strongroom_core::assertion::{CertificateCredential, FederatedCredential, IssuerKey};
use strongroom_core::credential::DeclaredSecret;
use strongroom_core::directory::{
    ApplicationCredentials, AuthorizationModel, ManagedIdentityKind, PrincipalKind, validate_vault_name,
};
use strongroom_core::network::{Bypass, DefaultAction, MAX_IP_RULES, MAX_VIRTUAL_NETWORK_RULES, NetworkRules, Subnet};
use strongroom_core::provision::{
    DesiredAccessPolicy, DesiredApplication, DesiredGroup, DesiredManagedIdentity, DesiredRoleAssignment,
    DesiredRoleDefinition, DesiredSecret, DesiredState, DesiredTenant, DesiredUser, DesiredVault,
};
use strongroom_core::rbac::{RoleDefinition, RolePermissions, Scope, built_in_role};
use toml::Spanned;
use uuid::Uuid;

mod service_limits;
mod tenants;

pub use service_limits::ServiceLimitSettings;
use service_limits::ServiceLimitsSection;
use tenants::TenantSection;

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// How the server runs.
    pub server: ServerSettings,
    /// What should exist.
    pub desired: DesiredState,
}

/// Validated `[server]` settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The main HTTPS listener; port 0 picks a free port. Its port is the one in every public URL.
    pub listen: SocketAddr,
    /// More HTTPS listeners serving the same (e.g. port 443 for MSAL's user-realm lookup, which ignores the
    /// authority's port).
    pub extra_listen: Vec<SocketAddr>,
    /// TLS material, root key, audit log — and the database, unless `storage` names another.
    pub data_dir: PathBuf,
    /// Where objects and the directory are kept.
    pub storage: Storage,
    /// The identity authority's host name.
    pub login_host: String,
    /// Vaults are `{vault}.{vault_domain}`; the vault resource is `https://{vault_domain}[:port]`.
    pub vault_domain: String,
    /// Managed HSMs are `{hsm}.{managed_hsm_domain}`; their resource is `https://{managed_hsm_domain}[:port]`.
    pub managed_hsm_domain: String,
    /// Resource Manager's host name: `https://{management_host}[:port]` is the management resource.
    pub management_host: String,
    /// Microsoft Graph's host name: `https://{graph_host}[:port]` is the Graph resource.
    pub graph_host: String,
    /// A certificate and key to serve instead of the generated local CA's.
    pub tls: Option<TlsFiles>,
    /// Lifetime of issued access tokens.
    pub token_lifetime_seconds: u64,
    /// How often the token signing key rotates.
    pub signing_key_rotation_days: u32,
    /// How long a certificate's issuer takes (Self, or the tenant's CA): its operation is in progress, and can
    /// be cancelled, for that long, as Key Vault's are for a few seconds. 0 issues before create answers.
    pub certificate_issuance_seconds: u64,
    /// How far ahead of the system clock the server's clock starts, from the deprecated key
    /// `scheduler_clock_offset_seconds` (tests now set the clock itself: [`crate::clock::Clock`]).
    pub clock_offset_seconds: i64,
    /// Backup keys of other installations whose backups this one may restore (32 bytes each).
    pub trusted_backup_keys: Vec<zeroize::Zeroizing<Vec<u8>>>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Virtual-network subnets, for service-endpoint firewall rules.
    pub subnets: Vec<Subnet>,
    /// Private endpoints: extra listeners that reach one vault each.
    pub private_endpoints: Vec<PrivateEndpoint>,
    /// The plain-HTTP managed-identity listener (IMDS style), if any.
    pub imds_listen: Option<SocketAddr>,
    /// The plain-HTTP listener of `/metrics` (Prometheus), `/healthz` and `/readyz`, if any.
    pub metrics_listen: Option<SocketAddr>,
    /// How long and how many connections every listener holds.
    pub connections: ConnectionLimits,
    /// Where the audit log goes, and how its files rotate (`[audit]`).
    pub audit: AuditSettings,
    /// Whether the test controls (injected faults, moving the clock at runtime) may be used.
    pub test_controls: bool,
    /// Whether event webhooks may be plain `http://` on hosts other than loopback ones
    /// (`event_webhooks_allow_http`).
    pub event_webhooks_allow_http: bool,
    /// Private, loopback and link-local hosts that attestation authorities and federated-credential issuers
    /// may be fetched from (everything else on such addresses is refused).
    pub allowed_private_authorities: AllowedAuthorities,
    /// The tenants whose vaults may have certificates issued by a CA of their own, and for which names.
    pub certificate_authorities: Vec<TenantCertificateAuthority>,
    /// Key Vault's transaction limits per vault, or `None` when they are off (`dev`'s default; `serve`
    /// enforces Key Vault's unless `[service_limits]` says otherwise).
    pub service_limits: Option<ServiceLimitSettings>,
}

/// Limits every listener holds its connections to, against clients that open connections and never finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// The TLS handshake, and then each request's header, must arrive within this time.
    pub header_read_timeout: Duration,
    /// A connection with no request in progress is closed after this time.
    pub idle_timeout: Duration,
    /// A request body must arrive within this time from its first read.
    pub body_read_timeout: Duration,
    /// Connections open at once, over every listener; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Connections open at once from one client address (trusted proxies are exempt).
    pub max_connections_per_address: usize,
    /// Requests in progress at once on one HTTP/2 connection.
    pub http2_max_concurrent_streams: u32,
    /// How often an HTTP/2 connection is pinged; one that does not answer within the same time is closed.
    pub http2_keep_alive_interval: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT),
            body_read_timeout: Duration::from_secs(DEFAULT_BODY_READ_TIMEOUT),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            http2_max_concurrent_streams: DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS,
            http2_keep_alive_interval: Duration::from_secs(DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL),
        }
    }
}

const DEFAULT_HEADER_READ_TIMEOUT: u64 = 30;
const DEFAULT_IDLE_TIMEOUT: u64 = 120;
const DEFAULT_BODY_READ_TIMEOUT: u64 = 60;
const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 256;
const DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS: u32 = 100;
const DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL: u64 = 30;

/// Hosts on private, loopback or link-local addresses that the server may fetch issuer keys from: by name, or
/// by the network their address is in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedAuthorities {
    /// Host names (lowercase), allowed whatever they resolve to.
    pub hosts: Vec<String>,
    /// Addresses and ranges allowed.
    pub networks: Vec<IpNet>,
}

/// A tenant's certificate authority (`[tenant.certificate_authority]`): vault issuers of provider `Strongroom`
/// in this tenant sign with a CA of the tenant's own — never the CA of Strongroom's TLS — whose X.509 name
/// constraints permit only these DNS domains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantCertificateAuthority {
    /// The tenant, by name.
    pub tenant: String,
    /// The DNS domains certificates may name (each with its subdomains), lower-case.
    pub domains: Vec<String>,
}

/// The database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Storage {
    /// SQLite, `strongroom.db` in the data directory.
    #[default]
    Sqlite,
    /// A PostgreSQL database, shared by every node of the installation.
    Postgres {
        /// Its URL.
        url: String,
        /// A PEM file of certificates trusted for the database server's TLS certificate, besides the system's.
        ca: Option<PathBuf>,
    },
}

impl Storage {
    /// `postgres://…` or `postgresql://…`; anything else is not a storage this version knows.
    pub fn parse(text: &str) -> Option<Self> {
        (text.starts_with("postgres://") || text.starts_with("postgresql://"))
            .then(|| Storage::Postgres { url: text.to_owned(), ca: None })
    }

    /// The same storage trusting `ca` for the database's certificate; only PostgreSQL has one.
    pub fn with_ca(self, ca: PathBuf) -> Option<Self> {
        match self {
            Storage::Postgres { url, .. } => Some(Storage::Postgres { url, ca: Some(ca) }),
            Storage::Sqlite => None,
        }
    }
}

/// A private endpoint: connections to its address reach its vault over private link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateEndpoint {
    /// Its name.
    pub name: String,
    /// The vault it serves.
    pub vault: String,
    /// Where it listens; port 0 means the main listener's port (the port is part of the vault URL).
    pub listen: SocketAddr,
}

/// PEM files of a server certificate chain and its private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

impl ServerSettings {
    /// Settings for `listen` and `data_dir`, with the defaults of everything else.
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            listen,
            extra_listen: Vec::new(),
            data_dir,
            storage: Storage::default(),
            login_host: "login.localhost".into(),
            vault_domain: "vault.localhost".into(),
            managed_hsm_domain: "managedhsm.localhost".into(),
            management_host: "management.localhost".into(),
            graph_host: "graph.localhost".into(),
            tls: None,
            token_lifetime_seconds: DEFAULT_TOKEN_LIFETIME,
            signing_key_rotation_days: DEFAULT_ROTATION_DAYS,
            certificate_issuance_seconds: DEFAULT_CERTIFICATE_ISSUANCE_SECONDS,
            clock_offset_seconds: 0,
            trusted_backup_keys: Vec::new(),
            trusted_proxies: Vec::new(),
            subnets: Vec::new(),
            private_endpoints: Vec::new(),
            imds_listen: None,
            metrics_listen: None,
            connections: ConnectionLimits::default(),
            audit: AuditSettings::default(),
            test_controls: false,
            event_webhooks_allow_http: false,
            allowed_private_authorities: AllowedAuthorities::default(),
            certificate_authorities: Vec::new(),
            service_limits: None,
        }
    }
}

impl ServerSettings {
    /// Listens on `addresses` instead of the configured ones (`--listen`): the first is the main listener.
    pub fn listen_on(&mut self, addresses: &[SocketAddr]) -> Result<(), ConfigError> {
        let (main, extra) = addresses.split_first().ok_or_else(|| ConfigError("--listen names no address".into()))?;
        if self.login_host == AZURE_LOGIN_HOST && main.port() != 443 {
            return Err(ConfigError(format!(
                "{main}: Azure's host names are reached on port 443, so the main listener must be on it \
                 (`serve`: the first --listen; `dev --azure-hostnames`: --azure-listen)"
            )));
        }
        self.listen = *main;
        self.extra_listen = extra.to_vec();
        Ok(())
    }
}

const DEFAULT_TOKEN_LIFETIME: u64 = 3600;
const DEFAULT_ROTATION_DAYS: u32 = 30;
/// How long a certificate issuer takes by default: Key Vault's take a few seconds.
const DEFAULT_CERTIFICATE_ISSUANCE_SECONDS: u64 = 2;
/// The longest issuance time a configuration may ask for: an hour.
const MAX_CERTIFICATE_ISSUANCE_SECONDS: u64 = 3600;
/// The authority host of Azure's public cloud.
pub const AZURE_LOGIN_HOST: &str = "login.microsoftonline.com";
/// The vault domain of Azure's public cloud.
pub const AZURE_VAULT_DOMAIN: &str = "vault.azure.net";
/// Azure's Managed HSM domain.
pub const AZURE_MANAGED_HSM_DOMAIN: &str = "managedhsm.azure.net";
/// Resource Manager's host in Azure's public cloud.
pub const AZURE_MANAGEMENT_HOST: &str = "management.azure.com";
/// Microsoft Graph's host in Azure's public cloud.
pub const AZURE_GRAPH_HOST: &str = "graph.microsoft.com";

/// A configuration error, already phrased for the user with file and line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: cannot read the configuration: {e}", path.display())))?;
        Self::parse(&text, path)
    }

    /// Validates `text`, reporting errors against `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let located = |span: Option<std::ops::Range<usize>>, message: &str| {
            let line = span.map_or(String::new(), |s| format!("{}:", line_of(text, s.start)));
            ConfigError(format!("{}:{line} {message}", path.display()))
        };
        let file: ConfigFile = toml::from_str(text).map_err(|e| located(e.span(), e.message().trim_end()))?;
        // Files the configuration names (certificates, key sets) are relative to the configuration's folder.
        let base = path.parent().unwrap_or(Path::new("."));
        file.validate(base).map_err(|Located { span, message }| located(span, &message))
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(1, |before| before.matches('\n').count() + 1)
}

/// A validation error with the place in the file it refers to.
struct Located {
    span: Option<std::ops::Range<usize>>,
    message: String,
}

fn at<T>(value: &Spanned<T>, message: impl Into<String>) -> Located {
    Located { span: Some(value.span()), message: message.into() }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    server: ServerSection,
    #[serde(default)]
    tenant: Vec<TenantSection>,
    #[serde(default)]
    network: Vec<NetworkDeclaration>,
    #[serde(default)]
    private_endpoint: Vec<PrivateEndpointSection>,
    audit: Option<AuditSection>,
    #[serde(default)]
    service_limits: ServiceLimitsSection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditSection {
    file: Option<bool>,
    stdout: Option<bool>,
    max_file_size_mb: Option<Spanned<u64>>,
    max_file_age_hours: Option<Spanned<u64>>,
    keep_days: Option<Spanned<u64>>,
    keep_files: Option<Spanned<u64>>,
}

impl AuditSection {
    fn validate(self) -> Result<AuditSettings, Located> {
        let default = AuditSettings::default();
        const HOUR: u64 = 60 * 60;
        let hours = |d: Duration| d.as_secs() / HOUR;
        Ok(AuditSettings {
            file: self.file.unwrap_or(default.file),
            stdout: self.stdout.unwrap_or(default.stdout),
            max_file_bytes: bounded(&self.max_file_size_mb, "max_file_size_mb", default.max_file_bytes >> 20, 1 << 20)?
                << 20,
            max_file_age: Duration::from_secs(
                bounded(&self.max_file_age_hours, "max_file_age_hours", hours(default.max_file_age), 24 * 366)? * HOUR,
            ),
            keep_for: Duration::from_secs(
                bounded(&self.keep_days, "keep_days", hours(default.keep_for) / 24, 3660)? * 24 * HOUR,
            ),
            keep_files: usize::try_from(bounded(&self.keep_files, "keep_files", default.keep_files as u64, 100_000)?)
                .unwrap_or(default.keep_files),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkDeclaration {
    name: Spanned<String>,
    #[serde(default)]
    subnet: Vec<SubnetSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubnetSection {
    name: Spanned<String>,
    prefix: Spanned<String>,
    #[serde(default)]
    service_endpoints: Vec<String>,
}

/// One address, or a list whose first is the main listener.
#[derive(Deserialize)]
#[serde(untagged)]
enum Addresses {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivateEndpointSection {
    name: Spanned<String>,
    vault: Spanned<String>,
    listen: Spanned<String>,
    subnet: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    listen: Spanned<Addresses>,
    imds_listen: Option<Spanned<String>>,
    metrics_listen: Option<Spanned<String>>,
    test_controls: Option<bool>,
    event_webhooks_allow_http: Option<bool>,
    data_dir: PathBuf,
    login_host: Option<Spanned<String>>,
    vault_domain: Option<Spanned<String>>,
    managed_hsm_domain: Option<Spanned<String>>,
    management_host: Option<Spanned<String>>,
    graph_host: Option<Spanned<String>>,
    azure_hostnames: Option<Spanned<bool>>,
    tls_cert: Option<Spanned<PathBuf>>,
    tls_key: Option<Spanned<PathBuf>>,
    storage: Option<Spanned<String>>,
    storage_ca: Option<Spanned<PathBuf>>,
    #[serde(default)]
    trusted_proxies: Vec<Spanned<String>>,
    token_lifetime_seconds: Option<Spanned<u64>>,
    signing_key_rotation_days: Option<Spanned<u32>>,
    certificate_issuance_seconds: Option<Spanned<u64>>,
    scheduler_clock_offset_seconds: Option<Spanned<i64>>,
    #[serde(default)]
    trusted_backup_keys: Vec<Spanned<String>>,
    header_read_timeout_seconds: Option<Spanned<u64>>,
    idle_timeout_seconds: Option<Spanned<u64>>,
    body_read_timeout_seconds: Option<Spanned<u64>>,
    max_connections: Option<Spanned<u64>>,
    max_connections_per_address: Option<Spanned<u64>>,
    http2_max_concurrent_streams: Option<Spanned<u64>>,
    http2_keep_alive_interval_seconds: Option<Spanned<u64>>,
    #[serde(default)]
    allowed_private_authorities: Vec<Spanned<String>>,
}

impl ConfigFile {
    fn validate(self, base: &Path) -> Result<Config, Located> {
        let mut server = self.server.validate()?;
        server.subnets = subnets(self.network)?;
        if let Some(audit) = self.audit {
            server.audit = audit.validate()?;
        }
        server.service_limits = self.service_limits.validate()?;
        let mut tenants = Vec::new();
        for mut tenant in self.tenant {
            if let Some(authority) = tenant.certificate_authority.take() {
                server.certificate_authorities.push(authority.validate(tenant.name.get_ref())?);
            }
            tenants.push(tenant.validate(&server.subnets, base)?);
        }
        server.private_endpoints = self
            .private_endpoint
            .into_iter()
            .map(|endpoint| endpoint.validate(&tenants, &server.subnets))
            .collect::<Result<_, _>>()?;
        Ok(Config { server, desired: DesiredState { tenants } })
    }
}

fn subnets(networks: Vec<NetworkDeclaration>) -> Result<Vec<Subnet>, Located> {
    let mut subnets: Vec<Subnet> = Vec::new();
    for network in networks {
        if !is_label(network.name.get_ref()) {
            return Err(at(&network.name, "a network name is letters, digits and hyphens"));
        }
        for subnet in network.subnet {
            if !is_label(subnet.name.get_ref()) {
                return Err(at(&subnet.name, "a subnet name is letters, digits and hyphens"));
            }
            let id = format!("{}/{}", network.name.get_ref(), subnet.name.get_ref());
            if subnets.iter().any(|s| s.id.eq_ignore_ascii_case(&id)) {
                return Err(at(&subnet.name, format!("subnet '{id}' is declared twice")));
            }
            let prefix = parse_network(&subnet.prefix)?;
            let key_vault_endpoint =
                subnet.service_endpoints.iter().any(|e| e.eq_ignore_ascii_case("Microsoft.KeyVault"));
            subnets.push(Subnet { id, prefix, key_vault_endpoint });
        }
    }
    Ok(subnets)
}

fn is_label(text: &str) -> bool {
    is_host_name(text) && !text.contains('.')
}

/// An address or CIDR range.
fn parse_network(text: &Spanned<String>) -> Result<IpNet, Located> {
    strongroom_core::network::parse_ip_rule(text.get_ref()).map_err(|e| at(text, e.message()))
}

fn find_subnet<'a>(subnets: &'a [Subnet], reference: &Spanned<String>) -> Result<&'a Subnet, Located> {
    subnets.iter().find(|s| s.id.eq_ignore_ascii_case(reference.get_ref())).ok_or_else(|| {
        at(
            reference,
            format!("unknown subnet '{}': declare it under [[network]] / [[network.subnet]]", reference.get_ref()),
        )
    })
}

impl PrivateEndpointSection {
    fn validate(self, tenants: &[DesiredTenant], subnets: &[Subnet]) -> Result<PrivateEndpoint, Located> {
        let vault_exists =
            tenants.iter().flat_map(|t| &t.vaults).any(|v| v.name.eq_ignore_ascii_case(self.vault.get_ref()));
        if !vault_exists {
            return Err(at(&self.vault, format!("unknown vault '{}'", self.vault.get_ref())));
        }
        if let Some(subnet) = &self.subnet {
            find_subnet(subnets, subnet)?;
        }
        let listen =
            self.listen.get_ref().parse().map_err(|_| at(&self.listen, "`listen` must be an address and port"))?;
        Ok(PrivateEndpoint { name: self.name.into_inner(), vault: self.vault.into_inner(), listen })
    }
}

impl ServerSection {
    fn validate(self) -> Result<ServerSettings, Located> {
        let connections = self.connection_limits()?;
        let allowed_private_authorities = allowed_authorities(&self.allowed_private_authorities)?;
        let imds_listen = self
            .imds_listen
            .as_ref()
            .map(|v| v.get_ref().parse().map_err(|_| at(v, "`imds_listen` must be an address and port")))
            .transpose()?;
        let metrics_listen = self
            .metrics_listen
            .as_ref()
            .map(|v| v.get_ref().parse().map_err(|_| at(v, "`metrics_listen` must be an address and port")))
            .transpose()?;
        let storage = self
            .storage
            .as_ref()
            .map(|v| {
                Storage::parse(v.get_ref())
                    .ok_or_else(|| at(v, "`storage` must be a postgres:// URL (leave it out for SQLite in data_dir)"))
            })
            .transpose()?
            .unwrap_or_default();
        let storage = match &self.storage_ca {
            Some(ca) => storage
                .with_ca(ca.get_ref().clone())
                .ok_or_else(|| at(ca, "`storage_ca` needs `storage = \"postgres://…?sslmode=require\"`"))?,
            None => storage,
        };
        let trusted_proxies = self.trusted_proxies.iter().map(parse_network).collect::<Result<_, _>>()?;
        let texts = match self.listen.get_ref() {
            Addresses::One(one) => vec![one.clone()],
            Addresses::Many(many) => many.clone(),
        };
        let mut addresses = texts
            .iter()
            .map(|text| text.parse::<SocketAddr>())
            .collect::<Result<Vec<_>, _>>()
            .ok()
            .filter(|addresses| !addresses.is_empty())
            .ok_or_else(|| {
                at(&self.listen, "`listen` is an address and port, e.g. \"127.0.0.1:8443\", or a list of them")
            })?
            .into_iter();
        let listen = addresses.next().ok_or_else(|| at(&self.listen, "`listen` names no address"))?;
        let extra_listen = addresses.collect();
        let host = |value: Option<Spanned<String>>, default: &str, key: &str| match value {
            None => Ok(default.to_owned()),
            Some(v) if is_host_name(v.get_ref()) => Ok(v.into_inner().to_ascii_lowercase()),
            Some(v) => Err(at(&v, format!("`{key}` must be a DNS host name"))),
        };
        let (login_host, vault_domain, managed_hsm_domain, management_host, graph_host) = match &self.azure_hostnames {
            Some(azure) if *azure.get_ref() => {
                // Code written for Azure addresses these names on 443; MSAL trusts the authority by its name.
                let named = [
                    &self.login_host,
                    &self.vault_domain,
                    &self.managed_hsm_domain,
                    &self.management_host,
                    &self.graph_host,
                ];
                if named.iter().any(|name| name.is_some()) {
                    return Err(at(
                        azure,
                        "`azure_hostnames = true` sets the host names: leave out `login_host`, `vault_domain`, \
                         `managed_hsm_domain`, `management_host` and `graph_host`",
                    ));
                }
                if listen.port() != 443 {
                    return Err(at(azure, "`azure_hostnames = true` needs the main `listen` address on port 443"));
                }
                let [login, vault, hsm, management, graph] = [
                    AZURE_LOGIN_HOST,
                    AZURE_VAULT_DOMAIN,
                    AZURE_MANAGED_HSM_DOMAIN,
                    AZURE_MANAGEMENT_HOST,
                    AZURE_GRAPH_HOST,
                ]
                .map(str::to_owned);
                (login, vault, hsm, management, graph)
            }
            _ => {
                let login_host = host(self.login_host, "login.localhost", "login_host")?;
                // Beside the login host by default: `login.localhost` → `management.localhost`, `graph.localhost`.
                let sibling = |label: &str| match login_host.split_once('.') {
                    Some((_, parent)) => format!("{label}.{parent}"),
                    None => format!("{label}.{login_host}"),
                };
                let (management, graph) = (sibling("management"), sibling("graph"));
                (
                    login_host.clone(),
                    host(self.vault_domain, "vault.localhost", "vault_domain")?,
                    host(self.managed_hsm_domain, "managedhsm.localhost", "managed_hsm_domain")?,
                    host(self.management_host, &management, "management_host")?,
                    host(self.graph_host, &graph, "graph_host")?,
                )
            }
        };
        let tls = match (self.tls_cert, self.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.into_inner(), key: key.into_inner() }),
            (Some(one), None) | (None, Some(one)) => {
                return Err(at(&one, "`tls_cert` and `tls_key` must be given together"));
            }
        };
        let token_lifetime_seconds = match self.token_lifetime_seconds {
            None => DEFAULT_TOKEN_LIFETIME,
            Some(v) if (600..=86_400).contains(v.get_ref()) => v.into_inner(),
            Some(v) => return Err(at(&v, "`token_lifetime_seconds` must be between 600 and 86400")),
        };
        let signing_key_rotation_days = match self.signing_key_rotation_days {
            None => DEFAULT_ROTATION_DAYS,
            Some(v) if (1..=365).contains(v.get_ref()) => v.into_inner(),
            Some(v) => return Err(at(&v, "`signing_key_rotation_days` must be between 1 and 365")),
        };
        let certificate_issuance_seconds = match self.certificate_issuance_seconds {
            None => DEFAULT_CERTIFICATE_ISSUANCE_SECONDS,
            Some(v) if *v.get_ref() <= MAX_CERTIFICATE_ISSUANCE_SECONDS => v.into_inner(),
            Some(v) => return Err(at(&v, "`certificate_issuance_seconds` must be between 0 and 3600")),
        };
        let clock_offset_seconds = match self.scheduler_clock_offset_seconds {
            None => 0,
            Some(v) if (0..=10 * 365 * 86_400).contains(v.get_ref()) => v.into_inner(),
            Some(v) => return Err(at(&v, "`scheduler_clock_offset_seconds` must be between 0 and ten years")),
        };
        let trusted_backup_keys = self
            .trusted_backup_keys
            .iter()
            .map(|key| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(key.get_ref().trim())
                    .ok()
                    .filter(|bytes| bytes.len() == 32)
                    .map(zeroize::Zeroizing::new)
                    .ok_or_else(|| {
                        at(key, "a trusted backup key is the base64 of 32 bytes (`strongroom backup-key` prints one)")
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(ServerSettings {
            connections,
            audit: AuditSettings::default(),
            test_controls: self.test_controls.unwrap_or(false),
            event_webhooks_allow_http: self.event_webhooks_allow_http.unwrap_or(false),
            allowed_private_authorities,
            listen,
            extra_listen,
            trusted_backup_keys,
            trusted_proxies,
            subnets: Vec::new(),
            private_endpoints: Vec::new(),
            imds_listen,
            metrics_listen,
            certificate_authorities: Vec::new(),
            service_limits: None,
            data_dir: self.data_dir,
            login_host,
            vault_domain,
            managed_hsm_domain,
            management_host,
            graph_host,
            tls,
            token_lifetime_seconds,
            signing_key_rotation_days,
            certificate_issuance_seconds,
            clock_offset_seconds,
            storage,
        })
    }
}

impl ServerSection {
    fn connection_limits(&self) -> Result<ConnectionLimits, Located> {
        let seconds = |value: &Option<Spanned<u64>>, key: &str, default: u64, max: u64| {
            bounded(value, key, default, max).map(Duration::from_secs)
        };
        let count = |value: &Option<Spanned<u64>>, key: &str, default: usize, max: u64| {
            bounded(value, key, default as u64, max).map(|n| usize::try_from(n).unwrap_or(default))
        };
        Ok(ConnectionLimits {
            header_read_timeout: seconds(
                &self.header_read_timeout_seconds,
                "header_read_timeout_seconds",
                DEFAULT_HEADER_READ_TIMEOUT,
                300,
            )?,
            idle_timeout: seconds(&self.idle_timeout_seconds, "idle_timeout_seconds", DEFAULT_IDLE_TIMEOUT, 3600)?,
            body_read_timeout: seconds(
                &self.body_read_timeout_seconds,
                "body_read_timeout_seconds",
                DEFAULT_BODY_READ_TIMEOUT,
                3600,
            )?,
            max_connections: count(&self.max_connections, "max_connections", DEFAULT_MAX_CONNECTIONS, 1_000_000)?,
            max_connections_per_address: count(
                &self.max_connections_per_address,
                "max_connections_per_address",
                DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
                1_000_000,
            )?,
            http2_max_concurrent_streams: bounded(
                &self.http2_max_concurrent_streams,
                "http2_max_concurrent_streams",
                u64::from(DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS),
                1000,
            )
            .map(|n| u32::try_from(n).unwrap_or(DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS))?,
            http2_keep_alive_interval: seconds(
                &self.http2_keep_alive_interval_seconds,
                "http2_keep_alive_interval_seconds",
                DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL,
                3600,
            )?,
        })
    }
}

/// `value` if it is between 1 and `max`, `default` if left out.
fn bounded(value: &Option<Spanned<u64>>, key: &str, default: u64, max: u64) -> Result<u64, Located> {
    match value {
        None => Ok(default),
        Some(v) if (1..=max).contains(v.get_ref()) => Ok(*v.get_ref()),
        Some(v) => Err(at(v, format!("`{key}` must be between 1 and {max}"))),
    }
}

/// Each entry a host name, an address or a CIDR range.
fn allowed_authorities(entries: &[Spanned<String>]) -> Result<AllowedAuthorities, Located> {
    let mut allowed = AllowedAuthorities::default();
    for entry in entries {
        let text = entry.get_ref().trim();
        if let Ok(network) = strongroom_core::network::parse_ip_rule(text) {
            allowed.networks.push(network);
        } else if is_host_name(text) {
            allowed.hosts.push(text.to_ascii_lowercase());
        } else {
            return Err(at(entry, "an allowed private authority is a host name, an IP address or a CIDR range"));
        }
    }
    Ok(allowed)
}

/// Letters, digits and hyphens in dot-separated labels.
fn is_host_name(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|label| {
            !label.is_empty() && label.len() <= 63 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn parse_uuid(value: &Spanned<String>, key: &str) -> Result<Uuid, Located> {
    Uuid::parse_str(value.get_ref()).map_err(|_| at(value, format!("`{key}` must be a GUID")))
}

#[cfg(test)]
mod tests;
