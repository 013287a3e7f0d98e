//! A connection's state between requests: the position it stands at, what it was sent of each
//! room, and the user's room list. Kept in this process for the next request, and in the
//! database for a request that another process (or this one after a restart) answers.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use estafette_storage::{ConnectionKey, SentRoom, StreamNews};
use ruma::{OwnedDeviceId, OwnedRoomId, OwnedUserId, RoomId};

use super::request::{RoomConfig, SlidingSyncRequest};
use super::room_list::{ListedRoom, RoomList};
use super::{SlidingSyncResponse, SlidingSyncService, unknown_pos};
use crate::{Context, Requester, ServiceResult, lock};

/// Connections kept in memory per process; past this many, the oldest go (and come back from
/// the database when asked for).
const MAX_KEPT: usize = 4_096;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    user_id: OwnedUserId,
    device_id: OwnedDeviceId,
    conn_id: String,
}

impl Key {
    pub fn new(requester: &Requester, conn_id: &str) -> Self {
        Self {
            user_id: requester.user_id.clone(),
            device_id: requester.device_id.clone(),
            conn_id: conn_id.to_owned(),
        }
    }

    fn storage(&self) -> ConnectionKey<'_> {
        ConnectionKey {
            user_id: &self.user_id,
            device_id: &self.device_id,
            conn_id: &self.conn_id,
        }
    }
}

/// What the connection was sent of a room.
#[derive(Debug, Clone)]
pub(super) struct Sent {
    /// The stream position its timeline was sent up to.
    pub stream: i64,
    pub state_digest: String,
}

#[derive(Debug)]
pub(super) struct Connection {
    /// The position the client resumes from; `None` for a new connection.
    pos: Option<i64>,
    /// The stream position `pos` covers.
    pub stream: i64,
    pub sent: HashMap<OwnedRoomId, Sent>,
    pub rooms: RoomList,
    /// The list counts of the last response, when this process gave it.
    pub counts: Option<BTreeMap<String, u64>>,
    /// Rooms the response being built sends.
    sending: Vec<SentRoom>,
    /// The stream position the response being built covers.
    pub covering: i64,
    /// The order in which connections entered memory, for dropping the oldest.
    generation: u64,
}

impl Connection {
    pub fn is_new(&self) -> bool {
        self.pos.is_none()
    }

    pub async fn catch_up(
        &mut self,
        service: &SlidingSyncService,
        requester: &Requester,
        news: &StreamNews,
        request: &SlidingSyncRequest,
    ) -> ServiceResult<()> {
        if request.needs_rooms() {
            self.rooms
                .catch_up(&service.context, &requester.user_id, news)
                .await?;
        }
        self.covering = news.position.max(self.stream);
        Ok(())
    }

    pub fn start_response(&mut self) {
        self.sending.clear();
    }

    /// Records that the response being built sends a room, up to `stream`.
    pub fn record_sent(&mut self, room_id: &RoomId, stream: i64, state_digest: String) {
        self.sending.push(SentRoom {
            room_id: room_id.to_owned(),
            stream,
            state_config: state_digest,
        });
    }

    /// Whether the connection was sent the room but not the user's latest membership of it
    /// (a room left shows until the leave is sent).
    fn leave_unseen(&self, room_id: &RoomId, room: &ListedRoom) -> bool {
        self.sent
            .get(room_id)
            .is_some_and(|sent| sent.stream < room.membership_stream)
    }

    /// Which rooms the request covers: each list's rooms in range (with the list's counts),
    /// and the room subscriptions the user may follow, each with what to send of it.
    pub fn plan(&self, request: &SlidingSyncRequest) -> Plan {
        let mut plan = Plan::default();
        for (name, list) in &request.lists {
            let sorted = self.rooms.sorted(&list.filters, |room_id, room| {
                self.leave_unseen(room_id, room)
            });
            plan.counts.insert(name.clone(), sorted.len() as u64);
            let mut in_range = HashSet::new();
            for &(start, end) in &list.ranges {
                let Ok(start) = usize::try_from(start) else {
                    continue;
                };
                let end = usize::try_from(end).unwrap_or(usize::MAX);
                for room_id in sorted
                    .iter()
                    .skip(start)
                    .take(end.saturating_sub(start) + 1)
                {
                    in_range.insert((*room_id).clone());
                    plan.rooms
                        .entry((*room_id).clone())
                        .or_default()
                        .merge(&list.config);
                }
            }
            plan.list_rooms.insert(name.clone(), in_range);
        }
        for (room_id, config) in &request.room_subscriptions {
            let Some(room) = self.rooms.rooms.get(room_id) else {
                continue;
            };
            if room.has_left() && !self.leave_unseen(room_id, room) {
                continue;
            }
            plan.subscribed.insert(room_id.clone());
            plan.rooms.entry(room_id.clone()).or_default().merge(config);
        }
        plan
    }
}

/// The rooms one response covers.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub counts: BTreeMap<String, u64>,
    /// Every room in range of a list or subscribed to, with what to send of it.
    pub rooms: BTreeMap<OwnedRoomId, RoomConfig>,
    pub list_rooms: BTreeMap<String, HashSet<OwnedRoomId>>,
    pub subscribed: BTreeSet<OwnedRoomId>,
}

#[derive(Default)]
pub(super) struct Connections {
    kept: std::sync::Mutex<HashMap<Key, Connection>>,
    generations: std::sync::atomic::AtomicU64,
}

impl Connections {
    fn generation(&self) -> u64 {
        self.generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// A new connection (a request without `pos`), replacing any of the same `conn_id`.
    pub async fn start(&self, context: &Context, key: &Key) -> ServiceResult<Connection> {
        lock(&self.kept).remove(key);
        context.storage.sliding_sync.reset(key.storage()).await?;
        let stream = context.storage.streams.current().await?;
        Ok(self.connection(None, stream, HashMap::new()))
    }

    /// The connection as it stood when it answered with `pos`.
    pub async fn resume(
        &self,
        context: &Context,
        key: &Key,
        pos: &str,
    ) -> ServiceResult<Connection> {
        let number: i64 = pos.parse().map_err(|_| unknown_pos(pos))?;
        let kept = lock(&self.kept).remove(key);
        if let Some(connection) = kept
            && connection.pos == Some(number)
        {
            return Ok(connection);
        }
        let repository = &context.storage.sliding_sync;
        let stream = repository
            .resume(key.storage(), number)
            .await?
            .ok_or_else(|| unknown_pos(pos))?;
        let sent = repository
            .sent_rooms(key.storage(), number)
            .await?
            .into_iter()
            .map(|room| {
                (
                    room.room_id,
                    Sent {
                        stream: room.stream,
                        state_digest: room.state_config,
                    },
                )
            })
            .collect();
        Ok(self.connection(Some(number), stream, sent))
    }

    fn connection(
        &self,
        pos: Option<i64>,
        stream: i64,
        sent: HashMap<OwnedRoomId, Sent>,
    ) -> Connection {
        Connection {
            pos,
            stream,
            sent,
            rooms: RoomList::default(),
            counts: None,
            sending: Vec::new(),
            covering: stream,
            generation: self.generation(),
        }
    }

    /// Records the response (a new position when it sends anything or the stream moved) and
    /// keeps the connection for its next request.
    pub async fn finish(
        &self,
        context: &Context,
        key: &Key,
        mut connection: Connection,
        mut response: SlidingSyncResponse,
    ) -> ServiceResult<SlidingSyncResponse> {
        let moved = connection.covering > connection.stream || !connection.sending.is_empty();
        let pos = match connection.pos {
            Some(pos) if !moved => pos,
            from => {
                context
                    .storage
                    .sliding_sync
                    .advance(
                        key.storage(),
                        from,
                        connection.covering,
                        &connection.sending,
                    )
                    .await?
            }
        };
        for room in connection.sending.drain(..) {
            connection.sent.insert(
                room.room_id,
                Sent {
                    stream: room.stream,
                    state_digest: room.state_config,
                },
            );
        }
        connection.pos = Some(pos);
        connection.stream = connection.covering;
        connection.counts = Some(response.lists.clone());
        response.pos = pos.to_string();
        let mut kept = lock(&self.kept);
        if kept.len() >= MAX_KEPT
            && let Some(oldest) = kept
                .iter()
                .min_by_key(|(_, c)| c.generation)
                .map(|(k, _)| k.clone())
        {
            kept.remove(&oldest);
        }
        kept.insert(key.clone(), connection);
        Ok(response)
    }
}
