use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};

use crate::StorageResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToDeviceMessage {
    pub stream_id: i64,
    pub sender: OwnedUserId,
    pub event_type: String,
    pub content_json: String,
}

/// A queued message with its recipient, as application services are sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressedToDevice {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub message: ToDeviceMessage,
}

/// One recipient device and what it receives.
#[derive(Debug, Clone)]
pub struct ToDeviceDelivery {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub content_json: String,
}

#[async_trait]
pub trait ToDeviceRepository: Send + Sync {
    /// Queues the messages unless the sender's device already used `txn_id` for this event
    /// type; returns the stream position, or `None` for a repeated transaction.
    async fn send(
        &self,
        sender: &UserId,
        sender_device: &DeviceId,
        txn_id: &str,
        event_type: &str,
        deliveries: &[ToDeviceDelivery],
    ) -> StorageResult<Option<i64>>;
    /// Messages waiting for a device.
    async fn pending(&self, user_id: &UserId, device_id: &DeviceId) -> StorageResult<u64>;
    /// Drops what the device acknowledged (positions up to `up_to`) and returns the next
    /// messages after it, oldest first.
    async fn take(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        up_to: i64,
        limit: u32,
    ) -> StorageResult<Vec<ToDeviceMessage>>;
    /// Every device's messages queued after `after` up to `until`, in stream order, at most
    /// `limit`: what application services are sent for their users.
    async fn between(
        &self,
        after: i64,
        until: i64,
        limit: u32,
    ) -> StorageResult<Vec<AddressedToDevice>>;
}
