//! Federation: the outbound queue per destination, other servers' signing keys.

mod federation_outbox;
mod server_keys;
