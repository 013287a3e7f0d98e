//! Talking to other servers: discovery (well-known, SRV), signed requests out and their
//! verification in, this server's signing key and published keys, other servers' keys (and
//! the notary), the outbound queue and the EDUs it carries, and the EDUs received. The room
//! side of federation (PDUs, joins, backfill) lives in the rooms domain, which calls this one.

mod client;
mod dns;
mod inbound_edus;
mod outbound_edus;
mod peer_keys;
mod sender;
mod server_keys;
mod signing_key;

pub use client::FederationService;
pub use inbound_edus::EduService;
pub use sender::{FederationSender, MAX_EDUS_PER_TRANSACTION, MAX_PDUS_PER_TRANSACTION};
pub use server_keys::ServerKeysService;
pub use signing_key::ServerKey;

// For the rooms and e2ee domains, which read keys in the same lenient base64.
pub(crate) use signing_key::lenient_base64;
