use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::StorageResult;

/// A channel to every other process of the server: PostgreSQL's LISTEN/NOTIFY. On SQLite a
/// server is one process and nothing is ever sent.
#[async_trait]
pub trait ClusterFeed: Send + Sync {
    /// Delivers `message` to every listening process (the sender's own listener included), once
    /// the current transaction-free write has committed. At most 7,900 bytes.
    async fn publish(&self, message: &str) -> StorageResult<()>;
    /// The messages published from now on, or `None` when the backend runs one process only.
    /// A lost connection is re-established; what was published meanwhile is lost, which the
    /// receiver learns from an empty message.
    async fn listen(&self) -> StorageResult<Option<mpsc::Receiver<String>>>;
}

/// The largest message [`ClusterFeed::publish`] takes (PostgreSQL's limit is 8,000 bytes).
pub const MAX_CLUSTER_MESSAGE: usize = 7_900;
