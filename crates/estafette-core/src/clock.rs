//! Time is injected so that token expiry, nonce lifetimes and timestamps can be tested
//! without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    fn now_millis(&self) -> u64;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default()
    }
}

/// A clock that only moves when told to, or (for servers federating with others, whose
/// events are ordered by their timestamps) real time moved forward when told to.
#[derive(Debug, Default)]
pub struct ManualClock {
    /// The time, or when following real time, how far ahead of it.
    now: AtomicU64,
    follows_system: bool,
}

impl ManualClock {
    pub fn new(start_millis: u64) -> Self {
        Self {
            now: AtomicU64::new(start_millis),
            follows_system: false,
        }
    }

    /// Real time, plus whatever [`ManualClock::advance`] adds.
    pub fn following_system() -> Self {
        Self {
            now: AtomicU64::new(0),
            follows_system: true,
        }
    }

    pub fn advance(&self, millis: u64) {
        self.now.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        let set = self.now.load(Ordering::SeqCst);
        if self.follows_system {
            SystemClock.now_millis().saturating_add(set)
        } else {
            set
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now_millis(), 1_000);
        clock.advance(500);
        assert_eq!(clock.now_millis(), 1_500);
    }
}
