//! Estafette's domain logic. Services take typed values (ruma identifiers and events), decide,
//! and call the repositories; they know nothing of HTTP. Each service is a small value sharing
//! one [`Context`], so a whole homeserver is one [`Services`] value.

mod account_data;
mod accounts;
mod backup;
mod cross_signing;
mod dehydrated;
mod device_keys;
mod device_lists;
mod devices;
mod dns;
mod edus;
mod error;
mod event_filter;
mod federation;
mod federation_edus;
mod federation_keys;
mod federation_sender;
mod filters;
mod keys;
mod limits;
mod media;
mod notifier;
mod passwords;
mod pdu;
mod presence;
mod profiles;
mod push;
mod receipts;
mod remote_keys;
pub use remote_keys::DeviceList;
mod openid;
mod rooms;
mod server_keys;
mod sessions;
mod shared_secret;
pub use openid::{OpenIdService, OpenIdToken};
pub mod state_resolution;
mod sync;
mod to_device;
mod tokens;
mod typing;
mod uia;

use std::sync::Arc;

use estafette_core::{Clock, Config, Random};
use estafette_storage::Storage;
use ruma::OwnedServerName;

pub use account_data::AccountDataService;
pub use accounts::{AccountService, NewAccount, Registration};
pub use backup::{BackupInfo, BackupService, BackupSessions};
pub use cross_signing::SignatureFailure;
pub use dehydrated::{DehydratedDevice, DehydratedDeviceService};
pub use device_keys::{ClaimedKeys, DeviceKeyService, KeyClaimResult, KeyClaims, KeyQueryResult};
pub use devices::DeviceService;
pub use edus::EduService;
pub use error::{ServiceError, ServiceResult};
pub use estafette_storage::DeviceRecord;
pub use event_filter::{EventFilter, RoomFilter};
pub use federation::FederationService;
pub use federation_sender::{FederationSender, MAX_EDUS_PER_TRANSACTION, MAX_PDUS_PER_TRANSACTION};
pub use filters::FilterService;
pub use keys::ServerKey;
pub use limits::{MAX_FILTER_BYTES, MAX_PATTERN_BYTES, MAX_SEARCH_TERM_BYTES};
pub use media::{MediaFile, MediaService, ThumbnailMethod};
pub use notifier::{LocalNotifier, Notifier};
pub use pdu::{EventDraft, Pdu};
pub use presence::{PresenceInfo, PresenceService};
pub use profiles::{DirectoryUser, ProfileService};
pub use push::PushService;
pub use receipts::{FULLY_READ, RECEIPT_READ, RECEIPT_READ_PRIVATE, ReceiptService};
pub use rooms::{
    Accepted, CREATABLE_ROOM_VERSIONS, CreateRoom, Direction, DirectoryQuery, EventContext,
    HierarchyPage, HierarchyRoom, JOINABLE_ROOM_VERSIONS, JoinedRoomState, MessagesPage,
    MutualRooms, Preset, PublicRoom, PublicRoomsPage, RelationsPage, RoomService, SEARCH_KEYS,
    SearchContext, SearchHit, SearchRequest, SearchResults, StateMap,
};
pub use server_keys::ServerKeysService;
pub use sessions::{LoginOutcome, Requester, SessionService, TokenGrant};
pub use shared_secret::{
    SharedSecretRegistration, SharedSecretRequest, mac_input as shared_secret_mac_input,
};
pub use sync::{
    DEFAULT_TIMELINE_LIMIT, RoomTimeline, SyncRequest, SyncResult, SyncService, format_token,
    parse_token,
};
pub use to_device::ToDeviceService;
pub use typing::TypingService;
pub use uia::{UiaAction, UiaService};

/// What every service needs: storage, configuration, and the injected clock and randomness.
pub struct Context {
    pub storage: Storage,
    pub config: Arc<Config>,
    pub server_name: OwnedServerName,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    pub server_key: Arc<ServerKey>,
    pub notifier: Arc<dyn Notifier>,
    /// Set once the services exist, so device-list changes made anywhere reach other servers.
    pub federation_sender: std::sync::OnceLock<FederationSender>,
}

impl Context {
    pub fn now(&self) -> u64 {
        self.clock.now_millis()
    }

    /// A local user's devices or cross-signing keys changed at `position`: their room mates'
    /// syncs wake, and the other servers sharing a room with them are told.
    pub(crate) async fn device_list_changed(
        &self,
        user_id: &ruma::UserId,
        position: i64,
        change: DeviceListChange<'_>,
    ) -> ServiceResult<()> {
        self.notify_room_mates(user_id, position).await?;
        let Some(sender) = self.federation_sender.get() else {
            return Ok(());
        };
        match change {
            DeviceListChange::Device { device_id, deleted } => {
                sender
                    .device_list_update(user_id, device_id, deleted, position)
                    .await
            }
            DeviceListChange::CrossSigning(keys) => sender.signing_key_update(user_id, keys).await,
        }
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
/// What changed in a user's device list.
pub(crate) enum DeviceListChange<'a> {
    Device {
        device_id: &'a ruma::DeviceId,
        deleted: bool,
    },
    /// The `(kind, key JSON)` of the cross-signing keys that changed.
    CrossSigning(&'a [(String, String)]),
}

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
    pub shared_secret: SharedSecretRegistration,
    pub openid: OpenIdService,
}

impl Services {
    pub fn new(context: Context) -> ServiceResult<Self> {
        let context = Arc::new(context);
        let federation = FederationService::new(context.clone())?;
        let sessions = SessionService::new(context.clone());
        let uia = UiaService::new(context.clone(), sessions.clone());
        let federation_sender = FederationSender::new(context.clone(), federation.clone());
        let _ = context.federation_sender.set(federation_sender.clone());
        let rooms = RoomService::new(
            context.clone(),
            federation.clone(),
            federation_sender.clone(),
        );
        let typing = TypingService::new(context.clone(), federation_sender.clone());
        let to_device = ToDeviceService::new(context.clone(), federation_sender.clone());
        let receipts = ReceiptService::new(context.clone(), federation_sender.clone());
        let presence = PresenceService::new(context.clone());
        let edus = EduService::new(
            context.clone(),
            typing.clone(),
            receipts.clone(),
            presence.clone(),
            to_device.clone(),
        );
        let device_keys = DeviceKeyService::new(context.clone(), federation.clone());
        let accounts = AccountService::new(context.clone(), sessions.clone(), uia.clone());
        Ok(Self {
            openid: OpenIdService::new(context.clone()),
            shared_secret: SharedSecretRegistration::new(
                context.clone(),
                accounts.clone(),
                sessions.clone(),
            ),
            accounts,
            devices: DeviceService::new(context.clone(), uia.clone()),
            profiles: ProfileService::new(context.clone(), federation.clone(), rooms.clone()),
            account_data: AccountDataService::new(context.clone()),
            filters: FilterService::new(context.clone()),
            sync: SyncService::new(
                context.clone(),
                rooms.clone(),
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
            media: MediaService::new(context.clone(), federation.clone()),
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
        let dir = tempfile::tempdir().expect("temporary directory");
        let storage = estafette_storage::sqlite::open(&dir.path().join("test.db"), 4)
            .await
            .expect("database");
        let mut config = Config::default();
        config.server_name = "example.org".into();
        config.registration.open = true;
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
            federation_sender: Default::default(),
        };
        (dir, Services::new(context).expect("services"), clock)
    }
}
