//! Cluster: what the processes of one server sharing a database tell each other.

mod feed;

pub use feed::{ClusterFeed, MAX_CLUSTER_MESSAGE};
