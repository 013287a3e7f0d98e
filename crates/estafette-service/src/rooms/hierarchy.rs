//! Space hierarchies (`/hierarchy`): a space and its children, breadth first, as far as this
//! server knows them.

use std::collections::{HashSet, VecDeque};

use ruma::events::StateEventType;
use ruma::{OwnedRoomId, RoomId};
use serde_json::{Value as JsonValue, json};

use super::RoomService;
use super::directory::PublicRoom;
use crate::{Requester, ServiceError, ServiceResult};

const MAX_HIERARCHY_ROOMS: usize = 200;

/// One room of a hierarchy and its `m.space.child` events (stripped).
#[derive(Debug, Clone)]
pub struct HierarchyRoom {
    pub room: PublicRoom,
    pub room_version: String,
    pub children_state: Vec<JsonValue>,
}

#[derive(Debug, Clone)]
pub struct HierarchyPage {
    pub rooms: Vec<HierarchyRoom>,
    pub next_batch: Option<String>,
}

impl RoomService {
    /// Whether the requester may see a room's summary: they are in it, or anyone may join or
    /// read it.
    async fn may_peek(&self, requester: &Requester, room: &PublicRoom) -> ServiceResult<bool> {
        if room.world_readable || room.join_rule == "public" || room.join_rule == "knock" {
            return Ok(true);
        }
        let membership = self
            .context
            .storage
            .memberships
            .get(&room.room_id, &requester.user_id)
            .await?;
        Ok(membership.is_some_and(|m| matches!(m.membership.as_str(), "join" | "invite")))
    }

    /// A space's valid `m.space.child` events (stripped), with the rooms they name.
    pub(crate) async fn space_children(
        &self,
        room_id: &RoomId,
        suggested_only: bool,
    ) -> ServiceResult<Vec<(OwnedRoomId, JsonValue)>> {
        let (state, _) = self.current_state(room_id).await?;
        let mut children = Vec::new();
        for ((kind, key), event_id) in &state {
            if *kind != StateEventType::SpaceChild {
                continue;
            }
            let (Some(pdu), Ok(child)) = (
                self.pdu(event_id).await?,
                OwnedRoomId::try_from(key.as_str()),
            ) else {
                continue;
            };
            let content: JsonValue = serde_json::from_str(pdu.content.get()).unwrap_or_default();
            let valid = content
                .get("via")
                .and_then(JsonValue::as_array)
                .is_some_and(|via| !via.is_empty());
            let suggested = content
                .get("suggested")
                .and_then(JsonValue::as_bool)
                .unwrap_or(false);
            if !valid || (suggested_only && !suggested) {
                continue;
            }
            children.push((
                child,
                json!({
                    "type": "m.space.child", "state_key": key, "sender": pdu.sender,
                    "origin_server_ts": pdu.origin_server_ts, "content": content,
                }),
            ));
        }
        Ok(children)
    }

    pub async fn hierarchy(
        &self,
        requester: &Requester,
        root: &RoomId,
        max_depth: Option<usize>,
        suggested_only: bool,
        from: Option<&str>,
        limit: Option<usize>,
    ) -> ServiceResult<HierarchyPage> {
        let root_room = self.room_summary(root.to_owned()).await?;
        if !self.may_peek(requester, &root_room).await? {
            return Err(ServiceError::Forbidden("You cannot see this space".into()));
        }
        let offset = match from {
            Some(token) => token
                .strip_prefix('h')
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| {
                    ServiceError::InvalidParam(format!("Invalid hierarchy token '{token}'"))
                })?,
            None => 0,
        };
        let limit = limit.unwrap_or(50).clamp(1, 100);
        let mut found = Vec::new();
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([(root.to_owned(), 0usize)]);
        while let Some((room_id, depth)) = queue.pop_front() {
            if found.len() >= MAX_HIERARCHY_ROOMS || !seen.insert(room_id.clone()) {
                continue;
            }
            let Ok(room) = self.room_summary(room_id.clone()).await else {
                continue;
            };
            if !self.may_peek(requester, &room).await? {
                continue;
            }
            let children = self.space_children(&room_id, suggested_only).await?;
            if max_depth.is_none_or(|max| depth < max) {
                for (child, _) in &children {
                    queue.push_back((child.clone(), depth + 1));
                }
            }
            let children_state = children.into_iter().map(|(_, event)| event).collect();
            let (version, _) = self.room_rules(&room_id).await?;
            found.push(HierarchyRoom {
                room,
                room_version: version.to_string(),
                children_state,
            });
        }
        let next_batch = (offset + limit < found.len()).then(|| format!("h{}", offset + limit));
        let rooms = found.into_iter().skip(offset).take(limit).collect();
        Ok(HierarchyPage { rooms, next_batch })
    }
}
