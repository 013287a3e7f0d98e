//! Rendezvous sessions for signing in by QR code.

use async_trait::async_trait;
use sqlx::Row;

use crate::sql::{Db, from_db, to_db};
use crate::{RendezvousRecord, RendezvousRepository, StorageResult};

#[async_trait]
impl RendezvousRepository for Db {
    async fn create(
        &self,
        session: &RendezvousRecord,
        now: u64,
        max_live: u64,
    ) -> StorageResult<bool> {
        let mut tx = self.write_transaction().await?;
        self.lock(&mut tx, "rendezvous_sessions").await?;
        sqlx::query("DELETE FROM rendezvous_sessions WHERE expires_ts <= $1")
            .bind(to_db(now))
            .execute(&mut *tx)
            .await?;
        let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rendezvous_sessions")
            .fetch_one(&mut *tx)
            .await?;
        let room = from_db(live) < max_live;
        if room {
            sqlx::query(
                "INSERT INTO rendezvous_sessions (id, data, token, updated_ts, expires_ts)
             VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&session.id)
            .bind(&session.data)
            .bind(&session.token)
            .bind(to_db(session.updated_ts))
            .bind(to_db(session.expires_ts))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(room)
    }

    async fn get(&self, id: &str, now: u64) -> StorageResult<Option<RendezvousRecord>> {
        let row = sqlx::query(
            "SELECT id, data, token, updated_ts, expires_ts FROM rendezvous_sessions
             WHERE id = $1 AND expires_ts > $2",
        )
        .bind(id)
        .bind(to_db(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(RendezvousRecord {
                id: row.try_get("id")?,
                data: row.try_get("data")?,
                token: row.try_get("token")?,
                updated_ts: from_db(row.try_get("updated_ts")?),
                expires_ts: from_db(row.try_get("expires_ts")?),
            })
        })
        .transpose()
    }

    async fn compare_and_swap(
        &self,
        id: &str,
        expected_token: &str,
        data: &str,
        new_token: &str,
        now: u64,
    ) -> StorageResult<bool> {
        let result = self
            .write(
                sqlx::query(
                    "UPDATE rendezvous_sessions SET data = $3, token = $4, updated_ts = $5
                     WHERE id = $1 AND token = $2 AND expires_ts > $5",
                )
                .bind(id)
                .bind(expected_token)
                .bind(data)
                .bind(new_token)
                .bind(to_db(now)),
            )
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn delete(&self, id: &str, now: u64) -> StorageResult<bool> {
        let result = self
            .write(
                sqlx::query("DELETE FROM rendezvous_sessions WHERE id = $1 AND expires_ts > $2")
                    .bind(id)
                    .bind(to_db(now)),
            )
            .await?;
        Ok(result.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::testing::open_temporary;

    fn session(id: &str, expires_ts: u64) -> RendezvousRecord {
        RendezvousRecord {
            id: id.to_owned(),
            data: "hello".to_owned(),
            token: "t1".to_owned(),
            updated_ts: 10,
            expires_ts,
        }
    }

    #[tokio::test]
    async fn writes_only_at_the_expected_token_and_never_after_expiry() {
        let (_dir, storage) = open_temporary().await;
        let store = &storage.rendezvous;
        assert!(store.create(&session("a", 100), 10, 10).await.unwrap());
        assert_eq!(store.get("a", 20).await.unwrap(), Some(session("a", 100)));
        assert!(
            !store
                .compare_and_swap("a", "t0", "x", "t2", 20)
                .await
                .unwrap()
        );
        assert!(
            store
                .compare_and_swap("a", "t1", "bye", "t2", 30)
                .await
                .unwrap()
        );
        let read = store.get("a", 40).await.unwrap().unwrap();
        assert_eq!(
            (read.data.as_str(), read.token.as_str(), read.updated_ts),
            ("bye", "t2", 30)
        );
        assert!(
            !store
                .compare_and_swap("a", "t2", "late", "t3", 100)
                .await
                .unwrap()
        );
        assert_eq!(store.get("a", 100).await.unwrap(), None);
        assert!(!store.delete("a", 100).await.unwrap());
        assert!(store.create(&session("b", 200), 10, 10).await.unwrap());
        assert!(store.delete("b", 20).await.unwrap());
        assert_eq!(store.get("b", 20).await.unwrap(), None);
    }

    #[tokio::test]
    async fn live_sessions_are_capped_and_expired_ones_make_room() {
        let (_dir, storage) = open_temporary().await;
        let store = &storage.rendezvous;
        assert!(store.create(&session("a", 100), 10, 2).await.unwrap());
        assert!(store.create(&session("b", 50), 10, 2).await.unwrap());
        assert!(!store.create(&session("c", 100), 20, 2).await.unwrap());
        assert_eq!(store.get("c", 20).await.unwrap(), None);
        assert!(store.create(&session("c", 100), 50, 2).await.unwrap());
        assert!(store.get("c", 60).await.unwrap().is_some());
    }
}
