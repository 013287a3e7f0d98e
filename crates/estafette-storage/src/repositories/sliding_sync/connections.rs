use async_trait::async_trait;
use ruma::{DeviceId, OwnedRoomId, UserId};

use crate::StorageResult;

/// A sliding sync connection: a device's `conn_id`.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionKey<'a> {
    pub user_id: &'a UserId,
    pub device_id: &'a DeviceId,
    pub conn_id: &'a str,
}

/// A room as a connection last received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRoom {
    pub room_id: OwnedRoomId,
    /// The stream position its timeline was sent up to.
    pub stream: i64,
    /// A digest of the `required_state` it was sent with.
    pub state_config: String,
}

/// A connection's positions: each response gets one (`pos`), standing for the stream position
/// it covers and the rooms sent so far. The latest two are kept, since the latest response may
/// be lost on its way and the client ask again from the one before.
#[async_trait]
pub trait SlidingSyncConnectionRepository: Send + Sync {
    /// Forgets everything the connection was sent (a request without `pos`).
    async fn reset(&self, connection: ConnectionKey<'_>) -> StorageResult<()>;
    /// The stream position `pos` covers, if `pos` is one of the two kept; what responses after
    /// it recorded is forgotten (the client never saw them).
    async fn resume(&self, connection: ConnectionKey<'_>, pos: i64) -> StorageResult<Option<i64>>;
    /// The rooms sent up to `pos` included.
    async fn sent_rooms(
        &self,
        connection: ConnectionKey<'_>,
        pos: i64,
    ) -> StorageResult<Vec<SentRoom>>;
    /// Records a response covering `stream` that sent `rooms`, after the one at `from` (`None`
    /// for a new connection), and returns its `pos`; positions before `from` are dropped.
    async fn advance(
        &self,
        connection: ConnectionKey<'_>,
        from: Option<i64>,
        stream: i64,
        rooms: &[SentRoom],
    ) -> StorageResult<i64>;
    /// Forgets every connection of a device (signed out or deleted).
    async fn forget_device(&self, user_id: &UserId, device_id: &DeviceId) -> StorageResult<()>;
}
