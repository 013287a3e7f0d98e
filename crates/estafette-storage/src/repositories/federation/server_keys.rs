use async_trait::async_trait;
use ruma::ServerName;

use crate::StorageResult;

#[async_trait]
pub trait ServerKeyRepository: Send + Sync {
    /// A server's verify key (unpadded base64) if known and valid at `now`.
    async fn get(
        &self,
        server_name: &ServerName,
        key_id: &str,
        now: u64,
    ) -> StorageResult<Option<String>>;
    /// Stores a server's keys: (key ID, base64 key), valid until `valid_until_ts`, and the
    /// signed document they came in.
    async fn put(
        &self,
        server_name: &ServerName,
        keys: &[(String, String)],
        valid_until_ts: u64,
        document: &str,
    ) -> StorageResult<()>;
    /// A server's last key document and until when it is valid.
    async fn document(&self, server_name: &ServerName) -> StorageResult<Option<(String, u64)>>;
    /// This server's own signing key, shared by all its processes, if one is stored.
    async fn own_key(&self) -> StorageResult<Option<String>>;
    /// Stores `candidate` as this server's signing key unless one is stored already, and
    /// returns the stored one: processes starting together agree on one key.
    async fn offer_own_key(&self, candidate: &str) -> StorageResult<String>;
}
