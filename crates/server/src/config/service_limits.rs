//! `[service_limits]`: Key Vault's per-vault transaction limits, as `serve` enforces them unless told otherwise.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Located, at};

/// The limits a vault's requests are held to (see `crate::limits`). Each budget counts per vault over a
/// sliding window; the vaults of one subscription together get `subscription_multiple` times each budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceLimitSettings {
    /// The window the budgets count over.
    pub window: Duration,
    /// Every request not counted below, in units of one software-key (RSA 2048, EC) operation: operations with
    /// larger or HSM keys count for more, as Key Vault weighs them.
    pub transactions: u32,
    /// Secrets set, keys imported and certificates imported: one budget, as in Key Vault.
    pub secret_creates: u32,
    /// Keys created or rotated and certificates created; an HSM key counts twice.
    pub key_creates: u32,
    /// How many times each budget the vaults of one subscription may use together; 0 sets no such limit.
    pub subscription_multiple: u32,
}

impl ServiceLimitSettings {
    /// Key Vault's published limits (per vault and 10 seconds, a subscription five times a vault).
    pub const KEY_VAULT: Self = Self {
        window: Duration::from_secs(10),
        transactions: 4000,
        secret_creates: 300,
        key_creates: 20,
        subscription_multiple: 5,
    };
}

const MAX_WINDOW_SECONDS: u64 = 3600;
const MAX_BUDGET: u64 = 100_000_000;
const MAX_SUBSCRIPTION_MULTIPLE: u64 = 1000;

/// The section as written; left out, it is the `keyvault` preset.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ServiceLimitsSection {
    preset: Option<Spanned<String>>,
    window_seconds: Option<Spanned<u64>>,
    transactions: Option<Spanned<u64>>,
    secret_creates: Option<Spanned<u64>>,
    key_creates: Option<Spanned<u64>>,
    subscription_multiple: Option<Spanned<u64>>,
}

impl ServiceLimitsSection {
    /// The limits the section asks for; `None` when they are off.
    pub(super) fn validate(self) -> Result<Option<ServiceLimitSettings>, Located> {
        let base = match &self.preset {
            None => ServiceLimitSettings::KEY_VAULT,
            Some(preset) if preset.get_ref() == "keyvault" => ServiceLimitSettings::KEY_VAULT,
            Some(preset) if preset.get_ref() == "off" => {
                let overrides = [
                    &self.window_seconds,
                    &self.transactions,
                    &self.secret_creates,
                    &self.key_creates,
                    &self.subscription_multiple,
                ];
                return match overrides.into_iter().flatten().next() {
                    Some(value) => Err(at(value, "a limit has no effect with `preset = \"off\"`")),
                    None => Ok(None),
                };
            }
            Some(preset) => {
                return Err(at(preset, "`preset` is \"keyvault\" (Key Vault's published limits) or \"off\""));
            }
        };
        let budget = |value: &Option<Spanned<u64>>, key: &str, default: u32| match value {
            None => Ok(default),
            Some(v) => match u32::try_from(*v.get_ref()) {
                Ok(n) if (1..=MAX_BUDGET).contains(v.get_ref()) => Ok(n),
                _ => Err(at(v, format!("`{key}` must be between 1 and {MAX_BUDGET}"))),
            },
        };
        let window = match &self.window_seconds {
            None => base.window,
            Some(v) if (1..=MAX_WINDOW_SECONDS).contains(v.get_ref()) => Duration::from_secs(*v.get_ref()),
            Some(v) => return Err(at(v, format!("`window_seconds` must be between 1 and {MAX_WINDOW_SECONDS}"))),
        };
        let subscription_multiple = match &self.subscription_multiple {
            None => base.subscription_multiple,
            Some(v) => u32::try_from(*v.get_ref()).ok().filter(|n| u64::from(*n) <= MAX_SUBSCRIPTION_MULTIPLE).ok_or_else(
                || at(v, format!("`subscription_multiple` must be between 0 (no subscription limit) and {MAX_SUBSCRIPTION_MULTIPLE}")),
            )?,
        };
        Ok(Some(ServiceLimitSettings {
            window,
            transactions: budget(&self.transactions, "transactions", base.transactions)?,
            secret_creates: budget(&self.secret_creates, "secret_creates", base.secret_creates)?,
            key_creates: budget(&self.key_creates, "key_creates", base.key_creates)?,
            subscription_multiple,
        }))
    }
}
