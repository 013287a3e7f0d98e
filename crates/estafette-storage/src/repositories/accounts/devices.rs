use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};

use crate::StorageResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub display_name: Option<String>,
    pub last_seen_ts: Option<u64>,
    pub last_seen_ip: Option<String>,
    pub created_ts: u64,
}

#[async_trait]
pub trait DeviceRepository: Send + Sync {
    /// Creates the device, or keeps an existing one (its display name is replaced only when
    /// `display_name` is given).
    async fn upsert(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        display_name: Option<&str>,
        now: u64,
    ) -> StorageResult<()>;
    async fn get(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StorageResult<Option<DeviceRecord>>;
    async fn list(&self, user_id: &UserId) -> StorageResult<Vec<DeviceRecord>>;
    /// `false` when the device does not exist.
    async fn set_display_name(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        display_name: Option<&str>,
    ) -> StorageResult<bool>;
    async fn record_last_seen(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        ts: u64,
        ip: Option<&str>,
    ) -> StorageResult<()>;
    /// Deletes the devices and, in the same transaction, every token bound to them.
    /// Returns the devices that existed.
    async fn delete(
        &self,
        user_id: &UserId,
        device_ids: &[OwnedDeviceId],
    ) -> StorageResult<Vec<OwnedDeviceId>>;
    /// Deletes every device of the user except `keep`, with their tokens.
    async fn delete_all_except(
        &self,
        user_id: &UserId,
        keep: Option<&DeviceId>,
    ) -> StorageResult<Vec<OwnedDeviceId>>;
}
