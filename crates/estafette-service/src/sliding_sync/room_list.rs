//! The user's rooms as room lists see them: membership, bump stamp, and what list filters
//! ask about, kept up to date from the stream's news rather than read again.

use std::collections::{HashMap, HashSet};

use estafette_storage::{MembershipRecord, StreamNews};
use ruma::{OwnedEventId, OwnedRoomId, RoomId, UserId};

use super::request::ListFilters;
use crate::{Context, RoomService, ServiceResult};

/// The events that move a room up the list (as Synapse picks them): messages and calls, not
/// reactions, receipts or state changes.
pub(super) const BUMP_EVENT_TYPES: &[&str] = &[
    "m.room.create",
    "m.room.message",
    "m.room.encrypted",
    "m.sticker",
    "m.call.invite",
    "m.poll.start",
    "m.beacon_info",
    "org.matrix.msc3381.poll.start",
];

#[derive(Debug, Clone)]
pub(super) struct ListedRoom {
    pub membership: String,
    pub membership_event: OwnedEventId,
    /// Where the user's membership was last set.
    pub membership_stream: i64,
    /// The stream position of the room's newest event here.
    pub latest: i64,
    pub bump: i64,
}

impl ListedRoom {
    pub fn is_joined(&self) -> bool {
        self.membership == "join"
    }

    pub fn has_left(&self) -> bool {
        matches!(self.membership.as_str(), "leave" | "ban")
    }
}

/// What the `is_encrypted`, `room_types` and `not_room_types` filters read, looked up only
/// when a list asks.
#[derive(Debug, Clone, Default)]
struct RoomAttributes {
    encrypted: bool,
    room_type: Option<String>,
}

/// Empty until a request has lists or room subscriptions (the encryption connection never
/// does), then read once and kept up to date.
#[derive(Debug, Default)]
pub(super) struct RoomList {
    built: bool,
    pub rooms: HashMap<OwnedRoomId, ListedRoom>,
    direct: HashSet<OwnedRoomId>,
    attributes: HashMap<OwnedRoomId, RoomAttributes>,
}

impl RoomList {
    /// Reads the list whole the first time, then takes in what moved since it was last brought
    /// up to date.
    pub async fn catch_up(
        &mut self,
        context: &Context,
        user_id: &UserId,
        news: &StreamNews,
    ) -> ServiceResult<()> {
        if !self.built {
            self.read_memberships(context, user_id, &[]).await?;
            self.read_direct(context, user_id).await?;
            self.built = true;
            return Ok(());
        }
        let moved: Vec<&RoomId> = news
            .rooms
            .iter()
            .map(|room| room.room_id.as_ref())
            .collect();
        if news.memberships {
            self.read_memberships(context, user_id, &moved).await?;
        } else {
            let moved: Vec<&RoomId> = moved
                .into_iter()
                .filter(|room| self.rooms.contains_key(*room))
                .collect();
            self.read_activity(context, user_id, Some(&moved)).await?;
        }
        for room in &news.rooms {
            // Encryption may have been turned on.
            self.attributes.remove(&room.room_id);
        }
        if news.account_data {
            self.read_direct(context, user_id).await?;
        }
        Ok(())
    }

    /// Reads the user's memberships again, and the activity of the rooms whose membership
    /// changed and of `moved`.
    async fn read_memberships(
        &mut self,
        context: &Context,
        user_id: &UserId,
        moved: &[&RoomId],
    ) -> ServiceResult<()> {
        let memberships: Vec<MembershipRecord> = context
            .storage
            .memberships
            .of_user(user_id)
            .await?
            .into_iter()
            .filter(|m| !m.forgotten)
            .collect();
        let mut rooms = HashMap::with_capacity(memberships.len());
        let mut changed: Vec<OwnedRoomId> = Vec::new();
        for m in memberships {
            if let Some(known) = self.rooms.remove(&m.room_id)
                && known.membership_event == m.event_id
            {
                rooms.insert(m.room_id, known);
                continue;
            }
            changed.push(m.room_id.clone());
            rooms.insert(
                m.room_id,
                ListedRoom {
                    membership: m.membership,
                    membership_event: m.event_id,
                    membership_stream: m.stream_ordering,
                    latest: m.stream_ordering,
                    bump: m.stream_ordering,
                },
            );
        }
        self.rooms = rooms;
        if !self.built {
            return self.read_activity(context, user_id, None).await;
        }
        let to_read: HashSet<&RoomId> = changed
            .iter()
            .map(|room| room.as_ref())
            .chain(moved.iter().copied())
            .collect();
        let to_read: Vec<&RoomId> = to_read.into_iter().collect();
        self.read_activity(context, user_id, Some(&to_read)).await
    }

    /// Reads the newest and newest bumping events of the user's rooms (of `rooms` only, when
    /// given).
    async fn read_activity(
        &mut self,
        context: &Context,
        user_id: &UserId,
        rooms: Option<&[&RoomId]>,
    ) -> ServiceResult<()> {
        if rooms.is_some_and(<[_]>::is_empty) {
            return Ok(());
        }
        let activity = context
            .storage
            .room_activity
            .activity(user_id, rooms, BUMP_EVENT_TYPES)
            .await?;
        for found in activity {
            let Some(room) = self.rooms.get_mut(&found.room_id) else {
                continue;
            };
            // A room's place follows the user's own membership too (a room just joined comes
            // first); once left, what happens after does not move it.
            match room.membership.as_str() {
                "join" => {
                    room.latest = found.latest.max(room.membership_stream);
                    room.bump = found
                        .bump
                        .unwrap_or(room.membership_stream)
                        .max(room.membership_stream);
                }
                "leave" | "ban" => {
                    room.latest = room.membership_stream;
                    room.bump = found
                        .bump
                        .unwrap_or(room.membership_stream)
                        .min(room.membership_stream);
                }
                _ => {
                    room.latest = room.membership_stream;
                    room.bump = room.membership_stream;
                }
            }
        }
        Ok(())
    }

    async fn read_direct(&mut self, context: &Context, user_id: &UserId) -> ServiceResult<()> {
        let content = context
            .storage
            .account_data
            .get(user_id, None, "m.direct")
            .await?;
        self.direct = content
            .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok())
            .and_then(|value| value.as_object().cloned())
            .into_iter()
            .flat_map(|by_user| by_user.into_iter())
            .filter_map(|(_, rooms)| rooms.as_array().cloned())
            .flatten()
            .filter_map(|room| room.as_str().and_then(|r| OwnedRoomId::try_from(r).ok()))
            .collect();
        Ok(())
    }

    pub fn is_dm(&self, room_id: &RoomId) -> bool {
        self.direct.contains(room_id)
    }

    /// Looks up what the filters need about the user's rooms, for those not known yet.
    pub async fn prepare_filters(
        &mut self,
        rooms: &RoomService,
        filters: &ListFilters,
    ) -> ServiceResult<()> {
        if !filters.reads_state() {
            return Ok(());
        }
        let unknown: Vec<OwnedRoomId> = self
            .rooms
            .iter()
            .filter(|(room_id, room)| room.is_joined() && !self.attributes.contains_key(*room_id))
            .map(|(room_id, _)| room_id.clone())
            .collect();
        for room_id in unknown {
            let attributes = match rooms.current_state(&room_id).await {
                Ok((state, _)) => {
                    let encrypted = state.contains_key(&(
                        ruma::events::StateEventType::RoomEncryption,
                        String::new(),
                    ));
                    let room_type = rooms
                        .state_content(&state, ruma::events::StateEventType::RoomCreate, "")
                        .await?
                        .and_then(|create| create.get("type")?.as_str().map(str::to_owned));
                    RoomAttributes {
                        encrypted,
                        room_type,
                    }
                }
                Err(_) => RoomAttributes::default(),
            };
            self.attributes.insert(room_id, attributes);
        }
        Ok(())
    }

    /// The rooms passing `filters`, most recently bumped first. Rooms the user left show only
    /// while the connection has not been sent the leave (`left_unseen`).
    pub fn sorted(
        &self,
        filters: &ListFilters,
        left_unseen: impl Fn(&RoomId, &ListedRoom) -> bool,
    ) -> Vec<&OwnedRoomId> {
        let mut rooms: Vec<(&OwnedRoomId, &ListedRoom)> = self
            .rooms
            .iter()
            .filter(|(room_id, room)| !room.has_left() || left_unseen(room_id, room))
            .filter(|(room_id, room)| self.passes(room_id, room, filters))
            .collect();
        rooms.sort_by(|(a_id, a), (b_id, b)| b.bump.cmp(&a.bump).then_with(|| a_id.cmp(b_id)));
        rooms.into_iter().map(|(room_id, _)| room_id).collect()
    }

    fn passes(&self, room_id: &RoomId, room: &ListedRoom, filters: &ListFilters) -> bool {
        if let Some(is_invite) = filters.is_invite
            && is_invite != (room.membership == "invite")
        {
            return false;
        }
        if let Some(is_dm) = filters.is_dm
            && is_dm != self.is_dm(room_id)
        {
            return false;
        }
        let attributes = self.attributes.get(room_id).cloned().unwrap_or_default();
        if let Some(is_encrypted) = filters.is_encrypted
            && is_encrypted != attributes.encrypted
        {
            return false;
        }
        if !filters.room_types.is_empty() && !filters.room_types.contains(&attributes.room_type) {
            return false;
        }
        !filters.not_room_types.contains(&attributes.room_type)
    }
}
