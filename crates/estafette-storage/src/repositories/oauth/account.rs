use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use crate::StorageResult;

/// A browser signed in on the account management page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSessionRecord {
    pub user_id: OwnedUserId,
    /// Every form of the page carries it back.
    pub csrf: String,
    pub expires_ts: u64,
}

/// The account management page's sessions, and the cross-signing resets approved there.
#[async_trait]
pub trait OAuthAccountRepository: Send + Sync {
    /// Opens a session (dropping those expired at `now`).
    async fn open(
        &self,
        token_hash: &str,
        session: &AccountSessionRecord,
        now: u64,
    ) -> StorageResult<()>;
    /// The session, unless expired at `now`.
    async fn session(
        &self,
        token_hash: &str,
        now: u64,
    ) -> StorageResult<Option<AccountSessionRecord>>;
    async fn close(&self, token_hash: &str) -> StorageResult<()>;
    /// Lets the user replace their cross-signing keys once, until `expires_ts`.
    async fn approve_reset(&self, user_id: &UserId, expires_ts: u64) -> StorageResult<()>;
    /// Uses the user's approval if one is live at `now`; `false` when there is none.
    async fn take_reset(&self, user_id: &UserId, now: u64) -> StorageResult<bool>;
}
