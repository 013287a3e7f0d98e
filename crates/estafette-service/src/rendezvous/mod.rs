//! Rendezvous sessions (MSC4388): while a signed-in device signs a new one in by QR code
//! (MSC4108), the two exchange their end-to-end encrypted messages through one payload on
//! the server that either may read and overwrite in turn. The server sees ciphertext only;
//! it keeps each payload briefly, bounds its size and the number of live sessions, and lets
//! a write through only from whoever saw the latest payload.

use std::sync::Arc;

use estafette_core::QrLogin;
use estafette_storage::RendezvousRecord;

use crate::{Context, ServiceError, ServiceResult};

/// How long a session lives from its creation (MSC4388: 120 to 300 seconds).
pub const SESSION_LIFETIME_MS: u64 = 300_000;
/// Largest payload of MSC4388's sessions, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 4_096;
/// Largest payload of MSC4108's earlier wire form, which matrix-sdk 0.18 speaks and whose
/// messages (the secrets bundle) are larger once encoded.
pub const MAX_LEGACY_PAYLOAD_BYTES: usize = 10_240;
/// Sessions live at once on the whole server, so that anonymous creation cannot fill it.
const MAX_LIVE_SESSIONS: u64 = 10_000;

/// A session as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendezvous {
    pub id: String,
    pub data: String,
    /// Names the payload's revision (`sequence_token`, or the ETag).
    pub token: String,
    pub updated_ts: u64,
    pub expires_ts: u64,
    /// Milliseconds left before the session expires.
    pub expires_in_ms: u64,
}

/// What became of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RendezvousWrite {
    /// The payload is the one sent (written now, or by the same write before).
    Written(Rendezvous),
    /// Someone wrote since the writer last read: nothing changed.
    Conflict(Rendezvous),
}

#[derive(Clone)]
pub struct RendezvousService {
    context: Arc<Context>,
}

fn not_found() -> ServiceError {
    ServiceError::NotFound("No such rendezvous session, or it has expired".into())
}

impl RendezvousService {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        Self { context }
    }

    /// Whether the rendezvous API is served at all.
    pub fn enabled(&self) -> bool {
        self.context.config.oauth.qr_login != QrLogin::Off
    }

    /// Whether a requester (signed in or not) may open a session.
    pub fn create_available(&self, signed_in: bool) -> bool {
        match self.context.config.oauth.qr_login {
            QrLogin::Anyone => true,
            QrLogin::Users => signed_in,
            QrLogin::Off => false,
        }
    }

    fn view(&self, record: RendezvousRecord) -> Rendezvous {
        let now = self.context.now();
        Rendezvous {
            expires_in_ms: record.expires_ts.saturating_sub(now),
            id: record.id,
            data: record.data,
            token: record.token,
            updated_ts: record.updated_ts,
            expires_ts: record.expires_ts,
        }
    }

    fn checked_size(data: &str, max_bytes: usize) -> ServiceResult<()> {
        if data.len() > max_bytes {
            return Err(ServiceError::TooLarge(format!(
                "A rendezvous payload is at most {max_bytes} bytes"
            )));
        }
        Ok(())
    }

    fn new_token(&self) -> String {
        self.context.random.alphanumeric(22)
    }

    /// Opens a session holding `data`.
    pub async fn create(
        &self,
        signed_in: bool,
        data: String,
        max_bytes: usize,
    ) -> ServiceResult<Rendezvous> {
        if !self.create_available(signed_in) {
            return Err(ServiceError::Forbidden(
                "Only signed-in users may open a rendezvous session on this server".into(),
            ));
        }
        Self::checked_size(&data, max_bytes)?;
        let now = self.context.now();
        let record = RendezvousRecord {
            id: self.context.random.alphanumeric(32),
            data,
            token: self.new_token(),
            updated_ts: now,
            expires_ts: now + SESSION_LIFETIME_MS,
        };
        let stored = self
            .context
            .storage
            .rendezvous
            .create(&record, now, MAX_LIVE_SESSIONS)
            .await?;
        if !stored {
            return Err(ServiceError::LimitExceeded(
                "Too many rendezvous sessions are open; try again in a few minutes".into(),
            ));
        }
        Ok(self.view(record))
    }

    /// The session's payload.
    pub async fn read(&self, id: &str) -> ServiceResult<Rendezvous> {
        let now = self.context.now();
        let record = self.context.storage.rendezvous.get(id, now).await?;
        Ok(self.view(record.ok_or_else(not_found)?))
    }

    /// Replaces the payload if the writer saw the latest one (`expected_token`). A write
    /// repeated because its answer was lost changes nothing and succeeds again.
    pub async fn write(
        &self,
        id: &str,
        expected_token: &str,
        data: String,
        max_bytes: usize,
    ) -> ServiceResult<RendezvousWrite> {
        Self::checked_size(&data, max_bytes)?;
        let now = self.context.now();
        let store = &self.context.storage.rendezvous;
        let current = store.get(id, now).await?.ok_or_else(not_found)?;
        if current.token == expected_token {
            let token = self.new_token();
            if store
                .compare_and_swap(id, expected_token, &data, &token, now)
                .await?
            {
                return Ok(RendezvousWrite::Written(self.view(RendezvousRecord {
                    data,
                    token,
                    updated_ts: now,
                    ..current
                })));
            }
        }
        // Someone else wrote first (or this very write did, its answer lost).
        let latest = store.get(id, now).await?.ok_or_else(not_found)?;
        let repeated = latest.data == data;
        let latest = self.view(latest);
        Ok(if repeated {
            RendezvousWrite::Written(latest)
        } else {
            RendezvousWrite::Conflict(latest)
        })
    }

    /// Ends the session: reads and writes fail from now on.
    pub async fn delete(&self, id: &str) -> ServiceResult<()> {
        let now = self.context.now();
        if !self.context.storage.rendezvous.delete(id, now).await? {
            return Err(not_found());
        }
        Ok(())
    }
}
