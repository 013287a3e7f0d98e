//! Events from other servers, checked as the spec's "checks performed on receipt of a PDU"
//! require: format and size, signatures and content hash, authorization against the event's
//! auth events, then against the state before it (a failure rejects the event), then against
//! the room's current state (a failure soft-fails it: kept, never shown, never current).
//! An accepted event on a fork changes the current state by state resolution of both sides.

use std::collections::HashMap;

use estafette_storage::{MembershipChange, StateChange};
use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use ruma::events::StateEventType;
use ruma::room_version_rules::RoomVersionRules;
use ruma::{OwnedEventId, OwnedRoomId, ServerName};
use serde_json::value::RawValue as RawJsonValue;

use super::timeline::{Stored, entries, membership_change};
use super::{RoomService, StateMap};
use crate::rooms::pdu::event_id_of;
use crate::{Pdu, ServiceError, ServiceResult, rooms::state_resolution};

/// How a received event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// In the timeline, possibly changing the room's state.
    Timeline,
    /// Already known.
    Duplicate,
    /// Authorised by its own state but not by the room's current state: kept aside.
    SoftFailed,
}

impl RoomService {
    /// The room a received PDU claims to belong to.
    pub(crate) fn room_of(json: &RawJsonValue) -> ServiceResult<OwnedRoomId> {
        #[derive(serde::Deserialize)]
        struct RoomField {
            room_id: OwnedRoomId,
        }
        serde_json::from_str::<RoomField>(json.get())
            .map(|f| f.room_id)
            .map_err(|e| ServiceError::BadJson(format!("The PDU has no valid room_id: {e}")))
    }

    /// Parses a PDU of a room with `rules`: checks its format and size limits, computes its
    /// event ID and verifies its signatures (redacting it if its content hash is wrong).
    pub(crate) async fn parse_remote_pdu(
        &self,
        json: &RawJsonValue,
        rules: &RoomVersionRules,
    ) -> ServiceResult<Pdu> {
        let (event_id, object) = canonical_pdu(json, rules)?;
        self.verify_remote_pdu(event_id, object, rules).await
    }

    /// Checks the signatures (and hash) of a well-formed PDU and reads it.
    async fn verify_remote_pdu(
        &self,
        event_id: OwnedEventId,
        mut object: CanonicalJsonObject,
        rules: &RoomVersionRules,
    ) -> ServiceResult<Pdu> {
        self.federation.verify_pdu(&mut object, rules).await?;
        Pdu::from_json(event_id, &CanonicalJsonValue::Object(object).to_string())
            .map_err(|e| ServiceError::BadJson(e.to_string()))
    }

    /// Handles a PDU received from `origin` (in a transaction or a join): checks it, fetches
    /// what it refers to that this server lacks, and adds it to its room.
    pub async fn receive_pdu(
        &self,
        origin: &ServerName,
        json: &RawJsonValue,
    ) -> ServiceResult<(OwnedEventId, ServiceResult<Accepted>)> {
        let room_id = Self::room_of(json)?;
        let (_, rules) = self.room_rules(&room_id).await?;
        // Once the PDU has an ID, every refusal is reported against it.
        let (event_id, object) = canonical_pdu(json, &rules)?;
        let outcome = async {
            self.ensure_federates(&room_id).await?;
            let pdu = self
                .verify_remote_pdu(event_id.clone(), object, &rules)
                .await?;
            let _guard = self.lock(&room_id).await;
            self.retrying_conflicts(&room_id, |_| {
                self.receive_locked(origin, pdu.clone(), &rules, true)
            })
            .await
        }
        .await;
        Ok((event_id, outcome))
    }

    /// With the room lock held. `fetch` allows asking `origin` for missing previous events.
    pub(crate) async fn receive_locked(
        &self,
        origin: &ServerName,
        pdu: Pdu,
        rules: &RoomVersionRules,
        fetch: bool,
    ) -> ServiceResult<Accepted> {
        if self
            .context
            .storage
            .events
            .in_timeline(&pdu.event_id)
            .await?
        {
            return Ok(Accepted::Duplicate);
        }
        if let Some(reason) = self.rejection(&pdu.event_id).await? {
            return Err(ServiceError::Forbidden(format!("Rejected: {reason}")));
        }
        if fetch {
            self.fetch_missing_prev_events(origin, &pdu, rules).await;
        }
        self.ensure_auth_events(origin, &pdu, rules).await?;
        self.check_against_auth_events(&pdu, rules).await?;

        let room_id = pdu.room_id.clone();
        let groups = self.prev_groups(&pdu).await?;
        let state_before = match self.state_of_groups(&groups, rules).await? {
            Some(state) => state,
            None if pdu.prev_events.is_empty() => return Err(no_known_prev_event(&pdu)),
            // A gap in the graph: the sender tells what the state was.
            None => self.fetch_state_before(origin, &pdu, rules).await?,
        };
        let auth_before = self.auth_state(&pdu, rules, &state_before).await?;
        if let Err(e) = check_against_state(&pdu, rules, &auth_before) {
            return Err(self.reject(&pdu, &e).await);
        }
        // Every server of the federation holds the room to its access rules alike.
        if let Err(e) = self.check_access_rules(&room_id, &state_before, &pdu).await {
            return Err(self.reject(&pdu, &e.to_string()).await);
        }
        let mut state_after = state_before;
        if let Some(key) = &pdu.state_key {
            state_after.insert(
                (StateEventType::from(pdu.kind.to_string()), key.clone()),
                pdu.event_id.clone(),
            );
        }

        let (current, current_group) = self.current_state(&room_id).await?;
        let current_auth = self.auth_state(&pdu, rules, &current).await?;
        if check_against_state(&pdu, rules, &current_auth).is_err() {
            self.context
                .storage
                .events
                .store_outlier(&pdu.event_id, &room_id, &pdu.json_string())
                .await?;
            return Ok(Accepted::SoftFailed);
        }

        let extremities = self
            .context
            .storage
            .events
            .forward_extremities(&room_id)
            .await?;
        let extends_every_fork = extremities
            .iter()
            .all(|(id, _)| pdu.prev_events.contains(id));
        tracing::debug!(
            event_id = %pdu.event_id,
            prev_events = ?pdu.prev_events,
            extremities = ?extremities,
            extends_every_fork,
            "adding a remote event"
        );
        let new_current = if extends_every_fork {
            None
        } else {
            Some(
                self.resolve(rules, &[&current, &state_after], Some(&pdu))
                    .await?,
            )
        };

        let after_entries = entries(&state_after);
        let own_change: Vec<_> = pdu
            .state_key
            .as_ref()
            .map(|key| vec![(pdu.kind.to_string(), key.clone(), pdu.event_id.clone())])
            .unwrap_or_default();
        // One previous event: the new state is a small delta over the state it left.
        let prev_group = match (pdu.prev_events.as_slice(), groups.as_slice()) {
            ([_], [group]) => Some(*group),
            _ => None,
        };
        let state_change = if pdu.is_state() || prev_group.is_none() {
            StateChange::Changed {
                prev_group,
                delta: if prev_group.is_some() {
                    &own_change
                } else {
                    &after_entries
                },
                full: &after_entries,
            }
        } else {
            StateChange::Unchanged(prev_group.unwrap_or_default())
        };
        let (current_delta, current_full);
        let (current_change, memberships, current_after) = match &new_current {
            None => (
                None,
                membership_change(&pdu).into_iter().collect(),
                &state_after,
            ),
            Some(resolved) => {
                current_delta = state_delta(&current, resolved);
                current_full = entries(resolved);
                let memberships = self.membership_changes(&current, resolved, &pdu).await?;
                (
                    Some(StateChange::Changed {
                        prev_group: Some(current_group),
                        delta: &current_delta,
                        full: &current_full,
                    }),
                    memberships,
                    resolved,
                )
            }
        };
        let memberships = self.without_stale_changes(&pdu, memberships).await?;
        let appended = self
            .store_with(
                &pdu,
                state_change,
                current_change,
                Some(current_group),
                Stored::memberships(&memberships),
            )
            .await?;
        let room_members = self
            .evaluate_push(&pdu, appended.stream_ordering, current_after, rules)
            .await?;
        self.wake(&room_members, &memberships, appended.stream_ordering);
        Ok(Accepted::Timeline)
    }

    /// The state before an event: after its one previous event, or the resolution of the
    /// states after each of its known previous events.
    pub(crate) async fn state_before(
        &self,
        pdu: &Pdu,
        rules: &RoomVersionRules,
    ) -> ServiceResult<StateMap> {
        let groups = self.prev_groups(pdu).await?;
        self.state_of_groups(&groups, rules)
            .await?
            .ok_or_else(|| no_known_prev_event(pdu))
    }

    /// The state groups left by the event's previous events that are in the timeline (those
    /// before a rejected one in its place).
    async fn prev_groups(&self, pdu: &Pdu) -> ServiceResult<Vec<i64>> {
        let mut groups = Vec::new();
        for (_, record) in self.through_rejected(&pdu.prev_events).await? {
            if let Some(record) = record {
                if !groups.contains(&record.state_group) {
                    groups.push(record.state_group);
                }
            }
        }
        Ok(groups)
    }

    /// The state of one group, or the resolution of several; `None` for no group.
    async fn state_of_groups(
        &self,
        groups: &[i64],
        rules: &RoomVersionRules,
    ) -> ServiceResult<Option<StateMap>> {
        let mut states = Vec::with_capacity(groups.len());
        for group in groups {
            states.push(self.load_state(*group).await?);
        }
        match states.len() {
            0 => Ok(None),
            1 => Ok(states.pop()),
            _ => {
                let refs: Vec<&StateMap> = states.iter().collect();
                Ok(Some(self.resolve(rules, &refs, None).await?))
            }
        }
    }

    /// Resolves several states of a room with the room version's algorithm.
    /// `pending` is an event in the states that is not stored yet (the one being added).
    pub(crate) async fn resolve(
        &self,
        rules: &RoomVersionRules,
        states: &[&StateMap],
        pending: Option<&Pdu>,
    ) -> ServiceResult<StateMap> {
        let mut events = HashMap::new();
        let mut todo: Vec<OwnedEventId> = states
            .iter()
            .flat_map(|state| state.values().cloned())
            .collect();
        if let Some(pdu) = pending {
            todo.extend(pdu.auth_events.iter().cloned());
            events.insert(pdu.event_id.clone(), pdu.clone());
        }
        while let Some(id) = todo.pop() {
            if events.contains_key(&id) {
                continue;
            }
            if let Some(pdu) = self.pdu(&id).await? {
                todo.extend(pdu.auth_events.iter().cloned());
                events.insert(id, pdu);
            }
        }
        let maps: Vec<_> = states
            .iter()
            .map(|state| state_resolution::to_state_map(state))
            .collect();
        let resolved = state_resolution::resolve(rules, &maps, &events)?;
        Ok(resolved.into_iter().collect())
    }

    /// The events of a state the auth rules look at for `pdu` (its auth types and the
    /// create event), keyed as the rules look them up.
    pub(crate) async fn auth_state(
        &self,
        pdu: &Pdu,
        rules: &RoomVersionRules,
        state: &StateMap,
    ) -> ServiceResult<HashMap<(StateEventType, String), Pdu>> {
        let types = ruma::state_res::auth_types_for_event(
            &pdu.kind,
            &pdu.sender,
            pdu.state_key.as_deref(),
            &pdu.content,
            &rules.authorization,
        )
        .map_err(ServiceError::BadJson)?;
        let create = (StateEventType::RoomCreate, String::new());
        let mut pdus = HashMap::new();
        for key in types.iter().chain(std::iter::once(&create)) {
            if let Some(id) = state.get(key) {
                if let Some(event) = self.pdu(id).await? {
                    pdus.insert(key.clone(), event);
                }
            }
        }
        Ok(pdus)
    }

    /// The auth rules checked against the event's own auth events (state-independent rules
    /// included); a failure rejects the event.
    pub(crate) async fn check_against_auth_events(
        &self,
        pdu: &Pdu,
        rules: &RoomVersionRules,
    ) -> ServiceResult<()> {
        let mut by_id = HashMap::new();
        let mut by_key = HashMap::new();
        for id in &pdu.auth_events {
            let Some(auth) = self.pdu(id).await? else {
                if self.rejection(id).await?.is_some() {
                    return Err(self
                        .reject(pdu, &format!("its auth event {id} was rejected"))
                        .await);
                }
                return Err(ServiceError::Forbidden(format!("Missing auth event {id}")));
            };
            if auth.room_id != pdu.room_id {
                let reason = format!("its auth event {id} belongs to another room");
                return Err(self.reject(pdu, &reason).await);
            }
            if let Some(key) = &auth.state_key {
                by_key.insert(
                    (StateEventType::from(auth.kind.to_string()), key.clone()),
                    auth.clone(),
                );
            }
            by_id.insert(id.clone(), auth);
        }
        // Room v12: the create event is not listed but its ID is the room's.
        let create_id =
            OwnedEventId::try_from(format!("${}", pdu.room_id.as_str().trim_start_matches('!')))
                .ok();
        if let Some(create_id) = create_id.filter(|id| !by_id.contains_key(id)) {
            if let Some(create) = self.pdu(&create_id).await? {
                by_key.insert((StateEventType::RoomCreate, String::new()), create.clone());
                by_id.insert(create_id, create);
            }
        }
        let checked = ruma::state_res::check_state_independent_auth_rules(
            &rules.authorization,
            pdu,
            |id: &ruma::EventId| by_id.get(id).cloned(),
        )
        .and_then(|()| check_against_state(pdu, rules, &by_key));
        match checked {
            Ok(()) => Ok(()),
            Err(e) => Err(self.reject(pdu, &e).await),
        }
    }

    /// Membership index entries for the members whose event differs between two states;
    /// `pending` is the event being added, which is not stored yet.
    async fn membership_changes(
        &self,
        before: &StateMap,
        after: &StateMap,
        pending: &Pdu,
    ) -> ServiceResult<Vec<MembershipChange>> {
        let mut changes = Vec::new();
        for ((kind, key), id) in after {
            if *kind == StateEventType::RoomMember
                && before.get(&(kind.clone(), key.clone())) != Some(id)
            {
                if *id == pending.event_id {
                    changes.extend(membership_change(pending));
                } else if let Some(pdu) = self.pdu(id).await? {
                    changes.extend(membership_change(&pdu));
                }
            }
        }
        Ok(changes)
    }
}

fn no_known_prev_event(pdu: &Pdu) -> ServiceError {
    ServiceError::Forbidden(format!(
        "None of the previous events of {} is known here",
        pdu.event_id
    ))
}

/// A received PDU as canonical JSON, checked for format and size limits, with its event ID.
fn canonical_pdu(
    json: &RawJsonValue,
    rules: &RoomVersionRules,
) -> ServiceResult<(OwnedEventId, CanonicalJsonObject)> {
    let mut object: CanonicalJsonObject = serde_json::from_str(json.get())
        .map_err(|e| ServiceError::BadJson(format!("The PDU is not canonical JSON: {e}")))?;
    object.remove("unsigned");
    ruma::state_res::check_pdu_format(&object, &rules.event_format)
        .map_err(ServiceError::BadJson)?;
    Ok((event_id_of(&object, rules)?, object))
}

/// The state-dependent auth rules against a state.
pub(crate) fn check_against_state(
    pdu: &Pdu,
    rules: &RoomVersionRules,
    state: &HashMap<(StateEventType, String), Pdu>,
) -> Result<(), String> {
    ruma::state_res::check_state_dependent_auth_rules(
        &rules.authorization,
        pdu,
        |kind: &StateEventType, key: &str| state.get(&(kind.clone(), key.to_owned())).cloned(),
    )
}

/// What changed from `before` to `after`, as state entries.
fn state_delta(before: &StateMap, after: &StateMap) -> Vec<estafette_storage::StateEntry> {
    after
        .iter()
        .filter(|(key, id)| before.get(*key) != Some(*id))
        .map(|((kind, key), id)| (kind.to_string(), key.clone(), id.clone()))
        .collect()
}
