use async_trait::async_trait;

use crate::sql::{Db, from_db, to_db};
use crate::{StorageResult, StoredVerdict, VerdictRepository};

#[async_trait]
impl VerdictRepository for Db {
    async fn get(&self, content_hash: &str) -> StorageResult<Option<StoredVerdict>> {
        let row: Option<(String, Option<String>, i64)> = sqlx::query_as(
            "SELECT engine_version, infected_by, scanned_ts FROM antivirus_verdicts
             WHERE content_hash = $1",
        )
        .bind(content_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(
            row.map(|(engine_version, infected_by, scanned_ts)| StoredVerdict {
                engine_version,
                infected_by,
                scanned_ts: from_db(scanned_ts),
            }),
        )
    }

    async fn put(&self, content_hash: &str, verdict: &StoredVerdict) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "INSERT INTO antivirus_verdicts (content_hash, engine_version, infected_by, scanned_ts)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (content_hash) DO UPDATE SET engine_version = excluded.engine_version,
                   infected_by = excluded.infected_by, scanned_ts = excluded.scanned_ts",
            )
            .bind(content_hash)
            .bind(&verdict.engine_version)
            .bind(&verdict.infected_by)
            .bind(to_db(verdict.scanned_ts)),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::StoredVerdict;
    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn the_latest_verdict_replaces_an_older_one() {
        let (_dir, storage) = open_temporary().await;
        let verdicts = &storage.antivirus_verdicts;
        assert_eq!(verdicts.get("abc").await.unwrap(), None);
        let clean = StoredVerdict {
            engine_version: "ClamAV 1.4.3/1/x".to_owned(),
            infected_by: None,
            scanned_ts: 10,
        };
        verdicts.put("abc", &clean).await.unwrap();
        assert_eq!(verdicts.get("abc").await.unwrap(), Some(clean));
        let infected = StoredVerdict {
            engine_version: "ClamAV 1.4.3/2/y".to_owned(),
            infected_by: Some("Eicar-Test-Signature".to_owned()),
            scanned_ts: 20,
        };
        verdicts.put("abc", &infected).await.unwrap();
        assert_eq!(verdicts.get("abc").await.unwrap(), Some(infected));
        assert_eq!(verdicts.get("abd").await.unwrap(), None, "per hash");
    }
}
