//! Brute-force protection: failed sign-ins (passwords, client secrets) are counted per principal and per
//! address; past a threshold within a window, further attempts are refused for a while with AADSTS50053,
//! whether or not they would have succeeded. Every node counts every failure: each is announced to the
//! other nodes on the same database before the failed attempt is answered.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use strongroom_store::ChangeNotice;

use super::mint::now_seconds;
use crate::state::AppState;

/// Failures that trigger a lock-out.
pub const MAX_FAILURES: u32 = 10;
/// The window failures are counted in, seconds.
pub const WINDOW_SECONDS: i64 = 300;
/// How long a lock-out lasts, seconds.
pub const LOCKOUT_SECONDS: i64 = 60;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    window_start: i64,
    locked_until: i64,
}

/// Failure counts by principal and by address.
#[derive(Debug, Default)]
pub struct SignInThrottle {
    records: Mutex<HashMap<String, Record>>,
}

impl SignInThrottle {
    fn keys(principal: &str, address: IpAddr) -> [String; 2] {
        [format!("principal/{principal}"), format!("address/{address}")]
    }

    /// Whether the principal or the address is locked out now.
    pub fn is_locked(&self, principal: &str, address: IpAddr) -> bool {
        let now = now_seconds();
        let records = self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Self::keys(principal, address).iter().any(|key| records.get(key).is_some_and(|r| r.locked_until > now))
    }

    /// Counts a failed attempt.
    pub fn record_failure(&self, principal: &str, address: IpAddr) {
        let now = now_seconds();
        let mut records = self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        records.retain(|_, r| r.locked_until > now || now - r.window_start < WINDOW_SECONDS);
        for key in Self::keys(principal, address) {
            let record = records.entry(key).or_insert(Record { failures: 0, window_start: now, locked_until: 0 });
            if now - record.window_start >= WINDOW_SECONDS {
                *record = Record { failures: 0, window_start: now, locked_until: 0 };
            }
            record.failures += 1;
            if record.failures >= MAX_FAILURES {
                record.locked_until = now + LOCKOUT_SECONDS;
            }
        }
    }
}

/// Counts a failed attempt here and on every other node.
pub async fn count_failure(state: &AppState, principal: &str, address: IpAddr) {
    state.sign_in_throttle.record_failure(principal, address);
    let notice = ChangeNotice::SignInFailure { address: address.to_string(), principal: principal.to_owned() };
    if let Err(e) = state.store.announce(notice).await {
        tracing::warn!("cannot tell the other nodes of a failed sign-in: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_failures_lock_the_principal_and_the_address() {
        let throttle = SignInThrottle::default();
        let address: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..MAX_FAILURES - 1 {
            throttle.record_failure("alice", address);
        }
        assert!(!throttle.is_locked("alice", address));
        throttle.record_failure("alice", address);
        assert!(throttle.is_locked("alice", address));
        assert!(throttle.is_locked("bob", address), "the address is locked too");
        assert!(throttle.is_locked("alice", [127, 0, 0, 2].into()), "and the principal from anywhere");
        assert!(!throttle.is_locked("bob", [127, 0, 0, 2].into()));
    }
}
