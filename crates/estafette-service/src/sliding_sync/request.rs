//! What a sliding sync request asks for, and the bounds it must stay within.

use std::collections::BTreeMap;
use std::time::Duration;

use ruma::OwnedRoomId;

use crate::{ServiceError, ServiceResult};

/// Lists, ranges per list, `required_state` entries and room subscriptions per request: far
/// above what clients send, low enough that a request cannot make the server sort or read
/// without end.
const MAX_LISTS: usize = 100;
const MAX_RANGES: usize = 100;
const MAX_REQUIRED_STATE: usize = 100;
const MAX_SUBSCRIPTIONS: usize = 1000;
/// MSC4186: list names are at most 64 characters.
const MAX_LIST_NAME: usize = 64;
const MAX_CONN_ID: usize = 128;
/// Timeline events per room and to-device messages per response at most.
pub(super) const MAX_TIMELINE_LIMIT: u32 = 100;
pub(super) const MAX_TO_DEVICE_LIMIT: u32 = 1000;

#[derive(Debug, Clone, Default)]
pub struct SlidingSyncRequest {
    /// `conn_id`, empty when the client sends none.
    pub conn_id: String,
    pub pos: Option<String>,
    pub timeout: Duration,
    pub set_presence: Option<String>,
    pub lists: BTreeMap<String, ListRequest>,
    pub room_subscriptions: BTreeMap<OwnedRoomId, RoomConfig>,
    pub extensions: ExtensionsRequest,
}

/// What to send of a room: its state events matching `required_state` (`*` for any type or
/// key, `$ME` for the user, `$LAZY` for the senders of the timeline's events) and its newest
/// `timeline_limit` events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RoomConfig {
    pub required_state: Vec<(String, String)>,
    pub timeline_limit: u32,
}

impl RoomConfig {
    /// Both configurations at once: every state entry either asks for, the longer timeline.
    pub(super) fn merge(&mut self, other: &RoomConfig) {
        for entry in &other.required_state {
            if !self.required_state.contains(entry) {
                self.required_state.push(entry.clone());
            }
        }
        self.timeline_limit = self.timeline_limit.max(other.timeline_limit);
    }

    /// A digest of `required_state`, recorded with a room sent, so that a room asked for again
    /// with other state gets that state.
    pub(super) fn state_digest(&self) -> String {
        let mut entries: Vec<String> = self
            .required_state
            .iter()
            .map(|(kind, key)| format!("{}|{}", kind.len(), kind) + key)
            .collect();
        entries.sort();
        entries.dedup();
        let hash = <sha2::Sha256 as sha2::Digest>::digest(entries.join("\n").as_bytes());
        hash.iter().take(12).map(|b| format!("{b:02x}")).collect()
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// Inclusive index ranges into the sorted list.
    pub ranges: Vec<(u64, u64)>,
    pub config: RoomConfig,
    pub filters: ListFilters,
}

#[derive(Debug, Clone, Default)]
pub struct ListFilters {
    pub is_dm: Option<bool>,
    pub is_encrypted: Option<bool>,
    pub is_invite: Option<bool>,
    /// Room types to keep (`None` for rooms without a type); empty keeps every type.
    pub room_types: Vec<Option<String>>,
    pub not_room_types: Vec<Option<String>>,
}

impl ListFilters {
    /// Whether the filters need to look into rooms' state.
    pub(super) fn reads_state(&self) -> bool {
        self.is_encrypted.is_some()
            || !self.room_types.is_empty()
            || !self.not_room_types.is_empty()
    }
}

#[derive(Debug, Clone, Default)]
pub struct ExtensionsRequest {
    pub to_device: Option<ToDeviceRequest>,
    pub e2ee: bool,
    pub account_data: Option<ExtensionScope>,
    pub receipts: Option<ExtensionScope>,
    pub typing: Option<ExtensionScope>,
    /// Thread subscription changes (MSC4308), at most this many per response.
    pub thread_subscriptions: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct ToDeviceRequest {
    pub since: Option<String>,
    pub limit: Option<u32>,
}

/// Which rooms an extension covers: those in range of `lists` (every list when `None`) and
/// `rooms` (`None` in it: every room subscription, `*`).
#[derive(Debug, Clone, Default)]
pub struct ExtensionScope {
    pub lists: Option<Vec<String>>,
    pub rooms: Option<Vec<Option<OwnedRoomId>>>,
}

impl SlidingSyncRequest {
    /// Whether the request reads the user's rooms at all.
    pub(super) fn needs_rooms(&self) -> bool {
        !self.lists.is_empty() || !self.room_subscriptions.is_empty()
    }

    pub(super) fn check(&self) -> ServiceResult<()> {
        let invalid = |message: String| Err(ServiceError::InvalidParam(message));
        if self.conn_id.len() > MAX_CONN_ID {
            return invalid(format!("conn_id is longer than {MAX_CONN_ID} characters"));
        }
        if self.lists.len() > MAX_LISTS {
            return invalid(format!("More than {MAX_LISTS} lists"));
        }
        if self.room_subscriptions.len() > MAX_SUBSCRIPTIONS {
            return invalid(format!("More than {MAX_SUBSCRIPTIONS} room subscriptions"));
        }
        for (name, list) in &self.lists {
            if name.is_empty() || name.chars().count() > MAX_LIST_NAME {
                return invalid(format!(
                    "List names are 1 to {MAX_LIST_NAME} characters long: '{name}'"
                ));
            }
            if list.ranges.len() > MAX_RANGES {
                return invalid(format!("List '{name}' has more than {MAX_RANGES} ranges"));
            }
            if let Some((start, end)) = list.ranges.iter().find(|(start, end)| start > end) {
                return invalid(format!(
                    "List '{name}' has the range [{start}, {end}], which ends before it starts"
                ));
            }
            check_config(&list.config, &format!("List '{name}'"))?;
        }
        for (room_id, config) in &self.room_subscriptions {
            check_config(config, &format!("The subscription to {room_id}"))?;
        }
        Ok(())
    }
}

fn check_config(config: &RoomConfig, what: &str) -> ServiceResult<()> {
    if config.required_state.len() > MAX_REQUIRED_STATE {
        return Err(ServiceError::InvalidParam(format!(
            "{what} asks for more than {MAX_REQUIRED_STATE} required_state entries"
        )));
    }
    if let Some((kind, _)) = config
        .required_state
        .iter()
        .find(|(kind, _)| kind.is_empty())
    {
        return Err(ServiceError::InvalidParam(format!(
            "{what} has a required_state entry with an empty event type ('{kind}')"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(entries: &[(&str, &str)], limit: u32) -> RoomConfig {
        RoomConfig {
            required_state: entries
                .iter()
                .map(|(k, s)| ((*k).to_owned(), (*s).to_owned()))
                .collect(),
            timeline_limit: limit,
        }
    }

    #[test]
    fn merged_configurations_ask_for_both_and_digests_ignore_order() {
        let mut list = config(&[("m.room.name", ""), ("m.room.member", "$LAZY")], 1);
        list.merge(&config(
            &[("m.room.pinned_events", ""), ("m.room.name", "")],
            20,
        ));
        assert_eq!(list.timeline_limit, 20);
        assert_eq!(list.required_state.len(), 3);
        let reordered = config(
            &[
                ("m.room.pinned_events", ""),
                ("m.room.member", "$LAZY"),
                ("m.room.name", ""),
            ],
            5,
        );
        assert_eq!(list.state_digest(), reordered.state_digest());
        assert_ne!(
            list.state_digest(),
            config(&[("m.room.name", "")], 1).state_digest()
        );
        // The type and key are not confused where they meet.
        assert_ne!(
            config(&[("ab", "c")], 1).state_digest(),
            config(&[("a", "bc")], 1).state_digest()
        );
    }

    #[test]
    fn ranges_that_end_before_they_start_and_oversized_requests_are_refused() {
        let mut request = SlidingSyncRequest::default();
        request.lists.insert(
            "all".to_owned(),
            ListRequest {
                ranges: vec![(0, 19), (30, 10)],
                ..Default::default()
            },
        );
        assert!(matches!(
            request.check(),
            Err(ServiceError::InvalidParam(_))
        ));
        request.lists.get_mut("all").unwrap().ranges = vec![(0, u64::MAX)];
        assert!(request.check().is_ok());
        request.lists.insert("x".repeat(65), ListRequest::default());
        assert!(request.check().is_err());
    }
}
