//! Simplified sliding sync (MSC4186, in the shape matrix-rust-sdk sends): room lists sorted by
//! recent activity, room subscriptions and extensions, over connections that remember what
//! each has been sent, so that a response carries only what the client lacks.
//!
//! Per request the work follows what changed: a connection keeps (in this process, backed by
//! the database for the others) the user's rooms with their bump stamps, updated from the
//! stream's news, and what it sent of each; only rooms with news or new to the client are
//! read.

mod connection;
mod extensions;
mod request;
mod room_list;
mod room_sections;

use std::collections::BTreeMap;
use std::sync::Arc;

use ruma::OwnedRoomId;

use crate::{
    Context, DeviceKeyService, PresenceService, ReceiptService, Requester, RoomService,
    ServiceError, ServiceResult, SyncService, TypingService,
};
use connection::{Connection, Connections};
pub use extensions::{
    E2eeSection, ExtensionsResponse, ThreadSubscriptionsSection, ToDeviceSection,
};
pub use request::{
    ExtensionScope, ExtensionsRequest, ListFilters, ListRequest, RoomConfig, SlidingSyncRequest,
    ToDeviceRequest,
};
pub use room_sections::{Hero, RoomSection};

/// A response: the position to resume from, each list's room count, the rooms with something
/// to say, and the extensions' sections.
#[derive(Debug, Default)]
pub struct SlidingSyncResponse {
    pub pos: String,
    pub lists: BTreeMap<String, u64>,
    pub rooms: BTreeMap<OwnedRoomId, RoomSection>,
    pub extensions: ExtensionsResponse,
}

impl SlidingSyncResponse {
    fn has_news(&self, previous_counts: Option<&BTreeMap<String, u64>>) -> bool {
        !self.rooms.is_empty()
            || !self.extensions.is_empty()
            || previous_counts != Some(&self.lists)
    }
}

#[derive(Clone)]
pub struct SlidingSyncService {
    context: Arc<Context>,
    rooms: RoomService,
    sync: SyncService,
    typing: TypingService,
    receipts: ReceiptService,
    presence: PresenceService,
    device_keys: DeviceKeyService,
    connections: Arc<Connections>,
}

impl SlidingSyncService {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        context: Arc<Context>,
        rooms: RoomService,
        sync: SyncService,
        typing: TypingService,
        receipts: ReceiptService,
        presence: PresenceService,
        device_keys: DeviceKeyService,
    ) -> Self {
        Self {
            context,
            rooms,
            sync,
            typing,
            receipts,
            presence,
            device_keys,
            connections: Arc::default(),
        }
    }

    pub async fn sync(
        &self,
        requester: &Requester,
        request: SlidingSyncRequest,
    ) -> ServiceResult<SlidingSyncResponse> {
        request.check()?;
        self.presence
            .sync_activity(&requester.user_id, request.set_presence.as_deref())
            .await?;
        let key = connection::Key::new(requester, &request.conn_id);
        let mut connection = match &request.pos {
            None => self.connections.start(&self.context, &key).await?,
            Some(pos) => self.connections.resume(&self.context, &key, pos).await?,
        };
        // Subscribe before looking, so an event arriving meanwhile still wakes us.
        let mut changes = self.context.notifier.subscribe(&requester.user_id);
        changes.borrow_and_update();
        let deadline = tokio::time::Instant::now() + request.timeout;
        let mut first = true;
        let mut timed_out = request.timeout.is_zero();
        let response = loop {
            let news = self
                .context
                .storage
                .streams
                .news(&requester.user_id, &requester.device_id, connection.stream)
                .await?;
            if first || timed_out || news.position > connection.stream {
                connection
                    .catch_up(self, requester, &news, &request)
                    .await?;
                let response = self
                    .respond(requester, &request, &mut connection, &news)
                    .await?;
                if connection.is_new() || timed_out || response.has_news(connection.counts.as_ref())
                {
                    break response;
                }
            }
            first = false;
            // Woken or not, the next turn looks again; past the deadline it answers anyway.
            if !matches!(
                tokio::time::timeout_at(deadline, changes.changed()).await,
                Ok(Ok(()))
            ) {
                timed_out = true;
            }
        };
        self.connections
            .finish(&self.context, &key, connection, response)
            .await
    }

    /// One response from where the connection stands, recording in `connection` what it sends.
    async fn respond(
        &self,
        requester: &Requester,
        request: &SlidingSyncRequest,
        connection: &mut Connection,
        news: &estafette_storage::StreamNews,
    ) -> ServiceResult<SlidingSyncResponse> {
        let mut response = SlidingSyncResponse::default();
        connection.start_response();
        for list in request.lists.values() {
            connection
                .rooms
                .prepare_filters(&self.rooms, &list.filters)
                .await?;
        }
        let plan = connection.plan(request);
        response.lists = plan.counts.clone();
        response.rooms = self
            .room_sections(requester, connection, &plan, news)
            .await?;
        response.extensions = self
            .extensions(requester, request, connection, &plan, &response.rooms, news)
            .await?;
        Ok(response)
    }
}

/// `M_UNKNOWN_POS`: the client starts a new connection.
fn unknown_pos(pos: &str) -> ServiceError {
    ServiceError::UnknownPos(format!(
        "Unknown position '{pos}': the connection expired or never existed, start a new one"
    ))
}
