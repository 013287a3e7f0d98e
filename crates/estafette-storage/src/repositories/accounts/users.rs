use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use crate::StorageResult;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user_id: OwnedUserId,
    /// An Argon2id PHC string; `None` for accounts that cannot log in with a password.
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub deactivated: bool,
    pub created_ts: u64,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub user_id: OwnedUserId,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub created_ts: u64,
}

#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Creates the user; `false` when the ID is already taken (also by a deactivated user).
    async fn create(&self, user: &NewUser) -> StorageResult<bool>;
    async fn get(&self, user_id: &UserId) -> StorageResult<Option<UserRecord>>;
    async fn set_password_hash(&self, user_id: &UserId, hash: Option<&str>) -> StorageResult<()>;
    /// Marks the account deactivated and removes its password.
    async fn deactivate(&self, user_id: &UserId) -> StorageResult<()>;
    /// Brings a deactivated account back with a new password; `false` when it was not
    /// deactivated (so two reactivations at once make one).
    async fn reactivate(
        &self,
        user_id: &UserId,
        password_hash: Option<&str>,
    ) -> StorageResult<bool>;
    async fn set_admin(&self, user_id: &UserId, is_admin: bool) -> StorageResult<()>;
}
