//! Which events go to which application service (BRIDGES.md §1.3), in Synapse's order,
//! cheapest first: the sender, a member event's target, the room ID, the room's aliases, and
//! the room's local joined members.

use std::collections::HashMap;

use estafette_core::Registration;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, ServerName};

use crate::{Context, Pdu, ServiceResult};

/// What one delivery pass learned of the rooms it met, so that each is read once.
#[derive(Default)]
pub(super) struct RoomFacts {
    rooms: HashMap<OwnedRoomId, Room>,
}

struct Room {
    aliases: Vec<String>,
    local_members: Vec<OwnedUserId>,
}

impl RoomFacts {
    async fn room(&mut self, context: &Context, room_id: &RoomId) -> ServiceResult<&Room> {
        if !self.rooms.contains_key(room_id) {
            let aliases = context
                .storage
                .aliases
                .of_room(room_id)
                .await?
                .into_iter()
                .map(|alias| alias.to_string())
                .collect();
            let server: &ServerName = &context.server_name;
            let local_members = context
                .storage
                .memberships
                .of_room(room_id)
                .await?
                .into_iter()
                .filter(|m| m.membership == "join" && m.user_id.server_name() == server)
                .map(|m| m.user_id)
                .collect();
            self.rooms.insert(
                room_id.to_owned(),
                Room {
                    aliases,
                    local_members,
                },
            );
        }
        self.rooms
            .get(room_id)
            .ok_or_else(|| crate::ServiceError::Internal("room facts vanished".into()))
    }

    /// Forgets what an event may have changed (a membership, an alias).
    pub(super) fn changed_by(&mut self, pdu: &Pdu) {
        if pdu.is_state() {
            self.rooms.remove(&pdu.room_id);
        }
    }
}

/// Whether the service is interested in the room (for its typing and receipts): by its ID,
/// an alias, or a local member of its namespace.
pub(super) async fn room_interested(
    context: &Context,
    service: &Registration,
    room_id: &RoomId,
    facts: &mut RoomFacts,
) -> ServiceResult<bool> {
    if service.matches_room(room_id.as_str()) {
        return Ok(true);
    }
    let room = facts.room(context, room_id).await?;
    Ok(room
        .aliases
        .iter()
        .any(|alias| service.matches_alias(alias))
        || room
            .local_members
            .iter()
            .any(|member| service.is_user_of(member)))
}

/// Whether the service is interested in the event.
pub(super) async fn interested(
    context: &Context,
    service: &Registration,
    pdu: &Pdu,
    facts: &mut RoomFacts,
) -> ServiceResult<bool> {
    if service.is_user_of(&pdu.sender) {
        return Ok(true);
    }
    if pdu.kind == ruma::events::TimelineEventType::RoomMember
        && let Some(target) = pdu.state_key.as_deref()
        && (target == service.sender.as_str() || service.matches_user(target))
    {
        return Ok(true);
    }
    room_interested(context, service, &pdu.room_id, facts).await
}
