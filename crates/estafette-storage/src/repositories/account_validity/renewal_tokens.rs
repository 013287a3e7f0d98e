use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use crate::StorageResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalToken {
    pub user_id: OwnedUserId,
    pub created_ts: u64,
    /// When the account was renewed (through this link or another of the same period).
    pub used_ts: Option<u64>,
}

#[async_trait]
pub trait RenewalTokenRepository: Send + Sync {
    async fn add(&self, token_hash: &str, user_id: &UserId, now: u64) -> StorageResult<()>;
    async fn get(&self, token_hash: &str) -> StorageResult<Option<RenewalToken>>;
    /// Marks every unused link of the user used: the period they were sent for is over.
    async fn use_all(&self, user_id: &UserId, now: u64) -> StorageResult<()>;
    async fn delete_all(&self, user_id: &UserId) -> StorageResult<()>;
}
