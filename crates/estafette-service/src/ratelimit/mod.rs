//! Rate limits: token buckets per client (user ID when logged in, address otherwise) on the
//! endpoints the spec marks as rate-limited, and a stricter bucket for login and registration
//! attempts. One process keeps its buckets in memory; processes sharing PostgreSQL keep them
//! in the database, so that a limit holds however a load balancer spreads a client's requests.
//! Owns: the buckets. May call: storage (`rate_limits`).

mod buckets;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use buckets::{LocalBuckets, Rate, rates, wait_for_token};

use crate::Context;

/// Shared buckets are pruned after this many checks, of what has been idle this long.
const PRUNE_EVERY: u64 = 4_096;
const IDLE_MS: u64 = 3_600_000;

#[derive(Clone)]
pub struct RateLimitService {
    context: Arc<Context>,
    local: Arc<LocalBuckets>,
    general: Rate,
    login: Rate,
    /// Buckets in the database (several processes) rather than in memory.
    shared: bool,
    checks: Arc<AtomicU64>,
}

impl RateLimitService {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        let local = Arc::new(LocalBuckets::new(
            &context.config.rate_limit,
            context.clock.clone(),
        ));
        let shared = context.config.database.url.is_some();
        let (general, login) = rates(&context.config.rate_limit);
        Self {
            context,
            local,
            general,
            login,
            shared,
            checks: Arc::default(),
        }
    }

    /// `Err(wait)` when the client must wait before its next request.
    pub async fn check(&self, client: &str) -> Result<(), Duration> {
        if !self.shared {
            return self.local.check(client);
        }
        self.take_shared(&format!("r:{client}"), self.general).await
    }

    /// The stricter limit on login and registration attempts, per address.
    pub async fn check_login(&self, address: &str) -> Result<(), Duration> {
        if !self.shared {
            return self.local.check_login(address);
        }
        self.take_shared(&format!("l:{address}"), self.login).await
    }

    /// The limit on media uploads per user, in the database whatever the backend: uploads
    /// are few and heavy, so a statement per upload costs nothing beside them.
    pub async fn check_upload(&self, user: &str) -> Result<(), Duration> {
        let config = &self.context.config.rate_limit;
        let rate = Rate {
            per_second: config.upload_per_second,
            burst: f64::from(config.upload_burst),
        };
        self.take_shared(&format!("u:{user}"), rate).await
    }

    /// The limit on the users and devices an application service creates, in the database
    /// whatever the backend (each creation is heavy beside one statement).
    pub async fn check_appservice(&self, appservice_id: &str) -> Result<(), Duration> {
        let config = &self.context.config.rate_limit;
        let rate = Rate {
            per_second: config.appservice_per_second,
            burst: f64::from(config.appservice_burst),
        };
        self.take_shared(&format!("a:{appservice_id}"), rate).await
    }

    async fn take_shared(&self, bucket: &str, rate: Rate) -> Result<(), Duration> {
        if !self.context.config.rate_limit.enabled {
            return Ok(());
        }
        let now = self.context.now();
        let limits = &self.context.storage.rate_limits;
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1
            && let Err(err) = limits.prune(now.saturating_sub(IDLE_MS)).await
        {
            tracing::warn!(error = %err, "cannot prune rate-limit buckets");
        }
        match limits.take(bucket, now, rate.per_second, rate.burst).await {
            Ok(None) => Ok(()),
            Ok(Some(tokens)) => Err(wait_for_token(tokens, rate)),
            // The request's own work needs the database too and will fail with a clear
            // error; a limiter that cannot count does not refuse on its own.
            Err(err) => {
                tracing::warn!(error = %err, "cannot count a request against its rate limit");
                Ok(())
            }
        }
    }
}
