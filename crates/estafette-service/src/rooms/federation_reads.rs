//! What other servers read from a room: an event, the state at an event, an auth chain, the
//! events they missed, and history (backfill). Only servers with a member in the room (now or
//! before) may read it.

use std::collections::HashSet;

use ruma::{EventId, OwnedEventId, RoomId, ServerName};

use super::RoomService;
use crate::{Pdu, ServiceError, ServiceResult};

/// The most events one `get_missing_events` or `backfill` answer carries.
const MAX_EVENTS_PER_ANSWER: usize = 100;

impl RoomService {
    async fn check_server_in_room(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
    ) -> ServiceResult<()> {
        let members = self.context.storage.memberships.of_room(room_id).await?;
        if members.iter().any(|m| m.user_id.server_name() == origin) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "{origin} has no member in {room_id}"
            )))
        }
    }

    /// `GET /event/{eventId}`.
    pub async fn event_for_server(
        &self,
        origin: &ServerName,
        event_id: &EventId,
    ) -> ServiceResult<Pdu> {
        let pdu = self
            .pdu(event_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("Event {event_id} not found")))?;
        self.check_server_in_room(origin, &pdu.room_id).await?;
        Ok(pdu)
    }

    /// `/state` and `/state_ids`: the room's state before `event_id`, and its auth chain.
    pub async fn state_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> ServiceResult<(Vec<Pdu>, Vec<Pdu>)> {
        let pdu = self.event_for_server(origin, event_id).await?;
        if pdu.room_id != room_id {
            return Err(ServiceError::NotFound(format!(
                "Event {event_id} is not in {room_id}"
            )));
        }
        let (_, rules) = self.room_rules(room_id).await?;
        let state = if pdu.prev_events.is_empty() {
            super::StateMap::new()
        } else {
            self.state_before(&pdu, &rules).await?
        };
        let mut pdus = Vec::with_capacity(state.len());
        for id in state.values() {
            if let Some(event) = self.pdu(id).await? {
                pdus.push(event);
            }
        }
        let auth_chain = self
            .auth_chain_pdus(state.values().cloned().collect())
            .await?;
        Ok((pdus, auth_chain))
    }

    /// `/event_auth`: the auth chain of an event.
    pub async fn auth_chain_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> ServiceResult<Vec<Pdu>> {
        let pdu = self.event_for_server(origin, event_id).await?;
        if pdu.room_id != room_id {
            return Err(ServiceError::NotFound(format!(
                "Event {event_id} is not in {room_id}"
            )));
        }
        self.auth_chain_pdus(vec![pdu.event_id]).await
    }

    /// `get_missing_events`: events before `latest` and after `earliest`, oldest first.
    pub async fn missing_events_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        earliest: &[OwnedEventId],
        latest: &[OwnedEventId],
        limit: usize,
        min_depth: u64,
    ) -> ServiceResult<Vec<Pdu>> {
        self.check_server_in_room(origin, room_id).await?;
        let limit = limit.min(MAX_EVENTS_PER_ANSWER);
        let mut seen: HashSet<OwnedEventId> = earliest.iter().chain(latest).cloned().collect();
        let mut todo: Vec<OwnedEventId> = Vec::new();
        for id in latest {
            if let Some(pdu) = self.pdu(id).await? {
                todo.extend(pdu.prev_events.iter().cloned());
            }
        }
        let mut found = Vec::new();
        while let Some(id) = todo.pop() {
            if found.len() >= limit {
                break;
            }
            if !seen.insert(id.clone()) {
                continue;
            }
            if let Some(pdu) = self.pdu(&id).await? {
                if pdu.room_id != room_id || pdu.depth < min_depth {
                    continue;
                }
                todo.extend(pdu.prev_events.iter().cloned());
                found.push(pdu);
            }
        }
        found.sort_by_key(|pdu| pdu.depth);
        Ok(found)
    }

    /// `/backfill`: `from` and the events before them, newest first, at most `limit`.
    pub async fn backfill_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        from: &[OwnedEventId],
        limit: usize,
    ) -> ServiceResult<Vec<Pdu>> {
        self.check_server_in_room(origin, room_id).await?;
        let limit = limit.min(MAX_EVENTS_PER_ANSWER);
        let mut seen = HashSet::new();
        let mut frontier: Vec<Pdu> = Vec::new();
        for id in from {
            if let Some(pdu) = self.pdu(id).await? {
                frontier.push(pdu);
            }
        }
        let mut found = Vec::new();
        // Highest depth first, so the answer is the most recent history.
        while found.len() < limit {
            frontier.sort_by_key(|pdu| pdu.depth);
            let Some(pdu) = frontier.pop() else { break };
            if pdu.room_id != room_id || !seen.insert(pdu.event_id.clone()) {
                continue;
            }
            for prev in &pdu.prev_events {
                if !seen.contains(prev) {
                    if let Some(prev) = self.pdu(prev).await? {
                        frontier.push(prev);
                    }
                }
            }
            found.push(pdu);
        }
        Ok(found)
    }
}
