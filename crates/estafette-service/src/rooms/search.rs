//! Server-side search (`POST /search`): the text of messages, room names and topics is
//! indexed as events are stored (and forgotten when redacted); a search covers the rooms the
//! user is joined to, and only the events the rooms' history visibility lets them see.

use std::collections::BTreeMap;

use estafette_storage::{SearchEntry, SearchQuery};
use ruma::events::{StateEventType, TimelineEventType};
use ruma::{OwnedRoomId, OwnedUserId};
use serde_json::Value as JsonValue;

use super::RoomService;
use crate::limits::{MAX_SEARCH_TERM_BYTES, bounded};
use crate::{EventFilter, Pdu, Requester, ServiceError, ServiceResult};

/// The keys a search may look in, as the spec names them.
const SEARCH_KEYS: [&str; 3] = ["content.body", "content.name", "content.topic"];
/// Results of one page when the filter does not say, and at most.
const DEFAULT_LIMIT: u32 = 10;
const MAX_LIMIT: u32 = 100;
/// Words of one search term at most.
const MAX_WORDS: usize = 50;

/// A `room_events` search, parsed.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub term: String,
    /// Empty: every key of [`SEARCH_KEYS`].
    pub keys: Vec<String>,
    pub filter: EventFilter,
    pub rooms: Option<Vec<OwnedRoomId>>,
    pub not_rooms: Vec<OwnedRoomId>,
    pub limit: Option<u32>,
    /// Newest first (`recent`) rather than best first (`rank`).
    pub recent_first: bool,
    /// Events before and after each result, and whether to add their senders' profiles.
    pub context: Option<(u32, u32, bool)>,
    pub include_state: bool,
    pub next_batch: Option<String>,
}

/// One result, with what surrounds it when asked.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub rank: f64,
    pub event: Pdu,
    pub context: Option<SearchContext>,
}

#[derive(Debug, Clone)]
pub struct SearchContext {
    /// Newest first.
    pub before: Vec<Pdu>,
    /// Oldest first.
    pub after: Vec<Pdu>,
    pub start: i64,
    pub end: i64,
    /// Display name and avatar of the senders, when asked.
    pub profiles: BTreeMap<OwnedUserId, (Option<String>, Option<String>)>,
}

#[derive(Debug, Clone, Default)]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    /// How many events match in all (before visibility is checked).
    pub count: u64,
    /// The words searched for, for clients to highlight.
    pub highlights: Vec<String>,
    pub next_batch: Option<String>,
    /// The current state of the rooms of the results, when asked.
    pub state: BTreeMap<OwnedRoomId, Vec<Pdu>>,
}

impl RoomService {
    pub async fn search(
        &self,
        requester: &Requester,
        request: SearchRequest,
    ) -> ServiceResult<SearchResults> {
        let term = bounded("The search term", &request.term, MAX_SEARCH_TERM_BYTES)?;
        request.filter.check_bounds()?;
        let words = search_words(term);
        let keys = search_keys(&request.keys)?;
        let offset = match &request.next_batch {
            Some(token) => token
                .strip_prefix('o')
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(|| {
                    ServiceError::InvalidParam(format!("Invalid search token '{token}'"))
                })?,
            None => 0,
        };
        let limit = request.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let rooms: Vec<OwnedRoomId> = self
            .joined_rooms(&requester.user_id)
            .await?
            .into_iter()
            .filter(|room| {
                request
                    .rooms
                    .as_ref()
                    .is_none_or(|rooms| rooms.contains(room))
            })
            .filter(|room| !request.not_rooms.contains(room))
            .collect();
        let query = SearchQuery {
            words: &words,
            keys: &keys,
            rooms: &rooms,
            senders: request.filter.senders.as_deref(),
            not_senders: &request.filter.not_senders,
            recent_first: request.recent_first,
            offset,
            limit,
        };
        let (matches, count) = self.context.storage.search.search(&query).await?;
        let next_batch =
            (u64::from(offset) + u64::from(limit) < count).then(|| format!("o{}", offset + limit));
        let mut hits = Vec::with_capacity(matches.len());
        for found in matches {
            // History visibility and the filter's event types decide what is shown.
            let Ok(event) = self
                .visible_event(requester, &found.room_id, &found.event_id)
                .await
            else {
                continue;
            };
            if !request.filter.matches(&event) {
                continue;
            }
            let context = match request.context {
                Some((before, after, profiles)) => Some(
                    self.search_context(requester, &event, before, after, profiles)
                        .await?,
                ),
                None => None,
            };
            hits.push(SearchHit {
                rank: found.rank,
                event,
                context,
            });
        }
        let mut events: Vec<Pdu> = hits.iter().map(|hit| hit.event.clone()).collect();
        self.bundle(&requester.user_id, &mut events).await?;
        for (hit, event) in hits.iter_mut().zip(events) {
            hit.event = event;
        }
        let mut state = BTreeMap::new();
        if request.include_state {
            for hit in &hits {
                let room_id = &hit.event.room_id;
                if !state.contains_key(room_id) {
                    state.insert(room_id.clone(), self.state(requester, room_id).await?);
                }
            }
        }
        Ok(SearchResults {
            hits,
            count,
            highlights: words,
            next_batch,
            state,
        })
    }

    async fn search_context(
        &self,
        requester: &Requester,
        event: &Pdu,
        before: u32,
        after: u32,
        with_profiles: bool,
    ) -> ServiceResult<SearchContext> {
        let around = self
            .context_around(requester, &event.room_id, &event.event_id, before, after)
            .await?;
        let mut profiles = BTreeMap::new();
        if with_profiles {
            let (current, _) = self.current_state(&event.room_id).await?;
            let senders = around
                .before
                .iter()
                .chain(&around.after)
                .chain(std::iter::once(event))
                .map(|pdu| pdu.sender.clone());
            for sender in senders {
                if profiles.contains_key(&sender) {
                    continue;
                }
                let key = (StateEventType::RoomMember, sender.to_string());
                let member = match current.get(&key) {
                    Some(id) => self.pdu(id).await?,
                    None => None,
                };
                let content: JsonValue = member
                    .and_then(|pdu| serde_json::from_str(pdu.content.get()).ok())
                    .unwrap_or_default();
                let text = |field: &str| content[field].as_str().map(ToOwned::to_owned);
                profiles.insert(sender, (text("displayname"), text("avatar_url")));
            }
        }
        Ok(SearchContext {
            before: around.before,
            after: around.after,
            start: around.start,
            end: around.end,
            profiles,
        })
    }

    /// Indexes the searchable text of a stored event.
    pub(crate) async fn index_for_search(
        &self,
        pdu: &Pdu,
        stream_ordering: i64,
    ) -> ServiceResult<()> {
        let Some((key, text)) = search_text(pdu) else {
            return Ok(());
        };
        let entry = SearchEntry {
            event_id: &pdu.event_id,
            room_id: &pdu.room_id,
            sender: &pdu.sender,
            stream_ordering,
            key,
            text: &text,
        };
        self.context.storage.search.index(&entry).await?;
        Ok(())
    }
}

/// The event's searchable text and the key it is found under, if it has one.
pub(crate) fn search_text(pdu: &Pdu) -> Option<(&'static str, String)> {
    let (key, field) = match pdu.kind {
        TimelineEventType::RoomMessage => ("content.body", "body"),
        TimelineEventType::RoomName => ("content.name", "name"),
        TimelineEventType::RoomTopic => ("content.topic", "topic"),
        _ => return None,
    };
    let content: JsonValue = serde_json::from_str(pdu.content.get()).unwrap_or_default();
    let text = content[field].as_str().filter(|t| !t.is_empty())?;
    Some((key, text.to_owned()))
}

/// The words of a search term, split as the index splits text.
fn search_words(term: &str) -> Vec<String> {
    term.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(MAX_WORDS)
        .map(str::to_lowercase)
        .collect()
}

fn search_keys(keys: &[String]) -> ServiceResult<Vec<&'static str>> {
    if keys.is_empty() {
        return Ok(SEARCH_KEYS.to_vec());
    }
    keys.iter()
        .map(|key| {
            SEARCH_KEYS
                .iter()
                .find(|known| *known == key)
                .copied()
                .ok_or_else(|| {
                    ServiceError::InvalidParam(format!(
                        "Cannot search in {key}; the keys are {}",
                        SEARCH_KEYS.join(", ")
                    ))
                })
        })
        .collect()
}
