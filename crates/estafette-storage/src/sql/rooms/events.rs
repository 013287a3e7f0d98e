use async_trait::async_trait;
use ruma::{EventId, OwnedEventId, RoomId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::rooms::memberships::upsert_membership;
use crate::sql::rooms::state::MAX_CHAIN_LENGTH;
use crate::sql::{Db, Dialect, EVENT_IDS_PER_STATEMENT, Tx, corrupt, from_db, placeholders, to_db};
use crate::{
    AppendedEvent, ClientTransaction, EventRecord, EventRepository, NewEvent, StateChange,
    StorageError, StorageResult,
};

fn decode(row: &AnyRow) -> StorageResult<EventRecord> {
    let redacted_by: Option<String> = row.try_get("redacted_by")?;
    Ok(EventRecord {
        stream_ordering: row.try_get("stream_ordering")?,
        event_id: OwnedEventId::try_from(row.try_get::<String, _>("event_id")?)
            .map_err(|e| corrupt("events.event_id", e))?,
        json: row.try_get("json")?,
        state_group: row.try_get("state_group")?,
        redacted_by: redacted_by
            .map(OwnedEventId::try_from)
            .transpose()
            .map_err(|e| corrupt("events.redacted_by", e))?,
    })
}

#[async_trait]
impl EventRepository for Db {
    async fn append(&self, event: &NewEvent<'_>) -> StorageResult<AppendedEvent> {
        let mut tx = self.write_transaction().await?;
        let appended = append_in(self, &mut tx, event, None).await?;
        tx.commit().await?;
        Ok(appended)
    }

    async fn get(&self, event_id: &EventId) -> StorageResult<Option<EventRecord>> {
        sqlx::query(
            "SELECT stream_ordering, event_id, json, state_group, redacted_by FROM events WHERE event_id = $1
             UNION ALL
             SELECT 0, event_id, json, 0, NULL FROM event_outliers WHERE event_id = $1
             LIMIT 1",
        )
        .bind(event_id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(decode)
        .transpose()
    }

    async fn store_outlier(
        &self,
        event_id: &EventId,
        room_id: &RoomId,
        json: &str,
    ) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "INSERT INTO event_outliers (event_id, room_id, json) VALUES ($1, $2, $3)
             ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(event_id.as_str())
            .bind(room_id.as_str())
            .bind(json),
        )
        .await?;
        Ok(())
    }

    async fn reject(
        &self,
        event_id: &EventId,
        room_id: &RoomId,
        json: &str,
        reason: &str,
    ) -> StorageResult<()> {
        let mut tx = self.write_transaction().await?;
        sqlx::query(
            "INSERT INTO rejected_events (event_id, room_id, json, reason) VALUES ($1, $2, $3, $4)
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event_id.as_str())
        .bind(room_id.as_str())
        .bind(json)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM event_outliers WHERE event_id = $1")
            .bind(event_id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rejected(&self, event_id: &EventId) -> StorageResult<Option<(String, String)>> {
        let row = sqlx::query("SELECT json, reason FROM rejected_events WHERE event_id = $1")
            .bind(event_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some((row.try_get("json")?, row.try_get("reason")?)),
            None => None,
        })
    }

    async fn insert_backfilled(&self, event: &NewEvent<'_>) -> StorageResult<i64> {
        let StateChange::Unchanged(state_group) = event.state else {
            return Err(crate::StorageError::Corrupt(
                "a backfilled event takes an existing state group".into(),
            ));
        };
        let mut tx = self.write_transaction().await?;
        // Backfilled events take positions below the lowest one, read first.
        self.lock(&mut tx, &"backfilled events").await?;
        let lowest: Option<i64> = sqlx::query_scalar("SELECT MIN(stream_ordering) FROM events")
            .fetch_one(&mut *tx)
            .await?;
        let stream_ordering = lowest.unwrap_or(0).min(0) - 1;
        insert_event(&mut tx, event, stream_ordering, state_group).await?;
        tx.commit().await?;
        Ok(stream_ordering)
    }

    async fn earliest_event(&self, room_id: &RoomId) -> StorageResult<Option<EventRecord>> {
        sqlx::query(
            "SELECT stream_ordering, event_id, json, state_group, redacted_by FROM events
             WHERE room_id = $1 ORDER BY stream_ordering ASC LIMIT 1",
        )
        .bind(room_id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(decode)
        .transpose()
    }

    async fn in_timeline(&self, event_id: &EventId) -> StorageResult<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT stream_ordering FROM events WHERE event_id = $1")
                .bind(event_id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    async fn get_many(&self, event_ids: &[OwnedEventId]) -> StorageResult<Vec<EventRecord>> {
        let mut found: std::collections::HashMap<OwnedEventId, EventRecord> =
            std::collections::HashMap::with_capacity(event_ids.len());
        // Timeline events in a statement per chunk; outliers (rare) one by one after.
        for chunk in event_ids.chunks(EVENT_IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT stream_ordering, event_id, json, state_group, redacted_by FROM events
                 WHERE event_id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for event_id in chunk {
                query = query.bind(event_id.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                let record = decode(&row)?;
                found.insert(record.event_id.clone(), record);
            }
        }
        let mut records = Vec::with_capacity(event_ids.len());
        for event_id in event_ids {
            match found.remove(event_id) {
                Some(record) => records.push(record),
                None => {
                    if let Some(record) = EventRepository::get(self, event_id).await? {
                        records.push(record);
                    }
                }
            }
        }
        Ok(records)
    }

    async fn closest_to_time(
        &self,
        room_id: &RoomId,
        ts: u64,
        forward: bool,
        until: i64,
    ) -> StorageResult<Option<(OwnedEventId, u64)>> {
        let sql = if forward {
            "SELECT event_id, origin_server_ts FROM events
             WHERE room_id = $1 AND origin_server_ts >= $2 AND stream_ordering <= $3
             ORDER BY origin_server_ts ASC, stream_ordering ASC LIMIT 1"
        } else {
            "SELECT event_id, origin_server_ts FROM events
             WHERE room_id = $1 AND origin_server_ts <= $2 AND stream_ordering <= $3
             ORDER BY origin_server_ts DESC, stream_ordering DESC LIMIT 1"
        };
        let row = sqlx::query(sql)
            .bind(room_id.as_str())
            .bind(to_db(ts))
            .bind(until)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let event_id = OwnedEventId::try_from(row.try_get::<String, _>("event_id")?)
                .map_err(|e| corrupt("events.event_id", e))?;
            Ok((event_id, from_db(row.try_get("origin_server_ts")?)))
        })
        .transpose()
    }

    async fn find_transaction(
        &self,
        txn: ClientTransaction<'_>,
    ) -> StorageResult<Option<OwnedEventId>> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT event_id FROM event_transactions
             WHERE user_id = $1 AND device_id = $2 AND scope = $3 AND txn_id = $4",
        )
        .bind(txn.user_id.as_str())
        .bind(txn.device_id.as_str())
        .bind(txn.scope)
        .bind(txn.txn_id)
        .fetch_optional(&self.pool)
        .await?;
        id.map(|id| {
            OwnedEventId::try_from(id).map_err(|e| corrupt("event_transactions.event_id", e))
        })
        .transpose()
    }

    async fn room_events(
        &self,
        room_id: &RoomId,
        after: i64,
        until: i64,
        forward: bool,
        limit: u32,
    ) -> StorageResult<Vec<EventRecord>> {
        let sql = if forward {
            "SELECT stream_ordering, event_id, json, state_group, redacted_by FROM events
             WHERE room_id = $1 AND stream_ordering > $2 AND stream_ordering <= $3 ORDER BY stream_ordering ASC LIMIT $4"
        } else {
            "SELECT stream_ordering, event_id, json, state_group, redacted_by FROM events
             WHERE room_id = $1 AND stream_ordering > $2 AND stream_ordering <= $3 ORDER BY stream_ordering DESC LIMIT $4"
        };
        sqlx::query(sql)
            .bind(room_id.as_str())
            .bind(after)
            .bind(until)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    async fn stream_events(
        &self,
        after: i64,
        until: i64,
        limit: u32,
    ) -> StorageResult<Vec<EventRecord>> {
        sqlx::query(
            "SELECT stream_ordering, event_id, json, state_group, redacted_by FROM events
             WHERE stream_ordering > $1 AND stream_ordering <= $2
             ORDER BY stream_ordering ASC LIMIT $3",
        )
        .bind(after)
        .bind(until)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    async fn forward_extremities(
        &self,
        room_id: &RoomId,
    ) -> StorageResult<Vec<(OwnedEventId, u64)>> {
        let rows = sqlx::query(
            "SELECT f.event_id, e.depth FROM forward_extremities f JOIN events e ON e.event_id = f.event_id
             WHERE f.room_id = $1 ORDER BY e.depth DESC",
        )
        .bind(room_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let id = OwnedEventId::try_from(row.try_get::<String, _>("event_id")?)
                    .map_err(|e| corrupt("forward_extremities.event_id", e))?;
                Ok((id, from_db(row.try_get("depth")?)))
            })
            .collect()
    }

    async fn redact(
        &self,
        event_id: &EventId,
        redacted_json: &str,
        redaction_id: &EventId,
    ) -> StorageResult<()> {
        self.write(
            sqlx::query("UPDATE events SET json = $1, redacted_by = $2 WHERE event_id = $3")
                .bind(redacted_json)
                .bind(redaction_id.as_str())
                .bind(event_id.as_str()),
        )
        .await?;
        Ok(())
    }

    async fn transactions_of(
        &self,
        event_ids: &[&EventId],
    ) -> StorageResult<Vec<(OwnedEventId, String, String)>> {
        let mut found = Vec::new();
        for chunk in event_ids.chunks(EVENT_IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT event_id, device_id, txn_id FROM event_transactions WHERE event_id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query_as::<_, (String, String, String)>(sqlx::AssertSqlSafe(sql));
            for event_id in chunk {
                query = query.bind(event_id.as_str());
            }
            for (event_id, device, txn_id) in query.fetch_all(&self.pool).await? {
                let event_id = OwnedEventId::try_from(event_id)
                    .map_err(|e| corrupt("event_transactions", e))?;
                found.push((event_id, device, txn_id));
            }
        }
        Ok(found)
    }
}

/// Appends an event inside the caller's transaction; `previous_group` is the state group the
/// previous event of the same batch left, for [`StateChange::AfterPrevious`].
pub(super) async fn append_in(
    db: &Db,
    tx: &mut Tx,
    event: &NewEvent<'_>,
    previous_group: Option<i64>,
) -> StorageResult<AppendedEvent> {
    let room = event.room_id.as_str();
    if let Some(built_on) = event.built_on_group {
        // The room's row stays locked until the commit: appends to one room take turns.
        let sql = match db.dialect {
            Dialect::Sqlite => "SELECT current_state_group FROM rooms WHERE room_id = $1",
            Dialect::Postgres => {
                "SELECT current_state_group FROM rooms WHERE room_id = $1 FOR UPDATE"
            }
        };
        let current: Option<Option<i64>> = sqlx::query_scalar(sql)
            .bind(room)
            .fetch_optional(&mut **tx)
            .await?;
        if current.flatten() != Some(built_on) {
            return Err(StorageError::Conflict(format!(
                "the state of {room} changed while an event was built on it"
            )));
        }
    }
    let state_group = write_state(tx, room, &event.state, previous_group).await?;
    let current_group = match &event.current_state {
        Some(change) => write_state(tx, room, change, previous_group).await?,
        None => state_group,
    };
    let stream_ordering = db.next_stream_id(tx).await?;
    insert_event(tx, event, stream_ordering, state_group).await?;
    if let Some(search) = event.search {
        let entry = crate::SearchEntry {
            event_id: event.event_id,
            room_id: event.room_id,
            sender: event.sender,
            stream_ordering,
            key: search.key,
            text: search.text,
        };
        crate::sql::rooms::search::insert_entry(tx, &entry).await?;
    }
    if let Some(push) = event.push.filter(|push| !push.actions.is_empty()) {
        crate::sql::sync::push::store_actions(
            db.dialect,
            tx,
            event.room_id,
            event.event_id,
            stream_ordering,
            &push,
        )
        .await?;
    }
    for prev in event.prev_events {
        sqlx::query("DELETE FROM forward_extremities WHERE room_id = $1 AND event_id = $2")
            .bind(room)
            .bind(prev.as_str())
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("INSERT INTO forward_extremities (room_id, event_id) VALUES ($1, $2)")
        .bind(room)
        .bind(event.event_id.as_str())
        .execute(&mut **tx)
        .await?;
    // Checked above to hold `built_on`: a message leaves it as it is.
    if event.built_on_group != Some(current_group) {
        sqlx::query("UPDATE rooms SET current_state_group = $1 WHERE room_id = $2")
            .bind(current_group)
            .bind(room)
            .execute(&mut **tx)
            .await?;
    }
    for change in event.memberships {
        upsert_membership(tx, room, change, stream_ordering).await?;
    }
    if let Some(txn) = event.transaction {
        let recorded = sqlx::query(
            "INSERT INTO event_transactions (user_id, device_id, scope, txn_id, event_id)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(txn.user_id.as_str())
        .bind(txn.device_id.as_str())
        .bind(txn.scope)
        .bind(txn.txn_id)
        .bind(event.event_id.as_str())
        .execute(&mut **tx)
        .await?;
        // The same request, retried by the client, was stored meanwhile by another process.
        if recorded.rows_affected() == 0 {
            return Err(StorageError::Conflict(format!(
                "transaction {} was used meanwhile",
                txn.txn_id
            )));
        }
    }
    Ok(AppendedEvent {
        stream_ordering,
        state_group,
    })
}

/// Writes a state group for `change` (a delta over its previous group while the chain is
/// short, the full state otherwise) and returns it.
async fn write_state(
    tx: &mut Tx,
    room: &str,
    change: &StateChange<'_>,
    previous_group: Option<i64>,
) -> StorageResult<i64> {
    let (prev_group, delta, full) = match change {
        StateChange::Unchanged(group) => return Ok(*group),
        StateChange::Changed {
            prev_group,
            delta,
            full,
        } => (*prev_group, delta, full),
        StateChange::AfterPrevious { delta, full } => match previous_group {
            Some(group) => (Some(group), delta, full),
            None => {
                return Err(crate::StorageError::Corrupt(
                    "a state delta over a previous event with none before it".into(),
                ));
            }
        },
    };
    let prev_length: Option<i64> = match prev_group {
        Some(prev) => {
            sqlx::query_scalar("SELECT chain_length FROM state_groups WHERE id = $1")
                .bind(prev)
                .fetch_optional(&mut **tx)
                .await?
        }
        None => None,
    };
    let (prev, length, entries) = match prev_length {
        Some(length) if length < MAX_CHAIN_LENGTH => (prev_group, length + 1, *delta),
        _ => (None, 0, *full),
    };
    let group: i64 = sqlx::query_scalar(
        "INSERT INTO state_groups (room_id, prev_group, chain_length) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(room)
    .bind(prev)
    .bind(length)
    .fetch_one(&mut **tx)
    .await?;
    for (kind, key, event_id) in entries {
        sqlx::query(
            "INSERT INTO state_group_entries (group_id, event_type, state_key, event_id) VALUES ($1, $2, $3, $4)",
        )
        .bind(group)
        .bind(kind)
        .bind(key)
        .bind(event_id.as_str())
        .execute(&mut **tx)
        .await?;
    }
    Ok(group)
}

/// The event's row, at its stream position with the state after it.
async fn insert_event(
    tx: &mut Tx,
    event: &NewEvent<'_>,
    stream_ordering: i64,
    state_group: i64,
) -> StorageResult<()> {
    let inserted = sqlx::query(
        "INSERT INTO events (stream_ordering, event_id, room_id, event_type, state_key, sender, depth,
           origin_server_ts, state_group, json)
         VALUES ($10, $1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind(event.event_id.as_str())
    .bind(event.room_id.as_str())
    .bind(event.event_type)
    .bind(event.state_key)
    .bind(event.sender.as_str())
    .bind(to_db(event.depth))
    .bind(to_db(event.origin_server_ts))
    .bind(state_group)
    .bind(event.json)
    .bind(stream_ordering)
    .execute(&mut **tx)
    .await?;
    // Another process stored the same event meanwhile (one transaction delivered to two of
    // them, or one event received from two servers): nothing of this append is kept.
    if inserted.rows_affected() == 0 {
        return Err(StorageError::Conflict(format!(
            "event {} was stored meanwhile",
            event.event_id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ruma::{event_id, room_id};

    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn a_rejected_event_is_kept_apart_and_no_longer_an_outlier() {
        let (_dir, storage) = open_temporary().await;
        let events = &storage.events;
        let (id, room) = (event_id!("$forged"), room_id!("!room:example.org"));
        events.store_outlier(id, room, "{\"a\":1}").await.unwrap();
        assert!(events.get(id).await.unwrap().is_some());

        events
            .reject(id, room, "{\"a\":1}", "not allowed")
            .await
            .unwrap();
        assert_eq!(events.get(id).await.unwrap(), None);
        let rejected = events.rejected(id).await.unwrap();
        assert_eq!(rejected, Some(("{\"a\":1}".into(), "not allowed".into())));
        // Again, with another reason: the first stays.
        events.reject(id, room, "{\"a\":1}", "other").await.unwrap();
        assert_eq!(events.rejected(id).await.unwrap().unwrap().1, "not allowed");
        assert_eq!(events.rejected(event_id!("$other")).await.unwrap(), None);
    }
}
