//! Rejected events (the spec's "rejection"): a received event that fails the auth rules
//! against its auth events or the state before it, or the room's access rules, is kept apart,
//! never state, shown or served. Events built on it are still checked, against the state as
//! if it had never been: the state after a rejected event is the state before it.

use estafette_storage::EventRecord;
use ruma::OwnedEventId;
use ruma::events::StateEventType;

use super::{RoomService, StateMap};
use crate::{Pdu, ServiceError, ServiceResult};

/// How many rejected events in a row are looked through for the state before an event.
const MAX_REJECTED_CHAIN: usize = 100;

impl RoomService {
    /// Records `pdu` as rejected for `reason`; the error to report it with.
    pub(crate) async fn reject(&self, pdu: &Pdu, reason: &str) -> ServiceError {
        tracing::info!(event_id = %pdu.event_id, room_id = %pdu.room_id, "rejected: {reason}");
        let stored = self
            .context
            .storage
            .events
            .reject(&pdu.event_id, &pdu.room_id, &pdu.json_string(), reason)
            .await;
        self.pdu_cache.remove(&pdu.event_id);
        match stored {
            Ok(()) => ServiceError::Forbidden(format!("Rejected: {reason}")),
            Err(e) => e.into(),
        }
    }

    /// Why the event was rejected, if it was.
    pub(crate) async fn rejection(
        &self,
        event_id: &ruma::EventId,
    ) -> ServiceResult<Option<String>> {
        Ok(self
            .context
            .storage
            .events
            .rejected(event_id)
            .await?
            .map(|(_, reason)| reason))
    }

    /// A rejected event, as it was received.
    pub(crate) async fn rejected_pdu(
        &self,
        event_id: &ruma::EventId,
    ) -> ServiceResult<Option<Pdu>> {
        match self.context.storage.events.rejected(event_id).await? {
            Some((json, _)) => Ok(Some(Pdu::from_json(event_id.to_owned(), &json)?)),
            None => Ok(None),
        }
    }

    /// The events the state before `prev_events` is made of, each with its record when it is
    /// in a timeline here: each previous event, or for a rejected one, the events before it
    /// (rejected ones looked through in turn). Only an event outside the timeline costs a
    /// look at the rejected ones.
    pub(crate) async fn through_rejected(
        &self,
        prev_events: &[OwnedEventId],
    ) -> ServiceResult<Vec<(OwnedEventId, Option<EventRecord>)>> {
        let mut todo = prev_events.to_vec();
        let mut found: Vec<(OwnedEventId, Option<EventRecord>)> = Vec::new();
        let mut looked_through = Vec::new();
        while let Some(id) = todo.pop() {
            if found.iter().any(|(known, _)| *known == id) || looked_through.contains(&id) {
                continue;
            }
            let record = self.context.storage.events.get(&id).await?;
            if let Some(record) = record.filter(|record| record.stream_ordering != 0) {
                found.push((id, Some(record)));
                continue;
            }
            match self.rejected_pdu(&id).await? {
                Some(rejected) if looked_through.len() < MAX_REJECTED_CHAIN => {
                    todo.extend(rejected.prev_events.iter().cloned());
                    looked_through.push(id);
                }
                Some(_) => looked_through.push(id),
                None => found.push((id, None)),
            }
        }
        Ok(found)
    }

    /// A state another server gave, without the events this server rejected: each such
    /// entry is taken back to what the rejected event replaced (its auth event of the same
    /// type and key), or left out.
    pub(crate) async fn without_rejected(&self, mut state: StateMap) -> ServiceResult<StateMap> {
        let mut changes = Vec::new();
        for (key, id) in &state {
            let Some(rejected) = self.rejected_pdu(id).await? else {
                continue;
            };
            let mut replaced = None;
            for auth in &rejected.auth_events {
                if let Some(event) = self.pdu(auth).await? {
                    let same_key = event.state_key.as_deref() == Some(key.1.as_str())
                        && StateEventType::from(event.kind.to_string()) == key.0;
                    if same_key {
                        replaced = Some(event.event_id);
                    }
                }
            }
            changes.push((key.clone(), replaced));
        }
        for (key, replaced) in changes {
            match replaced {
                Some(id) => state.insert(key, id),
                None => state.remove(&key),
            };
        }
        Ok(state)
    }
}
