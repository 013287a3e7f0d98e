use async_trait::async_trait;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use sqlx::Row;

use crate::sql::{Db, corrupt, flag, to_db};
use crate::{NewEvent, NewRoom, RoomCreation, RoomRecord, RoomRepository, StorageResult};

#[async_trait]
impl RoomRepository for Db {
    async fn create_with_events(
        &self,
        room: &NewRoom<'_>,
        events: &[NewEvent<'_>],
    ) -> StorageResult<RoomCreation> {
        let mut tx = self.write_transaction().await?;
        let inserted = sqlx::query(
            "INSERT INTO rooms (room_id, room_version, creator, is_public, created_ts)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room_id) DO NOTHING",
        )
        .bind(room.room_id.as_str())
        .bind(room.room_version)
        .bind(room.creator.as_str())
        .bind(i64::from(room.is_public))
        .bind(to_db(room.now))
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(RoomCreation::RoomIdTaken);
        }
        if let Some(alias) = room.alias {
            let inserted = sqlx::query(
                "INSERT INTO room_aliases (alias, room_id, creator, created_ts) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (alias) DO NOTHING",
            )
            .bind(alias.as_str())
            .bind(room.room_id.as_str())
            .bind(room.creator.as_str())
            .bind(to_db(room.now))
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Ok(RoomCreation::AliasTaken);
            }
        }
        let mut appended = Vec::with_capacity(events.len());
        let mut previous_group = None;
        for event in events {
            let event =
                crate::sql::rooms::events::append_in(self, &mut tx, event, previous_group).await?;
            previous_group = Some(event.state_group);
            appended.push(event);
        }
        tx.commit().await?;
        Ok(RoomCreation::Created(appended))
    }

    async fn create(
        &self,
        room_id: &RoomId,
        room_version: &str,
        creator: &UserId,
        is_public: bool,
        now: u64,
    ) -> StorageResult<bool> {
        let result = self.write(sqlx::query(
            "INSERT INTO rooms (room_id, room_version, creator, is_public, created_ts) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (room_id) DO NOTHING",
        )
        .bind(room_id.as_str())
        .bind(room_version)
        .bind(creator.as_str())
        .bind(i64::from(is_public))
        .bind(to_db(now)))
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn get(&self, room_id: &RoomId) -> StorageResult<Option<RoomRecord>> {
        let row = sqlx::query(
            "SELECT room_id, room_version, creator, is_public, current_state_group FROM rooms WHERE room_id = $1",
        )
        .bind(room_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(RoomRecord {
                room_id: OwnedRoomId::try_from(row.try_get::<String, _>("room_id")?)
                    .map_err(|e| corrupt("rooms.room_id", e))?,
                room_version: row.try_get("room_version")?,
                creator: OwnedUserId::try_from(row.try_get::<String, _>("creator")?)
                    .map_err(|e| corrupt("rooms.creator", e))?,
                is_public: flag(&row, "is_public")?,
                current_state_group: row.try_get("current_state_group")?,
            })
        })
        .transpose()
    }

    async fn set_public(&self, room_id: &RoomId, is_public: bool) -> StorageResult<()> {
        self.write(
            sqlx::query("UPDATE rooms SET is_public = $1 WHERE room_id = $2")
                .bind(i64::from(is_public))
                .bind(room_id.as_str()),
        )
        .await?;
        Ok(())
    }

    async fn public_rooms(&self) -> StorageResult<Vec<OwnedRoomId>> {
        let rooms: Vec<String> =
            sqlx::query_scalar("SELECT room_id FROM rooms WHERE is_public = 1 ORDER BY room_id")
                .fetch_all(&self.pool)
                .await?;
        rooms
            .into_iter()
            .map(|r| OwnedRoomId::try_from(r).map_err(|e| corrupt("rooms.room_id", e)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use ruma::{OwnedEventId, event_id, room_alias_id, room_id, user_id};

    use crate::sql::testing::open_temporary;
    use crate::{NewEvent, NewRoom, RoomCreation, StateChange, StateEntry};

    fn event<'a>(
        id: &'a OwnedEventId,
        kind: &'a str,
        prev: &'a [OwnedEventId],
        state: StateChange<'a>,
    ) -> NewEvent<'a> {
        NewEvent {
            event_id: id,
            room_id: room_id!("!room:example.org"),
            event_type: kind,
            state_key: Some(""),
            sender: user_id!("@alice:example.org"),
            depth: 1,
            origin_server_ts: 1,
            json: "{}",
            prev_events: prev,
            state,
            current_state: None,
            built_on_group: None,
            memberships: &[],
            transaction: None,
            search: None,
            push: None,
        }
    }

    #[tokio::test]
    async fn a_room_is_created_with_its_events_or_not_at_all() {
        let (_dir, storage) = open_temporary().await;
        let alias = room_alias_id!("#room:example.org");
        let room = NewRoom {
            room_id: room_id!("!room:example.org"),
            room_version: "12",
            creator: user_id!("@alice:example.org"),
            is_public: false,
            now: 1,
            alias: Some(alias),
        };
        let (create, rules) = (
            event_id!("$create").to_owned(),
            event_id!("$rules").to_owned(),
        );
        let first: Vec<StateEntry> = vec![("m.room.create".into(), String::new(), create.clone())];
        let second_delta: Vec<StateEntry> =
            vec![("m.room.join_rules".into(), String::new(), rules.clone())];
        let second_full: Vec<StateEntry> = [first.clone(), second_delta.clone()].concat();
        let prev = [create.clone()];
        let events = [
            event(
                &create,
                "m.room.create",
                &[],
                StateChange::Changed {
                    prev_group: None,
                    delta: &first,
                    full: &first,
                },
            ),
            event(
                &rules,
                "m.room.join_rules",
                &prev,
                StateChange::AfterPrevious {
                    delta: &second_delta,
                    full: &second_full,
                },
            ),
        ];

        // The second event repeats the first's ID: nothing at all is written.
        let broken = [events[0].clone(), events[0].clone()];
        assert!(
            storage
                .rooms
                .create_with_events(&room, &broken)
                .await
                .is_err()
        );
        assert!(storage.rooms.get(room.room_id).await.unwrap().is_none());
        assert!(storage.aliases.resolve(alias).await.unwrap().is_none());
        assert!(storage.events.get(&create).await.unwrap().is_none());

        let RoomCreation::Created(appended) = storage
            .rooms
            .create_with_events(&room, &events)
            .await
            .unwrap()
        else {
            panic!("the room is created");
        };
        let mut state = storage.state.load(appended[1].state_group).await.unwrap();
        state.sort();
        let mut expected = second_full.clone();
        expected.sort();
        assert_eq!(
            state, expected,
            "the second event's state builds on the first's"
        );
        let record = storage.rooms.get(room.room_id).await.unwrap().unwrap();
        assert_eq!(record.current_state_group, Some(appended[1].state_group));
        assert!(storage.aliases.resolve(alias).await.unwrap().is_some());

        assert_eq!(
            storage
                .rooms
                .create_with_events(&room, &events)
                .await
                .unwrap(),
            RoomCreation::RoomIdTaken
        );
        let other = NewRoom {
            room_id: room_id!("!other:example.org"),
            ..room
        };
        assert_eq!(
            storage.rooms.create_with_events(&other, &[]).await.unwrap(),
            RoomCreation::AliasTaken
        );
        assert!(storage.rooms.get(other.room_id).await.unwrap().is_none());
    }
}
