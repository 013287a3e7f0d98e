use std::collections::BTreeMap;

use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};

use crate::StorageResult;

/// A one-time or fallback key to store: (algorithm, key ID, JSON).
pub type NewKey = (String, String, String);

/// A claimed key: (algorithm:key_id, JSON).
pub type ClaimedKey = (String, String);

#[async_trait]
pub trait KeyRepository: Send + Sync {
    async fn device_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StorageResult<Option<String>>;
    /// Stores a device's identity keys and records a device-list change; returns its position.
    async fn set_device_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        key_json: &str,
    ) -> StorageResult<i64>;
    /// All devices' keys of a user, by device ID.
    async fn all_device_keys(
        &self,
        user_id: &UserId,
    ) -> StorageResult<BTreeMap<OwnedDeviceId, String>>;
    /// The stored JSON of one-time keys with these IDs, to detect conflicting re-uploads.
    async fn one_time_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
        key_id: &str,
    ) -> StorageResult<Option<String>>;
    async fn add_one_time_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        keys: &[NewKey],
    ) -> StorageResult<()>;
    async fn set_fallback_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        keys: &[NewKey],
    ) -> StorageResult<()>;
    /// Unclaimed one-time keys per algorithm.
    async fn one_time_key_counts(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StorageResult<BTreeMap<String, u64>>;
    /// What a sync reports of a device's keys, in one statement: unclaimed one-time keys per
    /// algorithm, and the algorithms with a fallback key that has not been handed out.
    async fn key_counts(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StorageResult<(BTreeMap<String, u64>, Vec<String>)>;
    /// Takes one one-time key of the algorithm (atomically: never twice), or else the fallback key.
    async fn claim(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
    ) -> StorageResult<Option<ClaimedKey>>;
    /// Removes everything of a deleted device.
    async fn delete_device(&self, user_id: &UserId, device_id: &DeviceId) -> StorageResult<i64>;
    async fn cross_signing_key(
        &self,
        user_id: &UserId,
        key_type: &str,
    ) -> StorageResult<Option<String>>;
    /// Stores cross-signing keys (by type) and records a device-list change.
    async fn set_cross_signing_keys(
        &self,
        user_id: &UserId,
        keys: &[(String, String)],
    ) -> StorageResult<i64>;
    /// Replaces a stored device key's JSON (new signatures), recording a device-list change.
    async fn update_device_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        key_json: &str,
    ) -> StorageResult<i64>;
    /// Records that a user's device list changed (another server said so); returns the
    /// stream position of the change.
    async fn record_device_list_change(&self, user_id: &UserId) -> StorageResult<i64>;
    /// Users among those given whose device lists changed in `(after, until]`.
    async fn device_list_changes(&self, after: i64, until: i64) -> StorageResult<Vec<OwnedUserId>>;
}
