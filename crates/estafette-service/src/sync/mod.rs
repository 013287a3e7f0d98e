//! What clients are told as it happens: `/sync` responses, the notifier that wakes waiting
//! requests, event filters, typing, receipts, presence, and push rules with the counts they
//! produce. Reads the rooms, accounts and e2ee domains; writes only its own data.

mod event_filter;
mod notifier;
mod presence;
mod push;
mod receipts;
mod responses;
mod typing;

pub use event_filter::{EventFilter, RoomFilter};
pub use notifier::{LocalNotifier, Notifier};
pub use presence::{PresenceInfo, PresenceService};
pub use push::PushService;
pub use receipts::{FULLY_READ, RECEIPT_READ, RECEIPT_READ_PRIVATE, ReceiptService};
pub(crate) use responses::Window;
pub use responses::{
    DEFAULT_TIMELINE_LIMIT, RoomTimeline, SyncRequest, SyncResult, SyncService, format_token,
    parse_token,
};
pub use typing::TypingService;

// For the rooms domain, which counts notifications with the users' rules.
pub(crate) use push::{parse_ruleset, rules_content};
