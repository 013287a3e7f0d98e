//! Sync: the stream positions, receipts, push actions and pushers, presence.

mod presence;
pub(super) mod push;
mod receipts;
#[cfg(test)]
mod stream_interleavings;
mod streams;
