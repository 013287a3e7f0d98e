use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};
use sqlx::Row;

use crate::sql::{Db, corrupt, flag, from_db, to_db};
use crate::{NewUser, StorageResult, UserRecord, UserRepository};

#[async_trait]
impl UserRepository for Db {
    async fn create(&self, user: &NewUser) -> StorageResult<bool> {
        let result = self.write(sqlx::query(
            "INSERT INTO users (user_id, password_hash, is_admin, created_ts) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user.user_id.as_str())
        .bind(user.password_hash.as_deref())
        .bind(i64::from(user.is_admin))
        .bind(to_db(user.created_ts)))
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn get(&self, user_id: &UserId) -> StorageResult<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT user_id, password_hash, is_admin, deactivated, created_ts FROM users WHERE user_id = $1",
        )
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let user_id: String = row.try_get("user_id")?;
            Ok(UserRecord {
                user_id: OwnedUserId::try_from(user_id).map_err(|e| corrupt("users.user_id", e))?,
                password_hash: row.try_get("password_hash")?,
                is_admin: flag(&row, "is_admin")?,
                deactivated: flag(&row, "deactivated")?,
                created_ts: from_db(row.try_get("created_ts")?),
            })
        })
        .transpose()
    }

    async fn set_password_hash(&self, user_id: &UserId, hash: Option<&str>) -> StorageResult<()> {
        self.write(
            sqlx::query("UPDATE users SET password_hash = $1 WHERE user_id = $2")
                .bind(hash)
                .bind(user_id.as_str()),
        )
        .await?;
        Ok(())
    }

    async fn deactivate(&self, user_id: &UserId) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "UPDATE users SET deactivated = 1, password_hash = NULL WHERE user_id = $1",
            )
            .bind(user_id.as_str()),
        )
        .await?;
        Ok(())
    }

    async fn reactivate(
        &self,
        user_id: &UserId,
        password_hash: Option<&str>,
    ) -> StorageResult<bool> {
        let done = self
            .write(
                sqlx::query(
                    "UPDATE users SET deactivated = 0, password_hash = $1
                     WHERE user_id = $2 AND deactivated = 1",
                )
                .bind(password_hash)
                .bind(user_id.as_str()),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_admin(&self, user_id: &UserId, is_admin: bool) -> StorageResult<()> {
        self.write(
            sqlx::query("UPDATE users SET is_admin = $1 WHERE user_id = $2")
                .bind(i64::from(is_admin))
                .bind(user_id.as_str()),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ruma::user_id;

    use crate::NewUser;
    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn create_get_and_deactivate() {
        let (_dir, storage) = open_temporary().await;
        let alice = user_id!("@alice:example.org").to_owned();
        let new = NewUser {
            user_id: alice.clone(),
            password_hash: Some("h".into()),
            is_admin: true,
            created_ts: 5,
        };
        assert!(storage.users.create(&new).await.unwrap());
        assert!(
            !storage.users.create(&new).await.unwrap(),
            "a taken ID is refused"
        );
        let record = storage.users.get(&alice).await.unwrap().unwrap();
        assert!(record.is_admin && !record.deactivated);
        assert_eq!(record.password_hash.as_deref(), Some("h"));
        assert_eq!(record.created_ts, 5);
        storage.users.deactivate(&alice).await.unwrap();
        let record = storage.users.get(&alice).await.unwrap().unwrap();
        assert!(record.deactivated);
        assert_eq!(record.password_hash, None);
        assert!(storage.users.reactivate(&alice, Some("h2")).await.unwrap());
        assert!(
            !storage.users.reactivate(&alice, Some("h3")).await.unwrap(),
            "an active account is not reactivated"
        );
        let record = storage.users.get(&alice).await.unwrap().unwrap();
        assert!(!record.deactivated);
        assert_eq!(record.password_hash.as_deref(), Some("h2"));
        assert!(
            storage
                .users
                .get(user_id!("@bob:example.org"))
                .await
                .unwrap()
                .is_none()
        );
    }
}
