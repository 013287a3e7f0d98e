//! `GET /room_summary` (spec v1.15): what a room is, before joining it (Element X's previews),
//! for those the room lets see it: its members (joined, invited, knocking), anyone where anyone
//! may join, knock or read, and members of the rooms a restricted room allows.

use ruma::events::StateEventType;
use ruma::{OwnedRoomId, RoomOrAliasId, UserId};

use super::RoomService;
use super::directory::PublicRoom;
use crate::{ServiceError, ServiceResult};

/// A room's summary, and the requester's membership in it.
#[derive(Debug, Clone)]
pub struct RoomSummary {
    pub room: PublicRoom,
    pub room_version: String,
    pub encryption: Option<String>,
    pub allowed_room_ids: Vec<OwnedRoomId>,
    pub membership: Option<String>,
}

impl RoomService {
    /// The summary of a room this server is in; anonymous callers (`None`) see only the rooms
    /// anyone may join, knock on or read. A room the caller may not see is not found.
    pub async fn summary(
        &self,
        requester: Option<&UserId>,
        room: &RoomOrAliasId,
    ) -> ServiceResult<RoomSummary> {
        let room_id = match <&ruma::RoomId>::try_from(room) {
            Ok(room_id) => room_id.to_owned(),
            Err(alias) => self.resolve_alias(alias).await?.0,
        };
        let not_found = || ServiceError::NotFound(format!("Room {room} not found"));
        if !self.is_resident(&room_id).await? {
            return Err(not_found());
        }
        let public = self.room_summary(room_id.clone()).await?;
        let (state, _) = self.current_state(&room_id).await?;
        let join_rules = self
            .state_content(&state, StateEventType::RoomJoinRules, "")
            .await?
            .unwrap_or_default();
        let allowed_room_ids: Vec<OwnedRoomId> = join_rules["allow"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|allow| allow["type"] == "m.room_membership")
            .filter_map(|allow| allow["room_id"].as_str())
            .filter_map(|id| OwnedRoomId::try_from(id).ok())
            .collect();
        let memberships = &self.context.storage.memberships;
        let membership = match requester {
            Some(user_id) => memberships
                .get(&room_id, user_id)
                .await?
                .map(|m| m.membership),
            None => None,
        };
        let open = public.world_readable
            || matches!(
                public.join_rule.as_str(),
                "public" | "knock" | "knock_restricted"
            );
        let member = membership
            .as_deref()
            .is_some_and(|m| matches!(m, "join" | "invite" | "knock"));
        let mut allowed_by_rooms = false;
        if let (Some(user_id), false) = (requester, open || member) {
            if matches!(public.join_rule.as_str(), "restricted" | "knock_restricted") {
                for allowed in &allowed_room_ids {
                    let joined = memberships.get(allowed, user_id).await?;
                    if joined.is_some_and(|m| m.membership == "join") {
                        allowed_by_rooms = true;
                        break;
                    }
                }
            }
        }
        if !(open || member || allowed_by_rooms) {
            return Err(not_found());
        }
        let encryption = self
            .state_content(&state, StateEventType::RoomEncryption, "")
            .await?
            .and_then(|content| content["algorithm"].as_str().map(ToOwned::to_owned));
        let (version, _) = self.room_rules(&room_id).await?;
        Ok(RoomSummary {
            room: public,
            room_version: version.to_string(),
            encryption,
            allowed_room_ids,
            membership,
        })
    }
}
