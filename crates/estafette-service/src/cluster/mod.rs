//! Cluster: the processes of one server sharing a PostgreSQL database keep each other current.
//! What one process changes in the database, the others read there; what lives in a process's
//! memory — waiting `/sync` requests, typing, the event cache, which process delivers to which
//! server — is relayed as [`ClusterMessage`]s over the storage's [`ClusterFeed`]
//! (LISTEN/NOTIFY). Owns: the messages, [`ClusterNotifier`] and the receiving loop. May call:
//! the typing, rooms and federation-sender services, to apply what another process did.

mod notifier;
mod receiver;

pub use notifier::ClusterNotifier;
pub use receiver::join;

use ruma::{OwnedEventId, OwnedRoomId, OwnedServerName, OwnedUserId};
use serde::{Deserialize, Serialize};

/// What one process tells the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClusterMessage {
    /// The stream reached `position` with something for these users.
    Wake {
        users: Vec<OwnedUserId>,
        position: i64,
    },
    /// A member started or stopped typing (typing lives in memory only).
    Typing {
        room_id: OwnedRoomId,
        user_id: OwnedUserId,
        typing: bool,
        timeout_ms: u64,
        position: i64,
    },
    /// An event changed (a redaction pruned it): drop it from caches.
    Evict { event_id: OwnedEventId },
    /// Something was queued for `destination`: the process delivering to it sends it now.
    Deliver { destination: OwnedServerName },
}
