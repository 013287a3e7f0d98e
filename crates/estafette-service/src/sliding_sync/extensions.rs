//! The extensions: to-device messages, end-to-end encryption counts and device lists, account
//! data, receipts and typing.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use estafette_storage::{StreamNews, ThreadSubscriptionRecord};
use ruma::{OwnedRoomId, OwnedUserId, RoomId};
use serde_json::{Value as JsonValue, json};

use super::connection::{Connection, Plan};
use super::request::{ExtensionScope, MAX_TO_DEVICE_LIMIT, SlidingSyncRequest};
use super::{RoomSection, SlidingSyncService};
use crate::{Requester, ServiceError, ServiceResult};

/// To-device messages per response unless the client asks otherwise.
const DEFAULT_TO_DEVICE_LIMIT: u32 = 100;

#[derive(Debug, Default)]
pub struct ExtensionsResponse {
    pub to_device: Option<ToDeviceSection>,
    pub e2ee: Option<E2eeSection>,
    /// Account data as (type, content JSON): global, and per room; `None` when not asked.
    pub account_data: Option<(
        Vec<(String, String)>,
        BTreeMap<OwnedRoomId, Vec<(String, String)>>,
    )>,
    /// Per room, `m.receipt` content.
    pub receipts: Option<BTreeMap<OwnedRoomId, JsonValue>>,
    /// Per room, who is typing.
    pub typing: Option<BTreeMap<OwnedRoomId, Vec<OwnedUserId>>>,
    pub thread_subscriptions: Option<ThreadSubscriptionsSection>,
}

/// The latest thread subscription changes since the connection's position.
#[derive(Debug, Default)]
pub struct ThreadSubscriptionsSection {
    pub changes: Vec<ThreadSubscriptionRecord>,
    /// Changes in `(lower, upper]` left out, for the client to page through.
    pub older: Option<(i64, i64)>,
}

#[derive(Debug, Default)]
pub struct ToDeviceSection {
    pub next_batch: String,
    pub events: Vec<JsonValue>,
}

#[derive(Debug, Default)]
pub struct E2eeSection {
    pub changed: BTreeSet<OwnedUserId>,
    pub left: BTreeSet<OwnedUserId>,
    pub one_time_key_counts: BTreeMap<String, u64>,
    pub unused_fallback_key_types: Vec<String>,
}

impl ExtensionsResponse {
    /// Whether there is anything a client would act on (key counts alone are not).
    pub fn is_empty(&self) -> bool {
        self.to_device.as_ref().is_none_or(|t| t.events.is_empty())
            && self
                .e2ee
                .as_ref()
                .is_none_or(|e| e.changed.is_empty() && e.left.is_empty())
            && self
                .account_data
                .as_ref()
                .is_none_or(|(global, rooms)| global.is_empty() && rooms.is_empty())
            && self.receipts.as_ref().is_none_or(BTreeMap::is_empty)
            && self.typing.as_ref().is_none_or(BTreeMap::is_empty)
            && self
                .thread_subscriptions
                .as_ref()
                .is_none_or(|t| t.changes.is_empty())
    }
}

impl ExtensionScope {
    fn covers(&self, room_id: &RoomId, plan: &Plan) -> bool {
        let in_lists = match &self.lists {
            None => plan
                .list_rooms
                .values()
                .any(|rooms| rooms.contains(room_id)),
            Some(names) => names.iter().any(|name| {
                plan.list_rooms
                    .get(name)
                    .is_some_and(|rooms| rooms.contains(room_id))
            }),
        };
        let in_rooms = match &self.rooms {
            None => plan.subscribed.contains(room_id),
            Some(rooms) => rooms.iter().any(|room| match room {
                None => plan.subscribed.contains(room_id),
                Some(wanted) => wanted == room_id,
            }),
        };
        in_lists || in_rooms
    }
}

impl SlidingSyncService {
    pub(super) async fn extensions(
        &self,
        requester: &Requester,
        request: &SlidingSyncRequest,
        connection: &Connection,
        plan: &Plan,
        sections: &BTreeMap<OwnedRoomId, RoomSection>,
        news: &StreamNews,
    ) -> ServiceResult<ExtensionsResponse> {
        let extensions = &request.extensions;
        let mut response = ExtensionsResponse::default();
        if let Some(to_device) = &extensions.to_device {
            response.to_device = Some(self.to_device(requester, to_device, connection).await?);
        }
        if extensions.e2ee {
            let mut e2ee = E2eeSection::default();
            (e2ee.one_time_key_counts, e2ee.unused_fallback_key_types) = news.keys.clone();
            if !connection.is_new()
                && connection.covering > connection.stream
                && (news.device_lists || news.room_memberships || news.memberships)
            {
                (e2ee.changed, e2ee.left) = self
                    .device_keys
                    .changes(&requester.user_id, connection.stream, connection.covering)
                    .await?;
            }
            response.e2ee = Some(e2ee);
        }
        let initial: Vec<&RoomId> = sections
            .iter()
            .filter(|(_, section)| section.initial)
            .map(|(room_id, _)| room_id.as_ref())
            .collect();
        if let Some(scope) = &extensions.account_data {
            response.account_data = Some(
                self.account_data(requester, scope, connection, plan, &initial, news)
                    .await?,
            );
        }
        if let Some(scope) = &extensions.receipts {
            response.receipts = Some(
                self.receipts_section(requester, scope, connection, plan, sections, news)
                    .await?,
            );
        }
        if let Some(scope) = &extensions.typing {
            let since = (!connection.is_new()).then_some(connection.stream);
            let mut typing = BTreeMap::new();
            if since.is_none_or(|since| self.typing.any_since(since)) {
                for room_id in plan.rooms.keys().filter(|room| scope.covers(room, plan)) {
                    let room_since = since.filter(|_| !initial.contains(&room_id.as_ref()));
                    if let Some(users) = self.typing.typing_since(room_id, room_since) {
                        if room_since.is_some() || !users.is_empty() {
                            typing.insert(room_id.clone(), users);
                        }
                    }
                }
            }
            response.typing = Some(typing);
        }
        if let Some(limit) = extensions.thread_subscriptions {
            // Everything at first (the latest changes, the rest to page through), then news.
            let since = if connection.is_new() {
                0
            } else {
                connection.stream
            };
            let mut section = ThreadSubscriptionsSection::default();
            if connection.covering > since {
                let (changes, older) = self
                    .rooms
                    .thread_subscription_changes(requester, since, connection.covering, limit)
                    .await?;
                section.older = older;
                section.changes = changes;
            }
            response.thread_subscriptions = Some(section);
        }
        Ok(response)
    }

    async fn to_device(
        &self,
        requester: &Requester,
        request: &super::ToDeviceRequest,
        connection: &Connection,
    ) -> ServiceResult<super::ToDeviceSection> {
        let since = match &request.since {
            None => 0,
            Some(since) => since
                .parse::<i64>()
                .ok()
                .filter(|s| *s >= 0)
                .ok_or_else(|| {
                    ServiceError::InvalidParam(format!("Invalid to-device token '{since}'"))
                })?,
        };
        // A token beyond what was ever handed out acknowledges nothing more than was sent.
        let since = since.min(connection.covering);
        let limit = request
            .limit
            .unwrap_or(DEFAULT_TO_DEVICE_LIMIT)
            .clamp(1, MAX_TO_DEVICE_LIMIT);
        let messages = self
            .context
            .storage
            .to_device
            .take(&requester.user_id, &requester.device_id, since, limit)
            .await?;
        let next_batch = messages
            .last()
            .map(|last| last.stream_id)
            .unwrap_or(connection.covering.max(since));
        let events = messages
            .into_iter()
            .map(|message| {
                let content: JsonValue =
                    serde_json::from_str(&message.content_json).unwrap_or_default();
                json!({"sender": message.sender, "type": message.event_type, "content": content})
            })
            .collect();
        Ok(super::ToDeviceSection {
            next_batch: next_batch.to_string(),
            events,
        })
    }

    /// Global account data (all of it on a new connection, then what changed, the push rules
    /// always first), and room account data of the rooms covered: all of it for a room the
    /// client sees for the first time.
    async fn account_data(
        &self,
        requester: &Requester,
        scope: &ExtensionScope,
        connection: &Connection,
        plan: &Plan,
        initial: &[&RoomId],
        news: &StreamNews,
    ) -> ServiceResult<(
        Vec<(String, String)>,
        BTreeMap<OwnedRoomId, Vec<(String, String)>>,
    )> {
        let account_data = &self.context.storage.account_data;
        let user_id = &requester.user_id;
        let new = connection.is_new();
        let mut global = Vec::new();
        let mut rooms: BTreeMap<OwnedRoomId, Vec<(String, String)>> = BTreeMap::new();
        // What changed since the connection's position (everything, on a new connection).
        let changed = match (new, news.account_data) {
            (true, _) => account_data.changed_since(user_id, 0).await?,
            (false, true) => {
                account_data
                    .changed_since(user_id, connection.stream)
                    .await?
            }
            (false, false) => Vec::new(),
        };
        // A room seen for the first time on a known connection gets all of its data.
        let first_sight = |room_id: &RoomId| !new && initial.contains(&room_id);
        let for_new_rooms = if !new && !initial.is_empty() {
            account_data.changed_since(user_id, 0).await?
        } else {
            Vec::new()
        };
        for entry in changed {
            match entry.room_id {
                None => global.push((entry.data_type, entry.content_json)),
                Some(room_id) => {
                    let known =
                        connection.sent.contains_key(&room_id) || plan.rooms.contains_key(&room_id);
                    if known && !first_sight(&room_id) && scope.covers(&room_id, plan) {
                        rooms
                            .entry(room_id)
                            .or_default()
                            .push((entry.data_type, entry.content_json));
                    }
                }
            }
        }
        for entry in for_new_rooms {
            if let Some(room_id) = entry.room_id
                && first_sight(&room_id)
                && scope.covers(&room_id, plan)
            {
                rooms
                    .entry(room_id)
                    .or_default()
                    .push((entry.data_type, entry.content_json));
            }
        }
        let push_rules = crate::rooms::PUSH_RULES;
        let stored = global
            .iter()
            .position(|(kind, _)| kind == push_rules)
            .map(|i| global.remove(i).1);
        if new || stored.is_some() {
            let content = crate::sync::rules_content(stored.as_deref(), &requester.user_id);
            global.push((push_rules.to_owned(), content));
        }
        Ok((global, rooms))
    }

    /// Receipts of the rooms covered: for a room seen for the first time, those on its
    /// timeline's events and the user's own; otherwise those that moved.
    async fn receipts_section(
        &self,
        requester: &Requester,
        scope: &ExtensionScope,
        connection: &Connection,
        plan: &Plan,
        sections: &BTreeMap<OwnedRoomId, RoomSection>,
        news: &StreamNews,
    ) -> ServiceResult<BTreeMap<OwnedRoomId, JsonValue>> {
        let covered = |room_id: &RoomId| scope.covers(room_id, plan);
        let first_sight: Vec<&RoomId> = sections
            .iter()
            .filter(|(room_id, section)| {
                section.initial && section.invite_state.is_none() && covered(room_id)
            })
            .map(|(room_id, _)| room_id.as_ref())
            .collect();
        let moved: Vec<&RoomId> = if connection.is_new() {
            Vec::new()
        } else {
            news.rooms
                .iter()
                .filter(|room| room.receipts && !first_sight.contains(&room.room_id.as_ref()))
                .map(|room| room.room_id.as_ref())
                .filter(|room_id| covered(room_id))
                .collect()
        };
        let mut found: BTreeMap<OwnedRoomId, JsonValue> = self
            .receipts
            .receipts_since(&requester.user_id, &moved, connection.stream)
            .await?
            .into_iter()
            .collect();
        let all: HashMap<OwnedRoomId, JsonValue> = self
            .receipts
            .receipts_since(&requester.user_id, &first_sight, 0)
            .await?;
        for (room_id, mut content) in all {
            let shown: HashSet<String> = sections
                .get(&room_id)
                .map(|s| s.timeline.iter().map(|e| e.event_id.to_string()).collect())
                .unwrap_or_default();
            if let Some(by_event) = content.as_object_mut() {
                by_event.retain(|event_id, receipts| {
                    if shown.contains(event_id) {
                        return true;
                    }
                    // Elsewhere, only the user's own receipts (where the user stopped reading).
                    if let Some(by_type) = receipts.as_object_mut() {
                        for users in by_type.values_mut() {
                            if let Some(users) = users.as_object_mut() {
                                users.retain(|user, _| user == requester.user_id.as_str());
                            }
                        }
                        by_type.retain(|_, users| users.as_object().is_some_and(|u| !u.is_empty()));
                        return !by_type.is_empty();
                    }
                    false
                });
                if !by_event.is_empty() {
                    found.insert(room_id, content);
                }
            }
        }
        Ok(found)
    }
}
