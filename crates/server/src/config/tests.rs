//! The configuration parser's tests.

use super::*;

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text, Path::new("test.toml")).map_err(|e| e.to_string())
}

const MINIMAL: &str = "[server]\nlisten = \"127.0.0.1:8443\"\ndata_dir = \"d\"\n";

#[test]
fn a_full_supported_config_parses() -> Result<(), String> {
    let text = format!(
        "{MINIMAL}token_lifetime_seconds = 1200\ntrusted_proxies = []\n\n[[tenant]]\nname = \"contoso\"\n\
         id = \"0b1f6c0e-6c3b-4a55-9a57-2f8a1d2b7e10\"\n\n[[tenant.app]]\nname = \"billing-api\"\n\
         secrets = [\"billing-secret-1234\"]\n\n[[tenant.vault]]\nname = \"billing\"\nauthorization = \"rbac\"\n\
         [tenant.vault.network]\ndefault_action = \"deny\"\nip_rules = [\"127.0.0.2/32\", \"127.0.0.3\"]\n\n\
         [[tenant.vault.role_assignment]]\nprincipal = \"billing-api\"\nrole = \"Key Vault Secrets User\"\n\
         scope = \"secrets/db-password\"\n\n[[tenant.vault.secret]]\nname = \"db-password\"\nvalue = \"s3cret\"\n"
    );
    let config = parse(&text)?;
    assert_eq!(config.server.token_lifetime_seconds, 1200);
    let vault = &config.desired.tenants[0].vaults[0];
    assert_eq!(vault.network.ip_rules.len(), 2);
    assert_eq!(vault.role_assignments[0].role, "Key Vault Secrets User");
    Ok(())
}

#[test]
fn unknown_keys_name_file_line_and_key() {
    let err = parse(&format!("{MINIMAL}colour = \"blue\"\n")).err().unwrap_or_default();
    assert!(err.starts_with("test.toml:4:"), "{err}");
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn storage_is_a_postgres_url_and_other_values_are_refused_with_their_line() {
    let config = parse(&format!("{MINIMAL}storage = \"postgres://strongroom@db/strongroom\"\n"));
    assert_eq!(
        config.map(|c| c.server.storage).ok(),
        Some(Storage::Postgres { url: "postgres://strongroom@db/strongroom".into(), ca: None })
    );
    let err = parse(&format!("{MINIMAL}storage = \"mysql://db\"\n")).err().unwrap_or_default();
    assert!(err.starts_with("test.toml:4:") && err.contains("postgres://"), "{err}");
    let err = parse(&format!("{MINIMAL}[[network]]\nname = \"corp\"\n[[private_endpoint]]\nname = \"pe\"\nvault = \"nowhere\"\nlisten = \"127.0.0.9:0\"\n"))
        .err()
        .unwrap_or_default();
    assert!(err.contains("unknown vault"), "{err}");
}

#[test]
fn networks_and_private_endpoints_are_checked() -> Result<(), String> {
    let network = "[[network]]\nname = \"corp\"\n[[network.subnet]]\nname = \"apps\"\nprefix = \"127.0.10.0/24\"\nservice_endpoints = [\"Microsoft.KeyVault\"]\n";
    let vault = "[[tenant]]\nname = \"t\"\n[[tenant.vault]]\nname = \"billing\"\npublic_network_access = \"disabled\"\n[tenant.vault.network]\ndefault_action = \"deny\"\nbypass = \"None\"\nvirtual_network_rules = [\"corp/apps\"]\n";
    let endpoint =
        "[[private_endpoint]]\nname = \"pe\"\nvault = \"billing\"\nlisten = \"127.0.0.9:0\"\nsubnet = \"corp/apps\"\n";
    let config = parse(&format!("{MINIMAL}trusted_proxies = [\"127.0.0.4\"]\n{network}{vault}{endpoint}"))?;
    let rules = &config.desired.tenants[0].vaults[0].network;
    assert!(!rules.public_network_access && rules.bypass == Bypass::None);
    assert_eq!(rules.virtual_network_rules, ["corp/apps"]);
    assert!(config.server.subnets[0].key_vault_endpoint);
    assert_eq!(config.server.private_endpoints[0].vault, "billing");
    assert_eq!(config.server.trusted_proxies.len(), 1);

    let unknown = parse(&format!("{MINIMAL}{}", vault.replace("corp/apps", "corp/nope"))).err().unwrap_or_default();
    assert!(unknown.contains("unknown subnet 'corp/nope'"), "{unknown}");
    let orphan =
        parse(&format!("{MINIMAL}{network}{}", endpoint.replace("billing", "nowhere"))).err().unwrap_or_default();
    assert!(orphan.contains("unknown vault"), "{orphan}");
    let rules: Vec<String> = (0..1001).map(|i| format!("\"10.0.{}.{}\"", i / 256, i % 256)).collect();
    let too_many = format!(
        "{MINIMAL}[[tenant]]\nname = \"t\"\n[[tenant.vault]]\nname = \"billing\"\n[tenant.vault.network]\nip_rules = [{}]\n",
        rules.join(",")
    );
    assert!(parse(&too_many).err().unwrap_or_default().contains("at most 1000"));
    let bad_cidr = format!("{MINIMAL}trusted_proxies = [\"10.0.0.0/99\"]\n");
    assert!(parse(&bad_cidr).err().unwrap_or_default().contains("not an IP address or CIDR"));
    Ok(())
}

#[test]
fn connection_limits_and_private_authorities_are_read_with_their_defaults() -> Result<(), String> {
    let defaults = parse(MINIMAL)?.server;
    assert_eq!(defaults.connections, ConnectionLimits::default());
    assert_eq!(defaults.allowed_private_authorities, AllowedAuthorities::default());
    let text = format!(
        "{MINIMAL}header_read_timeout_seconds = 5\nmax_connections_per_address = 8\n\
         allowed_private_authorities = [\"attest.internal\", \"10.1.0.0/16\"]\n"
    );
    let server = parse(&text)?.server;
    assert_eq!(server.connections.header_read_timeout, Duration::from_secs(5));
    assert_eq!(server.connections.max_connections_per_address, 8);
    assert_eq!(server.allowed_private_authorities.hosts, ["attest.internal"]);
    assert_eq!(server.allowed_private_authorities.networks.len(), 1);
    let err = parse(&format!("{MINIMAL}idle_timeout_seconds = 0\n")).err().unwrap_or_default();
    assert!(err.starts_with("test.toml:4:") && err.contains("between 1 and 3600"), "{err}");
    let err = parse(&format!("{MINIMAL}allowed_private_authorities = [\"http://x/\"]\n")).err().unwrap_or_default();
    assert!(err.contains("host name, an IP address or a CIDR range"), "{err}");
    Ok(())
}

#[test]
fn bad_values_are_explained() {
    for (extra, expected) in [
        ("[[tenant]]\nname = \"t\"\n[[tenant.vault]]\nname = \"x\"\n", "vault name"),
        (
            "[[tenant]]\nname = \"t\"\n[[tenant.vault]]\nname = \"good\"\nsoft_delete_retention_days = 3\n",
            "between 7 and 90",
        ),
        ("[[tenant]]\nname = \"t\"\nid = \"nope\"\n", "GUID"),
        (
            "[[tenant]]\nname = \"t\"\n[[tenant.vault]]\nname = \"good\"\n[[tenant.vault.role_assignment]]\nprincipal = \"a\"\nrole = \"Emperor\"\n",
            "unknown role",
        ),
    ] {
        let err = parse(&format!("{MINIMAL}{extra}")).err().unwrap_or_default();
        assert!(err.contains(expected), "{extra}: {err}");
    }
}

#[test]
fn the_deprecated_scheduler_clock_offset_still_loads_and_moves_the_clock() -> Result<(), String> {
    assert_eq!(parse(MINIMAL)?.server.clock_offset_seconds, 0);
    let config = parse(&format!("{MINIMAL}scheduler_clock_offset_seconds = 3456000\n"))?;
    assert_eq!(config.server.clock_offset_seconds, 3_456_000);
    let refused = parse(&format!("{MINIMAL}scheduler_clock_offset_seconds = -1\n")).err().unwrap_or_default();
    assert!(refused.contains("between 0 and ten years"), "{refused}");
    Ok(())
}

#[test]
fn certificate_issuers_take_two_seconds_unless_configured() -> Result<(), String> {
    assert_eq!(parse(MINIMAL)?.server.certificate_issuance_seconds, 2);
    assert_eq!(parse(&format!("{MINIMAL}certificate_issuance_seconds = 0\n"))?.server.certificate_issuance_seconds, 0);
    let refused = parse(&format!("{MINIMAL}certificate_issuance_seconds = 3601\n")).err().unwrap_or_default();
    assert!(refused.contains("test.toml:4") && refused.contains("between 0 and 3600"), "{refused}");
    Ok(())
}

#[test]
fn listeners_given_on_the_command_line_replace_the_files_and_keep_azure_names_on_443() -> Result<(), String> {
    let mut settings = parse(MINIMAL)?.server;
    let addresses: Vec<SocketAddr> = vec![([127, 0, 0, 1], 9443).into(), ([127, 0, 0, 2], 9444).into()];
    settings.listen_on(&addresses).map_err(|e| e.to_string())?;
    assert_eq!((settings.listen, settings.extra_listen.as_slice()), (addresses[0], &addresses[1..]));
    assert!(settings.listen_on(&[]).is_err());

    let mut azure = parse("[server]\nlisten = \"127.0.0.1:443\"\ndata_dir = \"d\"\nazure_hostnames = true\n")?.server;
    let refused = azure.listen_on(&addresses).map_err(|e| e.to_string());
    assert!(refused.is_err_and(|e| e.contains("port 443")));
    assert_eq!(azure.listen.port(), 443, "a refused change changes nothing");
    azure.listen_on(&[([127, 0, 0, 6], 443).into(), addresses[0]]).map_err(|e| e.to_string())?;
    assert_eq!(azure.extra_listen, [addresses[0]]);
    Ok(())
}

#[test]
fn resource_manager_and_graph_hosts_sit_beside_the_login_host_unless_named() -> Result<(), String> {
    let server = parse(&format!("{MINIMAL}login_host = \"login.corp.example\"\n"))?.server;
    assert_eq!(
        (server.management_host.as_str(), server.graph_host.as_str()),
        ("management.corp.example", "graph.corp.example")
    );
    let server = parse(&format!("{MINIMAL}login_host = \"sr\"\nmanagement_host = \"arm.corp.example\"\n"))?.server;
    assert_eq!((server.management_host.as_str(), server.graph_host.as_str()), ("arm.corp.example", "graph.sr"));
    let azure = "[server]\nlisten = \"127.0.0.1:443\"\ndata_dir = \"d\"\nazure_hostnames = true\n";
    let server = parse(azure)?.server;
    assert_eq!(
        (server.management_host.as_str(), server.graph_host.as_str()),
        ("management.azure.com", "graph.microsoft.com")
    );
    let err = parse(&format!("{azure}graph_host = \"graph.localhost\"\n")).err().unwrap_or_default();
    assert!(err.contains("leave out"), "{err}");
    Ok(())
}

#[test]
fn subscriptions_groups_and_skus_are_declared_and_checked_with_their_line() -> Result<(), String> {
    let tenant = "[[tenant]]\nname = \"contoso\"\n\n[[tenant.subscription]]\nname = \"Production\"\n\
                  id = \"5b0c3a4e-8f4a-4d3e-9a51-0c6f2b7d9e10\"\n\n[[tenant.subscription]]\nname = \"Test\"\n\n";
    let vault = "[[tenant.vault]]\nname = \"billing\"\nsubscription = \"Test\"\nresource_group = \"apps\"\n";
    let config = parse(&format!("{MINIMAL}{tenant}{vault}sku = \"premium\"\n"))?;
    let desired = &config.desired.tenants[0];
    assert_eq!(desired.subscriptions.len(), 2);
    assert_eq!(
        desired.subscriptions[0].id.map(|id| id.to_string()).as_deref(),
        Some("5b0c3a4e-8f4a-4d3e-9a51-0c6f2b7d9e10")
    );
    let declared = &desired.vaults[0];
    assert_eq!(
        (declared.subscription.as_deref(), declared.resource_group.as_str(), declared.sku),
        (Some("Test"), "apps", strongroom_core::directory::Sku::Premium)
    );
    let err = parse(&format!("{MINIMAL}{tenant}{vault}sku = \"gold\"\n")).err().unwrap_or_default();
    assert!(err.starts_with("test.toml:18:") && err.contains("standard or premium"), "{err}");
    let bad_group = parse(&format!(
        "{MINIMAL}[[tenant]]\nname = \"c\"\n[[tenant.vault]]\nname = \"vv1\"\nresource_group = \"a b\"\n"
    ));
    assert!(bad_group.is_err_and(|e| e.contains("resource group")));
    Ok(())
}

#[test]
fn service_limits_are_key_vaults_unless_configured_and_their_keys_are_checked() -> Result<(), String> {
    assert_eq!(parse(MINIMAL)?.server.service_limits, Some(ServiceLimitSettings::KEY_VAULT), "serve's default");
    assert_eq!(ServerSettings::new("127.0.0.1:0".parse().map_err(|_| "address")?, "d".into()).service_limits, None);
    assert_eq!(parse(&format!("{MINIMAL}[service_limits]\npreset = \"off\"\n"))?.server.service_limits, None);
    let tuned = parse(&format!(
        "{MINIMAL}[service_limits]\nwindow_seconds = 2\ntransactions = 20\nkey_creates = 3\nsubscription_multiple = 0\n"
    ))?;
    assert_eq!(
        tuned.server.service_limits,
        Some(ServiceLimitSettings {
            window: Duration::from_secs(2),
            transactions: 20,
            key_creates: 3,
            subscription_multiple: 0,
            ..ServiceLimitSettings::KEY_VAULT
        })
    );
    for (section, line, says) in [
        ("preset = \"off\"\ntransactions = 5\n", 6, "no effect"),
        ("preset = \"azure\"\n", 5, "\"keyvault\""),
        ("transactions = 0\n", 5, "between 1 and"),
        ("window_seconds = 7200\n", 5, "between 1 and 3600"),
        ("subscription_multiple = 5000\n", 5, "between 0"),
        ("secret_writes = 3\n", 5, "secret_writes"),
    ] {
        let err = parse(&format!("{MINIMAL}[service_limits]\n{section}")).err().unwrap_or_default();
        assert!(err.starts_with(&format!("test.toml:{line}:")) && err.contains(says), "{section}: {err}");
    }
    Ok(())
}

#[test]
fn backup_storage_targets_are_containers_with_hashed_tokens_or_managed_identities() -> Result<(), String> {
    let hash = "a".repeat(64);
    let text = format!(
        "{MINIMAL}\n[[backup_storage]]\nurl = \"https://backups.blob.localhost/hsm\"\ndirectory = \"hsm-backups\"\n\
         sas_token_sha256 = [\"{hash}\"]\n\n[[backup_storage]]\nurl = \"https://backups.blob.localhost/other\"\n\
         directory = \"/srv/other\"\nmanaged_identity_hsms = [\"contoso\"]\n"
    );
    let config = parse(&text)?;
    let [first, second] = &config.server.backup_storage[..] else { return Err("two targets".into()) };
    assert_eq!(
        (first.url(), first.directory.as_path()),
        ("https://backups.blob.localhost/hsm", Path::new("hsm-backups"))
    );
    assert_eq!(second.directory, Path::new("/srv/other"));
    let refused = [
        (
            "url = \"https://backups.blob.localhost/hsm/deeper\"\ndirectory = \"d\"\nmanaged_identity_hsms = [\"contoso\"]",
            "container",
        ),
        ("url = \"https://b.localhost/c\"\ndirectory = \"d\"", "needs `sas_token_sha256`"),
        ("url = \"https://b.localhost/c\"\ndirectory = \"d\"\nsas_token_sha256 = [\"abc\"]", "64 hex digits"),
        ("url = \"https://b.localhost/c\"\ndirectory = \"d\"\nsas_token = \"x\"", "unknown field"),
    ];
    for (section, expected) in refused {
        let err = parse(&format!("{MINIMAL}[[backup_storage]]\n{section}\n")).err().unwrap_or_default();
        assert!(err.starts_with("test.toml:") && err.contains(expected), "{section}: {err}");
    }
    let twice = format!(
        "{text}\n[[backup_storage]]\nurl = \"https://BACKUPS.blob.localhost/hsm/\"\ndirectory = \"x\"\nsas_token_sha256 = [\"{hash}\"]\n"
    );
    assert!(parse(&twice).err().unwrap_or_default().contains("declared twice"));
    Ok(())
}
