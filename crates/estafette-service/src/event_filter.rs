//! Event filters of `/sync` and `/messages` (spec: "Filtering"), applied to PDUs.

use ruma::{OwnedRoomId, OwnedUserId, RoomId};
use serde_json::Value as JsonValue;

use crate::Pdu;

/// Which events of a room to return.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Event types, with `*` as a wildcard; `None` allows all.
    pub types: Option<Vec<String>>,
    pub not_types: Vec<String>,
    pub senders: Option<Vec<OwnedUserId>>,
    pub not_senders: Vec<OwnedUserId>,
    /// Only events with (`true`) or without (`false`) a `url` in their content.
    pub contains_url: Option<bool>,
    /// Send only the member events needed to display the returned events.
    pub lazy_load_members: bool,
}

impl EventFilter {
    pub fn matches(&self, pdu: &Pdu) -> bool {
        let kind = pdu.kind.to_string();
        if self.not_types.iter().any(|pattern| glob(pattern, &kind)) {
            return false;
        }
        if self
            .types
            .as_ref()
            .is_some_and(|types| !types.iter().any(|pattern| glob(pattern, &kind)))
        {
            return false;
        }
        if self.not_senders.contains(&pdu.sender) {
            return false;
        }
        if self
            .senders
            .as_ref()
            .is_some_and(|senders| !senders.contains(&pdu.sender))
        {
            return false;
        }
        if let Some(wanted) = self.contains_url {
            let has_url = serde_json::from_str::<JsonValue>(pdu.content.get())
                .ok()
                .is_some_and(|content| content.get("url").is_some_and(JsonValue::is_string));
            if has_url != wanted {
                return false;
            }
        }
        true
    }

    /// Whether the filter lets every event through, so storage paging can be used directly.
    pub fn is_open(&self) -> bool {
        self.types.is_none()
            && self.not_types.is_empty()
            && self.senders.is_none()
            && self.not_senders.is_empty()
            && self.contains_url.is_none()
    }
}

/// Which rooms `/sync` covers and how.
#[derive(Debug, Clone, Default)]
pub struct RoomFilter {
    pub rooms: Option<Vec<OwnedRoomId>>,
    pub not_rooms: Vec<OwnedRoomId>,
    pub include_leave: bool,
    pub timeline: EventFilter,
    pub state: EventFilter,
}

impl RoomFilter {
    pub fn includes(&self, room_id: &RoomId) -> bool {
        !self.not_rooms.iter().any(|r| r == room_id)
            && self
                .rooms
                .as_ref()
                .is_none_or(|rooms| rooms.iter().any(|r| r == room_id))
    }
}

/// Matches an event type against a pattern where `*` stands for any characters.
fn glob(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((prefix, rest)) => {
            let Some(remainder) = value.strip_prefix(prefix) else {
                return false;
            };
            if rest.is_empty() {
                return true;
            }
            (0..=remainder.len())
                .any(|i| remainder.is_char_boundary(i) && glob(rest, &remainder[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn wildcards_match_like_the_spec_says() {
        assert!(glob("m.room.message", "m.room.message"));
        assert!(glob("m.*", "m.room.message"));
        assert!(glob("*.message", "m.room.message"));
        assert!(glob("m.*.member", "m.room.member"));
        assert!(!glob("m.room.member", "m.room.message"));
        assert!(!glob("org.*", "m.room.message"));
    }
}
