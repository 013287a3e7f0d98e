use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use crate::StorageResult;

/// Access tokens of the identity service (`/_matrix/identity/v2/account/register`), kept by
/// hash.
#[async_trait]
pub trait IdentityTokenRepository: Send + Sync {
    async fn create(&self, token_hash: &str, user_id: &UserId, now: u64) -> StorageResult<()>;
    async fn user_of(&self, token_hash: &str) -> StorageResult<Option<OwnedUserId>>;
    async fn delete(&self, token_hash: &str) -> StorageResult<()>;
}
