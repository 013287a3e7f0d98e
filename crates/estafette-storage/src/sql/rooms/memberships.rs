use async_trait::async_trait;
use ruma::{OwnedEventId, OwnedRoomId, OwnedServerName, OwnedUserId, RoomId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{Db, Dialect, Tx, corrupt, flag};
use crate::{MembershipChange, MembershipRecord, MembershipRepository, StorageResult};

/// Sets a member's entry in the membership index (a new membership un-forgets the room).
pub(super) async fn upsert_membership(
    tx: &mut Tx,
    room: &str,
    change: &MembershipChange,
    stream_ordering: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO room_memberships (room_id, user_id, membership, event_id, stream_ordering, display_name)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (room_id, user_id) DO UPDATE SET membership = excluded.membership,
           event_id = excluded.event_id, stream_ordering = excluded.stream_ordering,
           display_name = excluded.display_name, forgotten = 0",
    )
    .bind(room)
    .bind(change.user_id.as_str())
    .bind(&change.membership)
    .bind(change.event_id.as_str())
    .bind(stream_ordering)
    .bind(&change.display_name)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

macro_rules! select_memberships {
    ($where:literal) => {
        concat!(
            "SELECT room_id, user_id, membership, event_id, stream_ordering, display_name, forgotten FROM room_memberships ",
            $where
        )
    };
}

fn decode(row: &AnyRow) -> StorageResult<MembershipRecord> {
    Ok(MembershipRecord {
        room_id: OwnedRoomId::try_from(row.try_get::<String, _>("room_id")?)
            .map_err(|e| corrupt("membership room", e))?,
        user_id: OwnedUserId::try_from(row.try_get::<String, _>("user_id")?)
            .map_err(|e| corrupt("membership user", e))?,
        membership: row.try_get("membership")?,
        event_id: OwnedEventId::try_from(row.try_get::<String, _>("event_id")?)
            .map_err(|e| corrupt("membership event", e))?,
        stream_ordering: row.try_get("stream_ordering")?,
        display_name: row.try_get("display_name")?,
        forgotten: flag(row, "forgotten")?,
    })
}

#[async_trait]
impl MembershipRepository for Db {
    async fn of_user(&self, user_id: &UserId) -> StorageResult<Vec<MembershipRecord>> {
        sqlx::query(select_memberships!(
            "WHERE user_id = $1 ORDER BY stream_ordering"
        ))
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    async fn of_room(&self, room_id: &RoomId) -> StorageResult<Vec<MembershipRecord>> {
        sqlx::query(select_memberships!("WHERE room_id = $1 ORDER BY user_id"))
            .bind(room_id.as_str())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    async fn joined_servers(&self, room_id: &RoomId) -> StorageResult<Vec<OwnedServerName>> {
        // A user ID's server is everything after its first colon (a port included).
        let sql = match self.dialect {
            Dialect::Sqlite => {
                "SELECT DISTINCT substr(user_id, instr(user_id, ':') + 1) AS server
                 FROM room_memberships WHERE room_id = $1 AND membership = 'join'"
            }
            Dialect::Postgres => {
                "SELECT DISTINCT substr(user_id, strpos(user_id, ':') + 1) AS server
                 FROM room_memberships WHERE room_id = $1 AND membership = 'join'"
            }
        };
        let servers: Vec<String> = sqlx::query_scalar(sql)
            .bind(room_id.as_str())
            .fetch_all(&self.pool)
            .await?;
        let mut servers = servers
            .into_iter()
            .map(|server| {
                OwnedServerName::try_from(server)
                    .map_err(|e| corrupt("room_memberships.user_id", e))
            })
            .collect::<StorageResult<Vec<_>>>()?;
        servers.sort();
        Ok(servers)
    }

    async fn get(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> StorageResult<Option<MembershipRecord>> {
        sqlx::query(select_memberships!("WHERE room_id = $1 AND user_id = $2"))
            .bind(room_id.as_str())
            .bind(user_id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }

    async fn users_sharing_rooms_with(&self, user_id: &UserId) -> StorageResult<Vec<OwnedUserId>> {
        let users: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT other.user_id FROM room_memberships mine
             JOIN room_memberships other ON other.room_id = mine.room_id
             WHERE mine.user_id = $1 AND mine.membership = 'join' AND other.membership = 'join'
             UNION SELECT $1",
        )
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        users
            .into_iter()
            .map(|u| OwnedUserId::try_from(u).map_err(|e| corrupt("membership user", e)))
            .collect()
    }

    async fn moves_around(
        &self,
        user_id: &UserId,
        after: i64,
        until: i64,
    ) -> StorageResult<Vec<(String, MembershipRecord)>> {
        sqlx::query(
            "SELECT other.room_id, other.user_id, other.membership, other.event_id,
               other.stream_ordering, other.display_name, other.forgotten,
               mine.membership AS my_membership
             FROM room_memberships mine JOIN room_memberships other ON other.room_id = mine.room_id
             WHERE mine.user_id = $1 AND other.user_id <> $1
               AND ((other.stream_ordering > $2 AND other.stream_ordering <= $3)
                 OR (mine.stream_ordering > $2 AND mine.stream_ordering <= $3))",
        )
        .bind(user_id.as_str())
        .bind(after)
        .bind(until)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("my_membership")?, decode(row)?)))
        .collect()
    }

    async fn record_outside_room(
        &self,
        change: &MembershipChange,
        room_id: &RoomId,
        stripped_state: &str,
    ) -> StorageResult<i64> {
        let mut tx = self.write_transaction().await?;
        let stream_ordering = self.next_stream_id(&mut tx).await?;
        upsert_membership(&mut tx, room_id.as_str(), change, stream_ordering).await?;
        sqlx::query(
            "INSERT INTO invite_states (room_id, user_id, state) VALUES ($1, $2, $3)
             ON CONFLICT (room_id, user_id) DO UPDATE SET state = excluded.state",
        )
        .bind(room_id.as_str())
        .bind(change.user_id.as_str())
        .bind(stripped_state)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(stream_ordering)
    }

    async fn invite_state(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> StorageResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT state FROM invite_states WHERE room_id = $1 AND user_id = $2",
        )
        .bind(room_id.as_str())
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn forget(&self, room_id: &RoomId, user_id: &UserId) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "UPDATE room_memberships SET forgotten = 1 WHERE room_id = $1 AND user_id = $2",
            )
            .bind(room_id.as_str())
            .bind(user_id.as_str()),
        )
        .await?;
        Ok(())
    }

    async fn search_users(
        &self,
        searcher: &UserId,
        term: &str,
        limit: u32,
    ) -> StorageResult<Vec<(OwnedUserId, Option<String>, Option<String>)>> {
        // The term is matched literally: LIKE's wildcards in it are escaped.
        let escaped = term
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        let rows = sqlx::query(
            "SELECT DISTINCT m.user_id, d.value_json AS displayname, a.value_json AS avatar
             FROM room_memberships m
             JOIN rooms r ON r.room_id = m.room_id
             LEFT JOIN profiles d ON d.user_id = m.user_id AND d.field = 'displayname'
             LEFT JOIN profiles a ON a.user_id = m.user_id AND a.field = 'avatar_url'
             WHERE m.membership = 'join'
               AND (r.is_public = 1 OR m.room_id IN
                    (SELECT room_id FROM room_memberships WHERE user_id = $1 AND membership = 'join'))
               AND (lower(m.user_id) LIKE $2 ESCAPE '\\' OR lower(d.value_json) LIKE $2 ESCAPE '\\')
             ORDER BY m.user_id LIMIT $3",
        )
        .bind(searcher.as_str())
        .bind(pattern)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let text =
            |json: Option<String>| json.and_then(|j| serde_json::from_str::<String>(&j).ok());
        rows.iter()
            .map(|row| {
                let user = OwnedUserId::try_from(row.try_get::<String, _>("user_id")?)
                    .map_err(|e| corrupt("membership user", e))?;
                Ok((
                    user,
                    text(row.try_get("displayname")?),
                    text(row.try_get("avatar")?),
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use ruma::{OwnedEventId, OwnedUserId, room_id};

    use crate::sql::testing::open_temporary;
    use crate::{MembershipChange, NewEvent, NewRoom, StateChange};

    #[tokio::test]
    async fn joined_servers_are_those_of_joined_members_each_once_ports_kept() {
        let (_dir, storage) = open_temporary().await;
        let room_id = room_id!("!room:example.org");
        let members = [
            ("@alice:example.org", "join"),
            ("@bob:example.org", "join"),
            ("@carol:example.net:8448", "join"),
            ("@dave:left.example", "leave"),
            ("@erin:invited.example", "invite"),
            ("@frank:[::1]:8448", "join"),
        ];
        let ids: Vec<OwnedEventId> = (0..=members.len())
            .map(|i| OwnedEventId::try_from(format!("$event{i}")).unwrap())
            .collect();
        let changes: Vec<MembershipChange> = members
            .iter()
            .zip(&ids[1..])
            .map(|((user, membership), event_id)| MembershipChange {
                user_id: OwnedUserId::try_from(*user).unwrap(),
                membership: (*membership).to_owned(),
                event_id: event_id.clone(),
                display_name: None,
            })
            .collect();
        let entries = vec![("m.room.create".into(), String::new(), ids[0].clone())];
        let create = NewEvent {
            event_id: &ids[0],
            room_id,
            event_type: "m.room.create",
            state_key: Some(""),
            sender: &changes[0].user_id,
            depth: 1,
            origin_server_ts: 1,
            json: "{}",
            prev_events: &[],
            state: StateChange::Changed {
                prev_group: None,
                delta: &entries,
                full: &entries,
            },
            current_state: None,
            built_on_group: None,
            memberships: &changes,
            transaction: None,
            search: None,
            push: None,
        };
        let room = NewRoom {
            room_id,
            room_version: "12",
            creator: &changes[0].user_id,
            is_public: false,
            now: 1,
            alias: None,
        };
        storage
            .rooms
            .create_with_events(&room, &[create])
            .await
            .unwrap();

        let servers = storage.memberships.joined_servers(room_id).await.unwrap();
        let names: Vec<&str> = servers.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["[::1]:8448", "example.net:8448", "example.org"]);
        assert!(
            storage
                .memberships
                .joined_servers(room_id!("!nowhere:example.org"))
                .await
                .unwrap()
                .is_empty()
        );
    }
}
