use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use crate::StorageResult;

/// OpenID tokens, stored as hashes; the caller hashes before every call.
#[async_trait]
pub trait OpenIdTokenRepository: Send + Sync {
    async fn insert(&self, hash: &str, user_id: &UserId, expires_ts: u64) -> StorageResult<()>;
    /// The user a token was issued to, if it has not expired at `now`.
    async fn find(&self, hash: &str, now: u64) -> StorageResult<Option<OwnedUserId>>;
    async fn delete_expired(&self, now: u64) -> StorageResult<u64>;
}
