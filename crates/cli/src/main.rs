//! The `strongroom` binary: `serve --config FILE` runs a configured installation; `dev` runs a ready-made
//! development one; `trust` makes this machine trust and reach it; `role`, `keyvault`, `ad` and `identity` change
//! a running one through its management API.

mod admin;
mod client;
mod trust;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use strongroom_server::config::{Config, ServerSettings, ServiceLimitSettings, Storage};
use strongroom_server::dev;
use strongroom_server::installation::{Installation, RunningServer, open_store};

/// Strongroom: an Entra-ID-compatible identity provider and Azure-Key-Vault-compatible vault.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    connection: client::Connection,
}

/// Where an installation keeps its data, for the commands that open its store.
#[derive(clap::Args)]
struct StoreArgs {
    /// The installation's data directory (its root key, and the SQLite database unless --storage).
    #[arg(long, default_value = "strongroom-data")]
    data_dir: PathBuf,
    /// The database: a postgres:// URL (default: SQLite in the data directory).
    #[arg(long)]
    storage: Option<String>,
    /// A PEM file of certificates trusted for the database's TLS certificate (with `sslmode=require`).
    #[arg(long)]
    storage_ca: Option<PathBuf>,
}

impl StoreArgs {
    /// The settings that open the installation's store.
    fn settings(self) -> strongroom_server::Result<ServerSettings> {
        settings(UNUSED, self.data_dir, self.storage, self.storage_ca)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the installation a configuration file describes.
    Serve {
        /// The configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// The database: a postgres:// URL (default: SQLite in the data directory; for `serve`, the
        /// configuration file's `storage`).
        #[arg(long)]
        storage: Option<String>,
        /// Listen here instead of the configuration's `listen`; repeat it for more listeners (the first is the
        /// main one, whose port is in every public URL).
        #[arg(long)]
        listen: Vec<SocketAddr>,
    },
    /// Run a development instance: tenant `dev`, app `dev-app`, vault `dev`, created once and kept.
    Dev {
        /// Address and port to listen on; repeat it for more listeners (the first one's port is in every public
        /// URL, unless --azure-hostnames).
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: Vec<SocketAddr>,
        /// Answer as Azure does — login.microsoftonline.com, *.vault.azure.net — on --azure-listen (port
        /// 443) as well as on --listen, so that code written for Azure runs unchanged once `strongroom trust
        /// install --azure-hostnames` has pointed the names here and trusted the CA.
        #[arg(long)]
        azure_hostnames: bool,
        /// Where --azure-hostnames serves the Azure host names: port 443, the one their URLs imply.
        #[arg(long, default_value = "127.0.0.1:443", requires = "azure_hostnames")]
        azure_listen: SocketAddr,
        /// Where to keep the data.
        #[arg(long, default_value = "strongroom-data")]
        data_dir: PathBuf,
        /// The database: a postgres:// URL (default: SQLite in the data directory; for `serve`, the
        /// configuration file's `storage`).
        #[arg(long)]
        storage: Option<String>,
        /// Key Vault's service limits per vault: `keyvault` enforces the published ones (429 with
        /// Retry-After past them), `off` none.
        #[arg(long, value_enum, default_value_t = ServiceLimitsPreset::Off)]
        service_limits: ServiceLimitsPreset,
    },
    /// Rotate the token signing key now; a running server takes the new key up within seconds.
    RotateSigningKey {
        /// Emergency revocation (a signing key exposed): remove every previous key, so that every token issued
        /// before is refused at once, on every node.
        #[arg(long)]
        revoke_previous: bool,
        /// The installation's data directory.
        #[arg(long, default_value = "strongroom-data")]
        data_dir: PathBuf,
        /// The database: a postgres:// URL (default: SQLite in the data directory; for `serve`, the
        /// configuration file's `storage`).
        #[arg(long)]
        storage: Option<String>,
    },
    /// Print this installation's backup key (base64), for another installation's `trusted_backup_keys`.
    BackupKey {
        /// The installation's data directory.
        #[arg(long, default_value = "strongroom-data")]
        data_dir: PathBuf,
        /// The database: a postgres:// URL (default: SQLite in the data directory; for `serve`, the
        /// configuration file's `storage`).
        #[arg(long)]
        storage: Option<String>,
    },
    /// Check the store: the database's own check, version numbering, and that every sealed value opens.
    Check {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Write a copy of the whole store, sealed with the root key, to a file.
    Backup {
        #[command(flatten)]
        store: StoreArgs,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a copy `backup` made into an empty store — of either kind: this is how an installation moves
    /// from SQLite to PostgreSQL. Needs the same root key.
    Restore {
        #[command(flatten)]
        store: StoreArgs,
        /// The copy to read.
        #[arg(long = "in")]
        input: PathBuf,
    },
    /// Make this machine trust the installation's CA and reach the dev server by name (like mkcert -install).
    #[command(subcommand)]
    Trust(trust::TrustCommand),
    /// Role assignments and role definitions of a running server (like `az role`).
    #[command(subcommand)]
    Role(admin::RoleCommand),
    /// Vaults of a running server (like `az keyvault`).
    #[command(subcommand)]
    Keyvault(admin::VaultCommand),
    /// Applications, users and groups of a running server (like `az ad`).
    #[command(subcommand)]
    Ad(admin::DirectoryCommand),
    /// User-assigned managed identities of a running server (like `az identity`).
    #[command(subcommand)]
    Identity(admin::IdentityCommand),
    /// A vault's audit log on a running server, newest first, one `AZKVAuditLogs` row per line.
    Audit(admin::AuditQuery),
    /// Test controls of a running server that enabled them: injected faults, its clock.
    #[command(subcommand)]
    Test(admin::TestCommand),
    /// Event Grid events of a running server: a vault's dead-lettered events.
    #[command(subcommand)]
    Events(admin::EventsCommand),
}

/// The service limits `dev` enforces.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ServiceLimitsPreset {
    /// None.
    Off,
    /// Key Vault's published limits.
    Keyvault,
}

/// mimalloc instead of the C library's allocator: a request allocates a few dozen small buffers (headers, JSON,
/// the audit record), and glibc's malloc and free were ~15% of a warm GET's CPU; see docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("strongroom: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cli = Cli::parse();
    match runtime.block_on(run(cli.command, &cli.connection)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strongroom: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, connection: &client::Connection) -> Result<(), String> {
    let server = match command {
        Command::Role(command) => return admin::role(connection, command).await,
        Command::Keyvault(command) => return admin::keyvault(connection, command).await,
        Command::Ad(command) => return admin::directory(connection, command).await,
        Command::Identity(command) => return admin::identity(connection, command).await,
        Command::Audit(query) => return admin::audit(connection, query).await,
        Command::Test(command) => return admin::test(connection, command).await,
        Command::Events(command) => return admin::events(connection, command).await,
        Command::Trust(command) => return trust::run(command),
        command => serve(command).await.map_err(|e| e.to_string())?,
    };
    if let Some(server) = server {
        wait_for_signal().await;
        stop(server).await;
    }
    Ok(())
}

/// Runs a server command; `Ok(None)` when the command ran and there is nothing to serve.
async fn serve(command: Command) -> strongroom_server::Result<Option<RunningServer>> {
    let server = match command {
        Command::Serve { config, storage, listen } => {
            let mut config = Config::load(&config)?;
            if let Some(storage) = storage {
                config.server.storage = parse_storage(&storage)?;
            }
            if !listen.is_empty() {
                config.server.listen_on(&listen)?;
            }
            let installation = Installation::open(config.server).await?;
            installation.provision(&config.desired).await?;
            let server = installation.start().await?;
            if let Some(imds) = server.imds_address() {
                println!("strongroom managed-identity endpoint on http://{imds}");
            }
            if let Some(metrics) = server.metrics_address() {
                println!("strongroom metrics on http://{metrics}/metrics (health: /healthz, /readyz)");
            }
            print_listening(&server);
            server
        }
        Command::Dev { listen, azure_hostnames, azure_listen, data_dir, storage, service_limits } => {
            let (naming, listeners) = if azure_hostnames {
                (dev::Naming::Azure, [&[azure_listen], listen.as_slice()].concat())
            } else {
                (dev::Naming::Local, listen)
            };
            let mut settings = settings(UNUSED, data_dir.clone(), storage, None)?;
            naming.apply(&mut settings);
            settings.listen_on(&listeners)?;
            settings.certificate_authorities = dev::certificate_authorities();
            settings.service_limits = match service_limits {
                ServiceLimitsPreset::Off => None,
                ServiceLimitsPreset::Keyvault => Some(ServiceLimitSettings::KEY_VAULT),
            };
            // A developer's own instance: faults and the clock are theirs to set.
            settings.test_controls = true;
            let installation = Installation::open(settings).await?;
            let (desired, credentials) = dev::desired_state(&installation).await?;
            installation.provision(&desired).await?;
            let server = installation.start().await?;
            let info = dev::write_env_file(&server, naming, &data_dir, &credentials)?;
            print_dev_banner(&info, &server, &data_dir);
            print_listening(&server);
            server
        }
        Command::RotateSigningKey { data_dir, storage, revoke_previous } => {
            let installation = Installation::open(settings(UNUSED, data_dir, storage, None)?).await?;
            if revoke_previous {
                installation.revoke_previous_signing_keys().await?;
                println!("replaced every token signing key: tokens issued before are refused from now on");
            } else {
                installation.rotate_signing_key().await?;
                println!("rotated the token signing key");
            }
            return Ok(None);
        }
        Command::BackupKey { data_dir, storage } => {
            let installation = Installation::open(settings(UNUSED, data_dir, storage, None)?).await?;
            println!("{}", installation.backup_key_base64());
            return Ok(None);
        }
        Command::Check { store } => {
            let store = open_store(&store.settings()?).await?;
            let integrity = store.check_integrity().await?;
            println!("{} objects, {} versions", integrity.objects, integrity.versions);
            for problem in &integrity.problems {
                println!("problem: {problem}");
            }
            if !integrity.problems.is_empty() {
                return Err(tool_error("checking the store", format_args!("{} problems", integrity.problems.len())));
            }
            println!("intact");
            return Ok(None);
        }
        Command::Backup { store, out } => {
            let store = open_store(&store.settings()?).await?;
            let copy = store.export_copy().await?;
            std::fs::write(&out, &copy).map_err(|e| tool_error(format_args!("writing {}", out.display()), e))?;
            println!("wrote a copy of the store to {} ({} bytes)", out.display(), copy.len());
            return Ok(None);
        }
        Command::Restore { store, input } => {
            let copy = std::fs::read(&input).map_err(|e| tool_error(format_args!("reading {}", input.display()), e))?;
            let store = open_store(&store.settings()?).await?;
            let rows = store.import_copy(copy).await?;
            println!("restored {rows} rows from {}", input.display());
            return Ok(None);
        }
        // Admin commands are clients of a server, run by `run`.
        Command::Role(_)
        | Command::Keyvault(_)
        | Command::Ad(_)
        | Command::Identity(_)
        | Command::Audit(_)
        | Command::Test(_)
        | Command::Events(_)
        | Command::Trust(_) => {
            return Ok(None);
        }
    };
    Ok(Some(server))
}

/// The listener of commands that open the installation without serving it.
const UNUSED: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

fn tool_error(context: impl std::fmt::Display, detail: impl std::fmt::Display) -> strongroom_server::Error {
    strongroom_server::Error::new(strongroom_server::ErrorKind::Store, context, detail)
}

fn parse_storage(text: &str) -> strongroom_server::Result<Storage> {
    Storage::parse(text).ok_or_else(|| {
        strongroom_server::Error::new(
            strongroom_server::ErrorKind::Config,
            "--storage",
            "must be a postgres:// URL (leave it out for SQLite in the data directory)",
        )
    })
}

/// Default settings for `listen`, `data_dir`, `--storage` and `--storage-ca`.
fn settings(
    listen: SocketAddr,
    data_dir: PathBuf,
    storage: Option<String>,
    storage_ca: Option<PathBuf>,
) -> strongroom_server::Result<ServerSettings> {
    let mut settings = ServerSettings::new(listen, data_dir);
    if let Some(storage) = storage {
        settings.storage = parse_storage(&storage)?;
    }
    if let Some(ca) = storage_ca {
        settings.storage = settings
            .storage
            .with_ca(ca)
            .ok_or_else(|| tool_error("--storage-ca", "needs --storage postgres://…?sslmode=require"))?;
    }
    Ok(settings)
}

/// The lines that say where a server listens; the main listener's comes last, as the line scripts wait for.
fn print_listening(server: &RunningServer) {
    for address in server.extra_addresses() {
        println!("strongroom also listening on https://{address}");
    }
    println!("strongroom listening on https://{}", server.address());
}

/// The dev instance's banner. It never prints the client secret (terminals are logged and scrolled back;
/// `dev.env` is the credential file).
fn print_dev_banner(info: &dev::DevInfo, server: &RunningServer, data_dir: &std::path::Path) {
    let data_dir = data_dir.display();
    // The address the hosts lines should name: the one the names are served on, loopback for "every address".
    let ip = Some(server.address().ip()).filter(|ip| !ip.is_unspecified()).unwrap_or(UNUSED.ip());
    let (authority, setup, code) = match info.naming {
        dev::Naming::Local => (
            info.authority_host.clone(),
            format!(
                "Make the vault host resolve and trust the CA (once, as root; `strongroom trust uninstall --data-dir\n\
                 {data_dir}` takes out exactly what this added):\n  \
                 sudo strongroom trust install --address {ip} --data-dir {data_dir}\n  \
                 (or only the names: echo '{ip} {hosts}' | sudo tee -a /etc/hosts)",
                hosts = info.vault_hosts.join(" ")
            ),
            "from azure.identity import ClientSecretCredential\n  \
             cred = ClientSecretCredential(os.environ[\"AZURE_TENANT_ID\"], os.environ[\"AZURE_CLIENT_ID\"], \
             os.environ[\"AZURE_CLIENT_SECRET\"], disable_instance_discovery=True)\n  \
             print(SecretClient(os.environ[\"VAULT_URL\"], cred).set_secret(\"hello\", \"world\").value)"
                .to_owned(),
        ),
        dev::Naming::Azure => (
            format!("{} (the SDKs' default: dev.env sets no AZURE_AUTHORITY_HOST)", info.authority_host),
            format!(
                "Point Azure's names at this server and trust its CA (once, as root; while the lines are in\n\
                 /etc/hosts this machine reaches these names here, not in Azure — `strongroom trust uninstall\n\
                 --data-dir {data_dir}` takes out exactly what this added):\n  \
                 sudo strongroom trust install --azure-hostnames --address {ip} --data-dir {data_dir}\n\
                 The admin commands reach the server on its other listener, e.g.\n  \
                 strongroom --authority-host https://localhost:{port} keyvault list",
                port = server.extra_addresses().first().map_or(server.address().port(), |a| a.port()),
            ),
            format!(
                "from azure.identity import DefaultAzureCredential\n  \
                 print(SecretClient(\"{vault}\", DefaultAzureCredential()).set_secret(\"hello\", \"world\").value)",
                vault = info.vault_url
            ),
        ),
    };
    println!(
        "Strongroom dev instance ready{mode}.\n\
         \n  tenant        {tenant} (dev)\n  client id     {client} (dev-app: Key Vault Administrator on vault dev; Owner and Global Administrator of the tenant)\n  \
         client secret in {env} (AZURE_CLIENT_SECRET)\n  portal        {portal} (sign in as {user}; password in {env}, AZURE_PASSWORD)\n  \
         authority     {authority}\n  vault         {vault}\n  managed HSM   {hsm}\n  \
         management    {management} (Resource Manager)\n  graph         {graph}\n  CA to trust   {ca}\n  \
         Java          -Djavax.net.ssl.trustStore={trust_store} -Djavax.net.ssl.trustStorePassword=changeit\n\
         \nShell settings for the Azure SDKs:   source {env}\n\
         {setup}\n\
         \nTry it (pip install azure-identity azure-keyvault-secrets):\n\
         \n  import os\n  from azure.keyvault.secrets import SecretClient\n  {code}\n",
        mode = if info.naming == dev::Naming::Azure { ", answering as Azure (--azure-hostnames)" } else { "" },
        tenant = info.tenant_id,
        client = info.client_id,
        vault = info.vault_url,
        hsm = info.managed_hsm_url,
        management = info.management_url,
        graph = info.graph_url,
        portal = info.portal_url,
        user = info.user_name,
        ca = info.ca_file.display(),
        trust_store = info.trust_store.display(),
        env = info.env_file.display(),
    );
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn stop(server: RunningServer) {
    tracing::info!("stopping");
    server.stop().await;
}
