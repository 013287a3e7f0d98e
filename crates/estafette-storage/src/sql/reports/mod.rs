//! Reports users send the server's administrators.

use async_trait::async_trait;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use sqlx::Row;

use crate::sql::{Db, corrupt, from_db, to_db};
use crate::{ReportRecord, ReportRepository, StorageResult};

fn parse<T: TryFrom<String>>(value: Option<String>, what: &str) -> StorageResult<Option<T>>
where
    T::Error: std::fmt::Display,
{
    value
        .map(|v| T::try_from(v).map_err(|e| corrupt(what, e)))
        .transpose()
}

#[async_trait]
impl ReportRepository for Db {
    async fn add(&self, report: &ReportRecord) -> StorageResult<i64> {
        let mut tx = self.write_transaction().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO reports (kind, room_id, event_id, reported_user, reporter, reason, received_ts)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(&report.kind)
        .bind(report.room_id.as_ref().map(|r| r.as_str()))
        .bind(report.event_id.as_ref().map(|e| e.as_str()))
        .bind(report.reported_user.as_ref().map(|u| u.as_str()))
        .bind(report.reporter.as_str())
        .bind(&report.reason)
        .bind(to_db(report.received_ts))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn latest(&self, limit: u32) -> StorageResult<Vec<ReportRecord>> {
        let rows = sqlx::query(
            "SELECT id, kind, room_id, event_id, reported_user, reporter, reason, received_ts
             FROM reports ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ReportRecord {
                    id: row.try_get("id")?,
                    kind: row.try_get("kind")?,
                    room_id: parse::<OwnedRoomId>(row.try_get("room_id")?, "reports.room_id")?,
                    event_id: parse::<OwnedEventId>(row.try_get("event_id")?, "reports.event_id")?,
                    reported_user: parse::<OwnedUserId>(
                        row.try_get("reported_user")?,
                        "reports.reported_user",
                    )?,
                    reporter: parse::<OwnedUserId>(
                        Some(row.try_get("reporter")?),
                        "reports.reporter",
                    )?
                    .ok_or_else(|| corrupt("reports.reporter", "missing"))?,
                    reason: row.try_get("reason")?,
                    received_ts: from_db(row.try_get("received_ts")?),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use ruma::{owned_room_id, owned_user_id};

    use super::*;
    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn reports_are_kept_newest_first() {
        let (_dir, storage) = open_temporary().await;
        let report = |kind: &str, reason: &str| ReportRecord {
            id: 0,
            kind: kind.to_owned(),
            room_id: Some(owned_room_id!("!r:x")),
            event_id: None,
            reported_user: (kind == "user").then(|| owned_user_id!("@eve:x")),
            reporter: owned_user_id!("@alice:x"),
            reason: reason.to_owned(),
            received_ts: 7,
        };
        let first = storage.reports.add(&report("room", "spam")).await.unwrap();
        let second = storage.reports.add(&report("user", "abuse")).await.unwrap();
        assert!(second > first);
        let latest = storage.reports.latest(10).await.unwrap();
        assert_eq!(latest.len(), 2);
        assert_eq!(
            latest[0],
            ReportRecord {
                id: second,
                ..report("user", "abuse")
            }
        );
        assert_eq!(storage.reports.latest(1).await.unwrap().len(), 1);
    }
}
