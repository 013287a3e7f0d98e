use std::collections::HashSet;

use async_trait::async_trait;
use ruma::{EventId, OwnedEventId, OwnedUserId, RoomId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{Db, EVENT_IDS_PER_STATEMENT, corrupt, from_db, placeholders};
use crate::{RelationRecord, RelationRepository, StorageResult, ThreadSummary};

fn decode(row: &AnyRow) -> StorageResult<RelationRecord> {
    Ok(RelationRecord {
        event_id: OwnedEventId::try_from(row.try_get::<String, _>("event_id")?)
            .map_err(|e| corrupt("relation event", e))?,
        relates_to_id: OwnedEventId::try_from(row.try_get::<String, _>("relates_to_id")?)
            .map_err(|e| corrupt("relation target", e))?,
        rel_type: row.try_get("rel_type")?,
        event_type: row.try_get("event_type")?,
        sender: OwnedUserId::try_from(row.try_get::<String, _>("sender")?)
            .map_err(|e| corrupt("relation sender", e))?,
        aggregation_key: row.try_get("aggregation_key")?,
        stream_ordering: row.try_get("stream_ordering")?,
    })
}

fn decode_summary(row: &AnyRow) -> StorageResult<ThreadSummary> {
    Ok(ThreadSummary {
        root: OwnedEventId::try_from(row.try_get::<String, _>("root")?)
            .map_err(|e| corrupt("thread root", e))?,
        count: from_db(row.try_get("count")?),
        latest_event: OwnedEventId::try_from(row.try_get::<String, _>("latest_event")?)
            .map_err(|e| corrupt("thread latest", e))?,
        latest_ordering: row.try_get("latest_ordering")?,
    })
}

#[async_trait]
impl RelationRepository for Db {
    async fn insert(&self, room_id: &RoomId, relation: &RelationRecord) -> StorageResult<()> {
        self.write(sqlx::query(
            "INSERT INTO event_relations (event_id, room_id, relates_to_id, rel_type, event_type, sender,
               aggregation_key, stream_ordering)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(relation.event_id.as_str())
        .bind(room_id.as_str())
        .bind(relation.relates_to_id.as_str())
        .bind(&relation.rel_type)
        .bind(&relation.event_type)
        .bind(relation.sender.as_str())
        .bind(relation.aggregation_key.as_deref())
        .bind(relation.stream_ordering))
        .await?;
        Ok(())
    }

    async fn delete(&self, event_id: &EventId) -> StorageResult<()> {
        self.write(
            sqlx::query("DELETE FROM event_relations WHERE event_id = $1").bind(event_id.as_str()),
        )
        .await?;
        Ok(())
    }

    async fn relations_of(
        &self,
        event_id: &EventId,
        rel_type: Option<&str>,
        event_type: Option<&str>,
        after: i64,
        until: i64,
        forward: bool,
        limit: u32,
    ) -> StorageResult<Vec<RelationRecord>> {
        let sql = if forward {
            "SELECT * FROM event_relations WHERE relates_to_id = $1
               AND ($2 IS NULL OR rel_type = $2) AND ($3 IS NULL OR event_type = $3)
               AND stream_ordering > $4 AND stream_ordering <= $5
             ORDER BY stream_ordering ASC LIMIT $6"
        } else {
            "SELECT * FROM event_relations WHERE relates_to_id = $1
               AND ($2 IS NULL OR rel_type = $2) AND ($3 IS NULL OR event_type = $3)
               AND stream_ordering > $4 AND stream_ordering <= $5
             ORDER BY stream_ordering DESC LIMIT $6"
        };
        sqlx::query(sql)
            .bind(event_id.as_str())
            .bind(rel_type)
            .bind(event_type)
            .bind(after)
            .bind(until)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    async fn bundled_targets(
        &self,
        event_ids: &[&EventId],
    ) -> StorageResult<HashSet<OwnedEventId>> {
        let mut targets = HashSet::new();
        for chunk in event_ids.chunks(EVENT_IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT DISTINCT relates_to_id FROM event_relations
                 WHERE rel_type IN ('m.replace', 'm.thread', 'm.reference')
                   AND relates_to_id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for event_id in chunk {
                query = query.bind(event_id.as_str());
            }
            for target in query.fetch_all(&self.pool).await? {
                targets.insert(
                    OwnedEventId::try_from(target).map_err(|e| corrupt("relation target", e))?,
                );
            }
        }
        Ok(targets)
    }

    async fn thread_summary(&self, root: &EventId) -> StorageResult<Option<ThreadSummary>> {
        let sql = "SELECT r.relates_to_id AS root, COUNT(*) AS count, MAX(r.stream_ordering) AS latest_ordering,
               (SELECT l.event_id FROM event_relations l WHERE l.relates_to_id = r.relates_to_id
                  AND l.rel_type = 'm.thread' ORDER BY l.stream_ordering DESC LIMIT 1) AS latest_event
             FROM event_relations r WHERE r.relates_to_id = $1 AND r.rel_type = 'm.thread'
             GROUP BY r.relates_to_id";
        sqlx::query(sql)
            .bind(root.as_str())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(decode_summary)
            .transpose()
    }

    async fn participated(&self, root: &EventId, user_id: &UserId) -> StorageResult<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM event_relations WHERE relates_to_id = $1 AND rel_type = 'm.thread' AND sender = $2
             UNION SELECT 1 FROM events WHERE event_id = $1 AND sender = $2 LIMIT 1",
        )
        .bind(root.as_str())
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn threads(
        &self,
        room_id: &RoomId,
        participant: Option<&UserId>,
        until: i64,
        limit: u32,
    ) -> StorageResult<Vec<ThreadSummary>> {
        sqlx::query(
            "SELECT r.relates_to_id AS root, COUNT(*) AS count, MAX(r.stream_ordering) AS latest_ordering,
               (SELECT l.event_id FROM event_relations l WHERE l.relates_to_id = r.relates_to_id
                  AND l.rel_type = 'm.thread' ORDER BY l.stream_ordering DESC LIMIT 1) AS latest_event
             FROM event_relations r
             WHERE r.room_id = $1 AND r.rel_type = 'm.thread'
               AND ($2 IS NULL
                    OR EXISTS (SELECT 1 FROM event_relations p WHERE p.relates_to_id = r.relates_to_id
                               AND p.rel_type = 'm.thread' AND p.sender = $2)
                    OR EXISTS (SELECT 1 FROM events e WHERE e.event_id = r.relates_to_id AND e.sender = $2))
             GROUP BY r.relates_to_id
             HAVING MAX(r.stream_ordering) <= $3
             ORDER BY latest_ordering DESC LIMIT $4",
        )
        .bind(room_id.as_str())
        .bind(participant.map(|u| u.as_str()))
        .bind(until)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode_summary)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use ruma::{EventId, OwnedEventId, event_id, owned_user_id, room_id};

    use crate::RelationRecord;
    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn bundled_targets_are_the_events_with_edits_threads_or_references() {
        let (_dir, storage) = open_temporary().await;
        let relations = [
            ("$edit", "$edited", "m.replace"),
            ("$reply", "$root", "m.thread"),
            ("$ref", "$referenced", "m.reference"),
            ("$reaction", "$reacted", "m.annotation"),
        ];
        for (n, (event_id, target, rel_type)) in relations.into_iter().enumerate() {
            let record = RelationRecord {
                event_id: OwnedEventId::try_from(event_id).expect("event ID"),
                relates_to_id: OwnedEventId::try_from(target).expect("event ID"),
                rel_type: rel_type.to_owned(),
                event_type: "m.room.message".to_owned(),
                sender: owned_user_id!("@a:x"),
                aggregation_key: None,
                stream_ordering: n as i64 + 1,
            };
            storage
                .relations
                .insert(room_id!("!r:x"), &record)
                .await
                .expect("insert");
        }
        let asked: Vec<&EventId> = ["$edited", "$root", "$referenced", "$reacted", "$plain"]
            .into_iter()
            .map(|id| <&EventId>::try_from(id).expect("event ID"))
            .collect();
        let mut found: Vec<String> = storage
            .relations
            .bundled_targets(&asked)
            .await
            .expect("targets")
            .into_iter()
            .map(|id| id.to_string())
            .collect();
        found.sort();
        assert_eq!(found, ["$edited", "$referenced", "$root"]);
        let none = storage
            .relations
            .bundled_targets(&[event_id!("$plain")])
            .await
            .expect("targets");
        assert!(none.is_empty());
    }
}
