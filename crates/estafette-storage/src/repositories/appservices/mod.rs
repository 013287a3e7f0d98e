//! Application services' delivery state (BRIDGES.md §2.3): where each service stands in the
//! event stream, its transactions written before they are sent (a retry resends the same
//! ID with the same body), and whether it is down.

use async_trait::async_trait;

use crate::StorageResult;

/// Where a service stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppserviceState {
    /// The stream position up to which events were put into transactions.
    pub stream_position: i64,
    /// The last transaction ID used; IDs only rise.
    pub last_txn_id: i64,
    /// Failing since; `None` while the service is up.
    pub down_since: Option<u64>,
    pub backoff_ms: u64,
    /// Not retried before.
    pub retry_ts: u64,
}

/// A transaction stored before it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTransaction {
    pub txn_id: i64,
    pub body: String,
}

#[async_trait]
pub trait AppserviceRepository: Send + Sync {
    /// The service's state; a service seen for the first time starts at `start`.
    async fn state(&self, appservice_id: &str, start: i64) -> StorageResult<AppserviceState>;
    /// Claims the service for delivery; `false` when another process has it.
    async fn claim(&self, appservice_id: &str, now: u64, stale_before: u64) -> StorageResult<bool>;
    /// The oldest transaction not yet acknowledged.
    async fn oldest_transaction(
        &self,
        appservice_id: &str,
    ) -> StorageResult<Option<StoredTransaction>>;
    /// Stores a transaction holding what lies up to `position`, under the next ID, and moves
    /// the service's position there; returns the ID.
    async fn store_transaction(
        &self,
        appservice_id: &str,
        position: i64,
        body: &str,
    ) -> StorageResult<i64>;
    /// Nothing for the service up to `position`.
    async fn advance(&self, appservice_id: &str, position: i64) -> StorageResult<()>;
    /// The service took the transaction: it is deleted, the service is up.
    async fn sent(&self, appservice_id: &str, txn_id: i64) -> StorageResult<()>;
    /// The service did not take it: down since `down_since`, retried at `retry_ts`.
    async fn failed(
        &self,
        appservice_id: &str,
        down_since: u64,
        backoff_ms: u64,
        retry_ts: u64,
    ) -> StorageResult<()>;
    /// Retried at once (the service answered a ping), its claim released.
    async fn retry_now(&self, appservice_id: &str) -> StorageResult<()>;
    /// Releases the claim without changing anything else.
    async fn release(&self, appservice_id: &str) -> StorageResult<()>;
    /// Releases every claim: a process alone on its database, starting, knows that none is
    /// held.
    async fn release_all(&self) -> StorageResult<()>;
}
