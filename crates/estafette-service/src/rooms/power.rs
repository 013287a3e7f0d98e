//! Power levels as the spec defines them, for the checks the server makes before sending
//! (authorisation itself is ruma-state-res's job).

use ruma::UserId;
use ruma::events::StateEventType;
use ruma::room_version_rules::RoomVersionRules;
use serde_json::Value as JsonValue;

use super::{RoomService, StateMap};
use crate::ServiceResult;

/// A user's power in a room. Room creators of v12 rooms have infinite power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Power {
    Level(i64),
    Creator,
}

pub(crate) struct PowerLevels {
    content: JsonValue,
    creators: Vec<String>,
}

impl PowerLevels {
    pub(crate) fn user(&self, user_id: &UserId) -> Power {
        if self.creators.iter().any(|c| c == user_id.as_str()) {
            return Power::Creator;
        }
        let level = self
            .content
            .get("users")
            .and_then(|users| users.get(user_id.as_str()))
            .and_then(as_level);
        Power::Level(level.unwrap_or_else(|| self.field("users_default", 0)))
    }

    /// A named level (`redact`, `kick`, `ban`, `invite`…) with its spec default.
    pub(crate) fn field(&self, name: &str, default: i64) -> i64 {
        self.content.get(name).and_then(as_level).unwrap_or(default)
    }

    /// The level needed to send a state (`state`) or message-like event of a type.
    pub(crate) fn for_event(&self, kind: &str, state: bool) -> i64 {
        let level = self
            .content
            .get("events")
            .and_then(|events| events.get(kind))
            .and_then(as_level);
        level.unwrap_or_else(|| {
            if state {
                self.field("state_default", 50)
            } else {
                self.field("events_default", 0)
            }
        })
    }

    /// The users listed with an explicit level.
    pub(crate) fn explicit_users(&self) -> Vec<(String, i64)> {
        let users = self.content.get("users").and_then(JsonValue::as_object);
        users
            .map(|users| {
                users
                    .iter()
                    .filter_map(|(user, level)| Some((user.clone(), as_level(level)?)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The level needed for a notification key such as `room` (defaults to 50).
    pub(crate) fn notification_level(&self, key: &str) -> i64 {
        let level = self
            .content
            .get("notifications")
            .and_then(|n| n.get(key))
            .and_then(as_level);
        level.unwrap_or(50)
    }

    pub(crate) fn creators(&self) -> &[String] {
        &self.creators
    }

    pub(crate) fn allows(&self, user_id: &UserId, needed: i64) -> bool {
        self.user(user_id) >= Power::Level(needed)
    }
}

/// Older room versions allow levels as strings.
fn as_level(value: &JsonValue) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

impl RoomService {
    pub(crate) async fn power_levels(
        &self,
        state: &StateMap,
        rules: &RoomVersionRules,
    ) -> ServiceResult<PowerLevels> {
        let mut creators = Vec::new();
        if let Some(create) = self
            .state_event_in(state, StateEventType::RoomCreate)
            .await?
        {
            if rules.authorization.explicitly_privilege_room_creators {
                creators.push(create.sender.to_string());
                let content: JsonValue =
                    serde_json::from_str(create.content.get()).unwrap_or_default();
                if let Some(additional) = content
                    .get("additional_creators")
                    .and_then(JsonValue::as_array)
                {
                    creators.extend(
                        additional
                            .iter()
                            .filter_map(JsonValue::as_str)
                            .map(ToOwned::to_owned),
                    );
                }
            }
        }
        let content = match self
            .state_event_in(state, StateEventType::RoomPowerLevels)
            .await?
        {
            Some(pdu) => serde_json::from_str(pdu.content.get()).unwrap_or_default(),
            // Without power levels, the creator has 100 and everyone else 0.
            None => {
                let creator = creators.first().cloned().unwrap_or_default();
                serde_json::json!({"users": {creator: 100}})
            }
        };
        Ok(PowerLevels { content, creators })
    }

    /// Whether a member of the room has the power to send a state event of `kind` (or
    /// `needed`, when given).
    pub(crate) async fn has_power_for_state(
        &self,
        user_id: &UserId,
        room_id: &ruma::RoomId,
        kind: &str,
        needed: Option<i64>,
    ) -> ServiceResult<bool> {
        let joined = self
            .context
            .storage
            .memberships
            .get(room_id, user_id)
            .await?
            .is_some_and(|m| m.membership == "join");
        if !joined {
            return Ok(false);
        }
        let (_, rules) = self.room_rules(room_id).await?;
        let (state, _) = self.current_state(room_id).await?;
        let levels = self.power_levels(&state, &rules).await?;
        Ok(levels.allows(
            user_id,
            needed.unwrap_or_else(|| levels.for_event(kind, true)),
        ))
    }

    /// Whether the user may mention the whole room (`notifications.room`).
    pub(crate) async fn may_notify_room(
        &self,
        user_id: &UserId,
        room_id: &ruma::RoomId,
    ) -> ServiceResult<bool> {
        let (_, rules) = self.room_rules(room_id).await?;
        let (state, _) = self.current_state(room_id).await?;
        let levels = self.power_levels(&state, &rules).await?;
        Ok(levels.allows(user_id, levels.notification_level("room")))
    }

    /// Whether the room's messages are encrypted.
    pub(crate) async fn is_encrypted(&self, room_id: &ruma::RoomId) -> ServiceResult<bool> {
        let (state, _) = self.current_state(room_id).await?;
        Ok(state.contains_key(&(StateEventType::RoomEncryption, String::new())))
    }

    async fn state_event_in(
        &self,
        state: &StateMap,
        kind: StateEventType,
    ) -> ServiceResult<Option<crate::Pdu>> {
        match state.get(&(kind, String::new())) {
            Some(event_id) => self.pdu(event_id).await,
            None => Ok(None),
        }
    }
}
