use async_trait::async_trait;
use ruma::{OwnedRoomId, RoomId, UserId};
use sqlx::Row;

use crate::sql::{Db, corrupt, from_db, placeholders};
use crate::{MemberCounts, RoomActivity, RoomActivityRepository, StorageResult};

/// Rooms per statement: each is a sub-select of its own.
const ROOMS_PER_STATEMENT: usize = 200;

fn room_id(row: &sqlx::any::AnyRow) -> StorageResult<OwnedRoomId> {
    OwnedRoomId::try_from(row.try_get::<String, _>("room_id")?).map_err(|e| corrupt("room_id", e))
}

#[async_trait]
impl RoomActivityRepository for Db {
    async fn activity(
        &self,
        user_id: &UserId,
        room_ids: Option<&[&RoomId]>,
        bump_types: &[&str],
    ) -> StorageResult<Vec<RoomActivity>> {
        let chunks: Vec<Option<&[&RoomId]>> = match room_ids {
            None => vec![None],
            Some(rooms) => rooms.chunks(ROOMS_PER_STATEMENT).map(Some).collect(),
        };
        let mut found = Vec::new();
        for chunk in chunks {
            let rooms = chunk.map_or(0, <[_]>::len);
            let types = placeholders(2 + rooms, bump_types.len());
            let only = match chunk {
                Some(_) => format!("AND m.room_id IN ({})", placeholders(2, rooms)),
                None => String::new(),
            };
            // One statement driven by the user's memberships; per room one index seek per
            // question (`events_room_order`), never a scan of a room's events.
            let sql = format!(
                "SELECT m.room_id,
                   (SELECT max(e.stream_ordering) FROM events e WHERE e.room_id = m.room_id)
                     AS latest,
                   (SELECT e.stream_ordering FROM events e WHERE e.room_id = m.room_id
                      AND e.event_type IN ({types})
                    ORDER BY e.stream_ordering DESC LIMIT 1) AS bump
                 FROM room_memberships m WHERE m.user_id = $1 {only}"
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id.as_str());
            for room in chunk.unwrap_or_default() {
                query = query.bind(room.as_str());
            }
            for kind in bump_types {
                query = query.bind(*kind);
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push(RoomActivity {
                    room_id: room_id(&row)?,
                    latest: row.try_get::<Option<i64>, _>("latest")?.unwrap_or(0),
                    bump: row.try_get("bump")?,
                });
            }
        }
        Ok(found)
    }

    async fn member_counts(&self, room_ids: &[&RoomId]) -> StorageResult<Vec<MemberCounts>> {
        let mut found = Vec::with_capacity(room_ids.len());
        for chunk in room_ids.chunks(ROOMS_PER_STATEMENT) {
            let sql = format!(
                "SELECT room_id,
                   count(CASE WHEN membership = 'join' THEN 1 END) AS joined,
                   count(CASE WHEN membership = 'invite' THEN 1 END) AS invited
                 FROM room_memberships
                 WHERE room_id IN ({}) AND membership IN ('join', 'invite')
                 GROUP BY room_id",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for room in chunk {
                query = query.bind(room.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push(MemberCounts {
                    room_id: room_id(&row)?,
                    joined: from_db(row.try_get("joined")?),
                    invited: from_db(row.try_get("invited")?),
                });
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use ruma::{OwnedEventId, OwnedUserId, room_id, user_id};

    use crate::sql::testing::open_temporary;
    use crate::{MembershipChange, NewEvent, NewRoom, StateChange};

    #[tokio::test]
    async fn a_rooms_activity_names_its_newest_event_and_newest_bumping_event() {
        let (_dir, storage) = open_temporary().await;
        let room_id = room_id!("!room:example.org");
        let alice = user_id!("@alice:example.org");
        let ids: Vec<OwnedEventId> = (0..4)
            .map(|i| OwnedEventId::try_from(format!("$event{i}")).unwrap())
            .collect();
        let members = [
            ("@alice:example.org", "join"),
            ("@bob:example.org", "invite"),
        ]
        .map(|(user, membership)| MembershipChange {
            user_id: OwnedUserId::try_from(user).unwrap(),
            membership: membership.to_owned(),
            event_id: ids[0].clone(),
            display_name: None,
        });
        let entries = vec![("m.room.create".into(), String::new(), ids[0].clone())];
        let event = |i: usize, kind: &'static str| NewEvent {
            event_id: &ids[i],
            room_id,
            event_type: kind,
            state_key: (i == 0).then_some(""),
            sender: alice,
            depth: i as u64 + 1,
            origin_server_ts: 1,
            json: "{}",
            prev_events: &[],
            state: if i == 0 {
                StateChange::Changed {
                    prev_group: None,
                    delta: &entries,
                    full: &entries,
                }
            } else {
                StateChange::AfterPrevious {
                    delta: &[],
                    full: &entries,
                }
            },
            current_state: None,
            built_on_group: None,
            memberships: if i == 0 { &members } else { &[] },
            transaction: None,
            search: None,
            push: None,
        };
        let room = NewRoom {
            room_id,
            room_version: "12",
            creator: alice,
            is_public: false,
            now: 1,
            alias: None,
        };
        let events = [
            event(0, "m.room.create"),
            event(1, "m.room.message"),
            event(2, "m.reaction"),
            event(3, "m.reaction"),
        ];
        let crate::RoomCreation::Created(appended) = storage
            .rooms
            .create_with_events(&room, &events)
            .await
            .unwrap()
        else {
            panic!("room not created");
        };
        let empty = room_id!("!empty:example.org");
        let activity = storage
            .room_activity
            .activity(alice, None, &["m.room.message", "m.room.create"])
            .await
            .unwrap();
        assert_eq!(activity.len(), 1);
        assert_eq!(activity[0].room_id, room_id);
        assert_eq!(activity[0].latest, appended[3].stream_ordering);
        assert_eq!(activity[0].bump, Some(appended[1].stream_ordering));
        let bob = user_id!("@bob:example.org");
        let invited = storage
            .room_activity
            .activity(bob, Some(&[room_id, empty]), &["m.room.message"])
            .await
            .unwrap();
        assert_eq!(invited.len(), 1, "rooms without a membership are left out");
        let nobody = storage
            .room_activity
            .activity(user_id!("@nobody:example.org"), None, &["m.room.message"])
            .await
            .unwrap();
        assert!(nobody.is_empty());
        let only_create = storage
            .room_activity
            .activity(alice, Some(&[room_id]), &["m.room.create"])
            .await
            .unwrap();
        assert_eq!(only_create[0].bump, Some(appended[0].stream_ordering));

        let counts = storage
            .room_activity
            .member_counts(&[room_id, empty])
            .await
            .unwrap();
        assert_eq!(counts.len(), 1);
        assert_eq!((counts[0].joined, counts[0].invited), (1, 1));
    }
}
