//! Fetching from other servers what a received event refers to: the previous events this
//! server missed (`get_missing_events`) and unknown auth events (`event_auth`).

use ruma::ServerName;
use ruma::api::federation::authorization::get_event_authorization::v1 as event_auth;
use ruma::api::federation::event::get_event::v1 as get_event;
use ruma::api::federation::event::get_missing_events::v1 as missing_events;
use ruma::api::federation::event::get_room_state_ids::v1 as state_ids;
use ruma::events::StateEventType;
use ruma::room_version_rules::RoomVersionRules;
use serde_json::value::RawValue as RawJsonValue;

use super::{RoomService, StateMap};
use crate::{Pdu, ServiceError, ServiceResult};

/// The most previous events asked for at once when some are missing.
const MISSING_EVENTS_LIMIT: u32 = 100;

/// The most unknown state events fetched one by one for a gap; a bigger gap is refused.
const MAX_FETCHED_STATE_EVENTS: usize = 1_000;

impl RoomService {
    /// Asks `origin` for the events between this server's latest events and `pdu`, and adds
    /// them oldest first. What cannot be fetched is left to the checks that follow.
    pub(crate) async fn fetch_missing_prev_events(
        &self,
        origin: &ServerName,
        pdu: &Pdu,
        rules: &RoomVersionRules,
    ) {
        // Previous events this server has in no timeline (rejected ones looked through).
        let missing = match self.through_rejected(&pdu.prev_events).await {
            Ok(known) => known.iter().any(|(_, record)| record.is_none()),
            Err(_) => return,
        };
        if !missing {
            return;
        }
        let earliest = match self
            .context
            .storage
            .events
            .forward_extremities(&pdu.room_id)
            .await
        {
            Ok(extremities) => extremities.into_iter().map(|(id, _)| id).collect(),
            Err(_) => return,
        };
        let mut request =
            missing_events::Request::new(pdu.room_id.clone(), earliest, vec![pdu.event_id.clone()]);
        request.limit = MISSING_EVENTS_LIMIT.into();
        let events = match self.federation.send(origin, request).await {
            Ok(response) => response.events,
            Err(e) => {
                tracing::info!(%origin, event_id = %pdu.event_id, "cannot fetch missing events: {e}");
                return;
            }
        };
        for missed in self.parse_all(&events, rules).await {
            if missed.room_id != pdu.room_id {
                continue;
            }
            let event_id = missed.event_id.clone();
            if let Err(e) = Box::pin(self.receive_locked(origin, missed, rules, false)).await {
                tracing::info!(%origin, %event_id, "a fetched missing event was refused: {e}");
            }
        }
    }

    /// Makes sure every auth event of `pdu` is known, asking `origin` for the auth chain
    /// when some are not; each fetched event is checked against its own auth events.
    pub(crate) async fn ensure_auth_events(
        &self,
        origin: &ServerName,
        pdu: &Pdu,
        rules: &RoomVersionRules,
    ) -> ServiceResult<()> {
        let mut missing = false;
        for id in &pdu.auth_events {
            if self.pdu(id).await?.is_none() {
                missing = true;
            }
        }
        if !missing {
            return Ok(());
        }
        let request = event_auth::Request::new(pdu.room_id.clone(), pdu.event_id.clone());
        let chain = match self.federation.send(origin, request).await {
            Ok(response) => response.auth_chain,
            Err(e) => {
                tracing::info!(%origin, event_id = %pdu.event_id, "cannot fetch auth events: {e}");
                return Ok(());
            }
        };
        self.store_checked_outliers(self.parse_all(&chain, rules).await, rules)
            .await;
        Ok(())
    }

    /// Stores events as outliers, oldest first, each only if its own auth events authorise it.
    pub(crate) async fn store_checked_outliers(
        &self,
        mut events: Vec<Pdu>,
        rules: &RoomVersionRules,
    ) {
        events.sort_by_key(|pdu| pdu.depth);
        for event in events {
            let known = matches!(self.pdu(&event.event_id).await, Ok(Some(_)));
            // What was rejected stays so, whoever hands it on again.
            if known || !matches!(self.rejection(&event.event_id).await, Ok(None)) {
                continue;
            }
            match self.check_against_auth_events(&event, rules).await {
                Ok(()) => {
                    if let Err(e) = self
                        .context
                        .storage
                        .events
                        .store_outlier(&event.event_id, &event.room_id, &event.json_string())
                        .await
                    {
                        tracing::warn!(event_id = %event.event_id, "cannot store an outlier: {e}");
                    }
                }
                Err(e) => tracing::info!(event_id = %event.event_id, "refused: {e}"),
            }
        }
    }

    /// The state before an event whose previous events this server lacks, as `origin` says
    /// (`/state_ids`); the events it names that are unknown here are fetched, and each must
    /// pass its own auth events. Only what passes counts.
    pub(crate) async fn fetch_state_before(
        &self,
        origin: &ServerName,
        pdu: &Pdu,
        rules: &RoomVersionRules,
    ) -> ServiceResult<StateMap> {
        tracing::info!(%origin, event_id = %pdu.event_id, "a gap before this event: asking for its state");
        let request = state_ids::Request::new(pdu.event_id.clone(), pdu.room_id.clone());
        let answer = self.federation.send(origin, request).await?;
        let mut missing = Vec::new();
        for id in answer.auth_chain_ids.iter().chain(&answer.pdu_ids) {
            if self.pdu(id).await?.is_none() {
                missing.push(id.clone());
            }
        }
        let mut fetched = Vec::with_capacity(missing.len());
        for id in missing.into_iter().take(MAX_FETCHED_STATE_EVENTS) {
            match self
                .federation
                .send(origin, get_event::Request::new(id.clone()))
                .await
            {
                Ok(answer) => fetched.push(answer.pdu),
                Err(e) => {
                    tracing::info!(%origin, event_id = %id, "cannot fetch a state event: {e}")
                }
            }
        }
        let fetched = self.parse_all(&fetched, rules).await;
        self.store_checked_outliers(fetched, rules).await;
        let mut state = StateMap::new();
        for id in &answer.pdu_ids {
            // A rejected event is kept in its place here, to be taken out below.
            let event = match self.pdu(id).await? {
                Some(event) => Some(event),
                None => self.rejected_pdu(id).await?,
            };
            if let Some(event) = event {
                if let (Some(key), true) = (&event.state_key, event.room_id == pdu.room_id) {
                    state.insert(
                        (StateEventType::from(event.kind.to_string()), key.clone()),
                        event.event_id.clone(),
                    );
                }
            }
        }
        let state = self.without_rejected(state).await?;
        if state.contains_key(&(StateEventType::RoomCreate, String::new())) {
            Ok(state)
        } else {
            Err(ServiceError::Forbidden(format!(
                "{origin} gave no usable state before {}",
                pdu.event_id
            )))
        }
    }

    /// Parses and verifies received events, dropping (and logging) those that fail.
    pub(crate) async fn parse_all(
        &self,
        events: &[Box<RawJsonValue>],
        rules: &RoomVersionRules,
    ) -> Vec<Pdu> {
        let mut parsed = Vec::with_capacity(events.len());
        for json in events {
            match self.parse_remote_pdu(json, rules).await {
                Ok(pdu) => parsed.push(pdu),
                Err(e) => tracing::info!("a received event was refused: {e}"),
            }
        }
        parsed.sort_by_key(|pdu| pdu.depth);
        parsed
    }
}
