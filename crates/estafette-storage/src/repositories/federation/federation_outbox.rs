use async_trait::async_trait;
use ruma::{OwnedServerName, ServerName};

use crate::StorageResult;

/// A PDU or EDU waiting to be delivered to one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    /// `pdu` or `edu`.
    pub kind: String,
    pub payload: String,
}

/// The persistent outbound federation queue, one ordered queue per destination, with the
/// backoff of destinations that failed.
#[async_trait]
pub trait FederationOutboxRepository: Send + Sync {
    async fn enqueue(
        &self,
        destinations: &[OwnedServerName],
        kind: &str,
        payload: &str,
    ) -> StorageResult<()>;
    /// The oldest items for a destination: at most `max_pdus` PDUs and `max_edus` EDUs.
    async fn pending(
        &self,
        destination: &ServerName,
        max_pdus: u32,
        max_edus: u32,
    ) -> StorageResult<Vec<OutboxItem>>;
    /// Deletes delivered items.
    async fn delivered(&self, destination: &ServerName, ids: &[i64]) -> StorageResult<()>;
    /// Destinations with anything queued.
    async fn destinations(&self) -> StorageResult<Vec<OwnedServerName>>;
    /// Records a failure; returns how many in a row, this one included.
    async fn record_failure(&self, destination: &ServerName, retry_at: u64) -> StorageResult<u32>;
    async fn record_success(&self, destination: &ServerName) -> StorageResult<()>;
    /// When a failed destination may be tried again.
    async fn retry_at(&self, destination: &ServerName) -> StorageResult<Option<u64>>;
    /// Takes or renews the right to deliver to `destination` until `until`: granted when
    /// nobody holds it, `owner` already does, or the holder let it expire (`now` is past it).
    /// One process of the server delivers to a destination at a time, in order.
    async fn acquire_lease(
        &self,
        destination: &ServerName,
        owner: &str,
        now: u64,
        until: u64,
    ) -> StorageResult<bool>;
    /// Gives the right up, if `owner` holds it.
    async fn release_lease(&self, destination: &ServerName, owner: &str) -> StorageResult<()>;
}
