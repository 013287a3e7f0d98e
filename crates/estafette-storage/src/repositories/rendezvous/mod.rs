//! Rendezvous sessions: the one payload two devices overwrite in turn while one signs the
//! other in by QR code (MSC4388; MSC4108's earlier wire form reads the same rows).

use async_trait::async_trait;

use crate::StorageResult;

/// A live session: its payload, the token naming that payload's revision, and its times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RendezvousRecord {
    pub id: String,
    pub data: String,
    /// Changes with every write (the ETag or `sequence_token`).
    pub token: String,
    pub updated_ts: u64,
    pub expires_ts: u64,
}

#[async_trait]
pub trait RendezvousRepository: Send + Sync {
    /// Stores a new session after dropping the expired ones; `false` (nothing stored) when
    /// `max_live` sessions are live already.
    async fn create(
        &self,
        session: &RendezvousRecord,
        now: u64,
        max_live: u64,
    ) -> StorageResult<bool>;
    /// The session, unless it is gone or expired at `now`.
    async fn get(&self, id: &str, now: u64) -> StorageResult<Option<RendezvousRecord>>;
    /// Replaces the payload if the session is live and still at `expected_token`; `false`
    /// when it is not.
    async fn compare_and_swap(
        &self,
        id: &str,
        expected_token: &str,
        data: &str,
        new_token: &str,
        now: u64,
    ) -> StorageResult<bool>;
    /// Ends the session; `false` when there was no live one.
    async fn delete(&self, id: &str, now: u64) -> StorageResult<bool>;
}
