//! The repository traits. Lookups return `Option`, writes take the values they need, and
//! timestamps are milliseconds since the Unix epoch supplied by the caller's clock.

mod account_validity;
mod accounts;
mod admin;
mod antivirus;
mod appservices;
mod cluster;
mod delayed_events;
mod e2ee;
mod federation;
mod identity;
mod media;
mod oauth;
mod push;
mod ratelimit;
mod rendezvous;
mod reports;
mod rooms;
mod sliding_sync;
mod sync;
mod threads;
mod webhooks;

pub use account_validity::*;
pub use accounts::*;
pub use admin::*;
pub use antivirus::*;
pub use appservices::*;
pub use cluster::*;
pub use delayed_events::*;
pub use e2ee::*;
pub use federation::*;
pub use identity::*;
pub use media::*;
pub use oauth::*;
pub use push::*;
pub use ratelimit::*;
pub use rendezvous::*;
pub use reports::*;
pub use rooms::*;
pub use sliding_sync::*;
pub use sync::*;
pub use threads::*;
pub use webhooks::*;
