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
}

impl RoomService {
    /// How far in the room's stream the requester may read: `None` while joined.
    async fn visible_until(
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

    pub async fn members(
        &self,
        requester: &Requester,
        room_id: &RoomId,
    ) -> ServiceResult<Vec<Pdu>> {
        let mut members = self.state(requester, room_id).await?;
        members.retain(|pdu| pdu.kind == ruma::events::TimelineEventType::RoomMember);
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

    pub async fn event(
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
        let pdu = Pdu::from_json(record.event_id, &record.json)?;
        if pdu.room_id != room_id {
            return Err(not_found());
        }
        Ok(pdu)
    }

    /// `/messages`: a page of the room's timeline from a stream position.
    pub async fn messages(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        from: Option<i64>,
        to: Option<i64>,
        direction: Direction,
        limit: u32,
    ) -> ServiceResult<MessagesPage> {
        let until = self.visible_until(&requester.user_id, room_id).await?;
        let newest = self.context.storage.streams.current().await?;
        let ceiling = until.unwrap_or(newest);
        let limit = limit.clamp(1, 1000);
        let records = match direction {
            Direction::Backward => {
                let from = from.unwrap_or(ceiling).min(ceiling);
                let floor = to.unwrap_or(0);
                let records = self
                    .context
                    .storage
                    .events
                    .room_events(room_id, floor, from, false, limit)
                    .await?;
                let end = (records.len() as u32 == limit)
                    .then(|| records.last().map(|r| r.stream_ordering - 1))
                    .flatten();
                return self.page(records, from, end);
            }
            Direction::Forward => {
                let from = from.unwrap_or(0);
                let until = to.unwrap_or(ceiling).min(ceiling);
                let records = self
                    .context
                    .storage
                    .events
                    .room_events(room_id, from, until, true, limit)
                    .await?;
                let end = records
                    .last()
                    .map(|r| r.stream_ordering)
                    .filter(|_| records.len() as u32 == limit);
                (records, from, end)
            }
        };
        self.page(records.0, records.1, records.2)
    }

    fn page(
        &self,
        records: Vec<estafette_storage::EventRecord>,
        start: i64,
        end: Option<i64>,
    ) -> ServiceResult<MessagesPage> {
        let chunk = records
            .into_iter()
            .map(|record| Pdu::from_json(record.event_id, &record.json))
            .collect::<ServiceResult<Vec<_>>>()?;
        Ok(MessagesPage { chunk, start, end })
    }
}

fn not_member() -> ServiceError {
    ServiceError::Forbidden("You are not a member of this room".into())
}
