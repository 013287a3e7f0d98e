use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use super::owned_user;
use crate::sql::{Db, from_db, to_db};
use crate::{AccountValidity, AccountValidityRepository, StorageResult};

type Row = (String, i64, i64, i64);

const COLUMNS: &str = "user_id, expiration_ts, emails_sent, renewal_emails";

fn from_row(row: Row) -> StorageResult<AccountValidity> {
    Ok(AccountValidity {
        user_id: owned_user(row.0)?,
        expiration_ts: from_db(row.1),
        emails_sent: from_db(row.2),
        renewal_emails: row.3 != 0,
    })
}

#[async_trait]
impl AccountValidityRepository for Db {
    async fn get(&self, user_id: &UserId) -> StorageResult<Option<AccountValidity>> {
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM account_validity WHERE user_id = $1"
        )))
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(from_row).transpose()
    }

    async fn set(
        &self,
        user_id: &UserId,
        expiration_ts: u64,
        renewal_emails: bool,
    ) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "INSERT INTO account_validity (user_id, expiration_ts, emails_sent, renewal_emails)
                 VALUES ($1, $2, 0, $3)
                 ON CONFLICT (user_id) DO UPDATE SET expiration_ts = excluded.expiration_ts,
                   emails_sent = 0, renewal_emails = excluded.renewal_emails",
            )
            .bind(user_id.as_str())
            .bind(to_db(expiration_ts))
            .bind(i64::from(renewal_emails)),
        )
        .await?;
        Ok(())
    }

    async fn start_missing(&self, expiration_ts: u64) -> StorageResult<u64> {
        let done = self
            .write(
                sqlx::query(
                    "INSERT INTO account_validity (user_id, expiration_ts, emails_sent, renewal_emails)
                     SELECT user_id, $1, 0, 1 FROM users
                     WHERE deactivated = 0
                       AND NOT EXISTS (SELECT 1 FROM account_validity v
                                       WHERE v.user_id = users.user_id)
                     ON CONFLICT (user_id) DO NOTHING",
                )
                .bind(to_db(expiration_ts)),
            )
            .await?;
        Ok(done.rows_affected())
    }

    async fn due_for_email(
        &self,
        now: u64,
        until: u64,
        max_emails: u64,
        limit: u64,
    ) -> StorageResult<Vec<AccountValidity>> {
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM account_validity
             WHERE expiration_ts > $1 AND expiration_ts <= $2 AND emails_sent < $3
               AND renewal_emails = 1
             ORDER BY expiration_ts LIMIT $4"
        )))
        .bind(to_db(now))
        .bind(to_db(until))
        .bind(to_db(max_emails))
        .bind(to_db(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    async fn claim_email(&self, user_id: &UserId, sent: u64) -> StorageResult<bool> {
        let done = self
            .write(
                sqlx::query(
                    "UPDATE account_validity SET emails_sent = $2 + 1
                     WHERE user_id = $1 AND emails_sent = $2",
                )
                .bind(user_id.as_str())
                .bind(to_db(sent)),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_email(&self, user_id: &UserId, sent: u64) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "UPDATE account_validity SET emails_sent = $2
                 WHERE user_id = $1 AND emails_sent = $2 + 1",
            )
            .bind(user_id.as_str())
            .bind(to_db(sent)),
        )
        .await?;
        Ok(())
    }

    async fn expired_by(&self, before: u64, limit: u64) -> StorageResult<Vec<OwnedUserId>> {
        let users: Vec<String> = sqlx::query_scalar(
            "SELECT user_id FROM account_validity WHERE expiration_ts <= $1
             ORDER BY expiration_ts LIMIT $2",
        )
        .bind(to_db(before))
        .bind(to_db(limit))
        .fetch_all(&self.pool)
        .await?;
        users.into_iter().map(owned_user).collect()
    }

    async fn delete(&self, user_id: &UserId) -> StorageResult<()> {
        self.write(
            sqlx::query("DELETE FROM account_validity WHERE user_id = $1").bind(user_id.as_str()),
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
    async fn periods_start_emails_are_claimed_once_and_expired_accounts_are_found() {
        let (_dir, storage) = open_temporary().await;
        let validity = &storage.account_validity;
        for (name, deactivated) in [("alice", false), ("bob", false), ("carol", true)] {
            let user_id = ruma::UserId::parse(format!("@{name}:example.org")).unwrap();
            let new = NewUser {
                user_id: user_id.clone(),
                password_hash: None,
                is_admin: false,
                created_ts: 1,
            };
            storage.users.create(&new).await.unwrap();
            if deactivated {
                storage.users.deactivate(&user_id).await.unwrap();
            }
        }
        let alice = user_id!("@alice:example.org");
        let bob = user_id!("@bob:example.org");
        validity.set(alice, 1_000, true).await.unwrap();
        assert_eq!(validity.start_missing(5_000).await.unwrap(), 1, "bob only");
        assert_eq!(validity.start_missing(6_000).await.unwrap(), 0);
        assert_eq!(
            validity.get(bob).await.unwrap().unwrap().expiration_ts,
            5_000
        );
        assert!(
            validity
                .get(user_id!("@carol:example.org"))
                .await
                .unwrap()
                .is_none(),
            "deactivated accounts get no period"
        );

        let due = validity.due_for_email(500, 2_000, 3, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].user_id, alice);
        assert!(validity.claim_email(alice, 0).await.unwrap());
        assert!(
            !validity.claim_email(alice, 0).await.unwrap(),
            "claimed once"
        );
        validity.release_email(alice, 0).await.unwrap();
        assert!(validity.claim_email(alice, 0).await.unwrap(), "released");
        assert!(validity.claim_email(alice, 1).await.unwrap());
        assert!(validity.claim_email(alice, 2).await.unwrap());
        assert!(
            validity
                .due_for_email(500, 2_000, 3, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // Expired accounts get no more renewal emails; a new period starts afresh.
        assert!(
            validity
                .due_for_email(1_000, 9_000, 3, 10)
                .await
                .unwrap()
                .len()
                == 1
        );
        validity.set(alice, 1_000, false).await.unwrap();
        assert_eq!(validity.get(alice).await.unwrap().unwrap().emails_sent, 0);
        assert!(
            validity
                .due_for_email(500, 2_000, 3, 10)
                .await
                .unwrap()
                .is_empty()
        );

        assert_eq!(
            validity.expired_by(1_000, 10).await.unwrap(),
            vec![alice.to_owned()]
        );
        assert!(validity.expired_by(999, 10).await.unwrap().is_empty());
        validity.delete(alice).await.unwrap();
        assert!(validity.get(alice).await.unwrap().is_none());
    }
}
