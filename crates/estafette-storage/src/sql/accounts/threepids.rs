use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use crate::sql::{Db, from_db, placeholders, to_db};
use crate::{StorageError, StorageResult, Threepid, ThreepidRepository};

#[async_trait]
impl ThreepidRepository for Db {
    async fn bind(&self, user_id: &UserId, threepid: &Threepid) -> StorageResult<bool> {
        let done = self
            .write(
                sqlx::query(
                    "INSERT INTO user_threepids (medium, address, user_id, validated_ts, added_ts)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (medium, address) DO UPDATE SET validated_ts = excluded.validated_ts
                     WHERE user_threepids.user_id = excluded.user_id",
                )
                .bind(&threepid.medium)
                .bind(&threepid.address)
                .bind(user_id.as_str())
                .bind(to_db(threepid.validated_ts))
                .bind(to_db(threepid.added_ts)),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn owner(&self, medium: &str, address: &str) -> StorageResult<Option<OwnedUserId>> {
        let user: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM user_threepids WHERE medium = $1 AND address = $2",
        )
        .bind(medium)
        .bind(address)
        .fetch_optional(&self.pool)
        .await?;
        user.map(|user| {
            OwnedUserId::try_from(user).map_err(|e| StorageError::Corrupt(e.to_string()))
        })
        .transpose()
    }

    async fn of_user(&self, user_id: &UserId) -> StorageResult<Vec<Threepid>> {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT medium, address, validated_ts, added_ts FROM user_threepids
             WHERE user_id = $1 ORDER BY added_ts, address",
        )
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(medium, address, validated_ts, added_ts)| Threepid {
                medium,
                address,
                validated_ts: from_db(validated_ts),
                added_ts: from_db(added_ts),
            })
            .collect())
    }

    async fn unbind(&self, user_id: &UserId, medium: &str, address: &str) -> StorageResult<bool> {
        let done = self
            .write(
                sqlx::query(
                    "DELETE FROM user_threepids WHERE medium = $1 AND address = $2 AND user_id = $3",
                )
                .bind(medium)
                .bind(address)
                .bind(user_id.as_str()),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn without_lookup_hash(&self, limit: u64) -> StorageResult<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT medium, address FROM user_threepids WHERE lookup_hash IS NULL LIMIT $1",
        )
        .bind(to_db(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn set_lookup_hash(&self, medium: &str, address: &str, hash: &str) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "UPDATE user_threepids SET lookup_hash = $3 WHERE medium = $1 AND address = $2",
            )
            .bind(medium)
            .bind(address)
            .bind(hash),
        )
        .await?;
        Ok(())
    }

    async fn owners_by_lookup_hash(
        &self,
        hashes: &[String],
    ) -> StorageResult<Vec<(String, OwnedUserId)>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT lookup_hash, user_id FROM user_threepids WHERE lookup_hash IN ({})",
            placeholders(1, hashes.len())
        );
        let mut query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
        for hash in hashes {
            query = query.bind(hash);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|(hash, user)| {
                OwnedUserId::try_from(user)
                    .map(|user| (hash, user))
                    .map_err(|e| StorageError::Corrupt(e.to_string()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::Threepid;
    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn an_address_belongs_to_one_account() {
        let (_dir, storage) = open_temporary().await;
        let threepids = &storage.threepids;
        let (alice, bob) = (
            ruma::user_id!("@alice:example.org"),
            ruma::user_id!("@bob:example.org"),
        );
        let email = |address: &str, ts| Threepid {
            medium: "email".to_owned(),
            address: address.to_owned(),
            validated_ts: ts,
            added_ts: ts,
        };
        assert!(
            threepids
                .bind(alice, &email("a@x.example", 1))
                .await
                .unwrap()
        );
        assert!(
            threepids
                .bind(alice, &email("a2@x.example", 2))
                .await
                .unwrap()
        );
        assert!(
            threepids
                .bind(alice, &email("a@x.example", 3))
                .await
                .unwrap(),
            "validated again by its owner"
        );
        assert!(
            !threepids.bind(bob, &email("a@x.example", 4)).await.unwrap(),
            "held by another account"
        );
        assert_eq!(
            threepids
                .owner("email", "a@x.example")
                .await
                .unwrap()
                .as_deref(),
            Some(alice)
        );
        let listed = threepids.of_user(alice).await.unwrap();
        assert_eq!(
            listed,
            vec![
                Threepid {
                    validated_ts: 3,
                    ..email("a@x.example", 1)
                },
                email("a2@x.example", 2)
            ]
        );
        assert!(!threepids.unbind(bob, "email", "a@x.example").await.unwrap());
        assert!(
            threepids
                .unbind(alice, "email", "a@x.example")
                .await
                .unwrap()
        );
        assert_eq!(threepids.owner("email", "a@x.example").await.unwrap(), None);
        assert!(threepids.of_user(bob).await.unwrap().is_empty());

        // Lookup hashes, computed later by the identity service.
        let mut missing = threepids.without_lookup_hash(10).await.unwrap();
        missing.sort();
        assert!(missing.contains(&("email".to_owned(), "a2@x.example".to_owned())));
        threepids
            .set_lookup_hash("email", "a2@x.example", "H2")
            .await
            .unwrap();
        assert!(
            !threepids
                .without_lookup_hash(10)
                .await
                .unwrap()
                .iter()
                .any(|(_, address)| address == "a2@x.example")
        );
        let found = threepids
            .owners_by_lookup_hash(&["H2".to_owned(), "nothing".to_owned()])
            .await
            .unwrap();
        assert_eq!(found, vec![("H2".to_owned(), alice.to_owned())]);
        assert!(
            threepids
                .owners_by_lookup_hash(&[])
                .await
                .unwrap()
                .is_empty()
        );
    }
}
