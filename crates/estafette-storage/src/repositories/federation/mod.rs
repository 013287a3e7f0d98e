//! Federation: the outbound queue per destination, other servers' signing keys.

mod federation_outbox;
mod server_keys;

pub use federation_outbox::{FederationOutboxRepository, OutboxItem};
pub use server_keys::ServerKeyRepository;
