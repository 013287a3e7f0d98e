use async_trait::async_trait;
use ruma::{OwnedRoomId, OwnedUserId};

use crate::StorageResult;

/// An invitation to a room sent to an email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailInvitation {
    /// The state key of its `m.room.third_party_invite` event.
    pub token: String,
    pub room_id: OwnedRoomId,
    pub sender: OwnedUserId,
    pub address: String,
    /// What the room's members see of the address.
    pub display_name: String,
    pub created_ts: u64,
    pub expires_ts: u64,
}

#[async_trait]
pub trait EmailInvitationRepository: Send + Sync {
    async fn add(&self, invitation: &EmailInvitation) -> StorageResult<()>;
    /// The invitations of `address` that have not expired by `now`, oldest first.
    async fn pending_for(&self, address: &str, now: u64) -> StorageResult<Vec<EmailInvitation>>;
    /// The invitation `token` names, unless it expired by `now`.
    async fn pending_by_token(
        &self,
        token: &str,
        now: u64,
    ) -> StorageResult<Option<EmailInvitation>>;
    /// Removes an invitation once delivered; whether it was still there (so two deliveries
    /// at once make one).
    async fn take(&self, token: &str) -> StorageResult<bool>;
}
