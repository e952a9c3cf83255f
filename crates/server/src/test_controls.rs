//! Test controls for application teams (`test_controls = true`, which `strongroom dev` sets): faults a vault
//! injects into its own answers — 429, 500 or 503 for the next N requests or a share of them, and added
//! latency — so that a team sees its SDK's retry policy at work; and the server's clock, moved forward at
//! runtime so that expiry, near-expiry, rotation and renewal come due now. Both are set through the management
//! API (`Strongroom.Testing`), which audits every change, and `strongroom test`.
//!
//! Faults live in the memory of the node that was told, like the clock's offset: a test drives one node.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use uuid::Uuid;

/// The answers a fault may force: Key Vault's throttling, an internal error, the service unavailable.
pub const FAULT_STATUSES: [u16; 3] = [429, 500, 503];

/// What a vault is told to do to its requests.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// The status forced, if any (else only latency is added).
    pub status: Option<u16>,
    /// How many more requests it is forced on; `None`: every one the share picks, until cleared.
    pub remaining: Option<u32>,
    /// The share of requests it is forced on, in (0, 1]: spread evenly, not drawn at random, so that a test
    /// knows how many of its requests fail.
    pub fraction: f64,
    /// Added before every request is served (those answered normally too).
    pub latency: Duration,
    /// `Retry-After` sent with a forced 429 or 503.
    pub retry_after_seconds: u32,
    /// Requests answered with the forced status so far.
    pub injected: u64,
    /// The share's running sum: a request is picked each time it reaches one.
    credit: f64,
}

/// What a request is to suffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Injection {
    /// Wait this long first.
    pub latency: Duration,
    /// Then answer with this status (and `retry_after_seconds`), if any.
    pub status: Option<(u16, u32)>,
}

impl FaultPlan {
    /// A plan; `fraction` is clamped into (0, 1].
    pub fn new(
        status: Option<u16>,
        remaining: Option<u32>,
        fraction: f64,
        latency: Duration,
        retry_after_seconds: u32,
    ) -> Self {
        let fraction = if fraction > 0.0 && fraction <= 1.0 { fraction } else { 1.0 };
        Self { status, remaining, fraction, latency, retry_after_seconds, injected: 0, credit: 0.0 }
    }

    /// What the next request suffers; whether the plan is used up after it.
    fn next(&mut self) -> (Injection, bool) {
        let mut injection = Injection { latency: self.latency, status: None };
        if let Some(status) = self.status {
            self.credit += self.fraction;
            if self.credit >= 1.0 - 1e-9 {
                self.credit -= 1.0;
                injection.status = Some((status, self.retry_after_seconds));
                self.injected += 1;
                if let Some(remaining) = &mut self.remaining {
                    *remaining = remaining.saturating_sub(1);
                }
            }
        }
        (injection, self.remaining == Some(0))
    }
}

/// The faults of every vault on this node.
#[derive(Debug, Default)]
pub struct Faults {
    /// Whether any vault has a plan: the warm path reads this one flag when none has.
    any: AtomicBool,
    plans: RwLock<HashMap<Uuid, FaultPlan>>,
}

impl Faults {
    /// Sets the vault's plan, replacing any.
    pub fn set(&self, vault: Uuid, plan: FaultPlan) {
        let mut plans = self.plans.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        plans.insert(vault, plan);
        self.any.store(true, Ordering::Release);
    }

    /// Clears the vault's plan; whether it had one.
    pub fn clear(&self, vault: Uuid) -> bool {
        let mut plans = self.plans.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let had = plans.remove(&vault).is_some();
        self.any.store(!plans.is_empty(), Ordering::Release);
        had
    }

    /// The vault's plan now.
    pub fn plan(&self, vault: Uuid) -> Option<FaultPlan> {
        self.plans.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&vault).cloned()
    }

    /// What a request to the vault suffers, if anything; a plan used up is removed.
    pub fn next(&self, vault: Uuid) -> Option<Injection> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let mut plans = self.plans.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (injection, used_up) = plans.get_mut(&vault)?.next();
        if used_up {
            plans.remove(&vault);
            self.any.store(!plans.is_empty(), Ordering::Release);
        }
        Some(injection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(faults: &Faults, vault: Uuid, requests: usize) -> Vec<Option<u16>> {
        (0..requests).map(|_| faults.next(vault).and_then(|i| i.status).map(|(status, _)| status)).collect()
    }

    #[test]
    fn the_next_n_requests_fail_then_the_plan_is_gone() {
        let (faults, vault, other) = (Faults::default(), Uuid::new_v4(), Uuid::new_v4());
        faults.set(vault, FaultPlan::new(Some(503), Some(3), 1.0, Duration::ZERO, 2));
        assert_eq!(faults.next(other), None, "another vault is untouched");
        assert_eq!(statuses(&faults, vault, 5), [Some(503), Some(503), Some(503), None, None]);
        assert_eq!(faults.plan(vault), None);
    }

    #[test]
    fn a_share_of_requests_fails_evenly_until_cleared() {
        let (faults, vault) = (Faults::default(), Uuid::new_v4());
        faults.set(vault, FaultPlan::new(Some(429), None, 0.25, Duration::ZERO, 1));
        let seen = statuses(&faults, vault, 100);
        assert_eq!(seen.iter().filter(|s| **s == Some(429)).count(), 25);
        assert!(seen.windows(4).all(|w| w.iter().filter(|s| s.is_some()).count() == 1), "one in every four");
        assert_eq!(faults.plan(vault).map(|p| p.injected), Some(25));
        assert!(faults.clear(vault));
        assert_eq!(faults.next(vault), None);
    }

    #[test]
    fn latency_alone_slows_every_request_and_fails_none() {
        let (faults, vault) = (Faults::default(), Uuid::new_v4());
        faults.set(vault, FaultPlan::new(None, None, 1.0, Duration::from_millis(250), 0));
        let injection = faults.next(vault);
        assert_eq!(injection, Some(Injection { latency: Duration::from_millis(250), status: None }));
        assert_eq!(statuses(&faults, vault, 10), vec![None; 10]);
    }
}
