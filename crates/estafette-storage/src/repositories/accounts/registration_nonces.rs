use async_trait::async_trait;

use crate::StorageResult;

/// Single-use nonces of shared-secret registration; kept in the database so that any of
/// several server processes can redeem a nonce another one issued.
#[async_trait]
pub trait RegistrationNonceRepository: Send + Sync {
    async fn insert(&self, nonce: &str, created_ts: u64) -> StorageResult<()>;
    /// Removes the nonce and returns when it was created; `None` if unknown or already used.
    async fn take(&self, nonce: &str) -> StorageResult<Option<u64>>;
    async fn delete_created_before(&self, ts: u64) -> StorageResult<u64>;
}
