//! Key Vault's service limits: each vault may do so many transactions of each kind ([`Budget`]) per sliding
//! window (ten seconds in Key Vault's table), and the vaults of one subscription together a multiple of that.
//! The vault pipeline asks [`ServiceLimits::admit`] before an operation runs; past a limit the request is
//! answered `429 Throttled` with `Retry-After` and counts for nothing, as in Key Vault.
//!
//! Counting is in memory: a vault's windows are found under a shared read lock and counted with atomics
//! (`window`), so the warm path touches no database; with the limits off, admission is one branch.
//!
//! Several nodes on one database: each node counts what it admits, and every [`SHARE_INTERVAL`] reports the
//! counts that changed — per scope, budget and time slot, each the slot's total so far — to the others through
//! the store's change feed ([`Store::broadcast`](strongroom_store::Store::broadcast)), which add them to their own
//! when they decide. A node therefore decides without the others' last [`SHARE_INTERVAL`] or so of admissions:
//! docs/operations.md says what that allows.

mod window;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use strongroom_core::directory::{Directory, Vault};
use strongroom_core::key::{KeyType, PrivateKey};
use strongroom_store::{ChangeNotice, Usage, UsageCount};
use tokio::sync::watch;
use uuid::Uuid;

use self::window::{SLOTS, Window};
use crate::clock::Clock;
use crate::config::ServiceLimitSettings;
use crate::state::AppState;

/// How often a node reports its counts to the other nodes.
pub const SHARE_INTERVAL: Duration = Duration::from_millis(250);
/// Counts per report: a report must fit in one PostgreSQL notification (under 8,000 bytes).
const COUNTS_PER_REPORT: usize = 64;

/// The kinds of transaction Key Vault limits separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Every operation not counted below; an operation with a key counts as Key Vault weighs its type and size.
    Transactions,
    /// Setting a secret, importing a key, importing a certificate: one budget.
    SecretCreates,
    /// Creating or rotating a key, creating a certificate; an HSM key counts twice.
    KeyCreates,
}

const BUDGETS: [Budget; 3] = [Budget::Transactions, Budget::SecretCreates, Budget::KeyCreates];

impl Budget {
    /// Its name in the configuration and in metrics.
    pub fn name(self) -> &'static str {
        match self {
            Budget::Transactions => "transactions",
            Budget::SecretCreates => "secret_creates",
            Budget::KeyCreates => "key_creates",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn limit(self, settings: &ServiceLimitSettings) -> u64 {
        u64::from(match self {
            Budget::Transactions => settings.transactions,
            Budget::SecretCreates => settings.secret_creates,
            Budget::KeyCreates => settings.key_creates,
        })
    }

    /// How much an operation of this kind with a key of type `kty` and `bits` counts for, from Key Vault's
    /// table: against a software RSA 2048 or EC key's 4,000 other transactions, RSA 3072 has 1,000 and RSA 4096
    /// 500, and an HSM key half its software twin's; an HSM key's create is one of 10 where a software key's is
    /// one of 20.
    fn weight(self, kty: KeyType, bits: usize) -> u64 {
        let hsm = if kty.is_hsm() { 2 } else { 1 };
        match self {
            Budget::SecretCreates => 1,
            Budget::KeyCreates => hsm,
            Budget::Transactions => match kty {
                KeyType::Rsa | KeyType::RsaHsm if bits >= 4096 => 8 * hsm,
                KeyType::Rsa | KeyType::RsaHsm if bits >= 3072 => 4 * hsm,
                _ => hsm,
            },
        }
    }
}

/// What is limited: one vault, or the vaults of one subscription together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scope {
    Vault(Uuid),
    Subscription(Uuid),
}

impl Scope {
    /// As reports name it.
    fn wire(self) -> String {
        match self {
            Scope::Vault(id) => format!("vault/{id}"),
            Scope::Subscription(id) => format!("subscription/{id}"),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let (kind, id) = text.split_once('/')?;
        let id = id.parse().ok()?;
        match kind {
            "vault" => Some(Scope::Vault(id)),
            "subscription" => Some(Scope::Subscription(id)),
            _ => None,
        }
    }
}

/// A scope's windows, one per budget.
type Windows = [Window; BUDGETS.len()];

/// A vault's windows and its subscription's, found together on the warm path.
struct VaultWindows {
    subscription_id: Uuid,
    vault: Arc<Windows>,
    subscription: Arc<Windows>,
}

/// Why a request was refused, as Key Vault's message says it.
const VAULT_LIMIT: &str = "VaultRequestTypeLimitReached";
const SUBSCRIPTION_LIMIT: &str = "SubscriptionRequestTypeLimitReached";

/// A request refused for a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    /// Which limit: Key Vault's reason.
    pub reason: &'static str,
    /// Whole seconds until the window has room for it.
    pub retry_after_seconds: u64,
}

/// A request let through; what its operation turns out to weigh is added with [`ServiceLimits::weigh`].
#[derive(Debug, Default)]
pub struct Admission {
    /// Where it was counted; `None` when the limits are off.
    counted: Option<Counted>,
    /// Whether it was weighed already: an operation that reads its key twice weighs once.
    weighed: AtomicBool,
}

#[derive(Debug, Clone, Copy)]
struct Counted {
    vault_id: Uuid,
    budget: Budget,
    slot: u64,
}

/// Every vault's and subscription's counts on this node, and the limits they are held to.
pub struct ServiceLimits {
    settings: Option<ServiceLimitSettings>,
    /// The length of a slot of the window, in milliseconds.
    slot_millis: u64,
    /// This node's id in its reports.
    node: Uuid,
    /// Per vault, its windows and its subscription's.
    vaults: RwLock<HashMap<Uuid, VaultWindows>>,
    /// Every scope's windows (the same ones), for reports and metrics.
    scopes: RwLock<HashMap<Scope, Arc<Windows>>>,
    /// Whether another node's reports with another slot length were seen (and logged) already.
    mismatch_logged: AtomicBool,
}

impl ServiceLimits {
    /// Counting against `settings`, or nothing when `None` (the limits are off).
    pub fn new(settings: Option<ServiceLimitSettings>) -> Self {
        let window_millis = settings.map_or(10_000, |s| u64::try_from(s.window.as_millis()).unwrap_or(u64::MAX));
        Self {
            settings,
            slot_millis: (window_millis / SLOTS as u64).max(1),
            node: Uuid::new_v4(),
            vaults: RwLock::default(),
            scopes: RwLock::default(),
            mismatch_logged: AtomicBool::new(false),
        }
    }

    /// Whether limits are enforced.
    pub fn enabled(&self) -> bool {
        self.settings.is_some()
    }

    /// Counts one request of `budget` against `vault` and its subscription now, or refuses it.
    pub fn admit(&self, vault: &Vault, budget: Budget) -> Result<Admission, Throttled> {
        let Some(settings) = &self.settings else { return Ok(Admission::default()) };
        self.admit_at(settings, vault, budget, Clock::unmoved_millis())
    }

    fn admit_at(
        &self,
        settings: &ServiceLimitSettings,
        vault: &Vault,
        budget: Budget,
        now_millis: i64,
    ) -> Result<Admission, Throttled> {
        let slot = self.slot(now_millis);
        let (index, limit) = (budget.index(), budget.limit(settings));
        let refused = |reason, wait: u64| {
            let room_at = slot.saturating_add(wait).saturating_mul(self.slot_millis);
            let millis = room_at.saturating_sub(u64::try_from(now_millis).unwrap_or(0));
            Throttled { reason, retry_after_seconds: millis.div_ceil(1000).max(1) }
        };
        self.with_windows(vault, |windows| {
            windows.vault[index].admit(slot, 1, limit).map_err(|wait| refused(VAULT_LIMIT, wait))?;
            if settings.subscription_multiple > 0 {
                let shared = limit.saturating_mul(u64::from(settings.subscription_multiple));
                if let Err(wait) = windows.subscription[index].admit(slot, 1, shared) {
                    windows.vault[index].take_back(slot, 1);
                    return Err(refused(SUBSCRIPTION_LIMIT, wait));
                }
            }
            Ok(())
        })?;
        Ok(Admission { counted: Some(Counted { vault_id: vault.id, budget, slot }), weighed: AtomicBool::new(false) })
    }

    /// Adds what the admitted request's operation weighs beyond one, now that it knows its `key`.
    pub fn weigh(&self, admission: &Admission, key: &PrivateKey) {
        let Some(Counted { vault_id, budget, slot }) = admission.counted else { return };
        if admission.weighed.swap(true, Ordering::Relaxed) {
            return;
        }
        let extra = budget.weight(key.kty(), key.size_bits().unwrap_or(0)) - 1;
        if extra == 0 {
            return;
        }
        let counts_subscription = self.settings.is_some_and(|s| s.subscription_multiple > 0);
        if let Some(windows) = self.vaults.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&vault_id) {
            windows.vault[budget.index()].add(slot, extra);
            if counts_subscription {
                windows.subscription[budget.index()].add(slot, extra);
            }
        }
    }

    /// Runs `decide` on `vault`'s windows, made on its first request (or again when it moved subscription).
    fn with_windows<T>(&self, vault: &Vault, decide: impl FnOnce(&VaultWindows) -> T) -> T {
        {
            let vaults = self.vaults.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(windows) = vaults.get(&vault.id).filter(|w| w.subscription_id == vault.subscription_id) {
                return decide(windows);
            }
        }
        let windows = VaultWindows {
            subscription_id: vault.subscription_id,
            vault: self.scope(Scope::Vault(vault.id)),
            subscription: self.scope(Scope::Subscription(vault.subscription_id)),
        };
        let mut vaults = self.vaults.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        decide(vaults.entry(vault.id).insert_entry(windows).get())
    }

    /// `scope`'s windows, made when first needed.
    fn scope(&self, scope: Scope) -> Arc<Windows> {
        if let Some(windows) = self.scopes.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&scope) {
            return Arc::clone(windows);
        }
        let mut scopes = self.scopes.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(scopes.entry(scope).or_default())
    }

    fn slot(&self, now_millis: i64) -> u64 {
        u64::try_from(now_millis).unwrap_or(0) / self.slot_millis
    }

    /// Takes up another node's report.
    pub fn take_up(&self, usage: &Usage) {
        self.take_up_at(usage, Clock::unmoved_millis());
    }

    fn take_up_at(&self, usage: &Usage, now_millis: i64) {
        if self.settings.is_none() || usage.node == self.node {
            return;
        }
        if usage.slot_millis != self.slot_millis {
            if !self.mismatch_logged.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "another node counts service limits over another window: give every node the same [service_limits]"
                );
            }
            return;
        }
        let now = self.slot(now_millis);
        for count in &usage.counts {
            let scope = Scope::parse(&count.scope);
            let budget = BUDGETS.get(usize::from(count.budget));
            if let (Some(scope), Some(budget)) = (scope, budget) {
                self.scope(scope)[budget.index()].take_up(usage.node, count.slot, count.count, now);
            }
        }
    }

    /// This node's counts that changed since its last report, as reports for the other nodes (none when nothing
    /// changed); from then on they count as reported.
    pub fn unreported(&self) -> Vec<ChangeNotice> {
        self.unreported_at(Clock::unmoved_millis())
    }

    fn unreported_at(&self, now_millis: i64) -> Vec<ChangeNotice> {
        let slot = self.slot(now_millis);
        let mut counts = Vec::new();
        for (scope, windows) in self.scopes.read().unwrap_or_else(|poisoned| poisoned.into_inner()).iter() {
            for budget in BUDGETS {
                for (at, count) in windows[budget.index()].unreported(slot) {
                    // The budget's index is below BUDGETS.len().
                    counts.push(UsageCount { scope: scope.wire(), budget: budget as u8, slot: at, count });
                }
            }
        }
        counts
            .chunks(COUNTS_PER_REPORT)
            .map(|chunk| {
                ChangeNotice::Usage(Usage { node: self.node, slot_millis: self.slot_millis, counts: chunk.to_vec() })
            })
            .collect()
    }

    /// Forgets what was reported, so that the next report repeats every count in the window (the last report
    /// did not reach the other nodes).
    pub fn forget_reported(&self) {
        for windows in self.scopes.read().unwrap_or_else(|poisoned| poisoned.into_inner()).values() {
            windows.iter().for_each(Window::forget_reported);
        }
    }

    /// How full each vault's budgets are now, over every node, in percent of the limit: Key Vault's vault
    /// saturation. Only vaults of `directory` that were counted are named.
    pub fn saturation(&self, directory: &Directory) -> Vec<(String, &'static str, f64)> {
        let Some(settings) = &self.settings else { return Vec::new() };
        let slot = self.slot(Clock::unmoved_millis());
        let scopes = self.scopes.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut saturation = Vec::new();
        for vault in directory.vaults() {
            let Some(windows) = scopes.get(&Scope::Vault(vault.id)) else { continue };
            for budget in BUDGETS {
                #[allow(clippy::cast_precision_loss)] // counts far below 2^52
                let percent = 100.0 * windows[budget.index()].used(slot) as f64 / budget.limit(settings) as f64;
                saturation.push((vault.name.clone(), budget.name(), percent));
            }
        }
        saturation
    }
}

/// Reports this node's counts to the other nodes every [`SHARE_INTERVAL`] until `shutdown` turns true.
pub async fn share(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            () = tokio::time::sleep(SHARE_INTERVAL) => {}
        }
        let reports = state.limits.unreported();
        if reports.is_empty() {
            continue;
        }
        if let Err(e) = state.store.broadcast(reports).await {
            // Logged where the database's absence is: here it would be four lines a second.
            tracing::debug!("cannot report service-limit counts to the other nodes: {e}");
            state.limits.forget_reported();
        }
    }
}

#[cfg(test)]
mod tests {
    use strongroom_core::directory::{AuthorizationModel, DEFAULT_RESOURCE_GROUP, Sku};
    use strongroom_core::key::KeySpec;

    use super::*;

    /// A moment on a slot boundary.
    const NOW: i64 = 1_750_000_000_000;

    fn vault(id: u128, subscription: u128) -> Vault {
        Vault {
            id: Uuid::from_u128(id),
            kind: Default::default(),
            tenant_id: Uuid::from_u128(subscription),
            name: format!("vault-{id}"),
            authorization: AuthorizationModel::Rbac,
            soft_delete_retention_days: 90,
            purge_protection: false,
            network: Default::default(),
            access_policies: vec![],
            subscription_id: Uuid::from_u128(subscription),
            resource_group: DEFAULT_RESOURCE_GROUP.into(),
            location: "local".into(),
            sku: Sku::Premium,
            tags: Default::default(),
        }
    }

    fn limits(transactions: u32, subscription_multiple: u32) -> ServiceLimits {
        ServiceLimits::new(Some(ServiceLimitSettings {
            transactions,
            subscription_multiple,
            ..ServiceLimitSettings::KEY_VAULT
        }))
    }

    fn admit(limits: &ServiceLimits, vault: &Vault, budget: Budget, now: i64) -> Result<Admission, Throttled> {
        match &limits.settings {
            Some(settings) => limits.admit_at(settings, vault, budget, now),
            None => limits.admit(vault, budget),
        }
    }

    fn admitted(limits: &ServiceLimits, vault: &Vault, budget: Budget, now: i64) -> usize {
        (0..1000).take_while(|_| admit(limits, vault, budget, now).is_ok()).count()
    }

    #[test]
    fn each_vault_and_budget_has_its_own_count_and_a_refusal_says_when_to_come_back() {
        let limits = limits(5, 0);
        let (billing, other) = (vault(1, 9), vault(2, 9));
        assert_eq!(admitted(&limits, &billing, Budget::Transactions, NOW), 5);
        let refused = admit(&limits, &billing, Budget::Transactions, NOW + 2500).err();
        // The five leave the window when it has moved past their slot: ten seconds after they came.
        assert_eq!(refused, Some(Throttled { reason: VAULT_LIMIT, retry_after_seconds: 8 }));
        assert_eq!(admitted(&limits, &other, Budget::Transactions, NOW), 5, "another vault counts apart");
        assert_eq!(admitted(&limits, &billing, Budget::SecretCreates, NOW), 300, "another budget too");
        assert_eq!(admitted(&limits, &billing, Budget::KeyCreates, NOW), 20);
        assert!(admit(&limits, &billing, Budget::Transactions, NOW + 9_999).is_err());
        assert_eq!(admitted(&limits, &billing, Budget::Transactions, NOW + 10_000), 5, "room again");
    }

    #[test]
    fn a_subscriptions_vaults_share_a_multiple_of_the_vault_limit() {
        let twice = limits(4, 2);
        let vaults = [vault(1, 9), vault(2, 9), vault(3, 9)];
        assert_eq!(admitted(&twice, &vaults[0], Budget::Transactions, NOW), 4);
        assert_eq!(admitted(&twice, &vaults[1], Budget::Transactions, NOW), 4);
        let refused = admit(&twice, &vaults[2], Budget::Transactions, NOW).err().map(|t| t.reason);
        assert_eq!(refused, Some(SUBSCRIPTION_LIMIT));
        assert_eq!(admitted(&twice, &vault(4, 8), Budget::Transactions, NOW), 4, "another subscription");
        // What the subscription refused did not count against the vault.
        let once = limits(4, 1);
        assert_eq!(admitted(&once, &vaults[0], Budget::Transactions, NOW), 4);
        assert_eq!(admitted(&once, &vaults[1], Budget::Transactions, NOW), 0);
        let scopes = once.scopes.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let used = scopes.get(&Scope::Vault(vaults[1].id)).map(|w| w[0].used(once.slot(NOW)));
        assert_eq!(used, Some(0));
    }

    #[test]
    fn operations_with_larger_and_hsm_keys_weigh_as_key_vaults_table_says() -> Result<(), strongroom_core::Error> {
        let key = |kty, size| PrivateKey::generate(&KeySpec { kty, size, public_exponent: None, curve: None });
        let (rsa_3072, ec_hsm) = (key(KeyType::Rsa, Some(3072))?, key(KeyType::EcHsm, None)?);
        let limits = limits(20, 0);
        let billing = vault(1, 9);
        // RSA 3072 has a quarter of the budget: four units each (however often an operation reads its key),
        // five operations in all.
        let mut operations = 0;
        while let Ok(admission) = admit(&limits, &billing, Budget::Transactions, NOW) {
            limits.weigh(&admission, &rsa_3072);
            limits.weigh(&admission, &rsa_3072);
            operations += 1;
        }
        assert_eq!(operations, 5);
        assert_eq!(Budget::Transactions.weight(KeyType::RsaHsm, 4096), 16);
        assert_eq!(Budget::Transactions.weight(KeyType::Ec, 256), 1);
        assert_eq!(Budget::SecretCreates.weight(KeyType::RsaHsm, 4096), 1, "imports are not weighed");
        // An HSM key's create is one of ten.
        let mut creates = 0;
        while let Ok(admission) = admit(&limits, &billing, Budget::KeyCreates, NOW) {
            limits.weigh(&admission, &ec_hsm);
            creates += 1;
        }
        assert_eq!(creates, 10);
        // With the limits off nothing is counted, and weighing is nothing.
        let off = ServiceLimits::new(None);
        let admission = admit(&off, &billing, Budget::Transactions, NOW);
        assert!(admission.as_ref().is_ok_and(|a| a.counted.is_none()));
        if let Ok(admission) = admission {
            off.weigh(&admission, &rsa_3072);
        }
        assert!(off.unreported_at(NOW).is_empty() && off.scopes.read().is_ok_and(|s| s.is_empty()));
        Ok(())
    }

    #[test]
    fn two_nodes_reporting_to_each_other_share_one_limit() {
        let (a, b) = (limits(10, 5), limits(10, 5));
        let billing = vault(1, 9);
        assert_eq!(admitted(&a, &billing, Budget::Transactions, NOW), 10);
        let reports = a.unreported_at(NOW + 100);
        assert_eq!(reports.len(), 1);
        let usages: Vec<&Usage> = reports
            .iter()
            .filter_map(|report| match report {
                ChangeNotice::Usage(usage) => Some(usage),
                _ => None,
            })
            .collect();
        assert_eq!(usages.len(), 1, "{reports:?}");
        for usage in &usages {
            // A report names the vault and the subscription, and a node ignores its own.
            assert_eq!(usage.counts.len(), 2, "{usage:?}");
            a.take_up_at(usage, NOW + 200);
            b.take_up_at(usage, NOW + 200);
        }
        assert_eq!(admitted(&b, &billing, Budget::Transactions, NOW + 300), 0, "b counts a's ten");
        assert_eq!(admitted(&a, &billing, Budget::Transactions, NOW + 300), 0, "and a does not count them twice");
        assert!(a.unreported_at(NOW + 400).is_empty(), "nothing new to report");
        // Another window length cannot be compared: such reports are ignored.
        let other = ServiceLimits::new(Some(ServiceLimitSettings {
            window: Duration::from_secs(20),
            ..ServiceLimitSettings::KEY_VAULT
        }));
        for usage in &usages {
            other.take_up_at(usage, NOW + 200);
        }
        assert!(other.scopes.read().is_ok_and(|s| s.is_empty()));
    }

    #[test]
    fn saturation_is_the_share_of_each_budget_in_use() {
        let limits = limits(4, 5);
        let billing = vault(1, 9);
        assert_eq!(admitted(&limits, &billing, Budget::Transactions, Clock::unmoved_millis()), 4);
        let directory = Directory { vaults: vec![billing.clone(), vault(2, 9)], ..Directory::default() };
        let saturation = limits.saturation(&directory);
        assert_eq!(saturation.len(), 3, "the counted vault's budgets only: {saturation:?}");
        assert!(saturation.contains(&(billing.name.clone(), "transactions", 100.0)), "{saturation:?}");
        assert!(saturation.contains(&(billing.name, "key_creates", 0.0)), "{saturation:?}");
    }
}
