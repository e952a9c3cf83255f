//! An installation: its data directory, root key, store and signing keys — opened, provisioned with a
//! desired state, then started as a running server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use strongroom_core::backup::BackupKey;
use strongroom_core::credential::WorkloadSecretKey;
use strongroom_core::directory::VaultKind;
use strongroom_core::events::SubscriptionSource;
use strongroom_core::provision::{self, DesiredState};
use strongroom_core::token::KeySet;
use strongroom_store::Store;
use strongroom_store::cache::CachedStore;
use strongroom_store::postgres::PostgresStore;
use strongroom_store::seal::RootKey;
use strongroom_store::sqlite::SqliteStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use zeroize::Zeroizing;

use crate::audit::AuditSink;
use crate::clock::Clock;
use crate::config::{ServerSettings, Storage};
use crate::endpoints::{Endpoints, HostNames};
use crate::error::{Error, ErrorKind, Result};
use crate::identity::client_auth::VerifiedSecrets;
use crate::identity::issuer_keys::IssuerKeys;
use crate::identity::throttle::SignInThrottle;
use crate::limits::{self, ServiceLimits};
use crate::signing::{self, SigningKeys};
use crate::state::{AppState, DirectorySnapshot, NetworkView};
use crate::{cluster, http, identity, metrics, sweeper, tls};

/// The environment variable that can carry the root key (base64 of 32 bytes) instead of `root.key`.
pub const ROOT_KEY_ENV: &str = "STRONGROOM_ROOT_KEY";
const BACKUP_KEY_SETTING: &str = "backup-key";
/// The key workload secrets are found by (their keyed hashes).
const WORKLOAD_KEY_SETTING: &str = "workload-secret-key";
/// The SQLite database in the data directory.
const DATABASE_FILE: &str = "strongroom.db";
/// The root key in the data directory.
const ROOT_KEY_FILE: &str = "root.key";
/// The audit log in the data directory.
pub(crate) const AUDIT_FILE: &str = "audit.log";

/// Opens (creating on first use) the store `settings` name, with the installation's root key (from
/// [`ROOT_KEY_ENV`] or `root.key` in the data directory) — without the cache, signing keys or anything a
/// server needs: what the operator's tools (`check`, `backup`, `restore`) work on.
pub async fn open_store(settings: &ServerSettings) -> Result<Arc<dyn Store>> {
    let data_dir = &settings.data_dir;
    let database_file = data_dir.join(DATABASE_FILE);
    files::create_private_dir(data_dir)?;
    if settings.storage == Storage::Sqlite {
        // SQLite gives its -wal and -shm files the mode of the database file.
        files::create_private_file(&database_file)?;
    }
    files::check(data_dir)?;
    let root_key = match std::env::var(ROOT_KEY_ENV) {
        Ok(encoded) => {
            let bytes = Zeroizing::new(STANDARD.decode(encoded.trim()).map_err(|e| {
                Error::new(ErrorKind::Config, format_args!("{ROOT_KEY_ENV}"), format_args!("not base64: {e}"))
            })?);
            RootKey::from_bytes(&bytes)?
        }
        Err(_) => RootKey::load_or_create(&data_dir.join(ROOT_KEY_FILE))?,
    };
    let database: Arc<dyn Store> = match &settings.storage {
        Storage::Sqlite => Arc::new(SqliteStore::open(&database_file, root_key)?),
        Storage::Postgres { url, ca } => Arc::new(PostgresStore::connect(url, ca.as_deref(), root_key).await?),
    };
    Ok(database)
}

/// An opened installation, not yet listening.
pub struct Installation {
    settings: ServerSettings,
    store: Arc<dyn Store>,
    keys: KeySet,
    backup_key: Zeroizing<Vec<u8>>,
    workload_key: Arc<WorkloadSecretKey>,
    clock: Clock,
}

impl Installation {
    /// Opens (creating on first use) the installation in `settings.data_dir`, on the system clock.
    pub async fn open(settings: ServerSettings) -> Result<Self> {
        Self::open_with_clock(settings, Clock::system()).await
    }

    /// [`Installation::open`], on `clock`: every time the server reads is read from it (tests move it).
    pub async fn open_with_clock(settings: ServerSettings, clock: Clock) -> Result<Self> {
        if settings.clock_offset_seconds != 0 {
            tracing::warn!(
                "`scheduler_clock_offset_seconds` is deprecated: it moves the whole server's clock {} seconds ahead",
                settings.clock_offset_seconds
            );
            clock.set_offset_seconds(settings.clock_offset_seconds);
        }
        let database = open_store(&settings).await?;
        // Warm secret reads are answered from memory; writes go through to the database first.
        let store: Arc<dyn Store> = Arc::new(CachedStore::new(database));
        let keys = signing::load(store.as_ref(), clock.now_seconds()).await?;
        let backup_key = load_installation_key(store.as_ref(), BACKUP_KEY_SETTING).await?;
        let workload_key = load_installation_key(store.as_ref(), WORKLOAD_KEY_SETTING).await?;
        let workload_key = Arc::new(WorkloadSecretKey::from_bytes(&workload_key));
        Ok(Self { settings, store, keys, backup_key, workload_key, clock })
    }

    /// Rotates the token signing key now; a running server takes the new key up within seconds.
    pub async fn rotate_signing_key(&self) -> Result<()> {
        signing::rotate(self.store.as_ref(), self.settings.token_lifetime_seconds, self.clock.now_seconds())
            .await
            .map(drop)
    }

    /// Replaces every token signing key with a new one, so that every token signed before is refused — at
    /// once on nodes of a PostgreSQL installation, and within [`signing::CHECK_INTERVAL`] on a server running
    /// on this SQLite database.
    pub async fn revoke_previous_signing_keys(&self) -> Result<()> {
        signing::revoke_previous(self.store.as_ref(), self.clock.now_seconds()).await.map(drop)
    }

    /// This installation's backup key, base64: give it to another installation's `trusted_backup_keys` so
    /// that it can restore this one's backups.
    pub fn backup_key_base64(&self) -> String {
        STANDARD.encode(self.backup_key.as_slice())
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Brings the stored state to `desired`, in one transaction, then keeps the vaults' configured event
    /// subscriptions whose webhooks pass the validation handshake.
    pub async fn provision(&self, desired: &DesiredState) -> Result<()> {
        self.apply_desired(desired).await?;
        self.activate_managed_hsms(desired).await?;
        self.configure_event_subscriptions(desired).await
    }

    /// Activates the Managed HSMs the configuration marks `activated` that are not yet, each with a root
    /// secret of its own.
    async fn activate_managed_hsms(&self, desired: &DesiredState) -> Result<()> {
        let directory = self.store.load_directory().await?;
        for desired_hsm in desired.tenants.iter().flat_map(|t| &t.vaults).filter(|v| v.activate) {
            let Some(hsm) = directory.vault(&desired_hsm.name).filter(|v| v.kind == VaultKind::ManagedHsm) else {
                continue;
            };
            crate::vault::security_domain::activate(self.store.as_ref(), hsm.id).await.map_err(|e| {
                Error::new(ErrorKind::Store, format_args!("activating the Managed HSM {}", hsm.name), e.message())
            })?;
        }
        Ok(())
    }

    /// The configured event subscriptions, stored: those already stored as configured stay; a new or changed
    /// one must pass the validation handshake, else it stays out (inactive) with an error in the log until
    /// the next start; those no longer configured go.
    async fn configure_event_subscriptions(&self, desired: &DesiredState) -> Result<()> {
        let directory = self.store.load_directory().await?;
        let stored = self.store.event_subscriptions(None).await?;
        let ca = std::fs::read(self.settings.data_dir.join(tls::CA_FILE)).ok();
        let webhooks = crate::events::Webhooks::new(ca.as_deref(), self.settings.event_webhooks_allow_http);
        let mut configured = Vec::new();
        for desired_vault in desired.tenants.iter().flat_map(|t| &t.vaults) {
            let Some(vault) = directory.vault(&desired_vault.name) else { continue };
            for subscription in &desired_vault.event_subscriptions {
                configured.push((vault.id, subscription.name.to_ascii_lowercase()));
                if stored.iter().any(|(id, s)| *id == vault.id && s == subscription) {
                    continue;
                }
                webhooks.check(subscription).map_err(|e| {
                    Error::new(ErrorKind::Config, format_args!("event subscription {}", subscription.name), e.0)
                })?;
                let topic = crate::management::resource::vault_id(vault.subscription_id, vault);
                match webhooks.validate(subscription, &topic, self.clock.now_millis()).await {
                    Ok(()) => {
                        self.store.put_event_subscription(vault.id, subscription).await?;
                    }
                    Err(reason) => tracing::error!(
                        vault = %vault.name,
                        subscription = %subscription.name,
                        "the event subscription stays inactive until the next start: the webhook validation \
                         handshake with {} failed: {reason}",
                        subscription.endpoint
                    ),
                }
            }
        }
        for (vault_id, subscription) in &stored {
            let key = (*vault_id, subscription.name.to_ascii_lowercase());
            if subscription.source == SubscriptionSource::Config && !configured.contains(&key) {
                self.store.delete_event_subscription(*vault_id, &subscription.name).await?;
            }
        }
        Ok(())
    }

    async fn apply_desired(&self, desired: &DesiredState) -> Result<()> {
        // Nodes starting together on one database plan against the same directory; the one that applies
        // second meets a conflict, reads what the first applied and plans again (usually: nothing left).
        let mut attempts = 0;
        loop {
            attempts += 1;
            let current = self.store.load_directory().await?;
            let changes = provision::plan(&current, desired, self.clock.now_seconds(), &self.workload_key)
                .map_err(|e| Error::new(ErrorKind::Config, "applying the configuration", e))?;
            if changes.is_empty() {
                return Ok(());
            }
            tracing::info!(changes = changes.len(), "applying the desired state");
            match self.store.apply(changes).await {
                Err(e) if e.kind() == strongroom_store::ErrorKind::Conflict && attempts < 3 => {
                    tracing::info!("another node applied the desired state meanwhile; planning again");
                }
                result => return Ok(result?),
            }
        }
    }

    /// Binds the listener and starts serving.
    pub async fn start(self) -> Result<RunningServer> {
        let listener = http::bind(self.settings.listen)
            .await
            .map_err(|e| Error::io(format_args!("listening on {}", self.settings.listen), e))?;
        let address = listener.local_addr().map_err(|e| Error::io("reading the listener's address", e))?;
        let endpoint_port = address.port();
        let hosts = HostNames {
            login: &self.settings.login_host,
            vault_domain: &self.settings.vault_domain,
            managed_hsm_domain: &self.settings.managed_hsm_domain,
            management: &self.settings.management_host,
            graph: &self.settings.graph_host,
        };
        let endpoints = Endpoints::new(hosts, endpoint_port);
        let tls = tls::load(&self.settings)?;
        let (audit, audit_writer) = AuditSink::open(&self.settings.data_dir, self.settings.audit.clone())?;
        let directory = self.store.load_directory().await?;
        let mut backup_keys = vec![BackupKey::from_bytes(&self.backup_key)?];
        for trusted in &self.settings.trusted_backup_keys {
            backup_keys.push(BackupKey::from_bytes(trusted)?);
        }
        let state = Arc::new(AppState {
            endpoints: endpoints.clone(),
            token_lifetime_seconds: self.settings.token_lifetime_seconds,
            certificate_issuance_seconds: self.settings.certificate_issuance_seconds,
            keys: SigningKeys::new(self.keys),
            backup_keys,
            backup_storage: self.settings.backup_storage.clone(),
            store: self.store,
            audit,
            network: NetworkView {
                trusted_proxies: self.settings.trusted_proxies.clone(),
                subnets: self.settings.subnets.clone(),
            },
            directory: DirectorySnapshot::new(directory),
            sign_in_throttle: SignInThrottle::new(self.clock.clone()),
            verification_gate: Default::default(),
            issuer_keys: IssuerKeys::new(
                std::fs::read(self.settings.data_dir.join(tls::CA_FILE)).ok().as_deref(),
                self.settings.allowed_private_authorities.clone(),
            ),
            validated_tokens: Default::default(),
            verified_secrets: VerifiedSecrets::new()?,
            workload_key: Arc::clone(&self.workload_key),
            parsed_keys: Default::default(),
            hsm_roots: Default::default(),
            data_dir: self.settings.data_dir.clone(),
            certificate_authorities: self.settings.certificate_authorities.clone(),
            metrics: Default::default(),
            limits: ServiceLimits::new(self.settings.service_limits),
            portal: Default::default(),
            clock: self.clock,
            test_controls_enabled: self.settings.test_controls,
            test_faults: Default::default(),
            webhooks: crate::events::Webhooks::new(
                std::fs::read(self.settings.data_dir.join(tls::CA_FILE)).ok().as_deref(),
                self.settings.event_webhooks_allow_http,
            ),
            maintenance_now: Default::default(),
        });
        let (shutdown, shutdown_signal) = watch::channel(false);
        tokio::spawn(sweeper::run(Arc::clone(&state), sweeper::Schedule::of(&self.settings), shutdown_signal.clone()));
        tokio::spawn(signing::watch(Arc::clone(&state), shutdown_signal.clone()));
        tokio::spawn(crate::events::run(Arc::clone(&state), shutdown_signal.clone()));
        cluster::follow(&state);
        if state.limits.enabled() && state.store.changes().is_some() {
            tokio::spawn(limits::share(Arc::clone(&state), shutdown_signal.clone()));
        }
        if state.store.changes().is_some() {
            // Another node may have changed the directory between the first read and the follower's start.
            state.directory.set(state.store.load_directory().await?);
        }
        let identity = identity::router(Arc::clone(&state));
        let acceptor = TlsAcceptor::from(tls.config);
        let mut listeners = vec![(listener, None)];
        let mut extra_addresses = Vec::new();
        for address in &self.settings.extra_listen {
            let listener =
                http::bind(*address).await.map_err(|e| Error::io(format_args!("listening on {address}"), e))?;
            extra_addresses.push(listener.local_addr().map_err(|e| Error::io("reading the listener's address", e))?);
            listeners.push((listener, None));
        }
        for endpoint in &self.settings.private_endpoints {
            // The vault URL carries the port, so a private endpoint answers on the main listener's port
            // unless it names its own.
            let mut address = endpoint.listen;
            if address.port() == 0 {
                address.set_port(endpoint_port);
            }
            let listener = http::bind(address).await.map_err(|e| {
                Error::io(format_args!("listening on {address} for private endpoint {}", endpoint.name), e)
            })?;
            listeners.push((listener, Some(Arc::<str>::from(endpoint.vault.as_str()))));
        }
        let gate = http::ConnectionGate::new(self.settings.connections.clone(), &self.settings.trusted_proxies);
        let mut accept: Vec<JoinHandle<()>> = Vec::new();
        let mut imds_address = None;
        if let Some(address) = self.settings.imds_listen {
            let listener =
                http::bind(address).await.map_err(|e| Error::io(format_args!("listening on {address} for IMDS"), e))?;
            imds_address = listener.local_addr().ok();
            let router = identity::managed_identity_router(Arc::clone(&state));
            accept.push(tokio::spawn(http::plain_accept_loop(
                listener,
                Arc::clone(&gate),
                router,
                shutdown_signal.clone(),
            )));
        }
        let mut metrics_address = None;
        if let Some(address) = self.settings.metrics_listen {
            let listener = http::bind(address)
                .await
                .map_err(|e| Error::io(format_args!("listening on {address} for metrics"), e))?;
            metrics_address = listener.local_addr().ok();
            let router = metrics::router(metrics::Scrape { state: Arc::clone(&state), gate: Arc::clone(&gate) });
            accept.push(tokio::spawn(http::plain_accept_loop(
                listener,
                Arc::clone(&gate),
                router,
                shutdown_signal.clone(),
            )));
        }
        accept.extend(listeners.into_iter().map(|(listener, private_endpoint)| {
            tokio::spawn(http::accept_loop(
                listener,
                private_endpoint,
                acceptor.clone(),
                Arc::clone(&gate),
                Arc::clone(&state),
                identity.clone(),
                shutdown_signal.clone(),
            ))
        }));
        Ok(RunningServer {
            address,
            extra_addresses,
            imds_address,
            metrics_address,
            endpoints,
            ca_file: tls.ca_file,
            state,
            shutdown,
            accept,
            audit_writer,
        })
    }
}

/// The installation's 32-byte key kept sealed as the setting `name`, made on first use.
async fn load_installation_key(store: &dyn Store, name: &str) -> Result<Zeroizing<Vec<u8>>> {
    if let Some(key) = store.sealed_setting(name).await? {
        return Ok(key);
    }
    let mut key = Zeroizing::new(vec![0u8; 32]);
    aws_lc_rs::rand::fill(key.as_mut_slice())
        .map_err(|_| Error::new(ErrorKind::Domain, format!("creating the {name}"), "the random generator failed"))?;
    // Nodes starting together on one database each make a key; the first one stored is everyone's.
    store.create_sealed_setting(name, &key).await?;
    store
        .sealed_setting(name)
        .await?
        .ok_or_else(|| Error::new(ErrorKind::Domain, format!("creating the {name}"), "it was not stored"))
}

/// A server that is listening.
pub struct RunningServer {
    address: SocketAddr,
    extra_addresses: Vec<SocketAddr>,
    imds_address: Option<SocketAddr>,
    metrics_address: Option<SocketAddr>,
    endpoints: Endpoints,
    ca_file: Option<PathBuf>,
    state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    accept: Vec<JoinHandle<()>>,
    audit_writer: JoinHandle<()>,
}

impl RunningServer {
    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The addresses of the other listeners that serve the same (`listen` as a list), as bound.
    pub fn extra_addresses(&self) -> &[SocketAddr] {
        &self.extra_addresses
    }

    /// The address of the plain-HTTP managed-identity listener, if it has one.
    pub fn imds_address(&self) -> Option<SocketAddr> {
        self.imds_address
    }

    /// The address of the plain-HTTP metrics and health listener, if it has one.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_address
    }

    /// Its public URLs.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The local CA certificate to trust, when Strongroom generated its certificate.
    pub fn ca_file(&self) -> Option<&PathBuf> {
        self.ca_file.as_ref()
    }

    /// The shared state (for tests and tools in the same process).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Stops accepting connections and waits for the listener to close. Audit records already queued are
    /// written before this returns.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for listener in self.accept {
            let _ = listener.await;
        }
        drop(self.state);
        // The writer ends once every sender is gone; connection tasks still running may hold one briefly.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.audit_writer).await;
    }
}

/// The data directory's modes: the directory is its owner's only (0700) and so is every file in it (0600), as
/// created here; at start, files readable by others are reported — and the root key and the database, which
/// hold everything, stop the start until the operator has fixed them and considered them exposed.
mod files {
    use std::path::Path;

    use super::{AUDIT_FILE, DATABASE_FILE, ROOT_KEY_FILE};
    use crate::error::{Error, ErrorKind, Result};

    /// Files that must not be readable by anyone but the owner for the server to start.
    /// The local CA's key is among them: it signs the CA users are told to trust system-wide.
    const REFUSED_WHEN_EXPOSED: [&str; 3] = [ROOT_KEY_FILE, DATABASE_FILE, "ca-key.pem"];
    /// Files reported when readable by others (the SQLite journal files hold database pages).
    const REPORTED_WHEN_EXPOSED: [&str; 4] = [AUDIT_FILE, "strongroom.db-wal", "strongroom.db-shm", "dev.env"];

    /// Creates `dir` (and its missing parents) readable by its owner only.
    pub(super) fn create_private_dir(dir: &Path) -> Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| Error::io(format_args!("creating {}", dir.display()), e))
    }

    /// Creates `path`, empty and readable by its owner only, unless it exists.
    pub(super) fn create_private_file(path: &Path) -> Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(Error::io(format_args!("creating {}", path.display()), e)),
        }
    }

    /// Warns about a data directory or files others can read; refuses when they can read the root key or
    /// the database.
    #[cfg(unix)]
    pub(super) fn check(dir: &Path) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o777);
        if let Some(mode) = mode(dir).filter(|m| m & 0o077 != 0) {
            tracing::warn!(
                "the data directory {} is open to other users (mode {mode:o}): run `chmod 700 {}`",
                dir.display(),
                dir.display()
            );
        }
        for name in REPORTED_WHEN_EXPOSED {
            let path = dir.join(name);
            if let Some(mode) = mode(&path).filter(|m| m & 0o077 != 0) {
                tracing::warn!(
                    "{} is open to other users (mode {mode:o}): run `chmod 600 {}`",
                    path.display(),
                    path.display()
                );
            }
        }
        for name in REFUSED_WHEN_EXPOSED {
            let path = dir.join(name);
            if let Some(mode) = mode(&path).filter(|m| m & 0o077 != 0) {
                return Err(Error::new(
                    ErrorKind::Config,
                    path.display(),
                    format_args!(
                        "is open to other users (mode {mode:o}); run `chmod 600 {}` (and `chmod 700 {}`), and \
                         treat what it holds as exposed",
                        path.display(),
                        dir.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Modes are a Unix matter.
    #[cfg(not(unix))]
    pub(super) fn check(_dir: &Path) -> Result<()> {
        Ok(())
    }
}
