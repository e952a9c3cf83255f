//! The public URLs of a running server, derived from its host names and the port it listens on.

use strongroom_core::directory::{Vault, VaultKind};
use uuid::Uuid;

/// Key Vault's own application id, which Entra also accepts as the audience of vault tokens.
pub const KEY_VAULT_APP_ID: &str = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093";

/// Managed HSM's application id, which Entra also accepts as the audience of Managed HSM tokens.
pub const MANAGED_HSM_APP_ID: &str = "589d5083-6f11-4d30-a62a-a4b316a14abf";

/// Microsoft Graph's resource name in Azure.
pub const AZURE_GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// The resources whose tokens the management API accepts: Azure Resource Manager's two names and Microsoft
/// Graph's, so that code written for Azure asks for the scope it always asks for.
pub const MANAGEMENT_RESOURCES: [&str; 3] =
    ["https://management.azure.com", "https://management.core.windows.net", AZURE_GRAPH_RESOURCE];

/// The host names a server answers as.
#[derive(Debug, Clone, Copy)]
pub struct HostNames<'a> {
    /// The identity authority.
    pub login: &'a str,
    /// Every `{vault}.{vault_domain}` is a vault.
    pub vault_domain: &'a str,
    /// Every `{hsm}.{managed_hsm_domain}` is a Managed HSM.
    pub managed_hsm_domain: &'a str,
    /// Resource Manager's host: its origin is the management resource.
    pub management: &'a str,
    /// Microsoft Graph's host: its origin is the Graph resource.
    pub graph: &'a str,
}

/// Host names and port, and the URLs built from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    login_host: String,
    vault_domain: String,
    managed_hsm_domain: String,
    management_host: String,
    graph_host: String,
    port: u16,
    /// `https://{login_host}[:port]`, built once: every vault request compares a token's issuer with it.
    login_origin: String,
    /// `https://{vault_domain}[:port]`, built once: every vault request checks a token's audience against it.
    vault_origin: String,
    /// `https://{managed_hsm_domain}[:port]`: the audience of Managed HSM tokens.
    managed_hsm_origin: String,
    /// `https://{management_host}[:port]`: Resource Manager's URL and token audience.
    management_origin: String,
    /// `https://{graph_host}[:port]`: Graph's URL and token audience.
    graph_origin: String,
}

impl Endpoints {
    /// The endpoints of a server answering as `hosts` on `port`.
    pub fn new(hosts: HostNames<'_>, port: u16) -> Self {
        Self {
            login_host: hosts.login.to_owned(),
            vault_domain: hosts.vault_domain.to_owned(),
            managed_hsm_domain: hosts.managed_hsm_domain.to_owned(),
            management_host: hosts.management.to_owned(),
            graph_host: hosts.graph.to_owned(),
            port,
            login_origin: origin(hosts.login, port),
            vault_origin: origin(hosts.vault_domain, port),
            managed_hsm_origin: origin(hosts.managed_hsm_domain, port),
            management_origin: origin(hosts.management, port),
            graph_origin: origin(hosts.graph, port),
        }
    }

    /// Resource Manager's URL here, which is also a name of the management resource tokens are asked for.
    pub fn management_resource(&self) -> &str {
        &self.management_origin
    }

    /// Microsoft Graph's URL here, which is also a name of the Graph resource tokens are asked for.
    pub fn graph_resource(&self) -> &str {
        &self.graph_origin
    }

    /// Every name the management API's tokens may carry as their audience: this server's Resource Manager
    /// and Graph URLs, and Azure's own names for them, so that code written for Azure asks for the scope it
    /// always asks for.
    pub fn management_audiences(&self) -> [&str; 5] {
        let [arm, arm_classic, graph] = MANAGEMENT_RESOURCES;
        [&self.management_origin, &self.graph_origin, arm, arm_classic, graph]
    }

    /// `https://{host}`, with the port unless it is 443.
    pub fn origin(&self, host: &str) -> String {
        origin(host, self.port)
    }

    /// The authority host SDKs are pointed at (`AZURE_AUTHORITY_HOST`).
    pub fn authority_host(&self) -> &str {
        &self.login_origin
    }

    /// The authority of a tenant, as the vault's challenge names it.
    pub fn authority(&self, tenant_id: Uuid) -> String {
        format!("{}/{tenant_id}", self.authority_host())
    }

    /// The issuer of a tenant's tokens.
    pub fn issuer(&self, tenant_id: Uuid) -> String {
        // Joined rather than formatted: every vault request builds it.
        [&self.login_origin, "/", tenant_id.hyphenated().encode_lower(&mut Uuid::encode_buffer()), "/v2.0"].concat()
    }

    /// The vault resource: the audience of vault tokens and the challenge's `resource`.
    pub fn vault_resource(&self) -> &str {
        &self.vault_origin
    }

    /// The resource of vaults of `kind`: the audience of their tokens and their challenge's `resource`.
    pub fn resource_of(&self, kind: VaultKind) -> &str {
        match kind {
            VaultKind::Vault => &self.vault_origin,
            VaultKind::ManagedHsm => &self.managed_hsm_origin,
        }
    }

    /// The URL of the vault `name`.
    pub fn vault_url(&self, name: &str) -> String {
        self.origin(&format!("{name}.{}", self.vault_domain))
    }

    /// The URL of `vault`, a key vault or a Managed HSM.
    pub fn url_of(&self, vault: &Vault) -> String {
        let domain = match vault.kind {
            VaultKind::Vault => &self.vault_domain,
            VaultKind::ManagedHsm => &self.managed_hsm_domain,
        };
        self.origin(&format!("{}.{domain}", vault.name))
    }

    /// The vault a host name addresses, if it is `{vault}.{vault_domain}` with a one-label vault part.
    pub fn vault_name<'a>(&self, host_name: &'a str) -> Option<&'a str> {
        one_label_under(host_name, &self.vault_domain)
    }

    /// The vault or Managed HSM a host name addresses, and which of the two it is.
    pub fn addressed<'a>(&self, host_name: &'a str) -> Option<(&'a str, VaultKind)> {
        match one_label_under(host_name, &self.managed_hsm_domain) {
            Some(name) => Some((name, VaultKind::ManagedHsm)),
            None => self.vault_name(host_name).map(|name| (name, VaultKind::Vault)),
        }
    }

    /// The Managed HSM domain: every `{hsm}.{managed_hsm_domain}` is a Managed HSM of this server.
    pub fn managed_hsm_domain(&self) -> &str {
        &self.managed_hsm_domain
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The login host.
    pub fn login_host(&self) -> &str {
        &self.login_host
    }

    /// The host names this server answers as besides the vaults': login, Resource Manager, Graph.
    pub fn service_hosts(&self) -> [&str; 3] {
        [&self.login_host, &self.management_host, &self.graph_host]
    }

    /// The vault domain: every `{vault}.{vault_domain}` is a vault of this server.
    pub fn vault_domain(&self) -> &str {
        &self.vault_domain
    }
}

/// The first label of `host_name` when the rest is `domain` and it is one label.
fn one_label_under<'a>(host_name: &'a str, domain: &str) -> Option<&'a str> {
    let prefix = host_name.strip_suffix(domain)?.strip_suffix('.')?;
    (!prefix.is_empty() && !prefix.contains('.')).then_some(prefix)
}

/// `https://{host}`, with the port unless it is 443.
fn origin(host: &str, port: u16) -> String {
    match port {
        443 => format!("https://{host}"),
        port => format!("https://{host}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(port: u16) -> Endpoints {
        let hosts = HostNames {
            login: "login.localhost",
            vault_domain: "vault.localhost",
            managed_hsm_domain: "managedhsm.localhost",
            management: "management.localhost",
            graph: "graph.localhost",
        };
        Endpoints::new(hosts, port)
    }

    #[test]
    fn management_and_graph_answer_to_their_own_urls_and_to_azures_names() {
        let e = local(8443);
        assert_eq!(e.management_resource(), "https://management.localhost:8443");
        assert_eq!(e.graph_resource(), "https://graph.localhost:8443");
        let audiences = e.management_audiences();
        for name in
            ["https://management.localhost:8443", "https://graph.localhost:8443", "https://management.azure.com"]
        {
            assert!(audiences.contains(&name), "{name}");
        }
        assert!(!audiences.contains(&e.vault_resource()));
    }

    #[test]
    fn urls_carry_the_port_unless_it_is_443() {
        let tenant = Uuid::nil();
        let e = local(8443);
        assert_eq!(e.vault_resource(), "https://vault.localhost:8443");
        assert_eq!(e.authority(tenant), format!("https://login.localhost:8443/{tenant}"));
        assert_eq!(e.issuer(tenant), format!("https://login.localhost:8443/{tenant}/v2.0"));
        assert_eq!(e.vault_url("dev"), "https://dev.vault.localhost:8443");
        let e = local(443);
        assert_eq!(e.vault_resource(), "https://vault.localhost");
    }

    #[test]
    fn vault_hosts_are_one_label_under_the_domain() {
        let e = local(8443);
        assert_eq!(e.vault_name("dev.vault.localhost"), Some("dev"));
        assert_eq!(e.vault_name("vault.localhost"), None);
        assert_eq!(e.vault_name("a.b.vault.localhost"), None);
        assert_eq!(e.vault_name("devvault.localhost"), None);
        assert_eq!(e.vault_name("localhost"), None);
        assert_eq!(e.addressed("dev.vault.localhost"), Some(("dev", VaultKind::Vault)));
        assert_eq!(e.addressed("keys.managedhsm.localhost"), Some(("keys", VaultKind::ManagedHsm)));
        assert_eq!(e.addressed("managedhsm.localhost"), None);
        assert_eq!(e.resource_of(VaultKind::ManagedHsm), "https://managedhsm.localhost:8443");
    }
}
