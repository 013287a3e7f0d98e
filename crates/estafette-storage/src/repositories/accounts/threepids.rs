use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use crate::StorageResult;

/// A third-party identifier (an email address) bound to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threepid {
    /// `email`.
    pub medium: String,
    /// Lowercase, as validated.
    pub address: String,
    pub validated_ts: u64,
    pub added_ts: u64,
}

/// Which account each third-party identifier belongs to: one account per address.
#[async_trait]
pub trait ThreepidRepository: Send + Sync {
    /// Binds the address to `user_id`; `false` when another account holds it.
    async fn bind(&self, user_id: &UserId, threepid: &Threepid) -> StorageResult<bool>;
    /// The account the address is bound to.
    async fn owner(&self, medium: &str, address: &str) -> StorageResult<Option<OwnedUserId>>;
    async fn of_user(&self, user_id: &UserId) -> StorageResult<Vec<Threepid>>;
    /// Unbinds the address from `user_id`; whether it was bound to them.
    async fn unbind(&self, user_id: &UserId, medium: &str, address: &str) -> StorageResult<bool>;
    /// Bound addresses whose lookup hash is not computed yet: `(medium, address)`.
    async fn without_lookup_hash(&self, limit: u64) -> StorageResult<Vec<(String, String)>>;
    async fn set_lookup_hash(&self, medium: &str, address: &str, hash: &str) -> StorageResult<()>;
    /// The accounts of the addresses with these lookup hashes: `(hash, owner)`.
    async fn owners_by_lookup_hash(
        &self,
        hashes: &[String],
    ) -> StorageResult<Vec<(String, OwnedUserId)>>;
}
