//! Event filters of `/sync` and `/messages` (spec: "Filtering"), applied to PDUs.

use ruma::{OwnedRoomId, OwnedUserId, RoomId};
use serde_json::Value as JsonValue;

use crate::limits::{MAX_FILTER_ENTRIES, MAX_PATTERN_BYTES, bounded, glob};
use crate::{Pdu, ServiceError, ServiceResult};

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

    /// Refuses a filter whose patterns or lists are beyond what the server matches.
    pub fn check_bounds(&self) -> ServiceResult<()> {
        let patterns = self.types.iter().flatten().chain(&self.not_types);
        for pattern in patterns {
            bounded("An event type pattern", pattern, MAX_PATTERN_BYTES)?;
        }
        let lists = [
            self.types.as_ref().map_or(0, Vec::len),
            self.not_types.len(),
            self.senders.as_ref().map_or(0, Vec::len),
            self.not_senders.len(),
        ];
        check_entries(&lists)
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
    /// Refuses a filter beyond what the server matches.
    pub fn check_bounds(&self) -> ServiceResult<()> {
        self.timeline.check_bounds()?;
        self.state.check_bounds()?;
        let lists = [
            self.rooms.as_ref().map_or(0, Vec::len),
            self.not_rooms.len(),
        ];
        check_entries(&lists)
    }

    pub fn includes(&self, room_id: &RoomId) -> bool {
        !self.not_rooms.iter().any(|r| r == room_id)
            && self
                .rooms
                .as_ref()
                .is_none_or(|rooms| rooms.iter().any(|r| r == room_id))
    }
}

fn check_entries(lengths: &[usize]) -> ServiceResult<()> {
    match lengths.iter().max() {
        Some(longest) if *longest > MAX_FILTER_ENTRIES => Err(ServiceError::InvalidParam(format!(
            "A filter list has {longest} entries; at most {MAX_FILTER_ENTRIES} are accepted"
        ))),
        _ => Ok(()),
    }
}
