//! The resident side of membership over federation: `make_join`/`send_join` for a remote user
//! joining a room of this server, and `invite` for a local user invited to another server's
//! room.

use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use ruma::events::{StateEventType, TimelineEventType};
use ruma::{OwnedEventId, RoomId, RoomVersionId, ServerName, UserId};
use serde_json::value::RawValue as RawJsonValue;
use serde_json::{Value as JsonValue, json};

use super::inbound::Accepted;
use super::timeline::membership_change;
use super::{RoomService, STRIPPED_STATE_TYPES};
use crate::rooms::pdu::strip_json;
use crate::{EventDraft, Pdu, ServiceError, ServiceResult};
use ruma::api::federation::membership::RawStrippedState;

/// The room versions whose rooms this server can join over federation. (Room version 1
/// resolves forks with the first state resolution algorithm, which ruma does not provide: such
/// a room works while its history stays linear.)
pub const JOINABLE_ROOM_VERSIONS: [RoomVersionId; 12] = [
    RoomVersionId::V1,
    RoomVersionId::V2,
    RoomVersionId::V3,
    RoomVersionId::V4,
    RoomVersionId::V5,
    RoomVersionId::V6,
    RoomVersionId::V7,
    RoomVersionId::V8,
    RoomVersionId::V9,
    RoomVersionId::V10,
    RoomVersionId::V11,
    RoomVersionId::V12,
];

/// What a joining server receives: the state before its join and the auth chain of it.
pub struct JoinedRoomState {
    pub state: Vec<Pdu>,
    pub auth_chain: Vec<Pdu>,
    pub event: Pdu,
}

impl RoomService {
    /// Refuses when the room's create event says `m.federate: false`: such a room never
    /// leaves this server.
    pub(crate) async fn ensure_federates(&self, room_id: &RoomId) -> ServiceResult<()> {
        if self.federates(room_id).await? {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "Room {room_id} is not federated (m.federate is false)"
            )))
        }
    }

    /// Whether the room's create event lets it leave this server (no `m.federate: false`).
    pub(crate) async fn federates(&self, room_id: &RoomId) -> ServiceResult<bool> {
        let (state, _) = self.current_state(room_id).await?;
        let create = match state.get(&(StateEventType::RoomCreate, String::new())) {
            Some(id) => self.pdu(id).await?,
            None => None,
        };
        Ok(create
            .and_then(|create| serde_json::from_str::<JsonValue>(create.content.get()).ok())
            .is_none_or(|content| content["m.federate"] != JsonValue::Bool(false)))
    }

    /// `make_join`: a join event template for `user_id` of `origin`.
    pub async fn make_join(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        user_id: &UserId,
        supported: &[RoomVersionId],
    ) -> ServiceResult<(RoomVersionId, JsonValue)> {
        self.make_membership(origin, room_id, user_id, "join", supported)
            .await
    }

    /// `make_knock`: a knock event template (rooms whose join rule allows knocking).
    pub async fn make_knock(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        user_id: &UserId,
        supported: &[RoomVersionId],
    ) -> ServiceResult<(RoomVersionId, JsonValue)> {
        self.make_membership(origin, room_id, user_id, "knock", supported)
            .await
    }

    /// `make_leave`: a leave event template.
    pub async fn make_leave(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> ServiceResult<(RoomVersionId, JsonValue)> {
        self.make_membership(origin, room_id, user_id, "leave", &[])
            .await
    }

    async fn make_membership(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        user_id: &UserId,
        membership: &str,
        supported: &[RoomVersionId],
    ) -> ServiceResult<(RoomVersionId, JsonValue)> {
        if user_id.server_name() != origin {
            return Err(ServiceError::Forbidden(format!(
                "{origin} cannot act for {user_id}"
            )));
        }
        let (version, rules) = self.room_rules(room_id).await?;
        self.ensure_federates(room_id).await?;
        if membership != "leave" && !supported.contains(&version) {
            return Err(ServiceError::IncompatibleRoomVersion(version));
        }
        let _guard = self.lock(room_id).await;
        let (state, _) = self.current_state(room_id).await?;
        let draft = EventDraft::state(
            TimelineEventType::RoomMember,
            user_id.as_str(),
            json!({"membership": membership}),
        );
        // The template is checked as the event would be, so a refusal comes now, not later.
        let pdu = self
            .prepare_locked(room_id, &rules, &state, user_id, &draft)
            .await?;
        let mut template: serde_json::Map<String, JsonValue> =
            serde_json::from_str(&pdu.json_string())
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
        for field in ["signatures", "hashes", "unsigned"] {
            template.remove(field);
        }
        Ok((version, JsonValue::Object(template)))
    }

    /// `send_join` and `send_leave`: the signed membership event of a remote user, added to
    /// the room and passed on to the other servers in it.
    pub async fn send_membership(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &ruma::EventId,
        json: &RawJsonValue,
        membership: &str,
    ) -> ServiceResult<JoinedRoomState> {
        let (_, rules) = self.room_rules(room_id).await?;
        self.ensure_federates(room_id).await?;
        let pdu = self.parse_remote_pdu(json, &rules).await?;
        let change = membership_change(&pdu);
        let valid = pdu.event_id == event_id
            && pdu.room_id == room_id
            && pdu.sender.server_name() == origin
            && change
                .as_ref()
                .is_some_and(|c| c.user_id == pdu.sender && c.membership == membership);
        if !valid {
            return Err(ServiceError::BadJson(format!(
                "Expected a {membership} event of a user of {origin} for themselves in {room_id}"
            )));
        }
        let _guard = self.lock(room_id).await;
        match self
            .receive_locked(origin, pdu.clone(), &rules, false)
            .await?
        {
            Accepted::Timeline | Accepted::Duplicate => {}
            Accepted::SoftFailed => {
                return Err(ServiceError::Forbidden(format!(
                    "The {membership} is not allowed by the room's current state"
                )));
            }
        }
        self.broadcast(&pdu, &[origin]).await?;
        let state = self.state_before(&pdu, &rules).await?;
        let mut state_pdus = Vec::with_capacity(state.len());
        for id in state.values() {
            if let Some(event) = self.pdu(id).await? {
                state_pdus.push(event);
            }
        }
        let starts: Vec<OwnedEventId> = state
            .values()
            .chain(pdu.auth_events.iter())
            .cloned()
            .collect();
        let auth_chain = self.auth_chain_pdus(starts).await?;
        Ok(JoinedRoomState {
            state: state_pdus,
            auth_chain,
            event: pdu,
        })
    }

    /// The events reachable from `start` through auth events, oldest first.
    pub(crate) async fn auth_chain_pdus(
        &self,
        start: Vec<OwnedEventId>,
    ) -> ServiceResult<Vec<Pdu>> {
        let mut seen = std::collections::HashSet::new();
        let mut chain = Vec::new();
        let mut todo: Vec<OwnedEventId> = Vec::new();
        for id in start {
            if let Some(pdu) = self.pdu(&id).await? {
                todo.extend(pdu.auth_events.iter().cloned());
            }
        }
        while let Some(id) = todo.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            if let Some(pdu) = self.pdu(&id).await? {
                todo.extend(pdu.auth_events.iter().cloned());
                chain.push(pdu);
            }
        }
        chain.sort_by_key(|pdu| pdu.depth);
        Ok(chain)
    }

    /// Receives an invite of a local user to a room of another server: checks it, signs it
    /// and shows it to the user with the room's stripped state.
    pub async fn receive_invite(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &ruma::EventId,
        version: &RoomVersionId,
        json: &RawJsonValue,
        invite_room_state: &[RawStrippedState],
    ) -> ServiceResult<JsonValue> {
        let rules = version
            .rules()
            .filter(|_| JOINABLE_ROOM_VERSIONS.contains(version))
            .ok_or_else(|| ServiceError::IncompatibleRoomVersion(version.clone()))?;
        let pdu = self.parse_remote_pdu(json, &rules).await?;
        let change = membership_change(&pdu).filter(|c| c.membership == "invite");
        let Some(change) = change.filter(|_| pdu.event_id == event_id && pdu.room_id == room_id)
        else {
            return Err(ServiceError::BadJson(
                "Expected the invite event the path names".into(),
            ));
        };
        if pdu.sender.server_name() != origin {
            return Err(ServiceError::Forbidden(format!(
                "{origin} cannot invite on behalf of {}",
                pdu.sender
            )));
        }
        if !self.is_local_user(&change.user_id).await? {
            return Err(ServiceError::NotFound(format!(
                "Unknown user {}",
                change.user_id
            )));
        }
        let mut object: CanonicalJsonObject = pdu.json.clone();
        ruma::signatures::sign_event(
            self.context.server_name.as_str(),
            &self.context.server_key.key_pair,
            &mut object,
            &rules.redaction,
        )
        .map_err(|e| ServiceError::Internal(format!("cannot sign the invite: {e}")))?;
        let signed = CanonicalJsonValue::Object(object).to_string();
        if self.is_resident(room_id).await? {
            // In the room already: the invite joins the timeline now, so that the invitee can
            // join at once (the inviting server's /send brings the same event later).
            let invite = Pdu::from_json(pdu.event_id.clone(), &signed)?;
            let _guard = self.lock(room_id).await;
            if let Err(e) = self.receive_locked(origin, invite, &rules, true).await {
                // An invite this server rejects (its rules) is refused, never shown.
                if self.rejection(&pdu.event_id).await?.is_some() {
                    return Err(e);
                }
                // Still shown to the invitee, as to one of a server outside the room.
                tracing::info!(%room_id, event_id = %pdu.event_id, "invite kept aside: {e}");
                self.record_outside(&pdu, &signed, stripped_events(invite_room_state))
                    .await?;
            }
        } else {
            // Under the room lock, as received events are: the room's older events (an unban
            // still queued behind this invite) check for a newer direct invite and must see it.
            let stripped = stripped_events(invite_room_state);
            self.check_invite_from_afar(&pdu.sender, &change.user_id, &stripped)?;
            let _guard = self.lock(room_id).await;
            self.record_outside(&pdu, &signed, stripped).await?;
        }
        serde_json::from_str(&signed).map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// The room's current state events that invitees see before joining, as full PDUs.
    pub async fn stripped_state_pdus(&self, room_id: &RoomId) -> ServiceResult<Vec<Pdu>> {
        let (state, _) = self.current_state(room_id).await?;
        let mut pdus = Vec::new();
        for kind in STRIPPED_STATE_TYPES {
            if let Some(id) = state.get(&(StateEventType::from(*kind), String::new())) {
                if let Some(pdu) = self.pdu(id).await? {
                    pdus.push(pdu);
                }
            }
        }
        Ok(pdus)
    }
}

/// The stripped form of the state events another server sent (full PDUs, or stripped events
/// from older servers), of the types invitees may see.
pub(crate) fn stripped_events(state: &[RawStrippedState]) -> Vec<JsonValue> {
    #[allow(deprecated)]
    state
        .iter()
        .filter_map(|entry| match entry {
            RawStrippedState::Pdu(pdu) => serde_json::from_str::<JsonValue>(pdu.get()).ok(),
            RawStrippedState::Stripped(event) => serde_json::from_str(event.json().get()).ok(),
            _ => None,
        })
        .filter(|event| {
            event["type"]
                .as_str()
                .is_some_and(|t| STRIPPED_STATE_TYPES.contains(&t))
        })
        .map(|event| strip_json(&event))
        .collect()
}
