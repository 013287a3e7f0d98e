use async_trait::async_trait;

use crate::sql::{Db, from_db, to_db};
use crate::{StorageResult, ThreepidValidation, ThreepidValidationRepository};

type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
);

const COLUMNS: &str = "sid, client_secret, medium, address, purpose, token_hash, send_attempt, \
                       expires_ts, validated_ts";

fn from_row(row: Row) -> ThreepidValidation {
    ThreepidValidation {
        sid: row.0,
        client_secret: row.1,
        medium: row.2,
        address: row.3,
        purpose: row.4,
        token_hash: row.5,
        send_attempt: from_db(row.6),
        expires_ts: from_db(row.7),
        validated_ts: row.8.map(from_db),
    }
}

#[async_trait]
impl ThreepidValidationRepository for Db {
    async fn find(
        &self,
        client_secret: &str,
        address: &str,
        purpose: &str,
    ) -> StorageResult<Option<ThreepidValidation>> {
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM threepid_validations
             WHERE client_secret = $1 AND address = $2 AND purpose = $3"
        )))
        .bind(client_secret)
        .bind(address)
        .bind(purpose)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(from_row))
    }

    async fn put(&self, validation: &ThreepidValidation) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "INSERT INTO threepid_validations (sid, client_secret, medium, address, purpose,
                   token_hash, send_attempt, expires_ts, validated_ts)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (sid) DO UPDATE SET token_hash = excluded.token_hash,
                   send_attempt = excluded.send_attempt, expires_ts = excluded.expires_ts",
            )
            .bind(&validation.sid)
            .bind(&validation.client_secret)
            .bind(&validation.medium)
            .bind(&validation.address)
            .bind(&validation.purpose)
            .bind(&validation.token_hash)
            .bind(to_db(validation.send_attempt))
            .bind(to_db(validation.expires_ts))
            .bind(validation.validated_ts.map(to_db)),
        )
        .await?;
        Ok(())
    }

    async fn get(&self, sid: &str) -> StorageResult<Option<ThreepidValidation>> {
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM threepid_validations WHERE sid = $1"
        )))
        .bind(sid)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(from_row))
    }

    async fn validate(&self, sid: &str, token_hash: &str, now: u64) -> StorageResult<bool> {
        let done = self
            .write(
                sqlx::query(
                    "UPDATE threepid_validations
                     SET validated_ts = COALESCE(validated_ts, $3)
                     WHERE sid = $1 AND token_hash = $2 AND expires_ts > $3",
                )
                .bind(sid)
                .bind(token_hash)
                .bind(to_db(now)),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn consume(&self, sid: &str) -> StorageResult<bool> {
        let done = self
            .write(sqlx::query("DELETE FROM threepid_validations WHERE sid = $1").bind(sid))
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use crate::ThreepidValidation;
    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn a_session_is_validated_by_its_token_before_it_expires() {
        let (_dir, storage) = open_temporary().await;
        let validations = &storage.threepid_validations;
        let session = ThreepidValidation {
            sid: "sid1".to_owned(),
            client_secret: "secret".to_owned(),
            medium: "email".to_owned(),
            address: "a@x.example".to_owned(),
            purpose: "registration".to_owned(),
            token_hash: "h1".to_owned(),
            send_attempt: 1,
            expires_ts: 100,
            validated_ts: None,
        };
        validations.put(&session).await.unwrap();
        let found = validations
            .find("secret", "a@x.example", "registration")
            .await
            .unwrap();
        assert_eq!(found.as_ref(), Some(&session));
        assert_eq!(
            validations
                .find("secret", "a@x.example", "password_reset")
                .await
                .unwrap(),
            None
        );
        // A new attempt replaces the token: the old one no longer validates.
        let again = ThreepidValidation {
            token_hash: "h2".to_owned(),
            send_attempt: 2,
            expires_ts: 200,
            ..session.clone()
        };
        validations.put(&again).await.unwrap();
        assert!(!validations.validate("sid1", "h1", 50).await.unwrap());
        assert!(
            !validations.validate("sid1", "h2", 200).await.unwrap(),
            "expired"
        );
        assert!(!validations.validate("other", "h2", 50).await.unwrap());
        assert!(validations.validate("sid1", "h2", 150).await.unwrap());
        assert!(
            validations.validate("sid1", "h2", 160).await.unwrap(),
            "idempotent"
        );
        let validated = validations.get("sid1").await.unwrap().unwrap();
        assert_eq!(
            validated.validated_ts,
            Some(150),
            "the first validation counts"
        );
        assert!(validations.consume("sid1").await.unwrap());
        assert!(!validations.consume("sid1").await.unwrap(), "used once");
        assert_eq!(validations.get("sid1").await.unwrap(), None);
    }
}
