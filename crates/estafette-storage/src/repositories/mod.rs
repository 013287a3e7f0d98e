//! The repository traits. Lookups return `Option`, writes take the values they need, and
//! timestamps are milliseconds since the Unix epoch supplied by the caller's clock.

mod account_data;
mod aliases;
mod backup;
mod dehydrated;
mod device_lists;
mod devices;
mod events;
mod federation_outbox;
mod filters;
mod keys;
mod media;
mod memberships;
mod openid_tokens;
mod presence;
mod profiles;
mod push;
mod receipts;
mod registration_nonces;
mod relations;
mod rooms;
mod search;
mod server_keys;
mod streams;
mod to_device;
mod tokens;
mod uia_sessions;
mod users;

pub use account_data::{AccountDataEntry, AccountDataRepository};
pub use aliases::AliasRepository;
pub use backup::{BackupKey, BackupRepository, BackupVersion};
pub use dehydrated::DehydratedDeviceRepository;
pub use device_lists::DeviceListRepository;
pub use devices::{DeviceRecord, DeviceRepository};
pub use events::{
    AppendedEvent, ClientTransaction, EventRecord, EventRepository, MembershipChange, NewEvent,
    StateChange, StateEntry, StateRepository,
};
pub use federation_outbox::{FederationOutboxRepository, OutboxItem};
pub use filters::FilterRepository;
pub use keys::{ClaimedKey, KeyRepository, NewKey};
pub use media::{MediaFileRepository, MediaRecord, MediaRepository};
pub use memberships::{MembershipRecord, MembershipRepository};
pub use openid_tokens::OpenIdTokenRepository;
pub use presence::{PresenceRecord, PresenceRepository};
pub use profiles::ProfileRepository;
pub use push::{
    NotificationCounts, PushAction, PushActionRepository, PusherRecord, PusherRepository,
};
pub use receipts::{ReceiptRecord, ReceiptRepository};
pub use registration_nonces::RegistrationNonceRepository;
pub use relations::{RelationRecord, RelationRepository, ThreadSummary};
pub use rooms::{NewRoom, RoomCreation, RoomRecord, RoomRepository};
pub use search::{SearchEntry, SearchMatch, SearchQuery, SearchRepository};
pub use server_keys::ServerKeyRepository;
pub use streams::StreamRepository;
pub use to_device::{ToDeviceDelivery, ToDeviceMessage, ToDeviceRepository};
pub use tokens::{AccessTokenRecord, NewTokens, RefreshTokenRecord, TokenRepository};
pub use uia_sessions::{UiaSessionRecord, UiaSessionRepository};
pub use users::{NewUser, UserRecord, UserRepository};
