use async_trait::async_trait;

use crate::sql::{Db, from_db, to_db};
use crate::{Detection, DetectionRepository, StorageResult};

#[async_trait]
impl DetectionRepository for Db {
    async fn record(&self, detection: &Detection) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "INSERT INTO antivirus_detections
                   (content_hash, signature, media, requester, source, detected_ts)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&detection.content_hash)
            .bind(&detection.signature)
            .bind(&detection.media)
            .bind(&detection.requester)
            .bind(&detection.source)
            .bind(to_db(detection.detected_ts)),
        )
        .await?;
        Ok(())
    }

    async fn latest(&self, limit: u32) -> StorageResult<Vec<Detection>> {
        type Row = (String, String, Option<String>, Option<String>, String, i64);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT content_hash, signature, media, requester, source, detected_ts
             FROM antivirus_detections ORDER BY detected_ts DESC, id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(content_hash, signature, media, requester, source, detected_ts)| Detection {
                    content_hash,
                    signature,
                    media,
                    requester,
                    source,
                    detected_ts: from_db(detected_ts),
                },
            )
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::Detection;
    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn detections_are_listed_newest_first() {
        let (_dir, storage) = open_temporary().await;
        let detections = &storage.antivirus_detections;
        let detection = |ts: u64, user: Option<&str>| Detection {
            content_hash: format!("hash{ts}"),
            signature: "Eicar-Test-Signature".to_owned(),
            media: Some(format!("mxc://example.org/m{ts}")),
            requester: user.map(ToOwned::to_owned),
            source: "upload".to_owned(),
            detected_ts: ts,
        };
        for (ts, user) in [(5, Some("@a:example.org")), (9, None), (7, None)] {
            detections.record(&detection(ts, user)).await.unwrap();
        }
        let latest = detections.latest(2).await.unwrap();
        assert_eq!(latest, vec![detection(9, None), detection(7, None)]);
        assert_eq!(
            detections.latest(10).await.unwrap()[2],
            detection(5, Some("@a:example.org"))
        );
    }
}
