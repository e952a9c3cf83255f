//! `strongroom dev`: a ready-made installation for development — tenant `dev`, application `dev-app` with a
//! client secret, user `dev-user` with a password (for the portal), and vault `dev` where both are Key Vault
//! Administrators — plus the `dev.env` file that points the Azure SDKs at it. Everything is created once and
//! kept across restarts.
//!
//! It answers under one of two sets of host names ([`Naming`]): its own (`localhost`, `*.vault.localhost`), which
//! SDKs reach when told the authority, or Azure's (`login.microsoftonline.com`, `*.vault.azure.net`, …) on port
//! 443, which code written for Azure reaches unchanged once the hosts file and the system trust store say so
//! (`strongroom trust install`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use strongroom_core::credential::{self, DeclaredSecret};
use strongroom_core::directory::{AuthorizationModel, DEFAULT_RESOURCE_GROUP, PrincipalKind, Sku, VaultKind};
use strongroom_core::network::NetworkRules;
use strongroom_core::provision::{
    DesiredApplication, DesiredRoleAssignment, DesiredState, DesiredTenant, DesiredUser, DesiredVault,
};
use strongroom_core::rbac::Scope;
use uuid::Uuid;

use crate::config::{
    AZURE_GRAPH_HOST, AZURE_LOGIN_HOST, AZURE_MANAGED_HSM_DOMAIN, AZURE_MANAGEMENT_HOST, AZURE_VAULT_DOMAIN,
    ServerSettings, TenantCertificateAuthority,
};
use crate::endpoints::HostNames;
use crate::error::{Error, ErrorKind, Result};
use crate::installation::{Installation, RunningServer};
use crate::tls::write_private;

/// The development tenant, application and vault names.
pub const TENANT: &str = "dev";
/// The development application.
pub const APPLICATION: &str = "dev-app";
/// The development vault.
pub const VAULT: &str = "dev";
/// The development Managed HSM (vault and HSM names are unique together here).
pub const MANAGED_HSM: &str = "devhsm";
/// The development user, who signs in to the portal.
pub const USER: &str = "dev-user";
const SECRET_SETTING: &str = "dev-client-secret";
const PASSWORD_SETTING: &str = "dev-user-password";

/// The generated credentials of the dev instance.
pub struct DevCredentials {
    /// `dev-app`'s client secret.
    pub client_secret: String,
    /// `dev-user`'s password.
    pub user_password: String,
}

/// The random credential kept sealed under `setting`, made the first time it is asked for.
async fn generated(installation: &Installation, setting: &str) -> Result<String> {
    let store = installation.store();
    match store.sealed_setting(setting).await? {
        Some(stored) => String::from_utf8(stored.to_vec())
            .map_err(|_| Error::new(ErrorKind::Store, format_args!("reading {setting}"), "not UTF-8")),
        None => {
            let secret = credential::generate_client_secret()?;
            store.put_sealed_setting(setting, secret.as_bytes()).await?;
            Ok(secret)
        }
    }
}

/// The development desired state, with the credentials it uses (generated once, kept sealed).
pub async fn desired_state(installation: &Installation) -> Result<(DesiredState, DevCredentials)> {
    let secret = generated(installation, SECRET_SETTING).await?;
    let user_password = generated(installation, PASSWORD_SETTING).await?;
    let vault_role = |principal: &str, kind, role: &str| DesiredRoleAssignment {
        principal: principal.to_owned(),
        principal_type: Some(kind),
        role: role.to_owned(),
        scope: Scope::Vault,
    };
    // Managed HSM keeps managing the HSM (administrator) apart from using its keys (crypto user, officer):
    // the dev principals hold all three, so that every sample runs.
    let hsm_roles = ["Managed HSM Administrator", "Managed HSM Crypto User", "Managed HSM Crypto Officer"];
    let hsm_role_assignments = [(APPLICATION, PrincipalKind::Application), (USER, PrincipalKind::User)]
        .into_iter()
        .flat_map(|(principal, kind)| hsm_roles.map(|role| vault_role(principal, kind, role)))
        .collect();
    let desired = DesiredState {
        tenants: vec![DesiredTenant {
            name: TENANT.to_owned(),
            id: None,
            applications: vec![DesiredApplication {
                name: APPLICATION.to_owned(),
                client_id: None,
                secrets: vec![DeclaredSecret { value: secret.clone(), expires: None }],
                trusted_service: false,
                multi_tenant: false,
                credentials: Default::default(),
            }],
            managed_identities: vec![],
            groups: vec![],
            users: vec![DesiredUser {
                name: USER.to_owned(),
                password: user_password.clone(),
                groups: vec![],
                enabled: true,
            }],
            service_principals: vec![],
            role_definitions: vec![],
            // The dev application also runs the instance: it manages vaults, access and the directory.
            role_assignments: ["Owner", "Global Administrator"]
                .into_iter()
                .map(|role| DesiredRoleAssignment {
                    principal: APPLICATION.to_owned(),
                    principal_type: Some(PrincipalKind::Application),
                    role: role.to_owned(),
                    scope: Scope::Tenant,
                })
                .collect(),
            vaults: vec![
                DesiredVault {
                    name: VAULT.to_owned(),
                    kind: VaultKind::Vault,
                    authorization: AuthorizationModel::Rbac,
                    soft_delete_retention_days: 90,
                    purge_protection: false,
                    network: NetworkRules::default(),
                    access_policies: vec![],
                    // The user also owns the vault, so that the portal's access-control pages can be used.
                    role_assignments: vec![
                        vault_role(APPLICATION, PrincipalKind::Application, "Key Vault Administrator"),
                        vault_role(USER, PrincipalKind::User, "Key Vault Administrator"),
                        vault_role(USER, PrincipalKind::User, "Owner"),
                    ],
                    secrets: vec![],
                    subscription: None,
                    resource_group: DEFAULT_RESOURCE_GROUP.to_owned(),
                    // Premium, so that code written for Azure may make -HSM keys in it.
                    sku: Sku::Premium,
                    activate: false,
                    event_subscriptions: vec![],
                },
                DesiredVault {
                    name: MANAGED_HSM.to_owned(),
                    kind: VaultKind::ManagedHsm,
                    authorization: AuthorizationModel::Rbac,
                    soft_delete_retention_days: 90,
                    purge_protection: false,
                    network: NetworkRules::default(),
                    access_policies: vec![],
                    role_assignments: hsm_role_assignments,
                    secrets: vec![],
                    subscription: None,
                    resource_group: DEFAULT_RESOURCE_GROUP.to_owned(),
                    sku: Sku::Premium,
                    // Ready for keys at once, as Microsoft's samples expect; its security domain can still be
                    // downloaded.
                    activate: true,
                    event_subscriptions: vec![],
                },
            ],
            subscriptions: vec![],
        }],
    };
    Ok((desired, DevCredentials { client_secret: secret, user_password }))
}

/// The dev tenant's certificate authority: vault issuers of provider `Strongroom` sign for `dev.localhost` and
/// its subdomains (which resolve to this machine, and are none of the server's own names) and for `example.com`
/// (reserved for examples).
pub fn certificate_authorities() -> Vec<TenantCertificateAuthority> {
    vec![TenantCertificateAuthority {
        tenant: TENANT.to_owned(),
        domains: vec!["dev.localhost".to_owned(), "example.com".to_owned()],
    }]
}

/// The host names `strongroom dev` answers as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// Its own: sign-in at `localhost` (which resolves everywhere), vaults at `{vault}.vault.localhost`, Resource
    /// Manager and Graph at `management.localhost` and `graph.localhost`, on the port of the first `--listen`;
    /// SDKs are told the authority (`AZURE_AUTHORITY_HOST`).
    Local,
    /// Azure's, on port 443: `login.microsoftonline.com`, `{vault}.vault.azure.net`, `management.azure.com`,
    /// `graph.microsoft.com`, so that code written for Azure runs unchanged (the hosts file maps the names here
    /// and the system trusts the local CA).
    Azure,
}

impl Naming {
    fn hosts(self) -> HostNames<'static> {
        match self {
            Naming::Local => HostNames {
                login: "localhost",
                vault_domain: "vault.localhost",
                managed_hsm_domain: "managedhsm.localhost",
                management: "management.localhost",
                graph: "graph.localhost",
            },
            Naming::Azure => HostNames {
                login: AZURE_LOGIN_HOST,
                vault_domain: AZURE_VAULT_DOMAIN,
                managed_hsm_domain: AZURE_MANAGED_HSM_DOMAIN,
                management: AZURE_MANAGEMENT_HOST,
                graph: AZURE_GRAPH_HOST,
            },
        }
    }

    /// Sets the host names of `settings` to this naming's.
    pub fn apply(self, settings: &mut ServerSettings) {
        let hosts = self.hosts();
        hosts.login.clone_into(&mut settings.login_host);
        hosts.vault_domain.clone_into(&mut settings.vault_domain);
        hosts.managed_hsm_domain.clone_into(&mut settings.managed_hsm_domain);
        hosts.management.clone_into(&mut settings.management_host);
        hosts.graph.clone_into(&mut settings.graph_host);
    }

    /// The host names a hosts file must map to this machine for clients to reach the dev server, `vaults` and
    /// the Managed HSMs `hsms` (a hosts file has no wildcards, so each is named); `localhost` needs no line.
    pub fn host_names(self, vaults: &[String], hsms: &[String]) -> Vec<String> {
        let hosts = self.hosts();
        let under = |domain: &'static str| move |name: &String| format!("{}.{domain}", name.to_ascii_lowercase());
        [hosts.login, hosts.management, hosts.graph]
            .into_iter()
            .filter(|name| *name != "localhost")
            .map(str::to_owned)
            .chain(vaults.iter().map(under(hosts.vault_domain)))
            .chain(hsms.iter().map(under(hosts.managed_hsm_domain)))
            .collect()
    }
}

/// What a developer needs to use the running dev server, except the client secret: that is in the env file
/// only, so that it stays out of terminal scrollback and CI logs.
#[derive(Debug, Clone)]
pub struct DevInfo {
    /// The tenant id.
    pub tenant_id: Uuid,
    /// The application's client id.
    pub client_id: Uuid,
    /// The host names it answers as.
    pub naming: Naming,
    /// The authority: `AZURE_AUTHORITY_HOST` in [`Naming::Local`]; Azure's, which the SDKs assume, in
    /// [`Naming::Azure`] (where `dev.env` leaves the variable out, as Azure's own environments do).
    pub authority_host: String,
    /// The vault URL.
    pub vault_url: String,
    /// The Managed HSM's URL.
    pub managed_hsm_url: String,
    /// Resource Manager's URL (the management API).
    pub management_url: String,
    /// Microsoft Graph's URL.
    pub graph_url: String,
    /// The portal's URL.
    pub portal_url: String,
    /// The dev user's sign-in name.
    pub user_name: String,
    /// The CA file to trust.
    pub ca_file: PathBuf,
    /// The same CA as a PKCS#12 trust store, for the JVM.
    pub trust_store: PathBuf,
    /// The vault's and the Managed HSM's host names, for the hosts file.
    pub vault_hosts: [String; 2],
    /// Where the env file was written.
    pub env_file: PathBuf,
}

/// Writes `{data_dir}/dev.env` (mode 0600) for `server` and returns what it says, but the credentials.
pub fn write_env_file(
    server: &RunningServer,
    naming: Naming,
    data_dir: &Path,
    credentials: &DevCredentials,
) -> Result<DevInfo> {
    let directory = server.state().directory();
    let missing = |what: &str| Error::new(ErrorKind::Store, "dev", format_args!("the dev {what} is missing"));
    let tenant = directory.tenant(TENANT).ok_or_else(|| missing("tenant"))?;
    let client_id = directory
        .principals()
        .iter()
        .find(|p| p.tenant_id == tenant.id && p.name == APPLICATION)
        .and_then(|p| p.client_id)
        .ok_or_else(|| missing("application"))?;
    let ca_file = server.ca_file().ok_or_else(|| missing("CA"))?;
    let ca_file = std::fs::canonicalize(ca_file).map_err(|e| Error::io("locating the CA file", e))?;
    let endpoints = server.endpoints();
    let info = DevInfo {
        tenant_id: tenant.id,
        client_id,
        naming,
        authority_host: endpoints.authority_host().to_owned(),
        vault_url: endpoints.vault_url(VAULT),
        managed_hsm_url: endpoints.origin(&format!("{MANAGED_HSM}.{}", endpoints.managed_hsm_domain())),
        management_url: endpoints.management_resource().to_owned(),
        graph_url: endpoints.graph_resource().to_owned(),
        portal_url: format!("{}/portal/", endpoints.authority_host()),
        user_name: format!("{USER}@{TENANT}"),
        vault_hosts: [
            format!("{VAULT}.{}", endpoints.vault_domain()),
            format!("{MANAGED_HSM}.{}", endpoints.managed_hsm_domain()),
        ],
        trust_store: ca_file.with_file_name(crate::tls::TRUST_STORE_FILE),
        ca_file,
        env_file: data_dir.join("dev.env"),
    };
    let ca = info.ca_file.display();
    // Code written for Azure is never told the authority: in Azure naming the SDKs' default is this server.
    let authority_host = match naming {
        Naming::Local => Some(("AZURE_AUTHORITY_HOST", info.authority_host.clone())),
        Naming::Azure => None,
    };
    let mut text = String::new();
    for (name, value) in [
        ("AZURE_TENANT_ID", info.tenant_id.to_string()),
        ("AZURE_CLIENT_ID", info.client_id.to_string()),
        ("AZURE_CLIENT_SECRET", credentials.client_secret.clone()),
        ("AZURE_USERNAME", info.user_name.clone()),
        ("AZURE_PASSWORD", credentials.user_password.clone()),
    ]
    .into_iter()
    .chain(authority_host)
    .chain([
        ("VAULT_URL", info.vault_url.clone()),
        // The first is the name Microsoft's keys samples read, the second the administration samples'.
        ("AZURE_MANAGEDHSM_URI", info.managed_hsm_url.clone()),
        ("MANAGED_HSM_URL", info.managed_hsm_url.clone()),
        ("REQUESTS_CA_BUNDLE", ca.to_string()),
        ("CURL_CA_BUNDLE", ca.to_string()),
        ("NODE_EXTRA_CA_CERTS", ca.to_string()),
        ("SSL_CERT_FILE", ca.to_string()),
        // Java: `-Djavax.net.ssl.trustStore=$STRONGROOM_TRUST_STORE -Djavax.net.ssl.trustStorePassword=changeit`.
        ("STRONGROOM_TRUST_STORE", info.trust_store.display().to_string()),
        ("STRONGROOM_TRUST_STORE_PASSWORD", crate::tls::TRUST_STORE_PASSWORD.to_owned()),
    ]) {
        let _ = writeln!(text, "export {name}='{value}'");
    }
    write_private(&info.env_file, text.as_bytes())?;
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_naming_lists_the_names_a_hosts_file_needs() {
        let vaults = ["dev".to_owned(), "Team".to_owned()];
        let hsms = ["devhsm".to_owned()];
        assert_eq!(
            Naming::Local.host_names(&vaults, &hsms),
            [
                "management.localhost",
                "graph.localhost",
                "dev.vault.localhost",
                "team.vault.localhost",
                "devhsm.managedhsm.localhost"
            ]
        );
        assert_eq!(
            Naming::Azure.host_names(&vaults, &hsms),
            [
                "login.microsoftonline.com",
                "management.azure.com",
                "graph.microsoft.com",
                "dev.vault.azure.net",
                "team.vault.azure.net",
                "devhsm.managedhsm.azure.net"
            ]
        );
    }
}
