//! The buckets of a single process, in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use estafette_core::Clock;
use estafette_core::config::RateLimitConfig;

/// Buckets are pruned once this many clients are tracked.
const PRUNE_THRESHOLD: usize = 10_000;

#[derive(Debug, Clone, Copy)]
pub(super) struct Rate {
    pub(super) per_second: f64,
    pub(super) burst: f64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated_ms: u64,
}

pub(super) struct LocalBuckets {
    enabled: bool,
    general: Rate,
    login: Rate,
    clock: Arc<dyn Clock>,
    buckets: Mutex<HashMap<(bool, String), Bucket>>,
}

impl LocalBuckets {
    pub(super) fn new(config: &RateLimitConfig, clock: Arc<dyn Clock>) -> Self {
        let (general, login) = rates(config);
        Self {
            enabled: config.enabled,
            general,
            login,
            clock,
            buckets: Mutex::default(),
        }
    }

    /// `Err(wait)` when the client must wait before its next request.
    pub(super) fn check(&self, client: &str) -> Result<(), Duration> {
        self.take(false, client, self.general)
    }

    /// The stricter limit on login and registration attempts, per address.
    pub(super) fn check_login(&self, address: &str) -> Result<(), Duration> {
        self.take(true, address, self.login)
    }

    fn take(&self, login: bool, client: &str, rate: Rate) -> Result<(), Duration> {
        if !self.enabled {
            return Ok(());
        }
        let now = self.clock.now_millis();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > PRUNE_THRESHOLD {
            // A bucket that would be full again carries no information.
            buckets.retain(|(is_login, _), bucket| {
                let rate = if *is_login { self.login } else { self.general };
                refilled(bucket, rate, now) < rate.burst
            });
        }
        let bucket = buckets.entry((login, client.to_owned())).or_insert(Bucket {
            tokens: rate.burst,
            updated_ms: now,
        });
        bucket.tokens = refilled(bucket, rate, now);
        bucket.updated_ms = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(wait_for_token(bucket.tokens, rate))
        }
    }
}

/// The general and the login rate a configuration sets.
pub(super) fn rates(config: &RateLimitConfig) -> (Rate, Rate) {
    (
        Rate {
            per_second: config.per_second,
            burst: f64::from(config.burst),
        },
        Rate {
            per_second: config.login_per_second,
            burst: f64::from(config.login_burst),
        },
    )
}

/// How long until a bucket holding `tokens` (below one) has one again.
pub(super) fn wait_for_token(tokens: f64, rate: Rate) -> Duration {
    let wait_secs = (1.0 - tokens) / rate.per_second;
    Duration::from_millis((wait_secs * 1000.0).ceil() as u64)
}

fn refilled(bucket: &Bucket, rate: Rate, now: u64) -> f64 {
    let elapsed = now.saturating_sub(bucket.updated_ms) as f64 / 1000.0;
    (bucket.tokens + elapsed * rate.per_second).min(rate.burst)
}

#[cfg(test)]
mod tests {
    use estafette_core::ManualClock;

    use super::*;

    #[test]
    fn bursts_then_throttles_then_recovers() {
        let clock = Arc::new(ManualClock::new(0));
        let config = RateLimitConfig {
            enabled: true,
            per_second: 2.0,
            burst: 3,
            login_per_second: 1.0,
            login_burst: 1,
            ..RateLimitConfig::default()
        };
        let limiter = LocalBuckets::new(&config, clock.clone());
        for _ in 0..3 {
            limiter.check("a").unwrap();
        }
        let wait = limiter.check("a").unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        limiter.check("b").expect("clients have separate buckets");
        clock.advance(500);
        limiter.check("a").unwrap();
        limiter.check_login("a").unwrap();
        assert!(limiter.check_login("a").is_err());
    }

    #[test]
    fn disabled_never_throttles() {
        let config = RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        };
        let limiter = LocalBuckets::new(&config, Arc::new(ManualClock::new(0)));
        for _ in 0..1000 {
            limiter.check("a").unwrap();
        }
    }
}
