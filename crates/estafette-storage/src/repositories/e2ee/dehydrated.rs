use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, UserId};

use crate::StorageResult;

#[async_trait]
pub trait DehydratedDeviceRepository: Send + Sync {
    /// The user's dehydrated device and its opaque data.
    async fn get(&self, user_id: &UserId) -> StorageResult<Option<(OwnedDeviceId, String)>>;
    async fn set(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        device_data_json: &str,
    ) -> StorageResult<()>;
    async fn delete(&self, user_id: &UserId) -> StorageResult<()>;
}
