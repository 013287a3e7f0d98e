//! Storage for Estafette: one repository trait per data type, and the backends that implement
//! them. Services hold a [`Storage`] and never see SQL; a backend is chosen once at start-up.

pub mod files;
pub mod repositories;
pub mod sql;

use std::sync::Arc;

pub use repositories::*;
pub use sql::{DatabaseTarget, Dialect, open};

/// What can go wrong below the repository traits.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// Text the database cannot hold: PostgreSQL refuses NUL characters, which SQLite keeps.
    /// The request carried it, so it is the request's fault, on either backend alike.
    #[error("text contains a character that cannot be stored (NUL)")]
    Unrepresentable,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database URL: {0}")]
    InvalidUrl(String),
    /// Another writer changed what this write was based on (or PostgreSQL found the two in a
    /// deadlock); nothing was written, and doing it again on fresh reads may succeed.
    #[error("concurrent change: {0}")]
    Conflict(String),
    #[error("database migration {version} failed: {reason}")]
    Migration { version: i64, reason: String },
}

pub type StorageResult<T> = Result<T, StorageError>;

impl From<sqlx::Error> for StorageError {
    fn from(err: sqlx::Error) -> Self {
        // 22021: character_not_in_repertoire (a NUL byte in a text value).
        let code = err.as_database_error().and_then(|db| db.code());
        // 40001: serialization_failure, 40P01: deadlock_detected.
        if code.as_deref() == Some("22021") {
            Self::Unrepresentable
        } else if matches!(code.as_deref(), Some("40001" | "40P01")) {
            Self::Conflict(err.to_string())
        } else {
            Self::Database(err)
        }
    }
}

/// Every repository of one backend, shared by the services.
#[derive(Clone)]
pub struct Storage {
    pub users: Arc<dyn UserRepository>,
    pub devices: Arc<dyn DeviceRepository>,
    pub device_lists: Arc<dyn DeviceListRepository>,
    pub tokens: Arc<dyn TokenRepository>,
    pub login_tokens: Arc<dyn LoginTokenRepository>,
    pub profiles: Arc<dyn ProfileRepository>,
    pub account_data: Arc<dyn AccountDataRepository>,
    pub filters: Arc<dyn FilterRepository>,
    pub federation_outbox: Arc<dyn FederationOutboxRepository>,
    pub uia_sessions: Arc<dyn UiaSessionRepository>,
    pub registration_nonces: Arc<dyn RegistrationNonceRepository>,
    pub openid_tokens: Arc<dyn OpenIdTokenRepository>,
    pub threepids: Arc<dyn ThreepidRepository>,
    pub threepid_validations: Arc<dyn ThreepidValidationRepository>,
    pub account_validity: Arc<dyn AccountValidityRepository>,
    pub renewal_tokens: Arc<dyn RenewalTokenRepository>,
    pub identity_tokens: Arc<dyn IdentityTokenRepository>,
    pub email_invitations: Arc<dyn EmailInvitationRepository>,
    pub rooms: Arc<dyn RoomRepository>,
    pub events: Arc<dyn EventRepository>,
    pub state: Arc<dyn StateRepository>,
    pub memberships: Arc<dyn MembershipRepository>,
    pub receipts: Arc<dyn ReceiptRepository>,
    pub push_actions: Arc<dyn PushActionRepository>,
    pub pushers: Arc<dyn PusherRepository>,
    pub presence: Arc<dyn PresenceRepository>,
    pub to_device: Arc<dyn ToDeviceRepository>,
    pub keys: Arc<dyn KeyRepository>,
    pub media: Arc<dyn MediaRepository>,
    pub media_files: Arc<dyn MediaFileRepository>,
    pub antivirus_verdicts: Arc<dyn VerdictRepository>,
    pub antivirus_detections: Arc<dyn DetectionRepository>,
    pub backup: Arc<dyn BackupRepository>,
    pub dehydrated_devices: Arc<dyn DehydratedDeviceRepository>,
    pub server_keys: Arc<dyn ServerKeyRepository>,
    pub aliases: Arc<dyn AliasRepository>,
    pub relations: Arc<dyn RelationRepository>,
    pub search: Arc<dyn SearchRepository>,
    pub streams: Arc<dyn StreamRepository>,
    pub cluster: Arc<dyn ClusterFeed>,
    pub rate_limits: Arc<dyn RateLimitRepository>,
    pub sliding_sync: Arc<dyn SlidingSyncConnectionRepository>,
    pub room_activity: Arc<dyn RoomActivityRepository>,
    pub oauth_clients: Arc<dyn OAuthClientRepository>,
    pub oauth_grants: Arc<dyn OAuthGrantRepository>,
    pub oauth_upstream: Arc<dyn OAuthUpstreamRepository>,
    pub oauth_device_grants: Arc<dyn OAuthDeviceGrantRepository>,
    pub oauth_account: Arc<dyn OAuthAccountRepository>,
    pub reports: Arc<dyn ReportRepository>,
    pub rendezvous: Arc<dyn RendezvousRepository>,
    pub delayed_events: Arc<dyn DelayedEventRepository>,
    pub thread_subscriptions: Arc<dyn ThreadSubscriptionRepository>,
    pub push_delivery: Arc<dyn PushDeliveryRepository>,
    pub appservices: Arc<dyn AppserviceRepository>,
    pub webhooks: Arc<dyn WebhookRepository>,
    pub admin: Arc<dyn AdminRepository>,
}
