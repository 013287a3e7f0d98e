use async_trait::async_trait;
use ruma::{OwnedRoomId, OwnedUserId};

use crate::sql::{Db, corrupt, from_db, to_db};
use crate::{EmailInvitation, EmailInvitationRepository, StorageResult};

type Row = (String, String, String, String, String, i64, i64);

fn from_row(row: Row) -> StorageResult<EmailInvitation> {
    Ok(EmailInvitation {
        token: row.0,
        room_id: OwnedRoomId::try_from(row.1).map_err(|e| corrupt("email_invitations", e))?,
        sender: OwnedUserId::try_from(row.2).map_err(|e| corrupt("email_invitations", e))?,
        address: row.3,
        display_name: row.4,
        created_ts: from_db(row.5),
        expires_ts: from_db(row.6),
    })
}

#[async_trait]
impl EmailInvitationRepository for Db {
    async fn add(&self, invitation: &EmailInvitation) -> StorageResult<()> {
        self.write(
            sqlx::query(
                "INSERT INTO email_invitations (token, room_id, sender, address, display_name,
                   created_ts, expires_ts) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&invitation.token)
            .bind(invitation.room_id.as_str())
            .bind(invitation.sender.as_str())
            .bind(&invitation.address)
            .bind(&invitation.display_name)
            .bind(to_db(invitation.created_ts))
            .bind(to_db(invitation.expires_ts)),
        )
        .await?;
        Ok(())
    }

    async fn pending_for(&self, address: &str, now: u64) -> StorageResult<Vec<EmailInvitation>> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT token, room_id, sender, address, display_name, created_ts, expires_ts
             FROM email_invitations WHERE address = $1 AND expires_ts > $2
             ORDER BY created_ts, token",
        )
        .bind(address)
        .bind(to_db(now))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    async fn pending_by_token(
        &self,
        token: &str,
        now: u64,
    ) -> StorageResult<Option<EmailInvitation>> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT token, room_id, sender, address, display_name, created_ts, expires_ts
             FROM email_invitations WHERE token = $1 AND expires_ts > $2",
        )
        .bind(token)
        .bind(to_db(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(from_row).transpose()
    }

    async fn take(&self, token: &str) -> StorageResult<bool> {
        let done = self
            .write(sqlx::query("DELETE FROM email_invitations WHERE token = $1").bind(token))
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use ruma::{room_id, user_id};

    use crate::EmailInvitation;
    use crate::sql::testing::open_temporary;

    #[tokio::test]
    async fn invitations_are_pending_until_taken_or_expired() {
        let (_dir, storage) = open_temporary().await;
        let invitations = &storage.email_invitations;
        let invitation = |token: &str, created_ts, expires_ts| EmailInvitation {
            token: token.to_owned(),
            room_id: room_id!("!r:example.org").to_owned(),
            sender: user_id!("@alice:example.org").to_owned(),
            address: "x@company.example".to_owned(),
            display_name: "x…@c…".to_owned(),
            created_ts,
            expires_ts,
        };
        invitations.add(&invitation("t1", 1, 100)).await.unwrap();
        invitations.add(&invitation("t2", 2, 50)).await.unwrap();
        let pending = invitations
            .pending_for("x@company.example", 10)
            .await
            .unwrap();
        assert_eq!(
            pending,
            vec![invitation("t1", 1, 100), invitation("t2", 2, 50)]
        );
        let later = invitations
            .pending_for("x@company.example", 50)
            .await
            .unwrap();
        assert_eq!(later, vec![invitation("t1", 1, 100)], "t2 expired");
        assert!(
            invitations
                .pending_for("y@company.example", 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            invitations.pending_by_token("t2", 10).await.unwrap(),
            Some(invitation("t2", 2, 50))
        );
        assert_eq!(invitations.pending_by_token("t2", 50).await.unwrap(), None);
        assert!(invitations.take("t1").await.unwrap());
        assert!(!invitations.take("t1").await.unwrap(), "taken once");
        assert!(
            invitations
                .pending_for("x@company.example", 10)
                .await
                .unwrap()
                .len()
                == 1
        );
    }
}
