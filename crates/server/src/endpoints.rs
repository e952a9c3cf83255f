//! The public URLs of a running server, derived from its host names and the port it listens on.

use uuid::Uuid;

/// Key Vault's own application id, which Entra also accepts as the audience of vault tokens.
pub const KEY_VAULT_APP_ID: &str = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093";

/// The resources whose tokens the management API accepts: Azure Resource Manager's two names and Microsoft
/// Graph's, so that code written for Azure asks for the scope it always asks for.
pub const MANAGEMENT_RESOURCES: &[&str] =
    &["https://management.azure.com", "https://management.core.windows.net", "https://graph.microsoft.com"];

/// Host names and port, and the URLs built from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    login_host: String,
    vault_domain: String,
    port: u16,
    /// `https://{login_host}[:port]`, built once: every vault request compares a token's issuer with it.
    login_origin: String,
    /// `https://{vault_domain}[:port]`, built once: every vault request checks a token's audience against it.
    vault_origin: String,
}

impl Endpoints {
    /// The endpoints of a server answering as `login_host` and `*.{vault_domain}` on `port`.
    pub fn new(login_host: &str, vault_domain: &str, port: u16) -> Self {
        Self {
            login_host: login_host.to_owned(),
            vault_domain: vault_domain.to_owned(),
            port,
            login_origin: origin(login_host, port),
            vault_origin: origin(vault_domain, port),
        }
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

    /// The audiences of management tokens: Azure's names for Resource Manager and Graph, and the login origin,
    /// where this server serves both — a private cloud's metadata names it as the Graph resource, so the Azure
    /// CLI asks for tokens for it.
    pub fn management_audiences(&self) -> Vec<&str> {
        MANAGEMENT_RESOURCES.iter().copied().chain([self.login_origin.as_str()]).collect()
    }

    /// The vault resource: the audience of vault tokens and the challenge's `resource`.
    pub fn vault_resource(&self) -> &str {
        &self.vault_origin
    }

    /// The URL of the vault `name`.
    pub fn vault_url(&self, name: &str) -> String {
        self.origin(&format!("{name}.{}", self.vault_domain))
    }

    /// The vault a host name addresses, if it is `{vault}.{vault_domain}` with a one-label vault part.
    pub fn vault_name<'a>(&self, host_name: &'a str) -> Option<&'a str> {
        let prefix = host_name.strip_suffix(self.vault_domain.as_str())?.strip_suffix('.')?;
        (!prefix.is_empty() && !prefix.contains('.')).then_some(prefix)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The login host.
    pub fn login_host(&self) -> &str {
        &self.login_host
    }

    /// The vault domain: every `{vault}.{vault_domain}` is a vault of this server.
    pub fn vault_domain(&self) -> &str {
        &self.vault_domain
    }
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

    #[test]
    fn urls_carry_the_port_unless_it_is_443() {
        let tenant = Uuid::nil();
        let e = Endpoints::new("login.localhost", "vault.localhost", 8443);
        assert_eq!(e.vault_resource(), "https://vault.localhost:8443");
        assert_eq!(e.authority(tenant), format!("https://login.localhost:8443/{tenant}"));
        assert_eq!(e.issuer(tenant), format!("https://login.localhost:8443/{tenant}/v2.0"));
        assert_eq!(e.vault_url("dev"), "https://dev.vault.localhost:8443");
        let e = Endpoints::new("login.localhost", "vault.localhost", 443);
        assert_eq!(e.vault_resource(), "https://vault.localhost");
    }

    #[test]
    fn management_tokens_may_name_the_login_origin_but_never_the_vaults() {
        let e = Endpoints::new("localhost", "vault.localhost", 8443);
        let audiences = e.management_audiences();
        assert!(audiences.contains(&"https://localhost:8443") && audiences.contains(&"https://graph.microsoft.com"));
        assert!(!audiences.contains(&e.vault_resource()));
    }

    #[test]
    fn vault_hosts_are_one_label_under_the_domain() {
        let e = Endpoints::new("login.localhost", "vault.localhost", 8443);
        assert_eq!(e.vault_name("dev.vault.localhost"), Some("dev"));
        assert_eq!(e.vault_name("vault.localhost"), None);
        assert_eq!(e.vault_name("a.b.vault.localhost"), None);
        assert_eq!(e.vault_name("devvault.localhost"), None);
        assert_eq!(e.vault_name("localhost"), None);
    }
}
