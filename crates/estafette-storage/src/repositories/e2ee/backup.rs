use async_trait::async_trait;
use ruma::UserId;

use crate::StorageResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupVersion {
    pub version: i64,
    pub algorithm: String,
    pub auth_data_json: String,
    pub etag: i64,
    pub count: u64,
}

/// One backed-up session and what decides which copy is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupKey {
    pub room_id: String,
    pub session_id: String,
    pub first_message_index: u64,
    pub forwarded_count: u64,
    pub is_verified: bool,
    pub session_data_json: String,
}

#[async_trait]
pub trait BackupRepository: Send + Sync {
    async fn create_version(
        &self,
        user_id: &UserId,
        algorithm: &str,
        auth_data_json: &str,
    ) -> StorageResult<i64>;
    /// A version that was not deleted; the latest when `version` is `None`.
    async fn version(
        &self,
        user_id: &UserId,
        version: Option<i64>,
    ) -> StorageResult<Option<BackupVersion>>;
    async fn update_version(
        &self,
        user_id: &UserId,
        version: i64,
        auth_data_json: &str,
    ) -> StorageResult<()>;
    /// Deletes the version and its keys; `false` if it did not exist.
    async fn delete_version(&self, user_id: &UserId, version: i64) -> StorageResult<bool>;
    async fn session(
        &self,
        user_id: &UserId,
        version: i64,
        room_id: &str,
        session_id: &str,
    ) -> StorageResult<Option<BackupKey>>;
    /// Stores the sessions (the caller decided they win) and bumps the version's etag.
    async fn put_sessions(
        &self,
        user_id: &UserId,
        version: i64,
        keys: &[BackupKey],
    ) -> StorageResult<()>;
    /// Sessions of the version, optionally of one room and session.
    async fn sessions(
        &self,
        user_id: &UserId,
        version: i64,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> StorageResult<Vec<BackupKey>>;
    async fn delete_sessions(
        &self,
        user_id: &UserId,
        version: i64,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> StorageResult<()>;
}
