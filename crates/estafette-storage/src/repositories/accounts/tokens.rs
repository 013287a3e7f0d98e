use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId};

use crate::StorageResult;

/// Tokens are stored only as hashes; the caller hashes before every call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRecord {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub expires_ts: Option<u64>,
    /// The refresh token issued alongside, if the client asked for one.
    pub refresh_token_id: Option<i64>,
    /// True while the refresh token that this one replaced is still valid: the first use of
    /// the new tokens retires it (MSC2918 / spec "Refreshing access tokens").
    pub has_predecessor: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub id: i64,
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub has_predecessor: bool,
}

/// An access token, optionally with a refresh token, issued together.
#[derive(Debug, Clone)]
pub struct NewTokens<'a> {
    pub user_id: &'a ruma::UserId,
    pub device_id: &'a DeviceId,
    pub access_token_hash: &'a str,
    pub access_expires_ts: Option<u64>,
    pub refresh_token_hash: Option<&'a str>,
    /// The refresh token these tokens were obtained with.
    pub predecessor: Option<i64>,
    pub now: u64,
}

#[async_trait]
pub trait TokenRepository: Send + Sync {
    async fn issue(&self, tokens: &NewTokens<'_>) -> StorageResult<()>;
    async fn find_access(&self, hash: &str) -> StorageResult<Option<AccessTokenRecord>>;
    async fn find_refresh(&self, hash: &str) -> StorageResult<Option<RefreshTokenRecord>>;
    /// Revokes the refresh token that `refresh_token_id` replaced, its access tokens and any
    /// other tokens obtained from it, then forgets the link.
    async fn retire_predecessor(&self, refresh_token_id: i64) -> StorageResult<()>;
    /// Revokes every access and refresh token of a device, keeping the device.
    async fn revoke_device_tokens(
        &self,
        user_id: &ruma::UserId,
        device_id: &DeviceId,
    ) -> StorageResult<()>;
}
