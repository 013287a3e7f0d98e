//! Room upgrades: a new room of a newer version takes the old one's state, aliases and
//! members' attention; the old room points to it with a tombstone and is muted.

use ruma::events::{StateEventType, TimelineEventType};
use ruma::{OwnedRoomId, OwnedUserId, RoomId, RoomVersionId};
use serde_json::{Value as JsonValue, json};

use super::{CreateRoom, RoomService};
use crate::{EventDraft, Requester, ServiceError, ServiceResult};

/// State that moves to the replacement room as it is.
const CARRIED_STATE: &[&str] = &[
    "m.room.name",
    "m.room.topic",
    "m.room.avatar",
    "m.room.join_rules",
    "m.room.history_visibility",
    "m.room.guest_access",
    "m.room.encryption",
    "m.room.server_acl",
    "m.room.canonical_alias",
    // TCHAP.md §4: the room's access rule moves with it.
    "im.vector.room.access_rules",
];

impl RoomService {
    pub async fn upgrade(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        new_version: RoomVersionId,
        additional_creators: Vec<OwnedUserId>,
    ) -> ServiceResult<OwnedRoomId> {
        let (_, rules) = self.room_rules(room_id).await?;
        let (state, _) = self.current_state(room_id).await?;
        let levels = self.power_levels(&state, &rules).await?;
        if !levels.allows(
            &requester.user_id,
            levels.for_event("m.room.tombstone", true),
        ) {
            return Err(ServiceError::Forbidden(
                "You may not upgrade this room".into(),
            ));
        }
        let new_rules = new_version.rules().ok_or_else(|| {
            ServiceError::UnsupportedRoomVersion(format!("Unknown room version {new_version}"))
        })?;
        let mut initial_state = Vec::new();
        for kind in CARRIED_STATE {
            if let Some(event_id) = state.get(&(StateEventType::from(*kind), String::new())) {
                if let Some(pdu) = self.pdu(event_id).await? {
                    let content: JsonValue =
                        serde_json::from_str(pdu.content.get()).unwrap_or_default();
                    initial_state.push(((*kind).to_owned(), String::new(), content));
                }
            }
        }
        let mut power_levels = match state.get(&(StateEventType::RoomPowerLevels, String::new())) {
            Some(event_id) => match self.pdu(event_id).await? {
                Some(pdu) => {
                    serde_json::from_str::<JsonValue>(pdu.content.get()).unwrap_or_default()
                }
                None => json!({}),
            },
            None => json!({}),
        };
        if let Some(users) = power_levels
            .get_mut("users")
            .and_then(JsonValue::as_object_mut)
        {
            if new_rules.authorization.explicitly_privilege_room_creators {
                // Creators of v12 rooms hold unlimited power and must not be listed.
                users.remove(requester.user_id.as_str());
                for creator in &additional_creators {
                    users.remove(creator.as_str());
                }
            } else {
                users.insert(requester.user_id.to_string(), json!(100));
            }
        }
        let (_, create) = self.create_event(&state).await?;
        let mut creation_content = serde_json::Map::new();
        creation_content.insert("predecessor".into(), json!({"room_id": room_id}));
        for key in ["type", "m.federate"] {
            if let Some(value) = create.get(key) {
                creation_content.insert(key.into(), value.clone());
            }
        }
        if !additional_creators.is_empty() && new_rules.authorization.additional_room_creators {
            creation_content.insert("additional_creators".into(), json!(additional_creators));
        }
        let request = CreateRoom {
            room_version: Some(new_version),
            initial_state,
            creation_content: Some(creation_content),
            power_level_content_override: power_levels.as_object().cloned(),
            upgrade: true,
            ..Default::default()
        };
        let new_room = self.create_room(&requester.user_id, request).await?;

        let tombstone =
            json!({"body": "This room has been replaced", "replacement_room": new_room});
        self.append(
            room_id,
            &requester.user_id,
            EventDraft::state(TimelineEventType::RoomTombstone, "", tombstone),
            None,
        )
        .await?;
        // The old room stays readable but members can no longer talk or invite there.
        let mut muted = power_levels_of_old(
            &self
                .state_content(&state, StateEventType::RoomPowerLevels, "")
                .await?,
        );
        let restricted = levels.field("users_default", 0).max(0) + 50;
        muted["events_default"] = json!(restricted.max(50));
        muted["invite"] = json!(restricted.max(50));
        self.append(
            room_id,
            &requester.user_id,
            EventDraft::state(TimelineEventType::RoomPowerLevels, "", muted),
            None,
        )
        .await?;
        self.context
            .storage
            .aliases
            .move_room(room_id, &new_room)
            .await?;
        self.context
            .storage
            .rooms
            .set_public(&new_room, self.directory_visibility(room_id).await?)
            .await?;
        self.context
            .storage
            .rooms
            .set_public(room_id, false)
            .await?;
        tracing::info!(old = %room_id, new = %new_room, "room upgraded");
        Ok(new_room)
    }

    async fn create_event(
        &self,
        state: &super::StateMap,
    ) -> ServiceResult<(OwnedUserId, JsonValue)> {
        let event_id = state
            .get(&(StateEventType::RoomCreate, String::new()))
            .ok_or_else(|| ServiceError::Internal("a room without a create event".into()))?;
        let pdu = self
            .pdu(event_id)
            .await?
            .ok_or_else(|| ServiceError::Internal("lost create event".into()))?;
        Ok((
            pdu.sender.clone(),
            serde_json::from_str(pdu.content.get()).unwrap_or_default(),
        ))
    }
}

fn power_levels_of_old(content: &Option<JsonValue>) -> JsonValue {
    content.clone().unwrap_or_else(|| json!({}))
}
