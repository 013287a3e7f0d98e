use async_trait::async_trait;

use crate::sql::{Db, to_db};
use crate::{RateLimitRepository, StorageResult};

/// The bucket's tokens refilled up to now and capped at the burst: `$2` now, `$3` the rate per
/// second, `$4` the burst.
const REFILLED: &str = "(CASE WHEN b.tokens + ($2 - b.updated_ms) * $3 / 1000.0 > $4 THEN $4
                         ELSE b.tokens + ($2 - b.updated_ms) * $3 / 1000.0 END)";

#[async_trait]
impl RateLimitRepository for Db {
    async fn take(
        &self,
        bucket: &str,
        now: u64,
        per_second: f64,
        burst: f64,
    ) -> StorageResult<Option<f64>> {
        let refilled = REFILLED.replace("b.", "rate_limit_buckets.");
        // One statement, atomic on both backends: a new bucket starts full; an existing one
        // is refilled and charged only if a token is left.
        let sql = format!(
            "INSERT INTO rate_limit_buckets (bucket, tokens, updated_ms) VALUES ($1, $4 - 1, $2)
             ON CONFLICT (bucket) DO UPDATE SET tokens = {refilled} - 1, updated_ms = $2
             WHERE {refilled} >= 1
             RETURNING tokens"
        );
        let mut tx = self.write_transaction().await?;
        let granted: Option<f64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(bucket)
            .bind(to_db(now))
            .bind(per_second)
            .bind(burst)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        if granted.is_some() {
            return Ok(None);
        }
        let sql = format!("SELECT {REFILLED} FROM rate_limit_buckets b WHERE b.bucket = $1");
        let left: Option<f64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(bucket)
            .bind(to_db(now))
            .bind(per_second)
            .bind(burst)
            .fetch_optional(&self.pool)
            .await?;
        Ok(Some(left.unwrap_or(0.0).min(0.999)))
    }

    async fn prune(&self, before: u64) -> StorageResult<()> {
        self.write(
            sqlx::query("DELETE FROM rate_limit_buckets WHERE updated_ms < $1").bind(to_db(before)),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn a_bucket_bursts_then_refills_at_its_rate() {
        let (_dir, storage) = open_temporary().await;
        let limits = &storage.rate_limits;
        for _ in 0..3 {
            assert_eq!(limits.take("a", 1_000, 2.0, 3.0).await.unwrap(), None);
        }
        let left = limits.take("a", 1_000, 2.0, 3.0).await.unwrap();
        assert!(left.is_some_and(|left| left < 1.0), "{left:?}");
        assert_eq!(
            limits.take("b", 1_000, 2.0, 3.0).await.unwrap(),
            None,
            "per bucket"
        );
        // Half a second at two per second is one token.
        assert_eq!(limits.take("a", 1_500, 2.0, 3.0).await.unwrap(), None);
        assert!(limits.take("a", 1_500, 2.0, 3.0).await.unwrap().is_some());
        limits.prune(1_400).await.unwrap();
        assert!(
            limits.take("a", 1_500, 2.0, 3.0).await.unwrap().is_some(),
            "kept"
        );
        limits.prune(2_000).await.unwrap();
        assert_eq!(
            limits.take("a", 1_500, 2.0, 3.0).await.unwrap(),
            None,
            "forgotten"
        );
    }

    /// Concurrent requests (as from several processes) never get more than the burst.
    #[tokio::test]
    async fn concurrent_takes_never_exceed_the_burst() {
        let (_dir, storage) = open_temporary().await;
        let mut takers = Vec::new();
        for _ in 0..20 {
            let storage = storage.clone();
            takers.push(tokio::spawn(async move {
                storage.rate_limits.take("c", 0, 0.001, 5.0).await.unwrap()
            }));
        }
        let mut granted = 0;
        for taker in takers {
            granted += usize::from(taker.await.unwrap().is_none());
        }
        assert_eq!(granted, 5);
    }
}
