//! A room's section of a response: everything on first sight (`initial`), then what is new
//! since the connection was last sent the room.

use std::collections::{BTreeMap, HashMap, HashSet};

use estafette_storage::StreamNews;
use ruma::events::StateEventType;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde_json::Value as JsonValue;

use super::SlidingSyncService;
use super::connection::{Connection, Plan};
use super::request::{MAX_TIMELINE_LIMIT, RoomConfig};
use super::room_list::ListedRoom;
use crate::sync::Window;
use crate::{Pdu, Requester, RoomTimeline, ServiceResult, StateMap, SyncRequest};

/// Members named when a room has no name, for the client to make one of them.
const HEROES: usize = 5;
/// Member events read to find them (the first ones may have left).
const HERO_CANDIDATES: usize = 20;

#[derive(Debug, Clone, Default)]
pub struct RoomSection {
    pub name: Option<String>,
    /// The avatar's `mxc://` URI, when the room has one.
    pub avatar: Option<String>,
    pub initial: bool,
    pub is_dm: bool,
    /// For an invite or a knock: the room's stripped state.
    pub invite_state: Option<Vec<JsonValue>>,
    /// Unread (notifications, highlights).
    pub unread: Option<(u64, u64)>,
    pub timeline: Vec<Pdu>,
    /// The transaction IDs of timeline events the syncing device sent.
    pub transaction_ids: HashMap<OwnedEventId, String>,
    pub required_state: Vec<Pdu>,
    pub prev_batch: Option<String>,
    pub limited: bool,
    pub joined_count: Option<u64>,
    pub invited_count: Option<u64>,
    pub num_live: Option<u64>,
    pub bump_stamp: Option<i64>,
    pub heroes: Option<Vec<Hero>>,
}

#[derive(Debug, Clone)]
pub struct Hero {
    pub user_id: OwnedUserId,
    pub displayname: Option<String>,
    pub avatar_url: Option<String>,
}

impl SlidingSyncService {
    /// The sections of the planned rooms the client lacks something of.
    pub(super) async fn room_sections(
        &self,
        requester: &Requester,
        connection: &mut Connection,
        plan: &Plan,
        news: &StreamNews,
    ) -> ServiceResult<BTreeMap<OwnedRoomId, RoomSection>> {
        let receipts_moved: HashSet<&RoomId> = news
            .rooms
            .iter()
            .filter(|room| room.receipts)
            .map(|room| room.room_id.as_ref())
            .collect();
        let mut sections = BTreeMap::new();
        let mut timelines: Vec<(OwnedRoomId, RoomTimeline)> = Vec::new();
        let mut counts_only: HashSet<OwnedRoomId> = HashSet::new();
        for (room_id, config) in &plan.rooms {
            let Some(room) = connection.rooms.rooms.get(room_id).cloned() else {
                continue;
            };
            let digest = config.state_digest();
            let sent = connection.sent.get(room_id).cloned();
            let mut section = RoomSection {
                bump_stamp: Some(room.bump.max(0)),
                is_dm: connection.rooms.is_dm(room_id),
                ..Default::default()
            };
            if matches!(room.membership.as_str(), "invite" | "knock") {
                if sent.is_some_and(|sent| sent.stream >= room.membership_stream) {
                    continue;
                }
                section.initial = true;
                section.invite_state = Some(
                    self.sync
                        .stripped_state(requester, room_id, Some(&room.membership_event))
                        .await?,
                );
                connection.record_sent(room_id, room.membership_stream, digest);
                sections.insert(room_id.clone(), section);
                continue;
            }
            let until = if room.is_joined() {
                connection.covering
            } else {
                room.membership_stream
            };
            let state_changed = sent.as_ref().is_none_or(|sent| sent.state_digest != digest);
            let after = sent.as_ref().map_or(0, |sent| sent.stream);
            let has_events = room.latest > after && until > after;
            if !state_changed && !has_events {
                if receipts_moved.contains(&&**room_id) && room.is_joined() {
                    // A receipt may have changed the unread counts: those alone are sent.
                    counts_only.insert(room_id.clone());
                    sections.insert(room_id.clone(), RoomSection::default());
                }
                continue;
            }
            section.initial = sent.is_none();
            let timeline = self
                .room_timeline(requester, room_id, config, after, until)
                .await?;
            let full_state = state_changed || timeline.limited;
            self.add_state(
                requester,
                &room,
                room_id,
                config,
                &timeline,
                full_state,
                &mut section,
            )
            .await?;
            section.limited = timeline.limited;
            section.prev_batch = timeline.prev_batch.clone();
            section.num_live = Some(if connection.is_new() || section.initial {
                0
            } else {
                timeline.events.len() as u64
            });
            connection.record_sent(room_id, until, digest);
            timelines.push((room_id.clone(), timeline));
            sections.insert(room_id.clone(), section);
        }
        self.finish_sections(requester, &mut sections, timelines, &counts_only)
            .await?;
        Ok(sections)
    }

    async fn room_timeline(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        config: &RoomConfig,
        after: i64,
        until: i64,
    ) -> ServiceResult<RoomTimeline> {
        let request = SyncRequest {
            since: None,
            timeout: std::time::Duration::ZERO,
            full_state: false,
            timeline_limit: config.timeline_limit.min(MAX_TIMELINE_LIMIT),
            filter: crate::RoomFilter::default(),
            use_state_after: false,
            thread_notifications: false,
            set_presence: None,
        };
        let window = Window {
            after,
            until,
            with_state: false,
            state_if_limited: false,
        };
        self.sync
            .timeline(requester, room_id, window, &request)
            .await
    }

    /// The room's `required_state` (all of it that matches, or only what the timeline changed),
    /// and its name, avatar and heroes when they may have changed.
    #[allow(clippy::too_many_arguments)]
    async fn add_state(
        &self,
        requester: &Requester,
        room: &ListedRoom,
        room_id: &RoomId,
        config: &RoomConfig,
        timeline: &RoomTimeline,
        full_state: bool,
        section: &mut RoomSection,
    ) -> ServiceResult<()> {
        let state = if room.is_joined() {
            self.rooms.current_state(room_id).await?.0
        } else {
            match self
                .context
                .storage
                .events
                .get(&room.membership_event)
                .await?
            {
                Some(record) => self.rooms.load_state(record.state_group).await?,
                None => StateMap::new(),
            }
        };
        let senders: HashSet<&str> = timeline
            .events
            .iter()
            .map(|event| event.sender.as_str())
            .chain([requester.user_id.as_str()])
            .collect();
        let mut wanted: Vec<OwnedEventId> = if full_state {
            matching_state(&state, config, &requester.user_id, &senders)
        } else {
            // The timeline carries its state changes; lazy members may be new to the client.
            let lazy = config
                .required_state
                .iter()
                .any(|(kind, key)| key == "$LAZY" && (kind == "*" || kind == "m.room.member"));
            senders
                .iter()
                .filter(|_| lazy)
                .filter_map(|user| state.get(&(StateEventType::RoomMember, (*user).to_owned())))
                .cloned()
                .collect()
        };
        wanted.sort();
        wanted.dedup();
        section.required_state = self.rooms.pdus(&wanted).await?;
        let naming_changed = full_state
            || timeline.events.iter().any(|event| {
                event.is_state()
                    && matches!(
                        event.kind.to_string().as_str(),
                        "m.room.name" | "m.room.avatar" | "m.room.member"
                    )
            });
        if naming_changed {
            self.name_room(requester, &state, section).await?;
        }
        Ok(())
    }

    async fn name_room(
        &self,
        requester: &Requester,
        state: &StateMap,
        section: &mut RoomSection,
    ) -> ServiceResult<()> {
        let text = |content: Option<JsonValue>, field: &str| {
            content
                .and_then(|c| c.get(field)?.as_str().map(str::to_owned))
                .filter(|value| !value.is_empty())
        };
        section.name = text(
            self.rooms
                .state_content(state, StateEventType::RoomName, "")
                .await?,
            "name",
        );
        section.avatar = text(
            self.rooms
                .state_content(state, StateEventType::RoomAvatar, "")
                .await?,
            "url",
        );
        if section.name.is_some() {
            return Ok(());
        }
        let candidates: Vec<OwnedEventId> = state
            .iter()
            .filter(|((kind, key), _)| {
                *kind == StateEventType::RoomMember && key != requester.user_id.as_str()
            })
            .take(HERO_CANDIDATES)
            .map(|(_, id)| id.clone())
            .collect();
        let mut heroes = Vec::new();
        for member in self.rooms.pdus(&candidates).await? {
            let content: JsonValue = serde_json::from_str(member.content.get()).unwrap_or_default();
            let membership = content.get("membership").and_then(|m| m.as_str());
            let Some(user_id) = member
                .state_key
                .as_deref()
                .and_then(|key| OwnedUserId::try_from(key).ok())
            else {
                continue;
            };
            if matches!(membership, Some("join" | "invite")) && heroes.len() < HEROES {
                let field = |name: &str| {
                    content
                        .get(name)
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                };
                heroes.push(Hero {
                    user_id,
                    displayname: field("displayname"),
                    avatar_url: field("avatar_url"),
                });
            }
        }
        section.heroes = Some(heroes);
        Ok(())
    }

    /// Adds what is read for all the sections at once: bundled relations and transaction IDs
    /// of the timelines, unread and member counts.
    async fn finish_sections(
        &self,
        requester: &Requester,
        sections: &mut BTreeMap<OwnedRoomId, RoomSection>,
        mut timelines: Vec<(OwnedRoomId, RoomTimeline)>,
        counts_only: &HashSet<OwnedRoomId>,
    ) -> ServiceResult<()> {
        {
            let mut decorated: Vec<(&mut RoomTimeline, bool)> =
                timelines.iter_mut().map(|(_, t)| (t, true)).collect();
            self.sync.decorate(requester, &mut decorated).await?;
        }
        for (room_id, timeline) in timelines {
            if let Some(section) = sections.get_mut(&room_id) {
                section.timeline = timeline.events;
                section.transaction_ids = timeline.transaction_ids;
            }
        }
        let joined: Vec<&RoomId> = sections
            .iter()
            .filter(|(_, section)| section.invite_state.is_none())
            .map(|(room_id, _)| room_id.as_ref())
            .collect();
        if joined.is_empty() {
            return Ok(());
        }
        let storage = &self.context.storage;
        let mut unread: HashMap<OwnedRoomId, (u64, u64)> = HashMap::new();
        for count in storage
            .push_actions
            .unread_counts(&requester.user_id, &joined)
            .await?
        {
            let entry = unread.entry(count.room_id).or_default();
            entry.0 += count.notifications;
            entry.1 += count.highlights;
        }
        let named: Vec<&RoomId> = sections
            .iter()
            .filter(|(room_id, section)| {
                section.invite_state.is_none() && !counts_only.contains(*room_id)
            })
            .map(|(room_id, _)| room_id.as_ref())
            .collect();
        let counts = storage.room_activity.member_counts(&named).await?;
        let counts: HashMap<OwnedRoomId, (u64, u64)> = counts
            .into_iter()
            .map(|c| (c.room_id, (c.joined, c.invited)))
            .collect();
        for (room_id, section) in sections.iter_mut() {
            if section.invite_state.is_some() {
                continue;
            }
            section.unread = Some(unread.get(room_id).copied().unwrap_or_default());
            if !counts_only.contains(room_id) {
                let (joined, invited) = counts.get(room_id).copied().unwrap_or_default();
                section.joined_count = Some(joined);
                section.invited_count = Some(invited);
            }
        }
        Ok(())
    }
}

/// The state events `config` asks for: `*` matches any type or key, `$ME` the user, and `$LAZY`
/// the members in `lazy` (the timeline's senders).
fn matching_state(
    state: &StateMap,
    config: &RoomConfig,
    user_id: &UserId,
    lazy: &HashSet<&str>,
) -> Vec<OwnedEventId> {
    let member = StateEventType::RoomMember;
    state
        .iter()
        .filter(|((kind, key), _)| {
            let kind_name = kind.to_string();
            config
                .required_state
                .iter()
                .any(|(wanted_kind, wanted_key)| {
                    let kind_matches = wanted_kind == "*" || *wanted_kind == kind_name;
                    let key_matches = match wanted_key.as_str() {
                        "*" => true,
                        "$ME" => key == user_id.as_str(),
                        "$LAZY" => *kind == member && lazy.contains(key.as_str()),
                        exact => exact == key,
                    };
                    kind_matches && key_matches
                })
        })
        .map(|(_, id)| id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use ruma::user_id;

    use super::*;

    #[test]
    fn required_state_matches_wildcards_me_and_lazy_members() {
        let mut state = StateMap::new();
        let entries = [
            ("m.room.name", "", "$name"),
            ("m.room.member", "@me:x", "$me"),
            ("m.room.member", "@talker:x", "$talker"),
            ("m.room.member", "@silent:x", "$silent"),
            ("m.space.child", "!a:x", "$child"),
        ];
        for (kind, key, id) in entries {
            state.insert(
                (StateEventType::from(kind), key.to_owned()),
                OwnedEventId::try_from(id).unwrap(),
            );
        }
        let config = |entries: &[(&str, &str)]| RoomConfig {
            required_state: entries
                .iter()
                .map(|(k, s)| ((*k).to_owned(), (*s).to_owned()))
                .collect(),
            timeline_limit: 1,
        };
        let me = user_id!("@me:x");
        let lazy: HashSet<&str> = ["@talker:x", "@me:x"].into();
        let found = |c: RoomConfig| {
            let mut ids: Vec<String> = matching_state(&state, &c, me, &lazy)
                .into_iter()
                .map(|id| id.to_string())
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(
            found(config(&[("m.room.name", ""), ("m.room.member", "$ME")])),
            ["$me", "$name"]
        );
        assert_eq!(
            found(config(&[("m.room.member", "$LAZY")])),
            ["$me", "$talker"]
        );
        assert_eq!(found(config(&[("m.space.child", "*")])), ["$child"]);
        assert_eq!(found(config(&[("*", "*")])).len(), 5);
        assert!(found(config(&[("m.room.topic", "")])).is_empty());
    }
}
