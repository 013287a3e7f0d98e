//! Typing notifications: kept in memory (they are worthless after a few seconds), but ordered
//! on the same stream as everything else so one sync token covers them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use tokio::time::Instant;

use crate::{Context, Requester, ServiceError, ServiceResult};

/// A client cannot claim to be typing for longer than this.
const MAX_TYPING_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Default)]
struct RoomTyping {
    position: i64,
    users: HashMap<OwnedUserId, Instant>,
}

#[derive(Clone)]
pub struct TypingService {
    context: Arc<Context>,
    rooms: Arc<Mutex<HashMap<OwnedRoomId, RoomTyping>>>,
    /// Other servers in the room are told too.
    sender: crate::FederationSender,
}

impl TypingService {
    pub(crate) fn new(context: Arc<Context>, sender: crate::FederationSender) -> Self {
        Self {
            context,
            rooms: Arc::default(),
            sender,
        }
    }

    /// `PUT /rooms/{roomId}/typing/{userId}`
    pub async fn set_typing(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        user_id: &UserId,
        typing: bool,
        timeout: Option<Duration>,
    ) -> ServiceResult<()> {
        if requester.user_id != user_id {
            return Err(ServiceError::Forbidden(
                "You can only set your own typing state".into(),
            ));
        }
        let membership = self
            .context
            .storage
            .memberships
            .get(room_id, user_id)
            .await?;
        if !membership.is_some_and(|m| m.membership == "join") {
            return Err(ServiceError::Forbidden("You are not in this room".into()));
        }
        self.apply(room_id, user_id, typing, timeout).await?;
        self.sender.typing(room_id, user_id, typing).await
    }

    /// Records a member's typing state (local, or from their server) and wakes the room.
    pub(crate) async fn apply(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        typing: bool,
        timeout: Option<Duration>,
    ) -> ServiceResult<()> {
        let timeout = timeout
            .unwrap_or(Duration::from_secs(30))
            .min(MAX_TYPING_TIMEOUT);
        let expiry = Instant::now() + timeout;
        let position = self.context.storage.streams.allocate().await?;
        self.record(room_id, user_id, typing, expiry, position);
        self.notify_room(room_id, position).await?;
        self.relay(room_id, user_id, typing, timeout, position);
        if typing {
            let service = self.clone();
            let (room_id, user_id) = (room_id.to_owned(), user_id.to_owned());
            tokio::spawn(async move {
                tokio::time::sleep_until(expiry).await;
                if let Err(err) = service.expire(&room_id, &user_id).await {
                    tracing::warn!(error = %err, "could not expire a typing notification");
                }
            });
        }
        Ok(())
    }

    fn record(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        typing: bool,
        expiry: Instant,
        position: i64,
    ) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let room = rooms.entry(room_id.to_owned()).or_default();
        room.position = room.position.max(position);
        if typing {
            room.users.insert(user_id.to_owned(), expiry);
        } else {
            room.users.remove(user_id);
        }
    }

    /// Applies a typing change another process of this server made, and wakes this process's
    /// members of the room.
    pub(crate) async fn record_relayed(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        typing: bool,
        timeout: Duration,
        position: i64,
    ) -> ServiceResult<()> {
        let expiry = Instant::now() + timeout.min(MAX_TYPING_TIMEOUT);
        self.record(room_id, user_id, typing, expiry, position);
        let members = self.joined_members(room_id).await?;
        self.context.notifier.notify_here(&members, position);
        self.context.appservice_wake.notify_one();
        Ok(())
    }

    async fn expire(&self, room_id: &RoomId, user_id: &UserId) -> ServiceResult<()> {
        let expired = {
            let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
            rooms
                .get(room_id)
                .and_then(|room| room.users.get(user_id))
                .is_some_and(|expiry| *expiry <= Instant::now())
        };
        if !expired {
            return Ok(());
        }
        let position = self.context.storage.streams.allocate().await?;
        self.record(room_id, user_id, false, Instant::now(), position);
        self.notify_room(room_id, position).await?;
        self.relay(room_id, user_id, false, Duration::ZERO, position);
        Ok(())
    }

    /// The server's other processes serve this room's members too. The timeout they keep is
    /// only a fallback: this process relays the stop when it expires.
    fn relay(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        typing: bool,
        timeout: Duration,
        position: i64,
    ) {
        self.context
            .notifier
            .broadcast(crate::cluster::ClusterMessage::Typing {
                room_id: room_id.to_owned(),
                user_id: user_id.to_owned(),
                typing,
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                position,
            });
    }

    async fn notify_room(&self, room_id: &RoomId, position: i64) -> ServiceResult<()> {
        let members = self.joined_members(room_id).await?;
        self.context.notifier.notify_here(&members, position);
        // Application services that receive ephemeral data see it in their next transaction.
        self.context.appservice_wake.notify_one();
        Ok(())
    }

    async fn joined_members(&self, room_id: &RoomId) -> ServiceResult<Vec<OwnedUserId>> {
        crate::rooms::joined_user_ids(&self.context, room_id).await
    }

    /// The rooms whose typing changed after `after` up to `until`, with who types there now.
    pub(crate) fn changed_between(
        &self,
        after: i64,
        until: i64,
    ) -> Vec<(OwnedRoomId, Vec<OwnedUserId>)> {
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut changed: Vec<(i64, OwnedRoomId, Vec<OwnedUserId>)> = rooms
            .iter()
            .filter(|(_, room)| room.position > after && room.position <= until)
            .map(|(room_id, room)| {
                let mut users: Vec<OwnedUserId> = room
                    .users
                    .iter()
                    .filter(|(_, expiry)| **expiry > now)
                    .map(|(user, _)| user.clone())
                    .collect();
                users.sort();
                (room.position, room_id.clone(), users)
            })
            .collect();
        changed.sort_by_key(|(position, _, _)| *position);
        changed
            .into_iter()
            .map(|(_, room_id, users)| (room_id, users))
            .collect()
    }

    /// Whether typing changed in any room after `since`: if not, no room needs asking.
    pub fn any_since(&self, since: i64) -> bool {
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms.values().any(|room| room.position > since)
    }

    /// Who is typing in the room, if that changed after `since` (`None` for an initial sync).
    pub fn typing_since(&self, room_id: &RoomId, since: Option<i64>) -> Option<Vec<OwnedUserId>> {
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let room = rooms.get(room_id)?;
        let now = Instant::now();
        let mut users: Vec<OwnedUserId> = room
            .users
            .iter()
            .filter(|(_, expiry)| **expiry > now)
            .map(|(user, _)| user.clone())
            .collect();
        users.sort();
        match since {
            Some(since) if room.position > since => Some(users),
            None if !users.is_empty() => Some(users),
            _ => None,
        }
    }
}
