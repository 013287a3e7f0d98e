use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use crate::sql::{Db, from_db, to_db};
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
    }
}
