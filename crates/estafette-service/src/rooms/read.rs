//! Reading rooms: state, members, history. Members read everything; former members read up to
//! the moment they left; others read nothing.

use ruma::events::StateEventType;
use ruma::{EventId, OwnedRoomId, RoomId, UserId};

use super::RoomService;
use crate::{Pdu, Requester, ServiceError, ServiceResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// A page of `/messages`: stream positions bracket it, as in `/sync` tokens.
#[derive(Debug, Clone)]
pub struct MessagesPage {
    pub chunk: Vec<Pdu>,
    pub start: i64,
    /// Absent when there is nothing further in that direction.
    pub end: Option<i64>,
    /// With lazy-loading: the member events of the chunk's senders.
    pub state: Vec<Pdu>,
}

impl RoomService {
    /// How far in the room's stream the requester may read: `None` while joined.
    pub(crate) async fn visible_until(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
    ) -> ServiceResult<Option<i64>> {
        self.room_rules(room_id).await?;
        let membership = self
            .context
            .storage
            .memberships
            .get(room_id, user_id)
            .await?;
        match membership {
            Some(m) if m.membership == "join" => Ok(None),
            Some(m) if matches!(m.membership.as_str(), "leave" | "ban") => {
                let joined_before = self.pdu(&m.event_id).await?.is_some();
                if joined_before {
                    Ok(Some(m.stream_ordering))
                } else {
                    Err(not_member())
                }
            }
            _ => Err(not_member()),
        }
    }

    /// The state as the requester may see it: current, or as it was when they left.
    async fn visible_state(
        &self,
        requester: &Requester,
        room_id: &RoomId,
    ) -> ServiceResult<super::StateMap> {
        match self.visible_until(&requester.user_id, room_id).await? {
            None => Ok(self.current_state(room_id).await?.0),
            Some(_) => {
                let membership = self
                    .context
                    .storage
                    .memberships
                    .get(room_id, &requester.user_id)
                    .await?;
                let record = match membership {
                    Some(m) => self.context.storage.events.get(&m.event_id).await?,
                    None => None,
                };
                let record = record.ok_or_else(not_member)?;
                self.load_state(record.state_group).await
            }
        }
    }

    pub async fn state(&self, requester: &Requester, room_id: &RoomId) -> ServiceResult<Vec<Pdu>> {
        let state = self.visible_state(requester, room_id).await?;
        let mut pdus = Vec::with_capacity(state.len());
        for event_id in state.values() {
            if let Some(pdu) = self.pdu(event_id).await? {
                pdus.push(pdu);
            }
        }
        Ok(pdus)
    }

    pub async fn state_event(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        kind: &StateEventType,
        state_key: &str,
    ) -> ServiceResult<Pdu> {
        let state = self.visible_state(requester, room_id).await?;
        let not_found =
            || ServiceError::NotFound(format!("No {kind} state with key '{state_key}'"));
        let event_id = state
            .get(&(kind.clone(), state_key.to_owned()))
            .ok_or_else(not_found)?;
        self.pdu(event_id).await?.ok_or_else(not_found)
    }

    /// Who is joined to the room now (any server).
    pub(crate) async fn joined_user_ids(
        &self,
        room_id: &RoomId,
    ) -> ServiceResult<Vec<ruma::OwnedUserId>> {
        joined_user_ids(&self.context, room_id).await
    }

    pub async fn members(
        &self,
        requester: &Requester,
        room_id: &RoomId,
    ) -> ServiceResult<Vec<Pdu>> {
        let mut members = self.state(requester, room_id).await?;
        members.retain(|pdu| pdu.kind == ruma::events::TimelineEventType::RoomMember);
        Ok(members)
    }

    /// `/joined_members`' member events: the requester's view, or, for an application
    /// service outside the room, the current ones when a user of its namespace is in it
    /// (BRIDGES.md §3.5, as Synapse allows).
    pub async fn members_for_joined(
        &self,
        requester: &Requester,
        room_id: &RoomId,
    ) -> ServiceResult<Vec<Pdu>> {
        let refused = match self.members(requester, room_id).await {
            Err(ServiceError::Forbidden(reason)) => reason,
            other => return other,
        };
        let service = requester
            .appservice
            .as_deref()
            .and_then(|id| self.context.appservices.by_id(id));
        let Some(service) = service else {
            return Err(ServiceError::Forbidden(refused));
        };
        let has_member = self
            .context
            .storage
            .memberships
            .of_room(room_id)
            .await?
            .iter()
            .any(|m| m.membership == "join" && service.is_user_of(&m.user_id));
        if !has_member {
            return Err(ServiceError::Forbidden(refused));
        }
        let (state, _) = self.current_state(room_id).await?;
        let mut members = Vec::new();
        for ((kind, _), event_id) in &state {
            if *kind == ruma::events::StateEventType::RoomMember
                && let Some(pdu) = self.pdu(event_id).await?
            {
                members.push(pdu);
            }
        }
        Ok(members)
    }

    /// `/members?at=`: the member events as they were at a stream position (capped at what
    /// the requester may see).
    pub async fn members_at(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        at: i64,
    ) -> ServiceResult<Vec<Pdu>> {
        let until = self.visible_until(&requester.user_id, room_id).await?;
        let at = until.map_or(at, |until| at.min(until));
        let Some(record) = self
            .context
            .storage
            .events
            .room_events(room_id, 0, at, false, 1)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(Vec::new());
        };
        let mut members = Vec::new();
        for ((kind, _), event_id) in self.load_state(record.state_group).await? {
            if kind == ruma::events::StateEventType::RoomMember {
                if let Some(pdu) = self.pdu(&event_id).await? {
                    members.push(pdu);
                }
            }
        }
        Ok(members)
    }

    pub async fn joined_rooms(&self, user_id: &UserId) -> ServiceResult<Vec<OwnedRoomId>> {
        let memberships = self.context.storage.memberships.of_user(user_id).await?;
        Ok(memberships
            .into_iter()
            .filter(|m| m.membership == "join")
            .map(|m| m.room_id)
            .collect())
    }

    /// `mutual_rooms`: the rooms both the requester and `other` are joined to, in room ID
    /// order, a page at a time after `from` (the last room of the previous page).
    pub async fn mutual_rooms(
        &self,
        requester: &Requester,
        other: &UserId,
        from: Option<&str>,
    ) -> ServiceResult<MutualRooms> {
        if *other == requester.user_id {
            return Err(ServiceError::InvalidParam(
                "Ask for the rooms you share with another user".into(),
            ));
        }
        let after = from
            .map(|token| {
                RoomId::parse(token).map_err(|_| {
                    ServiceError::InvalidParam(format!("Invalid mutual rooms token '{token}'"))
                })
            })
            .transpose()?;
        let theirs: std::collections::HashSet<OwnedRoomId> =
            self.joined_rooms(other).await?.into_iter().collect();
        let mut shared: Vec<OwnedRoomId> = self
            .joined_rooms(&requester.user_id)
            .await?
            .into_iter()
            .filter(|room| theirs.contains(room))
            .collect();
        shared.sort();
        let count = shared.len() as u64;
        let mut joined: Vec<OwnedRoomId> = shared
            .into_iter()
            .filter(|room| after.as_ref().is_none_or(|after| room > after))
            .take(MUTUAL_ROOMS_PAGE + 1)
            .collect();
        let next_batch = (joined.len() > MUTUAL_ROOMS_PAGE).then(|| {
            joined.truncate(MUTUAL_ROOMS_PAGE);
            joined.last().map(ToString::to_string).unwrap_or_default()
        });
        Ok(MutualRooms {
            joined,
            count,
            next_batch,
        })
    }

    pub(crate) async fn visible_event(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> ServiceResult<Pdu> {
        let until = self.visible_until(&requester.user_id, room_id).await?;
        let not_found = || ServiceError::NotFound(format!("Event {event_id} not found"));
        let record = self
            .context
            .storage
            .events
            .get(event_id)
            .await?
            .ok_or_else(not_found)?;
        if until.is_some_and(|until| record.stream_ordering > until) {
            return Err(not_found());
        }
        let group = record.state_group;
        let pdu = Pdu::from_record(record)?;
        if pdu.room_id != room_id
            || !self
                .history_view(&requester.user_id)
                .allows(&pdu, group)
                .await?
        {
            return Err(not_found());
        }
        Ok(pdu)
    }

    /// `/rooms/{roomId}/event/{eventId}`: the event with its bundled aggregations.
    pub async fn event(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> ServiceResult<Pdu> {
        let mut pdus = [self.visible_event(requester, room_id, event_id).await?];
        self.bundle(&requester.user_id, &mut pdus).await?;
        let [pdu] = pdus;
        Ok(pdu)
    }

    /// `/messages`: a page of the room's timeline from a stream position.
    #[allow(clippy::too_many_arguments)]
    pub async fn messages(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        from: Option<i64>,
        to: Option<i64>,
        direction: Direction,
        limit: u32,
        filter: &crate::EventFilter,
    ) -> ServiceResult<MessagesPage> {
        filter.check_bounds()?;
        let until = self.visible_until(&requester.user_id, room_id).await?;
        let newest = self.context.storage.streams.current().await?;
        let ceiling = until.unwrap_or(newest);
        let limit = limit.clamp(1, 1000);
        let (found, more, start) = match direction {
            Direction::Backward => {
                let from = from.unwrap_or(ceiling).min(ceiling);
                let floor = to.unwrap_or(i64::MIN);
                let (mut found, mut more) = self
                    .filtered_events(
                        &requester.user_id,
                        room_id,
                        floor,
                        from,
                        false,
                        limit,
                        filter,
                    )
                    .await?;
                // The start of what this server holds: older history may be on others.
                let mut rounds = 0;
                while !more
                    && to.is_none()
                    && rounds < super::backfill::MAX_BACKFILL_ROUNDS
                    && self.backfill_from_remote(room_id, limit).await? > 0
                {
                    rounds += 1;
                    (found, more) = self
                        .filtered_events(
                            &requester.user_id,
                            room_id,
                            floor,
                            from,
                            false,
                            limit,
                            filter,
                        )
                        .await?;
                }
                (found, more, from)
            }
            Direction::Forward => {
                let from = from.unwrap_or(i64::MIN);
                let until = to.unwrap_or(ceiling).min(ceiling);
                let (found, more) = self
                    .filtered_events(
                        &requester.user_id,
                        room_id,
                        from,
                        until,
                        true,
                        limit,
                        filter,
                    )
                    .await?;
                (found, more, from)
            }
        };
        let end = found.last().filter(|_| more).map(|found| {
            if direction == Direction::Backward {
                found.position - 1
            } else {
                found.position
            }
        });
        let mut chunk: Vec<Pdu> = found.into_iter().map(|found| found.pdu).collect();
        self.bundle(&requester.user_id, &mut chunk).await?;
        let mut state = Vec::new();
        if filter.lazy_load_members {
            let (current, _) = self.current_state(room_id).await?;
            let mut senders: Vec<&ruma::UserId> =
                chunk.iter().map(|pdu| pdu.sender.as_ref()).collect();
            senders.sort();
            senders.dedup();
            for sender in senders {
                let key = (ruma::events::StateEventType::RoomMember, sender.to_string());
                if let Some(event_id) = current.get(&key) {
                    if let Some(pdu) = self.pdu(event_id).await? {
                        state.push(pdu);
                    }
                }
            }
        }
        Ok(MessagesPage {
            chunk,
            start,
            end,
            state,
        })
    }
}

fn not_member() -> ServiceError {
    ServiceError::Forbidden("You are not a member of this room".into())
}

/// `/context`: an event with what surrounds it.
#[derive(Debug, Clone)]
pub struct EventContext {
    pub event: Pdu,
    /// Newest first.
    pub before: Vec<Pdu>,
    /// Oldest first.
    pub after: Vec<Pdu>,
    pub state: Vec<Pdu>,
    pub start: i64,
    pub end: i64,
}

impl RoomService {
    pub async fn context(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        event_id: &EventId,
        limit: u32,
    ) -> ServiceResult<EventContext> {
        let half = limit.min(100).div_ceil(2);
        let mut around = self
            .context_around(requester, room_id, event_id, half, half)
            .await?;
        let group = self
            .context
            .storage
            .events
            .get(event_id)
            .await?
            .map(|record| record.state_group)
            .unwrap_or_default();
        for id in self.load_state(group).await?.values() {
            if let Some(pdu) = self.pdu(id).await? {
                around.state.push(pdu);
            }
        }
        Ok(around)
    }

    /// An event with up to `before_limit` events before it and `after_limit` after it (no
    /// state).
    pub(crate) async fn context_around(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        event_id: &EventId,
        before_limit: u32,
        after_limit: u32,
    ) -> ServiceResult<EventContext> {
        let event = self.visible_event(requester, room_id, event_id).await?;
        let until = self.visible_until(&requester.user_id, room_id).await?;
        let storage = &self.context.storage;
        let record = storage
            .events
            .get(event_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("Event {event_id} not found")))?;
        let position = record.stream_ordering;
        let ceiling = match until {
            Some(until) => until,
            None => storage.streams.current().await?,
        };
        let before = storage
            .events
            .room_events(room_id, 0, position - 1, false, before_limit.min(100))
            .await?;
        let after = storage
            .events
            .room_events(room_id, position, ceiling, true, after_limit.min(100))
            .await?;
        let start = before
            .last()
            .map_or(position - 1, |r| r.stream_ordering - 1);
        let end = after.last().map_or(position, |r| r.stream_ordering);
        let mut view = self.history_view(&requester.user_id);
        let mut before = view.visible(before).await?;
        let mut after = view.visible(after).await?;
        let mut event = [event];
        self.bundle(&requester.user_id, &mut event).await?;
        self.bundle(&requester.user_id, &mut before).await?;
        self.bundle(&requester.user_id, &mut after).await?;
        let [event] = event;
        Ok(EventContext {
            event,
            before,
            after,
            state: Vec::new(),
            start,
            end,
        })
    }
}

impl RoomService {
    /// Up to `limit` events of `(after, until]` that pass `filter` and that `viewer` may see,
    /// in the direction asked, with their stream positions, and whether more remain. Past
    /// [`MAX_HIDDEN_SCANNED`] events hidden by the history visibility, the walk stops there.
    pub(crate) async fn filtered_events(
        &self,
        viewer: &UserId,
        room_id: &RoomId,
        mut after: i64,
        mut until: i64,
        forward: bool,
        limit: u32,
        filter: &crate::EventFilter,
    ) -> ServiceResult<(Vec<FoundEvent>, bool)> {
        let wanted = limit as usize + 1;
        let batch = if filter.is_open() {
            limit.saturating_add(1)
        } else {
            limit.saturating_add(1).max(50)
        };
        let mut found = Vec::with_capacity(wanted);
        let mut view = self.history_view(viewer);
        let mut hidden = 0;
        loop {
            let records = self.window(room_id, after, until, forward, batch).await?;
            let exhausted = records.len() < batch as usize;
            let last = records.last().map(|(position, _, _)| *position);
            for (position, group, pdu) in records.iter() {
                let (position, group, pdu) = (*position, *group, pdu.clone());
                if !view.allows(&pdu, group).await? {
                    hidden += 1;
                    if hidden > MAX_HIDDEN_SCANNED {
                        return Ok((found, false));
                    }
                    continue;
                }
                if filter.matches(&pdu) {
                    found.push(FoundEvent {
                        position,
                        state_group: group,
                        pdu,
                    });
                    if found.len() == wanted {
                        found.truncate(limit as usize);
                        return Ok((found, true));
                    }
                }
            }
            match last {
                Some(last) if !exhausted => {
                    if forward {
                        after = last;
                    } else {
                        until = last - 1;
                    }
                }
                _ => return Ok((found, false)),
            }
        }
    }
}

/// An event of a room's timeline with where it stands.
pub(crate) struct FoundEvent {
    pub position: i64,
    /// The state after the event (before it too, unless it is a state event).
    pub state_group: i64,
    pub pdu: Pdu,
}

/// Events hidden by the history visibility one walk passes before it stops: a member who
/// joined a `joined` room late cannot see further back, and the walk must not read the whole
/// history to find that out.
const MAX_HIDDEN_SCANNED: usize = 500;

/// Rooms of one `mutual_rooms` answer.
const MUTUAL_ROOMS_PAGE: usize = 100;

/// A page of the rooms two users share.
#[derive(Debug, Clone)]
pub struct MutualRooms {
    pub joined: Vec<OwnedRoomId>,
    /// All the rooms they share, beyond this page too.
    pub count: u64,
    pub next_batch: Option<String>,
}

/// Who is joined to the room now (any server), for the services without a `RoomService`.
pub(crate) async fn joined_user_ids(
    context: &crate::Context,
    room_id: &RoomId,
) -> ServiceResult<Vec<ruma::OwnedUserId>> {
    Ok(context
        .storage
        .memberships
        .of_room(room_id)
        .await?
        .into_iter()
        .filter(|member| member.membership == "join")
        .map(|member| member.user_id)
        .collect())
}
