//! Brute-force protection, as Entra's smart lock-out does it.
//!
//! - Every attempt is counted against the caller's address (an IPv6 client by its /64, every unknown client
//!   as one): ten failures within five minutes lock the address for a minute (AADSTS50053), whatever it
//!   presents.
//! - A password attempt is also counted against the user — in one of two buckets: the addresses the user
//!   signed in from lately (familiar) and every other one (unfamiliar). Ten failures lock a bucket, so an
//!   attacker's failures from elsewhere never lock the user out of the places it signs in from.
//! - A client secret is counted against its address only. Secrets are at least 16 characters (generated ones
//!   carry 256 bits), beyond guessing, so a correct secret is never refused for failures elsewhere, as Entra's
//!   lock-out protects user accounts and not application credentials.
//! - Counting is atomic: an attempt takes its slot (counted as a failure) under the lock before any password
//!   hash is computed, and gives it back when it turns out right, so concurrent guesses cannot all pass the
//!   check before one of them is counted. When every slot left under the limit is taken by attempts still
//!   being checked, a further attempt waits for one of them to be decided rather than being refused: many
//!   concurrent first sign-ins of a healthy application are not a brute-force attack.
//! - Argon2id checks (about 19 MiB each) run through [`VerificationGate`]: a few at a time, a bounded queue,
//!   and AADSTS90055 at once when the queue is full.
//!
//! Every node counts every failure and knows every familiar address: each is announced to the other nodes on
//! the same database ([`ChangeNotice::SignInFailure`], [`ChangeNotice::SignInSuccess`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use strongroom_core::network::ClientAddress;
use strongroom_store::ChangeNotice;
use tokio::sync::{Notify, Semaphore};

use super::error::OAuthFailure;
use crate::clock::Clock;
use crate::error::InternalFailure;
use crate::state::AppState;

/// Failures that trigger a lock-out.
pub const MAX_FAILURES: u32 = 10;
/// The window failures are counted in, seconds.
pub const WINDOW_SECONDS: i64 = 300;
/// How long a lock-out lasts, seconds.
pub const LOCKOUT_SECONDS: i64 = 60;
/// How long an address stays familiar to a user after its last successful sign-in from there, seconds.
pub const FAMILIAR_SECONDS: i64 = 30 * 86_400;
/// Familiar addresses kept per user: the least recently used gives way.
const FAMILIAR_PER_PRINCIPAL: usize = 8;
/// Users whose familiar addresses are kept; beyond, the stale ones go, and if none is stale, all of them.
const FAMILIAR_PRINCIPALS: usize = 65_536;
/// Counters kept; beyond, the idle ones go, then those neither locked nor under way.
const COUNTERS: usize = 65_536;
/// A familiar address is announced again to the other nodes at most this often, seconds.
const REANNOUNCE_SECONDS: i64 = 86_400;
/// How long an attempt waits for a slot held by attempts still being checked before it is refused as busy.
const SLOT_WAIT: Duration = Duration::from_secs(10);

/// What an attempt presents, which decides what its failures are counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// A user's password: counted against the address and the user.
    Password,
    /// A client secret: counted against the address only.
    ClientSecret,
}

/// Failures in one window.
#[derive(Debug, Clone, Copy, Default)]
struct Counter {
    /// Failures confirmed in the window.
    failures: u32,
    /// Attempts under way, each counted as a failure until it is known to be right.
    in_flight: u32,
    window_start: i64,
    locked_until: i64,
}

impl Counter {
    fn roll(&mut self, now: i64) {
        if now - self.window_start >= WINDOW_SECONDS && self.locked_until <= now {
            self.failures = 0;
            self.window_start = now;
        }
    }

    fn is_locked(&self, now: i64) -> bool {
        self.locked_until > now || self.failures >= MAX_FAILURES
    }

    /// Whether the attempts under way, were they all wrong, would reach the limit: a further attempt must wait
    /// until one of them is decided.
    fn is_full(&self) -> bool {
        self.failures + self.in_flight >= MAX_FAILURES
    }

    fn fail(&mut self, now: i64) {
        self.failures += 1;
        if self.failures >= MAX_FAILURES {
            self.locked_until = now + LOCKOUT_SECONDS;
            // As Entra: once the lock-out ends, the next failure locks again.
            self.failures = MAX_FAILURES - 1;
            self.window_start = now;
        }
    }

    fn is_idle(&self, now: i64) -> bool {
        self.in_flight == 0 && self.locked_until <= now && now - self.window_start >= WINDOW_SECONDS
    }
}

/// An address a user signed in from.
#[derive(Debug, Clone)]
struct Familiar {
    address: String,
    last_seen: i64,
    announced: i64,
}

#[derive(Debug, Default)]
struct Records {
    counters: HashMap<String, Counter>,
    familiar: HashMap<String, Vec<Familiar>>,
}

impl Records {
    fn is_familiar(&self, principal: &str, address: &str, now: i64) -> bool {
        self.familiar
            .get(principal)
            .is_some_and(|known| known.iter().any(|f| f.address == address && now - f.last_seen < FAMILIAR_SECONDS))
    }

    /// The counters an attempt of `presented` by `principal` from `address` is counted against.
    fn keys(&self, presented: Presented, principal: &str, address: &str, now: i64) -> Vec<String> {
        let mut keys = vec![format!("address/{address}")];
        if presented == Presented::Password {
            let bucket = if self.is_familiar(principal, address, now) { "familiar" } else { "unfamiliar" };
            keys.push(format!("principal/{bucket}/{principal}"));
        }
        keys
    }

    fn counter(&mut self, key: &str, now: i64) -> &mut Counter {
        if self.counters.len() >= COUNTERS && !self.counters.contains_key(key) {
            self.counters.retain(|_, counter| !counter.is_idle(now));
            if self.counters.len() >= COUNTERS {
                // Under a flood of fresh names and addresses, memory stays bounded: the counters with fewest
                // failures go first — a flood's names have one each — so that a user's count close to the limit
                // is not wiped by fresh names; what is locked or under way is kept whatever happens.
                let keep = |counter: &Counter| counter.in_flight > 0 || counter.locked_until > now;
                let mut fewest = 1;
                while self.counters.len() >= COUNTERS && fewest < MAX_FAILURES {
                    self.counters.retain(|_, counter| keep(counter) || counter.failures > fewest);
                    fewest += 1;
                }
                if self.counters.len() >= COUNTERS {
                    self.counters.retain(|_, counter| keep(counter));
                }
            }
        }
        let counter =
            self.counters.entry(key.to_owned()).or_insert(Counter { window_start: now, ..Counter::default() });
        counter.roll(now);
        counter
    }

    /// Takes `address` as familiar to `principal`; says whether the other nodes should hear of it.
    fn remember(&mut self, principal: &str, address: &str, now: i64, announcing: bool) -> bool {
        if self.familiar.len() >= FAMILIAR_PRINCIPALS && !self.familiar.contains_key(principal) {
            self.familiar.retain(|_, known| known.iter().any(|f| now - f.last_seen < FAMILIAR_SECONDS));
            if self.familiar.len() >= FAMILIAR_PRINCIPALS {
                self.familiar.clear();
            }
        }
        let known = self.familiar.entry(principal.to_owned()).or_default();
        if let Some(entry) = known.iter_mut().find(|f| f.address == address) {
            entry.last_seen = now;
            if announcing && now - entry.announced >= REANNOUNCE_SECONDS {
                entry.announced = now;
                return true;
            }
            return false;
        }
        if known.len() >= FAMILIAR_PER_PRINCIPAL
            && let Some(oldest) = known.iter().enumerate().min_by_key(|(_, f)| f.last_seen).map(|(i, _)| i)
        {
            known.swap_remove(oldest);
        }
        known.push(Familiar { address: address.to_owned(), last_seen: now, announced: now });
        announcing
    }
}

/// Failure counters and familiar addresses, under one lock.
#[derive(Debug, Default)]
pub struct SignInThrottle {
    records: Mutex<Records>,
    clock: Clock,
    /// Told whenever an attempt is decided, so that attempts waiting for a slot look again.
    decided: Notify,
    /// Attempts refused by the lock-out since start, for the metrics.
    refused: std::sync::atomic::AtomicU64,
}

/// Whether an attempt checks a guess, and so must hold a slot while it runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Needed,
    NotNeeded,
}

/// Whether an attempt may go ahead now.
enum Admission {
    Refused,
    Wait,
    Admitted(Vec<String>),
}

/// An attempt that holds its slot in the counters until it is known to be right or wrong. Dropped undecided
/// (the client went away during the check), it gives the slot back.
pub struct Attempt<'a> {
    throttle: &'a SignInThrottle,
    principal: String,
    address: String,
    keys: Vec<String>,
    decided: bool,
}

/// How a throttle key spells a client: an IPv4 address, an IPv6 client by its /64 (one host's share of
/// addresses), every unknown client as one.
pub fn address_key(client: ClientAddress) -> String {
    match client {
        ClientAddress::Known(IpAddr::V6(v6)) => {
            let segments = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", segments[0], segments[1], segments[2], segments[3])
        }
        ClientAddress::Known(IpAddr::V4(v4)) => v4.to_string(),
        ClientAddress::Unknown => "unknown".to_owned(),
    }
}

impl SignInThrottle {
    /// A throttle with no records, judging lockouts by `clock`.
    pub fn new(clock: Clock) -> Self {
        Self { records: Mutex::default(), decided: Notify::new(), clock, refused: Default::default() }
    }

    /// Attempts refused by the lock-out since start.
    pub fn lockouts(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a slot for an attempt of `presented` by `principal` from `client`, or refuses it (AADSTS50053)
    /// when its address or its bucket of the principal is locked. Check and count happen under one lock. While
    /// the attempts under way fill what is left below the limit, it waits for one of them to be decided, and
    /// after [`SLOT_WAIT`] is refused as busy (AADSTS90055).
    pub async fn begin(
        &self,
        presented: Presented,
        principal: &str,
        client: ClientAddress,
    ) -> Result<Attempt<'_>, OAuthFailure> {
        let address = address_key(client);
        let deadline = tokio::time::Instant::now() + SLOT_WAIT;
        loop {
            // Registered before the check, so that a decision between the check and the wait is not missed.
            let decided = self.decided.notified();
            tokio::pin!(decided);
            decided.as_mut().enable();
            match self.admit(presented, principal, &address, Slot::Needed) {
                Admission::Refused => return Err(OAuthFailure::locked_out()),
                Admission::Admitted(keys) => {
                    return Ok(Attempt {
                        throttle: self,
                        principal: principal.to_owned(),
                        address,
                        keys,
                        decided: false,
                    });
                }
                Admission::Wait => {
                    if tokio::time::timeout_at(deadline, decided).await.is_err() {
                        return Err(OAuthFailure::busy());
                    }
                }
            }
        }
    }

    /// Refuses an attempt whose address or bucket is locked, without taking a slot: for a credential already
    /// known to be right (no guess is checked), which the address's lock-out still refuses.
    pub fn check(&self, presented: Presented, principal: &str, client: ClientAddress) -> Result<(), OAuthFailure> {
        match self.admit(presented, principal, &address_key(client), Slot::NotNeeded) {
            Admission::Refused => Err(OAuthFailure::locked_out()),
            Admission::Wait | Admission::Admitted(_) => Ok(()),
        }
    }

    fn admit(&self, presented: Presented, principal: &str, address: &str, slot: Slot) -> Admission {
        let now = self.clock.now_seconds();
        let mut records = self.lock();
        let keys = records.keys(presented, principal, address, now);
        if keys.iter().any(|key| records.counter(key, now).is_locked(now)) {
            self.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Admission::Refused;
        }
        if slot == Slot::NotNeeded {
            return Admission::Admitted(Vec::new());
        }
        if keys.iter().any(|key| records.counter(key, now).is_full()) {
            return Admission::Wait;
        }
        for key in &keys {
            records.counter(key, now).in_flight += 1;
        }
        Admission::Admitted(keys)
    }

    /// Counts a failure another node announced.
    pub fn record_failure(&self, principal: &str, address: &str) {
        let now = self.clock.now_seconds();
        {
            let mut records = self.lock();
            for key in records.keys(Presented::Password, principal, address, now) {
                records.counter(&key, now).fail(now);
            }
        }
        // Attempts waiting for a slot may now be refused.
        self.decided.notify_waiters();
    }

    /// Takes up a familiar address another node announced.
    pub fn record_success(&self, principal: &str, address: &str) {
        self.lock().remember(principal, address, self.clock.now_seconds(), false);
    }

    fn settle(&self, keys: &[String], failed: bool) {
        let now = self.clock.now_seconds();
        {
            let mut records = self.lock();
            for key in keys {
                let counter = records.counter(key, now);
                counter.in_flight = counter.in_flight.saturating_sub(1);
                if failed {
                    counter.fail(now);
                }
            }
        }
        self.decided.notify_waiters();
    }
}

impl Attempt<'_> {
    /// The attempt failed: counted here and on every other node.
    pub async fn failed(mut self, state: &AppState) {
        self.decided = true;
        self.throttle.settle(&self.keys, true);
        let notice = ChangeNotice::SignInFailure { address: self.address.clone(), principal: self.principal.clone() };
        if let Err(e) = state.store.announce(notice).await {
            tracing::warn!("cannot tell the other nodes of a failed sign-in: {e}");
        }
    }

    /// The credential was right: the slot is given back, and for a user the address becomes familiar here
    /// and on every other node.
    pub async fn succeeded(mut self, state: &AppState, presented: Presented) {
        self.decided = true;
        self.throttle.settle(&self.keys, false);
        if presented != Presented::Password {
            return;
        }
        let announce =
            self.throttle.lock().remember(&self.principal, &self.address, self.throttle.clock.now_seconds(), true);
        if announce {
            let notice =
                ChangeNotice::SignInSuccess { address: self.address.clone(), principal: self.principal.clone() };
            if let Err(e) = state.store.announce(notice).await {
                tracing::warn!("cannot tell the other nodes of a familiar address: {e}");
            }
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.decided {
            self.throttle.settle(&self.keys, false);
        }
    }
}

/// Argon2id checks admitted at once: twice the cores run, a bounded queue waits, the rest are refused at
/// once (AADSTS90055) instead of piling up ~19 MiB each.
pub struct VerificationGate {
    admitted: Semaphore,
    running: Semaphore,
}

/// Checks waiting for a turn, beyond those running.
const QUEUED_VERIFICATIONS: usize = 64;

impl VerificationGate {
    /// A gate sized for this machine.
    pub fn new() -> Self {
        let running = std::thread::available_parallelism().map_or(2, usize::from) * 2;
        Self { admitted: Semaphore::new(running + QUEUED_VERIFICATIONS), running: Semaphore::new(running) }
    }

    /// Runs `check` on the blocking pool when its turn comes; AADSTS90055 when the queue is full.
    pub async fn run<T: Send + 'static>(&self, check: impl FnOnce() -> T + Send + 'static) -> Result<T, OAuthFailure> {
        let Ok(_admitted) = self.admitted.try_acquire() else { return Err(OAuthFailure::busy()) };
        let _running = self.running.acquire().await.map_err(|_| OAuthFailure::busy())?;
        tokio::task::spawn_blocking(check).await.map_err(OAuthFailure::internal_while("a credential check"))
    }
}

impl Default for VerificationGate {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: ClientAddress = ClientAddress::Known(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)));
    const THERE: ClientAddress = ClientAddress::Known(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2)));
    const ELSEWHERE: ClientAddress = ClientAddress::Known(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3)));

    async fn fail(throttle: &SignInThrottle, presented: Presented, principal: &str, client: ClientAddress) {
        if let Ok(mut attempt) = throttle.begin(presented, principal, client).await {
            throttle.settle(&attempt.keys, true);
            attempt.decided = true;
        }
    }

    #[tokio::test]
    async fn failures_lock_the_address_and_the_unfamiliar_bucket_but_not_the_familiar_one() {
        let throttle = SignInThrottle::default();
        throttle.lock().remember("alice", &address_key(HERE), throttle.clock.now_seconds(), false);
        for _ in 0..MAX_FAILURES {
            fail(&throttle, Presented::Password, "alice", THERE).await;
        }
        assert!(throttle.begin(Presented::Password, "alice", THERE).await.is_err(), "the attacker's address");
        assert!(throttle.begin(Presented::Password, "bob", THERE).await.is_err(), "the address, for everyone");
        assert!(
            throttle.begin(Presented::Password, "alice", ELSEWHERE).await.is_err(),
            "alice from anywhere unfamiliar"
        );
        assert!(throttle.begin(Presented::Password, "alice", HERE).await.is_ok(), "alice where she signs in");
        assert!(throttle.begin(Presented::Password, "bob", ELSEWHERE).await.is_ok());
    }

    #[tokio::test]
    async fn client_secrets_are_throttled_by_address_only() {
        let throttle = SignInThrottle::default();
        for _ in 0..MAX_FAILURES {
            fail(&throttle, Presented::ClientSecret, "app", THERE).await;
        }
        assert!(throttle.begin(Presented::ClientSecret, "app", THERE).await.is_err());
        assert!(throttle.begin(Presented::ClientSecret, "app", HERE).await.is_ok());
    }

    #[tokio::test]
    async fn slots_are_taken_before_the_check_and_given_back_when_right() {
        let throttle = SignInThrottle::default();
        let mut attempts = Vec::new();
        for _ in 0..MAX_FAILURES {
            attempts.extend(throttle.begin(Presented::ClientSecret, "app", THERE).await.ok());
        }
        assert_eq!(attempts.len(), MAX_FAILURES as usize);
        let waiting = throttle.begin(Presented::ClientSecret, "app", THERE);
        tokio::pin!(waiting);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), waiting.as_mut()).await.is_err(),
            "no slot while ten are under way: the eleventh waits"
        );
        drop(attempts);
        assert!(waiting.await.is_ok(), "slots given back: the waiting attempt goes ahead");
    }

    #[tokio::test]
    async fn an_attempt_waiting_for_a_slot_is_refused_when_the_attempts_under_way_fail() {
        let throttle = SignInThrottle::default();
        let mut attempts = Vec::new();
        for _ in 0..MAX_FAILURES {
            attempts.extend(throttle.begin(Presented::ClientSecret, "app", THERE).await.ok());
        }
        let waiting = throttle.begin(Presented::ClientSecret, "app", THERE);
        tokio::pin!(waiting);
        assert!(tokio::time::timeout(Duration::from_millis(50), waiting.as_mut()).await.is_err());
        for mut attempt in attempts {
            throttle.settle(&attempt.keys, true);
            attempt.decided = true;
        }
        assert!(waiting.await.is_err(), "ten failures lock the address, waiting attempts included");
        assert!(throttle.check(Presented::ClientSecret, "app", THERE).is_err(), "a known secret too");
        assert!(throttle.check(Presented::ClientSecret, "app", HERE).is_ok());
    }

    #[tokio::test]
    async fn announced_failures_and_familiar_addresses_count_on_every_node() {
        let throttle = SignInThrottle::default();
        throttle.record_success("alice", &address_key(HERE));
        for _ in 0..MAX_FAILURES {
            throttle.record_failure("alice", &address_key(THERE));
        }
        assert!(throttle.begin(Presented::Password, "alice", THERE).await.is_err());
        assert!(throttle.begin(Presented::Password, "alice", HERE).await.is_ok());
    }

    #[tokio::test]
    async fn ipv6_clients_count_by_their_64() {
        let a = ClientAddress::Known("2001:db8:1:2::1".parse().unwrap_or(IpAddr::V4(0.into())));
        let b = ClientAddress::Known("2001:db8:1:2:ffff::9".parse().unwrap_or(IpAddr::V4(0.into())));
        assert_eq!(address_key(a), address_key(b));
        assert_eq!(address_key(ClientAddress::Unknown), "unknown");
    }
}
