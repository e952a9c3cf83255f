//! What every request handler shares: endpoints, signing keys, the directory snapshot, the store and the
//! audit sink.

use std::sync::{Arc, RwLock};

use ipnet::IpNet;
use strongroom_core::backup::BackupKey;
use strongroom_core::credential::WorkloadSecretKey;
use strongroom_core::directory::Directory;
use strongroom_core::network::Subnet;
use strongroom_core::token::ValidatedTokens;
use strongroom_store::Store;

use crate::audit::AuditSink;
use crate::clock::Clock;
use crate::endpoints::Endpoints;
use crate::identity::client_auth::VerifiedSecrets;
use crate::identity::issuer_keys::IssuerKeys;
use crate::identity::throttle::{SignInThrottle, VerificationGate};
use crate::signing::SigningKeys;

/// Shared server state.
pub struct AppState {
    /// Public URLs.
    pub endpoints: Endpoints,
    /// Lifetime of issued tokens, in seconds.
    pub token_lifetime_seconds: u64,
    /// How long a certificate's issuer takes (`[server] certificate_issuance_seconds`).
    pub certificate_issuance_seconds: u64,
    /// Token signing keys.
    pub keys: SigningKeys,
    /// Backup keys: this installation's first (it seals), then the ones of installations it trusts.
    pub backup_keys: Vec<BackupKey>,
    /// The blob containers Managed HSM full backups go to (`[[backup_storage]]`).
    pub backup_storage: Vec<strongroom_core::full_backup::storage::StorageTarget>,
    /// Persistent state.
    pub store: Arc<dyn Store>,
    /// The audit sink.
    pub audit: AuditSink,
    /// What the firewall needs to know of the network.
    pub network: NetworkView,
    /// Tenants, principals, vaults and assignments.
    pub directory: DirectorySnapshot,
    /// Failed sign-ins and familiar addresses, against brute force.
    pub sign_in_throttle: SignInThrottle,
    /// Bounds the Argon2id checks under way.
    pub verification_gate: VerificationGate,
    /// Keys of external issuers found by OpenID discovery, for federated credentials.
    pub issuer_keys: IssuerKeys,
    /// Access tokens whose signature was checked, so that warm requests skip the check.
    pub validated_tokens: ValidatedTokens,
    /// Client secrets that passed their Argon2id check, so that warm token requests skip it.
    pub verified_secrets: VerifiedSecrets,
    /// The key managed-identity workload secrets are found by.
    pub workload_key: Arc<WorkloadSecretKey>,
    /// The data directory (the local CA lives there).
    pub data_dir: std::path::PathBuf,
    /// The tenants whose vaults may have certificates issued by a CA of their own, and for which domains.
    pub certificate_authorities: Vec<crate::config::TenantCertificateAuthority>,
    /// Key versions' material, parsed once, so that warm cryptographic operations skip the parse.
    pub parsed_keys: crate::vault::keys::ParsedKeys,
    /// The roots of the Managed HSMs found activated, which seal their keys' material.
    pub hsm_roots: crate::vault::security_domain::HsmRoots,
    /// Key Vault's metrics and the token service's, for `metrics_listen`.
    pub metrics: crate::metrics::Metrics,
    /// Key Vault's service limits, and what each vault used of them.
    pub limits: crate::limits::ServiceLimits,
    /// The portal's sessions on this node.
    pub portal: crate::portal::Sessions,
    /// The clock every date given or judged is read from.
    pub clock: Clock,
    /// Whether the test controls (faults, the clock) may be used: `test_controls` in the configuration.
    pub test_controls_enabled: bool,
    /// The faults vaults inject on this node (test controls).
    pub(crate) test_faults: crate::test_controls::Faults,
    /// The webhooks of the vaults' event subscriptions.
    pub webhooks: crate::events::Webhooks,
    /// Wakes the maintenance loop before its next turn (the clock was moved).
    pub maintenance_now: tokio::sync::Notify,
}

/// The network around the server, as the firewall sees it.
#[derive(Debug, Clone, Default)]
pub struct NetworkView {
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Virtual-network subnets.
    pub subnets: Vec<Subnet>,
}

/// The current directory: a snapshot readers take cheaply and that is replaced whole on change.
#[derive(Debug, Default)]
pub struct DirectorySnapshot {
    current: RwLock<Arc<Directory>>,
    writes: tokio::sync::Mutex<()>,
}

impl DirectorySnapshot {
    /// A snapshot holding `directory`.
    pub fn new(directory: Directory) -> Self {
        Self { current: RwLock::new(Arc::new(directory)), writes: tokio::sync::Mutex::default() }
    }

    /// Waits for the right to change the directory: whoever holds it plans against the current snapshot
    /// and replaces it before letting go, so no change is planned against a stale directory.
    pub async fn lock_writes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writes.lock().await
    }

    /// The current directory; it never changes under the caller.
    pub fn get(&self) -> Arc<Directory> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the directory; the new snapshot's generation follows the old one's.
    pub fn set(&self, mut directory: Directory) {
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        directory.generation = guard.generation + 1;
        *guard = Arc::new(directory);
    }
}

impl AppState {
    /// The current directory snapshot.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.get()
    }
}
