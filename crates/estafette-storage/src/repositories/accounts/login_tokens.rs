use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use crate::StorageResult;

/// Short-lived, single-use tokens exchanged at `/login` (`m.login.token`), stored hashed.
#[async_trait]
pub trait LoginTokenRepository: Send + Sync {
    /// Records a token; expired ones are dropped.
    async fn create(
        &self,
        token_hash: &str,
        user_id: &UserId,
        expires_ts: u64,
        now: u64,
    ) -> StorageResult<()>;
    /// The user of a token not yet expired at `now`, forgotten by this call.
    async fn take(&self, token_hash: &str, now: u64) -> StorageResult<Option<OwnedUserId>>;
}
