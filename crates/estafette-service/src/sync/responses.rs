//! `/sync`: what changed for a user since a stream position, waiting (without polling) until
//! something does or the timeout passes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ruma::{OwnedEventId, OwnedRoomId, RoomId};
use serde_json::{Value as JsonValue, json};

use estafette_storage::{NotificationCounts, RoomWithNews, StreamNews};

use crate::{
    Context, Pdu, PresenceService, ReceiptService, Requester, RoomService, ServiceError,
    ServiceResult, TypingService,
};

/// The default number of timeline events per room when the filter does not say.
pub const DEFAULT_TIMELINE_LIMIT: u32 = 10;

/// To-device messages per sync response.
const TO_DEVICE_LIMIT: u32 = 100;

/// A position in the event stream, as clients see it (`s42`).
/// History fetched from other servers sits before position 0 (`b7` is position -7).
pub fn format_token(position: i64) -> String {
    if position < 0 {
        format!("b{}", position.unsigned_abs())
    } else {
        format!("s{position}")
    }
}

pub fn parse_token(token: &str) -> ServiceResult<i64> {
    let invalid = || ServiceError::InvalidParam(format!("Invalid stream token '{token}'"));
    if let Some(backfilled) = token.strip_prefix('b') {
        return backfilled
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| -n)
            .ok_or_else(invalid);
    }
    token
        .strip_prefix('s')
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(invalid)
}

#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub since: Option<String>,
    pub timeout: Duration,
    pub full_state: bool,
    pub timeline_limit: u32,
    pub filter: crate::RoomFilter,
    /// Return the state at the end of timelines (MSC4222 `use_state_after`).
    pub use_state_after: bool,
    /// Count thread notifications apart (`unread_thread_notifications` in the filter).
    pub thread_notifications: bool,
    /// The `set_presence` parameter: the presence this sync implies (`online` by default).
    pub set_presence: Option<String>,
}

/// A room's section of a sync response.
#[derive(Debug, Clone, Default)]
pub struct RoomTimeline {
    pub events: Vec<Pdu>,
    pub limited: bool,
    pub prev_batch: Option<String>,
    /// State up to the start of the timeline.
    pub state: Vec<Pdu>,
    /// The transaction IDs of events the syncing device sent, for its local echoes.
    pub transaction_ids: HashMap<OwnedEventId, String>,
    /// Room account data as (type, content JSON).
    pub account_data: Vec<(String, String)>,
    /// Typing and receipt events.
    pub ephemeral: Vec<JsonValue>,
    /// Unread (notifications, highlights) of the room, threads included unless counted apart.
    pub unread: (u64, u64),
    /// Per thread root, when the client asked for thread notifications apart.
    pub unread_threads: Vec<(OwnedEventId, u64, u64)>,
}

#[derive(Debug, Clone, Default)]
pub struct SyncResult {
    pub next_batch: String,
    pub joined: Vec<(OwnedRoomId, RoomTimeline)>,
    pub invited: Vec<(OwnedRoomId, Vec<JsonValue>)>,
    pub knocked: Vec<(OwnedRoomId, Vec<JsonValue>)>,
    pub left: Vec<(OwnedRoomId, RoomTimeline)>,
    /// Global account data as (type, content JSON).
    pub account_data: Vec<(String, String)>,
    /// `m.presence` events.
    pub presence: Vec<JsonValue>,
    /// Messages for the syncing device, oldest first.
    pub to_device: Vec<JsonValue>,
    /// Unclaimed one-time keys of the syncing device, per algorithm.
    pub one_time_key_counts: std::collections::BTreeMap<String, u64>,
    pub unused_fallback_key_types: Vec<String>,
    /// Users whose devices to refetch, and users no longer sharing a room.
    pub device_lists_changed: std::collections::BTreeSet<ruma::OwnedUserId>,
    pub device_lists_left: std::collections::BTreeSet<ruma::OwnedUserId>,
}

impl SyncResult {
    fn is_empty(&self) -> bool {
        self.joined.is_empty()
            && self.invited.is_empty()
            && self.knocked.is_empty()
            && self.left.is_empty()
            && self.account_data.is_empty()
            && self.presence.is_empty()
            && self.to_device.is_empty()
            && self.device_lists_changed.is_empty()
            && self.device_lists_left.is_empty()
    }
}

#[derive(Clone)]
pub struct SyncService {
    context: Arc<Context>,
    rooms: RoomService,
    typing: TypingService,
    receipts: ReceiptService,
    presence: PresenceService,
    device_keys: crate::DeviceKeyService,
}

impl SyncService {
    pub(crate) fn new(
        context: Arc<Context>,
        rooms: RoomService,
        typing: TypingService,
        receipts: ReceiptService,
        presence: PresenceService,
        device_keys: crate::DeviceKeyService,
    ) -> Self {
        Self {
            context,
            rooms,
            typing,
            receipts,
            presence,
            device_keys,
        }
    }

    pub async fn sync(
        &self,
        requester: &Requester,
        request: SyncRequest,
    ) -> ServiceResult<SyncResult> {
        let since = request.since.as_deref().map(parse_token).transpose()?;
        request.filter.check_bounds()?;
        self.presence
            .sync_activity(&requester.user_id, request.set_presence.as_deref())
            .await?;
        // Subscribe before looking, so an event arriving meanwhile still wakes us.
        let mut changes = self.context.notifier.subscribe(&requester.user_id);
        changes.borrow_and_update();
        let deadline = tokio::time::Instant::now() + request.timeout;
        let mut last = None;
        loop {
            // Everything a sync returns moves the stream: while it has not passed the client's
            // token there is nothing to compute (the client's poll right after a response).
            let news = self.news(requester, since, &request).await?;
            let moved = request.full_state || since.is_none_or(|since| news.position > since);
            if moved {
                let result = self.compute(requester, since, &request, news).await?;
                if since.is_none() || !result.is_empty() || request.full_state {
                    return Ok(result);
                }
                last = Some(result);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => continue,
                _ => break,
            }
        }
        match last {
            Some(result) => Ok(result),
            None => {
                let news = self.news(requester, since, &request).await?;
                self.compute(requester, since, &request, news).await
            }
        }
    }

    /// Where the stream stands for the requester, in one statement: for an incremental sync,
    /// what moved for the user since the token (its cost follows what changed, not what the
    /// user holds); otherwise the position alone, with everything to be read.
    async fn news(
        &self,
        requester: &Requester,
        since: Option<i64>,
        request: &SyncRequest,
    ) -> ServiceResult<StreamNews> {
        let streams = &self.context.storage.streams;
        Ok(match since {
            Some(since) if !request.full_state => {
                streams
                    .news(&requester.user_id, &requester.device_id, since)
                    .await?
            }
            _ => StreamNews {
                position: streams.current().await?,
                ..StreamNews::ALL
            },
        })
    }

    /// The response from `since` up to the position `news` was read at (read once per wake-up:
    /// it both decides whether to compute and bounds the response).
    async fn compute(
        &self,
        requester: &Requester,
        since: Option<i64>,
        request: &SyncRequest,
        news: StreamNews,
    ) -> ServiceResult<SyncResult> {
        let storage = &self.context.storage;
        let after = since.unwrap_or(0);
        let mut current = news.position;
        let incremental = since.is_some() && !request.full_state;
        // Delivering to-device messages acknowledges those the previous sync returned. When more
        // wait than one response carries, the whole response stops at the last one delivered.
        let messages = if news.to_device {
            storage
                .to_device
                .take(
                    &requester.user_id,
                    &requester.device_id,
                    after,
                    TO_DEVICE_LIMIT,
                )
                .await?
        } else {
            Vec::new()
        };
        if messages.len() == TO_DEVICE_LIMIT as usize {
            if let Some(last) = messages.last() {
                current = current.min(last.stream_id);
            }
        }
        let mut result = SyncResult {
            next_batch: format_token(current),
            ..Default::default()
        };
        for message in messages {
            let content: JsonValue =
                serde_json::from_str(&message.content_json).unwrap_or_default();
            result.to_device.push(
                json!({"sender": message.sender, "type": message.event_type, "content": content}),
            );
        }
        let mut room_account_data: HashMap<OwnedRoomId, Vec<(String, String)>> = HashMap::new();
        let changed_data = if news.account_data {
            storage
                .account_data
                .changed_since(&requester.user_id, after)
                .await?
        } else {
            Vec::new()
        };
        for entry in changed_data {
            match entry.room_id {
                Some(room_id) => room_account_data
                    .entry(room_id)
                    .or_default()
                    .push((entry.data_type, entry.content_json)),
                None => result
                    .account_data
                    .push((entry.data_type, entry.content_json)),
            }
        }
        // Clients read the push rules from the first sync, changed or not.
        let push_rules = crate::rooms::PUSH_RULES;
        let stored = result
            .account_data
            .iter()
            .position(|(t, _)| t == push_rules)
            .map(|i| result.account_data.remove(i).1);
        if since.is_none() || stored.is_some() {
            let content = crate::sync::push::rules_content(stored.as_deref(), &requester.user_id);
            result.account_data.push((push_rules.to_owned(), content));
        }
        self.rooms_of(
            requester,
            since,
            request,
            current,
            &news,
            room_account_data,
            &mut result,
        )
        .await?;
        (result.one_time_key_counts, result.unused_fallback_key_types) = if incremental {
            news.keys.clone()
        } else {
            self.device_keys
                .key_counts(&requester.user_id, &requester.device_id)
                .await?
        };
        if let Some(since) = since
            && (news.device_lists || news.room_memberships || news.memberships)
        {
            (result.device_lists_changed, result.device_lists_left) = self
                .device_keys
                .changes(&requester.user_id, since, current)
                .await?;
        }
        if news.presence {
            result.presence = self
                .presence
                .events_since(&requester.user_id, after)
                .await?;
        }
        Ok(result)
    }

    /// The joined, invited, knocked and left sections. An incremental sync looks only at the
    /// joined rooms with something new, and lists the user's memberships only when one of
    /// them changed or typing or room account data name rooms to check.
    #[allow(clippy::too_many_arguments)]
    async fn rooms_of(
        &self,
        requester: &Requester,
        since: Option<i64>,
        request: &SyncRequest,
        current: i64,
        news: &StreamNews,
        mut room_account_data: HashMap<OwnedRoomId, Vec<(String, String)>>,
        result: &mut SyncResult,
    ) -> ServiceResult<()> {
        let storage = &self.context.storage;
        let after = since.unwrap_or(0);
        let with_news: Option<HashMap<&RoomId, &RoomWithNews>> = match since {
            Some(_) if !request.full_state => Some(
                news.rooms
                    .iter()
                    .map(|room| (room.room_id.as_ref(), room))
                    .collect(),
            ),
            _ => None,
        };
        let memberships = match (&with_news, since) {
            (Some(rooms), Some(since))
                if !news.memberships
                    && room_account_data.is_empty()
                    && !self.typing.any_since(since) =>
            {
                // Nothing but events and receipts moved: the rooms with news are all there is.
                rooms
                    .keys()
                    .map(|room_id| Membership::joined((*room_id).to_owned()))
                    .collect()
            }
            _ => storage
                .memberships
                .of_user(&requester.user_id)
                .await?
                .into_iter()
                .map(Membership::from)
                .collect::<Vec<_>>(),
        };
        let mut joined = Vec::new();
        for membership in memberships {
            let changed = since.is_none_or(|since| membership.stream_ordering > since);
            if !request.filter.includes(&membership.room_id) {
                continue;
            }
            match membership.membership.as_str() {
                "join" => {
                    let full = request.full_state || changed;
                    let room_id = &membership.room_id;
                    // `None`: everything may have moved (a sync without a token, or full state).
                    let key: &RoomId = room_id;
                    let room_news = with_news.as_ref().map(|rooms| rooms.get(&key).copied());
                    let quiet = room_news.is_some_and(|news| news.is_none())
                        && !full
                        && !room_account_data.contains_key(room_id)
                        && self.typing.typing_since(room_id, since).is_none();
                    if quiet {
                        continue;
                    }
                    let moved = |what: fn(&RoomWithNews) -> bool| {
                        room_news.is_none_or(|news| news.is_some_and(what))
                    };
                    let window = Window {
                        after,
                        until: current,
                        with_state: full,
                        state_if_limited: true,
                    };
                    let mut timeline = self.timeline(requester, room_id, window, request).await?;
                    timeline.account_data = room_account_data.remove(room_id).unwrap_or_default();
                    joined.push(JoinedRoom {
                        room_id: membership.room_id,
                        timeline,
                        receipts_moved: moved(|news| news.receipts),
                        relations: moved(|news| news.relations),
                        full,
                    });
                }
                "invite" if changed => {
                    let stripped = self
                        .stripped_state(
                            requester,
                            &membership.room_id,
                            membership.event_id.as_deref(),
                        )
                        .await?;
                    result.invited.push((membership.room_id, stripped));
                }
                "knock" if changed => {
                    let stripped = self
                        .stripped_state(
                            requester,
                            &membership.room_id,
                            membership.event_id.as_deref(),
                        )
                        .await?;
                    result.knocked.push((membership.room_id, stripped));
                }
                "leave" | "ban"
                    if !membership.forgotten
                        && ((since.is_some() && changed)
                            || (since.is_none() && request.filter.include_leave)) =>
                {
                    let window = Window {
                        after,
                        until: membership.stream_ordering,
                        with_state: since.is_none(),
                        state_if_limited: true,
                    };
                    let mut timeline = self
                        .timeline(requester, &membership.room_id, window, request)
                        .await?;
                    self.decorate(requester, &mut [(&mut timeline, true)])
                        .await?;
                    result.left.push((membership.room_id, timeline));
                }
                _ => {}
            }
        }
        self.finish_joined(requester, since, request, joined, result)
            .await
    }

    /// Adds each joined room's ephemeral events and unread counts, read for all the rooms at
    /// once, and keeps the rooms with something to say.
    async fn finish_joined(
        &self,
        requester: &Requester,
        since: Option<i64>,
        request: &SyncRequest,
        mut joined: Vec<JoinedRoom>,
        result: &mut SyncResult,
    ) -> ServiceResult<()> {
        let mut timelines: Vec<(&mut RoomTimeline, bool)> = joined
            .iter_mut()
            .map(|room| (&mut room.timeline, room.relations))
            .collect();
        self.decorate(requester, &mut timelines).await?;
        let with_receipts: Vec<&RoomId> = joined
            .iter()
            .filter(|room| room.receipts_moved)
            .map(|room| room.room_id.as_ref())
            .collect();
        let mut receipts = self
            .receipts
            .receipts_since(&requester.user_id, &with_receipts, since.unwrap_or(0))
            .await?;
        let rooms: Vec<&RoomId> = joined.iter().map(|room| room.room_id.as_ref()).collect();
        let mut counts: HashMap<OwnedRoomId, Vec<NotificationCounts>> = HashMap::new();
        if !rooms.is_empty() {
            for count in self
                .context
                .storage
                .push_actions
                .unread_counts(&requester.user_id, &rooms)
                .await?
            {
                counts.entry(count.room_id.clone()).or_default().push(count);
            }
        }
        for mut room in joined {
            let timeline = &mut room.timeline;
            if let Some(typing) = self.typing.typing_since(&room.room_id, since) {
                timeline
                    .ephemeral
                    .push(json!({"type": "m.typing", "content": {"user_ids": typing}}));
            }
            if let Some(content) = receipts.remove(&room.room_id) {
                timeline
                    .ephemeral
                    .push(json!({"type": "m.receipt", "content": content}));
            }
            let room_counts = counts.remove(&room.room_id).unwrap_or_default();
            add_unread_counts(room_counts, request.thread_notifications, timeline);
            let has_news = !timeline.events.is_empty()
                || !timeline.account_data.is_empty()
                || !timeline.ephemeral.is_empty();
            if since.is_none() || room.full || has_news {
                result.joined.push((room.room_id, room.timeline));
            }
        }
        Ok(())
    }

    /// Adds what the events of several rooms' timelines carry beyond themselves, read for all
    /// the rooms at once: bundled relations (looked up only in the timelines whose flag says
    /// an event of them may be a relation's target) and the syncing device's transaction IDs.
    pub(crate) async fn decorate(
        &self,
        requester: &Requester,
        timelines: &mut [(&mut RoomTimeline, bool)],
    ) -> ServiceResult<()> {
        for relations in [true, false] {
            let mut events = Vec::new();
            let mut lengths = Vec::new();
            for (timeline, _) in timelines.iter_mut().filter(|(_, r)| *r == relations) {
                lengths.push(timeline.events.len());
                events.append(&mut timeline.events);
            }
            self.rooms
                .bundle_with(&requester.user_id, &mut events, relations)
                .await?;
            let mut events = events.into_iter();
            for ((timeline, _), length) in timelines
                .iter_mut()
                .filter(|(_, r)| *r == relations)
                .zip(lengths)
            {
                timeline.events = events.by_ref().take(length).collect();
            }
        }
        let own: Vec<&ruma::EventId> = timelines
            .iter()
            .flat_map(|(timeline, _)| timeline.events.iter())
            .filter(|e| e.sender == requester.user_id)
            .map(|e| e.event_id.as_ref())
            .collect();
        if own.is_empty() {
            return Ok(());
        }
        let mut sent: HashMap<OwnedEventId, String> = HashMap::new();
        for (event_id, device, txn_id) in self.context.storage.events.transactions_of(&own).await? {
            if device == requester.device_id.as_str() {
                sent.insert(event_id, txn_id);
            }
        }
        for (timeline, _) in timelines.iter_mut() {
            for event in &timeline.events {
                if let Some(txn_id) = sent.remove(&event.event_id) {
                    timeline
                        .transaction_ids
                        .insert(event.event_id.clone(), txn_id);
                }
            }
        }
        Ok(())
    }

    /// The newest events in `(after, until]` that pass the filter, and the room's state: before
    /// the timeline (or after it, with `use_state_after`) when `with_state` or when the timeline
    /// had to be cut; otherwise, with `use_state_after`, the state events of the timeline.
    pub(crate) async fn timeline(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        window: Window,
        request: &SyncRequest,
    ) -> ServiceResult<RoomTimeline> {
        let Window {
            after,
            until,
            with_state,
            state_if_limited,
        } = window;
        let storage = &self.context.storage;
        let filter = &request.filter;
        let (mut found, limited) = self
            .rooms
            .filtered_events(
                &requester.user_id,
                room_id,
                after,
                until,
                false,
                request.timeline_limit,
                &filter.timeline,
            )
            .await?;
        found.reverse();
        let first = found.first().map(|found| found.position);
        // Before an event that is not a state event, the state is the one it left.
        let state_before_first = found
            .first()
            .filter(|found| !found.pdu.is_state())
            .map(|found| found.state_group);
        let events: Vec<Pdu> = found.into_iter().map(|found| found.pdu).collect();
        let mut timeline = RoomTimeline {
            limited,
            prev_batch: first.map(|f| format_token(f - 1)),
            ..Default::default()
        };
        if with_state || (limited && state_if_limited) {
            // The state before the timeline, or at its end with `use_state_after`.
            let boundary = match (request.use_state_after, first) {
                (false, Some(first)) => first - 1,
                _ => until,
            };
            let group = match state_before_first {
                Some(group) if !request.use_state_after => Some(group),
                _ => storage
                    .events
                    .room_events(room_id, 0, boundary, false, 1)
                    .await?
                    .into_iter()
                    .next()
                    .map(|before| before.state_group),
            };
            if let Some(group) = group {
                let state = self.rooms.load_state(group).await?;
                let in_timeline: Vec<&ruma::EventId> =
                    events.iter().map(|e| e.event_id.as_ref()).collect();
                let wanted: Vec<OwnedEventId> = state
                    .values()
                    .filter(|id| request.use_state_after || !in_timeline.contains(&id.as_ref()))
                    .cloned()
                    .collect();
                timeline.state = self.rooms.pdus(&wanted).await?;
            }
        } else if request.use_state_after {
            timeline.state = events.iter().filter(|e| e.is_state()).cloned().collect();
        }
        timeline.state.retain(|pdu| filter.state.matches(pdu));
        if filter.state.lazy_load_members {
            let mut needed: Vec<&ruma::UserId> = events.iter().map(|e| e.sender.as_ref()).collect();
            needed.push(&requester.user_id);
            timeline.state.retain(|pdu| {
                pdu.kind != ruma::events::TimelineEventType::RoomMember
                    || pdu
                        .state_key
                        .as_deref()
                        .is_some_and(|key| needed.iter().any(|u| u.as_str() == key))
            });
        }
        timeline.events = events;
        Ok(timeline)
    }

    pub(crate) async fn stripped_state(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        invite_event: Option<&ruma::EventId>,
    ) -> ServiceResult<Vec<JsonValue>> {
        // An invite to another server's room came with that server's view of it.
        if let Some(state) = self
            .context
            .storage
            .memberships
            .invite_state(room_id, &requester.user_id)
            .await?
        {
            if let Ok(stripped) = serde_json::from_str(&state) {
                return Ok(stripped);
            }
        }
        let mut stripped: Vec<JsonValue> = self
            .rooms
            .stripped_state_pdus(room_id)
            .await?
            .iter()
            .map(Pdu::stripped)
            .collect();
        if let Some(event_id) = invite_event
            && let Some(invite) = self.rooms.pdu(event_id).await?
        {
            stripped.push(invite.stripped());
        }
        Ok(stripped)
    }
}

/// A joined room's section, before its ephemeral events and unread counts.
struct JoinedRoom {
    room_id: OwnedRoomId,
    timeline: RoomTimeline,
    receipts_moved: bool,
    /// Whether an event of the timeline may have bundled relations (`false`: none does).
    relations: bool,
    /// Sent even when nothing in it is new (full state, or a membership that changed).
    full: bool,
}

/// Unread counts per thread: added up, or per thread root when the client counts threads
/// apart.
fn add_unread_counts(
    counts: Vec<NotificationCounts>,
    threads_apart: bool,
    timeline: &mut RoomTimeline,
) {
    for count in counts {
        let root = (!count.thread_id.is_empty())
            .then(|| OwnedEventId::try_from(count.thread_id.as_str()).ok())
            .flatten();
        match root {
            Some(root) if threads_apart => {
                timeline
                    .unread_threads
                    .push((root, count.notifications, count.highlights))
            }
            _ => {
                timeline.unread.0 += count.notifications;
                timeline.unread.1 += count.highlights;
            }
        }
    }
}

/// What a room's section covers.
pub(crate) struct Window {
    pub after: i64,
    pub until: i64,
    /// Whether the room's state goes with the timeline.
    pub with_state: bool,
    /// Whether a cut timeline brings the state before it (sliding sync picks its own).
    pub state_if_limited: bool,
}

/// The part of a membership the sync reads: from the store, or a joined room with news.
struct Membership {
    room_id: OwnedRoomId,
    membership: String,
    event_id: Option<OwnedEventId>,
    stream_ordering: i64,
    forgotten: bool,
}

impl Membership {
    /// A room the user is joined to and whose membership did not change in the window.
    fn joined(room_id: OwnedRoomId) -> Self {
        Self {
            room_id,
            membership: "join".to_owned(),
            event_id: None,
            stream_ordering: i64::MIN,
            forgotten: false,
        }
    }
}

impl From<estafette_storage::MembershipRecord> for Membership {
    fn from(record: estafette_storage::MembershipRecord) -> Self {
        Self {
            room_id: record.room_id,
            membership: record.membership,
            event_id: Some(record.event_id),
            stream_ordering: record.stream_ordering,
            forgotten: record.forgotten,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        assert_eq!(parse_token(&format_token(42)).unwrap(), 42);
        assert_eq!(parse_token(&format_token(-7)).unwrap(), -7);
        assert_eq!(format_token(-7), "b7");
        assert!(parse_token("b0").is_err() && parse_token("b-3").is_err());
        for bad in ["42", "s", "s-1", "sx", ""] {
            assert!(parse_token(bad).is_err(), "{bad}");
        }
    }
}
