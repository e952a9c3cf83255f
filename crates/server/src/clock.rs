//! The server's clock: every date the server gives or judges (tokens, object attributes, rotation and
//! renewal, purges, audit times) is read from the one [`Clock`] the installation is opened with, so that a test
//! can move the whole server forward in time by setting its offset.
//!
//! Outside this module the system's time is read only as `Instant`s measuring durations (and through
//! [`Clock::unmoved_now`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// The system clock, moved forward by an adjustable offset (zero but in tests). Cloning shares the offset;
/// reading takes no lock.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_millis: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock, unmoved.
    pub fn system() -> Self {
        Self::default()
    }

    /// Moves this clock (and every clone of it) to `seconds` ahead of the system clock.
    pub fn set_offset_seconds(&self, seconds: i64) {
        self.offset_millis.store(seconds.saturating_mul(1000), Ordering::Relaxed);
    }

    /// How far ahead of the system clock this clock is, in seconds.
    pub fn offset_seconds(&self) -> i64 {
        self.offset_millis.load(Ordering::Relaxed) / 1000
    }

    /// Now, Unix milliseconds.
    pub fn now_millis(&self) -> i64 {
        system_millis().saturating_add(self.offset_millis.load(Ordering::Relaxed))
    }

    /// Now, Unix seconds.
    pub fn now_seconds(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }

    /// Now, as a date and time (UTC).
    pub fn now(&self) -> OffsetDateTime {
        let nanos = i128::from(self.now_millis()) * 1_000_000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Now as the system has it, Unix milliseconds, whatever the offset: for rates counted alike on every node
    /// (the service limits' windows), which no node's offset may shift.
    pub fn unmoved_millis() -> i64 {
        system_millis()
    }

    /// Now as the system has it, whatever the offset: for what another party judges by its own clock — the
    /// listener's TLS certificate is checked by every client against the client's time — and for the
    /// informative timestamp of a token-service error body, rendered where no server state reaches.
    pub fn unmoved_now() -> OffsetDateTime {
        Self::system().now()
    }
}

fn system_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_moves_every_clone_and_every_reading() {
        let clock = Clock::system();
        let shared = clock.clone();
        let before = clock.now_seconds();
        shared.set_offset_seconds(40 * 86_400);
        assert_eq!(clock.offset_seconds(), 40 * 86_400);
        let moved = clock.now_seconds() - before;
        assert!((40 * 86_400..40 * 86_400 + 5).contains(&moved), "moved by {moved}");
        assert!((clock.now_millis() / 1000 - clock.now_seconds()).abs() <= 1);
        assert!((clock.now().unix_timestamp() - clock.now_seconds()).abs() <= 1);
        assert!((Clock::unmoved_now().unix_timestamp() - before).abs() < 5, "the unmoved time stays");
    }
}
