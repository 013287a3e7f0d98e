//! What `createRoom` becomes under the room access rules (TCHAP.md §4): the rule checked or
//! chosen, the State's default power levels and their floors, history visible from the
//! invitation in private rooms, and never guests.

use serde_json::{Map, Value as JsonValue, json};

use super::access_rules::{ACCESS_RULES_EVENT, AccessRule};
use crate::{ServiceError, ServiceResult};

/// What a room request says about the room, as the rules need it.
pub struct RoomRequest<'a> {
    pub is_direct: bool,
    /// An upgraded room's replacement: its rule and power levels are the old room's.
    pub upgrade: bool,
    /// Published in the room directory.
    pub published: bool,
    /// The join rule the preset and the initial state give.
    pub join_rule: &'a str,
    /// `(type, state_key, content)` of the initial state.
    pub initial_state: &'a mut Vec<(String, String, JsonValue)>,
    pub power_level_override: &'a Option<Map<String, JsonValue>>,
}

/// Checks a room request and completes its initial state; the power levels to start from.
pub fn apply(request: RoomRequest<'_>) -> ServiceResult<Map<String, JsonValue>> {
    let given = request
        .initial_state
        .iter()
        .find(|(kind, key, _)| kind == ACCESS_RULES_EVENT && key.is_empty())
        .map(|(_, _, content)| content);
    let rule = match given {
        Some(content) => AccessRule::of(content).ok_or_else(|| {
            ServiceError::InvalidParam(
                "The access rule is restricted, unrestricted or direct".to_owned(),
            )
        })?,
        None if request.is_direct => AccessRule::Direct,
        None => AccessRule::Restricted,
    };
    if (rule == AccessRule::Direct) != request.is_direct && !request.upgrade {
        return Err(ServiceError::InvalidParam(
            "A room is direct (is_direct) exactly when its access rule is direct".to_owned(),
        ));
    }
    if request.published && rule != AccessRule::Restricted {
        return Err(ServiceError::InvalidParam(format!(
            "Only restricted rooms are published, not {} ones",
            rule.as_str()
        )));
    }
    let public = request.join_rule == "public";
    if rule == AccessRule::Direct && public {
        return Err(ServiceError::InvalidParam(
            "A direct room cannot be public".to_owned(),
        ));
    }
    if given.is_none() {
        request.initial_state.push((
            ACCESS_RULES_EVENT.to_owned(),
            String::new(),
            json!({"rule": rule.as_str()}),
        ));
    }
    let has = |kind: &str, state: &[(String, String, JsonValue)]| {
        state.iter().any(|(k, key, _)| k == kind && key.is_empty())
    };
    if !has("m.room.history_visibility", request.initial_state) {
        let visibility = if public { "shared" } else { "invited" };
        request.initial_state.push((
            "m.room.history_visibility".to_owned(),
            String::new(),
            json!({"history_visibility": visibility}),
        ));
    }
    request
        .initial_state
        .retain(|(kind, _, _)| kind != "m.room.guest_access");
    request.initial_state.push((
        "m.room.guest_access".to_owned(),
        String::new(),
        json!({"guest_access": "forbidden"}),
    ));
    if !request.upgrade {
        check_floors(request.power_level_override)?;
    }
    Ok(default_power_levels())
}

/// The State's defaults; a request's own power levels replace them key by key.
fn default_power_levels() -> Map<String, JsonValue> {
    let levels = json!({
        "users_default": 0, "events_default": 0, "state_default": 100,
        "ban": 50, "kick": 50, "redact": 50, "invite": 50,
        "events": {
            "m.room.name": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50, "m.room.avatar": 50, "m.room.tombstone": 100,
            "m.room.server_acl": 100, "m.room.encryption": 100, "m.call.member": 0,
            "m.beacon_info": 0
        },
        "notifications": {"room": 50}
    });
    match levels {
        JsonValue::Object(levels) => levels,
        _ => Map::new(),
    }
}

/// A client may not lower `invite` below 50 nor `state_default` below 100.
fn check_floors(levels: &Option<Map<String, JsonValue>>) -> ServiceResult<()> {
    let Some(levels) = levels else {
        return Ok(());
    };
    for (key, floor) in [("invite", 50), ("state_default", 100)] {
        let level = levels
            .get(key)
            .map(|value| value.as_i64().unwrap_or(i64::MIN));
        if level.is_some_and(|level| level < floor) {
            return Err(ServiceError::InvalidParam(format!(
                "{key} may not be lower than {floor} here"
            )));
        }
    }
    Ok(())
}
