use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use crate::StorageResult;

#[derive(Debug, Clone)]
pub struct NewDeviceGrant<'a> {
    pub device_code_hash: &'a str,
    pub user_code: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub now: u64,
    pub expires_ts: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceGrantRecord {
    pub user_code: String,
    pub client_id: String,
    pub scope: String,
    pub expires_ts: u64,
    /// Who approved it, once someone did.
    pub user_id: Option<OwnedUserId>,
    pub denied: bool,
    /// When the device last asked for its tokens (0: never).
    pub last_poll_ts: u64,
    pub exchanged_ts: Option<u64>,
}

/// Device authorization grants (RFC 8628).
#[async_trait]
pub trait OAuthDeviceGrantRepository: Send + Sync {
    /// Records a grant; expired ones are dropped. `false` when the user code is taken.
    async fn create(&self, grant: &NewDeviceGrant<'_>) -> StorageResult<bool>;
    async fn by_user_code(&self, user_code: &str) -> StorageResult<Option<DeviceGrantRecord>>;
    /// The user approved (`Some`) or denied (`None`) it; `false` if it was decided already.
    async fn decide(&self, user_code: &str, user_id: Option<&UserId>) -> StorageResult<bool>;
    /// The device polls: the grant as it stood, its poll time now recorded.
    async fn poll(
        &self,
        device_code_hash: &str,
        now: u64,
    ) -> StorageResult<Option<DeviceGrantRecord>>;
    /// Marks an approved grant exchanged for tokens; `false` if it was already.
    async fn exchange(&self, device_code_hash: &str, now: u64) -> StorageResult<bool>;
}
