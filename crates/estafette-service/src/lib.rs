//! Estafette's domain logic. Services take typed values (ruma identifiers and events), decide,
//! and call the repositories; they know nothing of HTTP. Each service is a small value sharing
//! one [`Context`], so a whole homeserver is one [`Services`] value.
//!
//! The crate is cut by domain, one folder each, every folder saying what it owns and what it
//! may call: `accounts/`, `account_validity/`, `identity/`, `e2ee/`, `federation/`, `rooms/`, `sync/`, `media/`. At the bottom,
//! shared by all: [`Context`] (storage, configuration, clock, randomness, signing key,
//! notifier), `error.rs` and `limits.rs`. A domain offers the others only what its `mod.rs`
//! re-exports; the services are wired together once, in [`Services::new`], where each is given
//! the others it needs. New domains (policy, appservices, admin, oauth…) get their own folder.

mod account_validity;
mod accounts;
pub mod admin;
mod antivirus;
mod appservices;
mod calls;
pub mod cluster;
mod delayed_events;
mod due_loop;
mod e2ee;
pub mod email;
mod error;
mod federation;
mod identity;
mod limits;
mod media;
mod oauth;
pub mod policy;
mod push;
mod ratelimit;
mod rendezvous;
mod reports;
mod rooms;
mod sliding_sync;
mod sync;
mod webhooks;

use std::sync::Arc;

use estafette_core::{Clock, Config, Random};
use estafette_storage::Storage;
use ruma::OwnedServerName;

pub use account_validity::{AccountValidityService, RENEW_PATH, Renewal};
pub use accounts::{
    AccountDataService, AccountService, DeviceService, DirectoryUser, FilterService,
    LoginIdentifier, LoginOutcome, NewAccount, OpenIdService, OpenIdToken, ProfileService,
    Registration, RequestedToken, Requester, SUBMIT_TOKEN_PATH, SessionService,
    SharedSecretRegistration, SharedSecretRequest, ThreepidService, ThreepidValidationService,
    TokenGrant, UiaAction, UiaService, ValidationPurpose, shared_secret_mac_input,
};
pub use antivirus::{AntivirusService, ScanSubject, Verdict, content_hash};
pub use appservices::{
    AppserviceDelivery, AppserviceQueries, AppserviceRegistration, AppserviceRegistry,
    AppserviceService, ThirdPartyLookup, ThirdPartyNetworks,
};
pub use calls::{CallService, TurnCredentials};
pub use delayed_events::{DelayAction, DelayedDraft, DelayedEvent, DelayedEventService};
pub use e2ee::{
    BackupInfo, BackupService, BackupSessions, ClaimedKeys, DehydratedDevice,
    DehydratedDeviceService, DeviceKeyService, DeviceList, DeviceListPublisher, KeyClaimResult,
    KeyClaims, KeyQueryResult, SignatureFailure, ToDeviceService,
};
pub use error::{ServiceError, ServiceResult};
pub use estafette_storage::WebhookRecord;
pub use estafette_storage::{DeviceRecord, ThreadSubscriptionRecord};
pub use estafette_storage::{ListedUser, UserListQuery, UserOrder};
pub use federation::{
    EduService, FederationSender, FederationService, MAX_EDUS_PER_TRANSACTION,
    MAX_PDUS_PER_TRANSACTION, ServerKey, ServerKeysService,
};
pub use identity::{
    IDENTITY_KEY_ID, INVITATION_PATH, IdentityService, InvitationService, LookupAlgorithm,
    SignedInvite, StoredInvitation,
};
pub use media::{
    CLEAN_INFO, ContentScannerService, CreatedMedia, INFECTED_INFO, MediaFile, MediaRequester,
    MediaService, Preview, ScanReport, ThumbnailMethod, Upload, UrlPreviewService,
};
pub use oauth::{
    ACCOUNT_ACTIONS, ACCOUNT_PATH, AUTHORIZE_PATH, AccountSession, AuthorizationError,
    AuthorizationPage, AuthorizationRequest, DEVICE_AUTHORIZATION_PATH, DEVICE_GRANT_TYPE,
    DEVICE_PAGE_PATH, DeviceAuthorization, OAuthError, OAuthService, OAuthTokens,
    REGISTRATION_PATH, REVOCATION_PATH, RegisteredClient, SCOPE_API, ServerMetadata, SignIn,
    TOKEN_PATH, TokenRequest, UPSTREAM_CALLBACK_PATH, UPSTREAM_START_PATH, UpstreamCallback,
    normalize_user_code,
};
pub use push::PushDeliveryService;
pub use ratelimit::RateLimitService;
pub use rendezvous::{
    MAX_LEGACY_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES, Rendezvous, RendezvousService, RendezvousWrite,
};
pub use reports::ReportService;
pub use rooms::{
    Accepted, CREATABLE_ROOM_VERSIONS, CreateRoom, Direction, DirectoryQuery, EventContext,
    EventDraft, HierarchyPage, HierarchyRoom, JOINABLE_ROOM_VERSIONS, JoinedRoomState,
    MessagesPage, MutualRooms, NotifiedEvent, Pdu, Preset, PublicRoom, PublicRoomsPage,
    RelationsPage, RoomService, RoomSummary, SearchContext, SearchHit, SearchRequest,
    SearchResults, ServerHierarchy, StateMap, Viewer,
};
pub use sliding_sync::{
    E2eeSection, ExtensionScope, ExtensionsRequest, ExtensionsResponse, Hero, ListFilters,
    ListRequest, RoomConfig, RoomSection, SlidingSyncRequest, SlidingSyncResponse,
    SlidingSyncService, ThreadSubscriptionsSection, ToDeviceRequest, ToDeviceSection,
};
pub use sync::{
    DEFAULT_TIMELINE_LIMIT, EventFilter, FULLY_READ, LocalNotifier, Notifier, PresenceInfo,
    PresenceService, PushService, RECEIPT_READ, RECEIPT_READ_PRIVATE, ReceiptService, RoomFilter,
    RoomTimeline, SyncRequest, SyncResult, SyncService, TypingService, format_token, parse_token,
};
pub use webhooks::{
    IssuedWebhook, NewWebhook, PayloadError, PostRefusal, WEBHOOK_PATH, WEBHOOK_STATE_TYPE,
    WebhookPayload, WebhookService, escape_html,
};

/// An HTTP client for the services this server calls on the operator's side (push gateways,
/// application services): no redirects followed, every request bounded by `timeout`.
pub(crate) fn plain_http_client(timeout: std::time::Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// A poisoned lock only means another task panicked while holding it; what it guards (a cache,
/// a map of waiters) stays usable.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What every service needs: storage, configuration, and the injected clock and randomness.
pub struct Context {
    pub storage: Storage,
    pub config: Arc<Config>,
    pub server_name: OwnedServerName,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    pub server_key: Arc<ServerKey>,
    pub notifier: Arc<dyn Notifier>,
    /// The application services this server was started with.
    pub appservices: Arc<AppserviceRegistry>,
    /// Wakes this process's application service delivery when an event is stored.
    pub appservice_wake: Arc<tokio::sync::Notify>,
}

impl Context {
    pub fn now(&self) -> u64 {
        self.clock.now_millis()
    }

    /// Wakes everyone who shares a room with `user_id`, the user included.
    pub(crate) async fn notify_room_mates(
        &self,
        user_id: &ruma::UserId,
        position: i64,
    ) -> ServiceResult<()> {
        let watchers = self
            .storage
            .memberships
            .users_sharing_rooms_with(user_id)
            .await?;
        self.notifier.notify(&watchers, position);
        Ok(())
    }
}

/// All services of one homeserver.
#[derive(Clone)]
pub struct Services {
    pub context: Arc<Context>,
    pub accounts: AccountService,
    pub sessions: SessionService,
    pub uia: UiaService,
    pub devices: DeviceService,
    pub profiles: ProfileService,
    pub account_data: AccountDataService,
    pub filters: FilterService,
    pub rooms: RoomService,
    pub sync: SyncService,
    pub sliding_sync: SlidingSyncService,
    pub oauth: OAuthService,
    pub reports: ReportService,
    pub rendezvous: RendezvousService,
    pub delayed_events: DelayedEventService,
    pub push_delivery: PushDeliveryService,
    pub appservices: AppserviceService,
    pub appservice_delivery: AppserviceDelivery,
    pub thirdparty: ThirdPartyNetworks,
    pub webhooks: WebhookService,
    pub admin: admin::AdminService,
    pub typing: TypingService,
    pub receipts: ReceiptService,
    pub push: PushService,
    pub presence: PresenceService,
    pub to_device: ToDeviceService,
    pub device_keys: DeviceKeyService,
    pub backup: BackupService,
    pub dehydrated_devices: DehydratedDeviceService,
    pub server_keys: ServerKeysService,
    pub federation: FederationService,
    pub federation_sender: FederationSender,
    pub edus: EduService,
    pub media: MediaService,
    pub antivirus: AntivirusService,
    pub content_scanner: ContentScannerService,
    pub url_previews: UrlPreviewService,
    pub policy: policy::PolicyService,
    pub email: email::EmailService,
    pub threepid_validation: ThreepidValidationService,
    pub threepids: ThreepidService,
    pub account_validity: AccountValidityService,
    pub identity: IdentityService,
    pub invitations: InvitationService,
    pub shared_secret: SharedSecretRegistration,
    pub openid: OpenIdService,
    pub rate_limits: RateLimitService,
    pub calls: CallService,
}

impl Services {
    pub fn new(context: Context) -> ServiceResult<Self> {
        let context = Arc::new(context);
        let federation = FederationService::new(context.clone())?;
        let federation_sender = FederationSender::new(context.clone(), federation.clone());
        let device_lists = DeviceListPublisher::new(context.clone(), federation_sender.clone());
        let sessions = SessionService::new(context.clone(), device_lists.clone());
        let policy = policy::PolicyService::new(context.clone(), federation.clone())?;
        let email = email::EmailService::new(&context)?;
        let threepid_validation =
            ThreepidValidationService::new(context.clone(), email.clone(), policy.clone());
        let uia = UiaService::new(
            context.clone(),
            sessions.clone(),
            threepid_validation.clone(),
        );
        let rooms = RoomService::new(
            context.clone(),
            federation.clone(),
            federation_sender.clone(),
        );
        let typing = TypingService::new(context.clone(), federation_sender.clone());
        let to_device = ToDeviceService::new(context.clone(), federation_sender.clone());
        let push_delivery = PushDeliveryService::new(context.clone(), rooms.clone(), email.clone());
        let receipts = ReceiptService::new(
            context.clone(),
            federation_sender.clone(),
            push_delivery.clone(),
        );
        let presence = PresenceService::new(context.clone(), federation_sender.clone());
        let edus = EduService::new(
            context.clone(),
            typing.clone(),
            receipts.clone(),
            presence.clone(),
            to_device.clone(),
        );
        let device_keys =
            DeviceKeyService::new(context.clone(), federation.clone(), device_lists.clone());
        let accounts = AccountService::new(
            context.clone(),
            sessions.clone(),
            uia.clone(),
            threepid_validation.clone(),
        );
        let account_validity =
            AccountValidityService::new(context.clone(), email.clone(), accounts.clone())?;
        let antivirus = AntivirusService::new(context.clone())?;
        let media = MediaService::new(context.clone(), federation.clone(), antivirus.clone());
        let openid = OpenIdService::new(context.clone());
        let identity = IdentityService::new(context.clone(), openid.clone());
        let sync = SyncService::new(
            context.clone(),
            rooms.clone(),
            typing.clone(),
            receipts.clone(),
            presence.clone(),
            device_keys.clone(),
        );
        Ok(Self {
            calls: CallService::new(context.clone()),
            invitations: InvitationService::new(
                context.clone(),
                rooms.clone(),
                email.clone(),
                identity.clone(),
                policy.clone(),
                federation.clone(),
            ),
            identity,
            openid,
            rate_limits: RateLimitService::new(context.clone()),
            shared_secret: SharedSecretRegistration::new(
                context.clone(),
                accounts.clone(),
                sessions.clone(),
            ),
            oauth: OAuthService::new(context.clone(), sessions.clone(), accounts.clone()),
            reports: ReportService::new(context.clone(), rooms.clone()),
            rendezvous: RendezvousService::new(context.clone()),
            delayed_events: DelayedEventService::new(context.clone(), rooms.clone()),
            push_delivery,
            appservices: AppserviceService::new(
                context.clone(),
                accounts.clone(),
                sessions.clone(),
            ),
            thirdparty: ThirdPartyNetworks::new(context.clone()),
            webhooks: WebhookService::new(context.clone(), accounts.clone(), rooms.clone()),
            admin: admin::AdminService::new(context.clone(), rooms.clone(), accounts.clone()),
            appservice_delivery: AppserviceDelivery::new(
                context.clone(),
                rooms.clone(),
                typing.clone(),
            ),
            accounts,
            devices: DeviceService::new(context.clone(), uia.clone(), device_lists),
            profiles: ProfileService::new(context.clone(), federation.clone(), rooms.clone()),
            account_data: AccountDataService::new(context.clone()),
            filters: FilterService::new(context.clone()),
            sync: sync.clone(),
            sliding_sync: SlidingSyncService::new(
                context.clone(),
                rooms.clone(),
                sync,
                typing.clone(),
                receipts.clone(),
                presence.clone(),
                device_keys.clone(),
            ),
            typing,
            receipts,
            push: PushService::new(context.clone()),
            presence,
            to_device,
            edus,
            content_scanner: ContentScannerService::new(&context, media.clone(), antivirus.clone()),
            url_previews: UrlPreviewService::new(context.clone(), media.clone())?,
            threepids: ThreepidService::new(
                context.clone(),
                sessions.clone(),
                uia.clone(),
                threepid_validation.clone(),
            ),
            threepid_validation,
            account_validity,
            policy,
            email,
            media,
            antivirus,
            dehydrated_devices: DehydratedDeviceService::new(context.clone(), device_keys.clone()),
            device_keys,
            backup: BackupService::new(context.clone()),
            server_keys: ServerKeysService::new(context.clone(), federation.clone()),
            rooms,
            sessions,
            uia,
            context,
            federation,
            federation_sender,
        })
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use estafette_core::{Config, ManualClock, SeededRandom};

    use super::*;

    /// A homeserver's services on a fresh database, a manual clock and a seeded generator.
    pub(crate) async fn services() -> (tempfile::TempDir, Services, Arc<ManualClock>) {
        services_configured(|_| {}).await
    }

    /// [`services`], with the configuration changed by `configure`.
    pub(crate) async fn services_configured(
        configure: impl FnOnce(&mut Config),
    ) -> (tempfile::TempDir, Services, Arc<ManualClock>) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let storage = estafette_storage::sql::testing::open_test_storage(dir.path())
            .await
            .expect("database");
        let mut config = Config::default();
        config.server_name = "example.org".into();
        config.registration.open = true;
        configure(&mut config);
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let random = Arc::new(SeededRandom::new(1));
        let server_key =
            ServerKey::load_or_generate(&dir.path().join("signing.key"), &*random).expect("key");
        let context = Context {
            storage,
            server_name: config.parsed_server_name().expect("server name"),
            config: Arc::new(config),
            clock: clock.clone(),
            random,
            server_key: Arc::new(server_key),
            notifier: Arc::new(LocalNotifier::default()),
            appservices: Arc::default(),
            appservice_wake: Arc::default(),
        };
        (dir, Services::new(context).expect("services"), clock)
    }
}
