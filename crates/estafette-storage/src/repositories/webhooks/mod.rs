//! Incoming webhooks: each bound to a room, posting as its own user; its secret kept only as
//! a digest.

use async_trait::async_trait;
use ruma::{OwnedRoomId, OwnedUserId, RoomId};

use crate::StorageResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub hook_id: String,
    pub room_id: OwnedRoomId,
    pub name: String,
    /// `generic` or `slack`.
    pub format: String,
    pub msgtype: String,
    /// The user the hook posts as.
    pub sender: OwnedUserId,
    pub creator: OwnedUserId,
    pub created_ts: u64,
    /// The addresses it takes posts from (CIDR ranges); any when empty.
    pub allowed_ips: Vec<String>,
    /// When it stops taking posts.
    pub expires_ts: Option<u64>,
}

#[async_trait]
pub trait WebhookRepository: Send + Sync {
    async fn create(&self, hook: &WebhookRecord, token_digest: &str) -> StorageResult<()>;
    /// The hook whose token has this digest.
    async fn by_token(&self, token_digest: &str) -> StorageResult<Option<WebhookRecord>>;
    async fn get(&self, hook_id: &str) -> StorageResult<Option<WebhookRecord>>;
    async fn of_room(&self, room_id: &RoomId) -> StorageResult<Vec<WebhookRecord>>;
    /// Replaces the hook's token; `false` when there is no such hook.
    async fn set_token(&self, hook_id: &str, token_digest: &str) -> StorageResult<bool>;
    /// `false` when there was no such hook.
    async fn delete(&self, hook_id: &str) -> StorageResult<bool>;
}
