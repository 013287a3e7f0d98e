//! Local users in other servers' rooms: joining through a resident server (`make_join`, then
//! `send_join`, validating the returned state and auth chain), leaving a room this server is
//! not in, and inviting a remote user (the invitee's server co-signs the invite).

use ruma::api::federation::membership::create_invite::v2 as create_invite;
use ruma::api::federation::membership::create_join_event::v2 as send_join;
use ruma::api::federation::membership::create_knock_event::v1 as send_knock;
use ruma::api::federation::membership::create_leave_event::v2 as send_leave;
use ruma::api::federation::membership::{
    RawStrippedState, prepare_join_event, prepare_knock_event, prepare_leave_event,
};
use ruma::canonical_json::{CanonicalJsonValue, try_from_json_map};
use ruma::events::{StateEventType, TimelineEventType};
use ruma::room_version_rules::RoomVersionRules;
use ruma::{OwnedEventId, OwnedServerName, RoomId, RoomVersionId, ServerName, UserId};
use serde_json::Value as JsonValue;
use serde_json::value::RawValue as RawJsonValue;

use super::federated_membership::{JOINABLE_ROOM_VERSIONS, stripped_events};
use super::inbound::check_against_state;
use super::timeline::{Stored, entries, membership_change};
use super::{RoomService, StateMap};
use crate::rooms::pdu::event_id_of;
use crate::{EventDraft, Pdu, ServiceError, ServiceResult};

impl RoomService {
    /// Joins a room through the first of `servers` that lets the user in.
    pub(crate) async fn join_remote(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        servers: &[OwnedServerName],
    ) -> ServiceResult<OwnedEventId> {
        let mut last_error = ServiceError::NotFound(format!(
            "No server in {room_id} is known to join it through"
        ));
        for server in servers {
            if *server == self.context.server_name {
                continue;
            }
            match self.join_through(user_id, room_id, server).await {
                Ok(event_id) => return Ok(event_id),
                Err(e) => {
                    tracing::info!(%room_id, %server, "cannot join through this server: {e}");
                    last_error = e;
                }
            }
        }
        Err(last_error)
    }

    async fn join_through(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        server: &ServerName,
    ) -> ServiceResult<OwnedEventId> {
        let mut request =
            prepare_join_event::v1::Request::new(room_id.to_owned(), user_id.to_owned());
        request.ver = JOINABLE_ROOM_VERSIONS.to_vec();
        let template = self.federation.send(server, request).await?;
        let version = template.room_version.unwrap_or(RoomVersionId::V1);
        let rules = joinable_rules(&version)?;
        let content = self.member_content("join", user_id, None).await?;
        let join = self.sign_template(template.event.get(), user_id, "join", content, &rules)?;

        let request = send_join::Request::new(
            room_id.to_owned(),
            join.event_id.clone(),
            raw(&join.json_string())?,
        );
        let response = self.federation.send(server, request).await?.room_state;
        // A resident server may add its signature (restricted rooms); the ID does not change.
        let join = match &response.event {
            Some(signed) => self
                .parse_remote_pdu(signed, &rules)
                .await
                .ok()
                .filter(|signed| signed.event_id == join.event_id)
                .unwrap_or(join),
            None => join,
        };

        let state = self.parse_all(&response.state, &rules).await;
        let mut received = self.parse_all(&response.auth_chain, &rules).await;
        received.extend(state.iter().cloned());
        self.store_checked_outliers(received, &rules).await;

        let mut state_map = StateMap::new();
        for pdu in &state {
            if let (Some(key), Ok(Some(_))) = (&pdu.state_key, self.pdu(&pdu.event_id).await) {
                if pdu.room_id == room_id {
                    state_map.insert(
                        (StateEventType::from(pdu.kind.to_string()), key.clone()),
                        pdu.event_id.clone(),
                    );
                }
            }
        }
        let create = state_map
            .get(&(StateEventType::RoomCreate, String::new()))
            .cloned()
            .ok_or_else(|| {
                ServiceError::Unavailable(format!("{server} sent no valid create event"))
            })?;
        let create = self
            .pdu(&create)
            .await?
            .ok_or_else(|| ServiceError::Internal("lost the create event".into()))?;
        let created_version = serde_json::from_str::<JsonValue>(create.content.get())
            .ok()
            .and_then(|c| c["room_version"].as_str().map(ToOwned::to_owned))
            .unwrap_or_else(|| "1".to_owned());
        if created_version != version.as_str() {
            return Err(ServiceError::Unavailable(format!(
                "{server} said the room is version {version}, its create event says {created_version}"
            )));
        }
        self.context
            .storage
            .rooms
            .create(
                room_id,
                version.as_str(),
                &create.sender,
                false,
                self.context.now(),
            )
            .await?;

        let _guard = self.lock(room_id).await;
        self.check_against_auth_events(&join, &rules).await?;
        check_against_state(
            &join,
            &rules,
            &self.auth_state(&join, &rules, &state_map).await?,
        )
        .map_err(|e| ServiceError::Forbidden(format!("The join is not allowed: {e}")))?;
        let mut memberships = Vec::new();
        for id in state_map.values() {
            if let Some(pdu) = self.pdu(id).await? {
                memberships.extend(membership_change(&pdu));
            }
        }
        memberships.extend(membership_change(&join));
        state_map.insert(
            (StateEventType::RoomMember, user_id.to_string()),
            join.event_id.clone(),
        );
        let full = entries(&state_map);
        let change = estafette_storage::StateChange::Changed {
            prev_group: None,
            delta: &full,
            full: &full,
        };
        let appended = self
            .store_with(&join, change, None, None, Stored::memberships(&memberships))
            .await?;
        self.wake_members(&join, &memberships, appended.stream_ordering)
            .await?;
        Ok(join.event_id)
    }

    /// Turns a `make_join`/`make_leave` template into this server's signed event.
    fn sign_template(
        &self,
        template: &str,
        user_id: &UserId,
        membership: &str,
        content: JsonValue,
        rules: &RoomVersionRules,
    ) -> ServiceResult<Pdu> {
        let bad =
            |why: &str| ServiceError::Unavailable(format!("Bad {membership} template: {why}"));
        let mut event: serde_json::Map<String, JsonValue> =
            serde_json::from_str(template).map_err(|e| bad(&e.to_string()))?;
        if event.get("type").and_then(JsonValue::as_str) != Some("m.room.member")
            || event.get("sender").and_then(JsonValue::as_str) != Some(user_id.as_str())
            || event.get("state_key").and_then(JsonValue::as_str) != Some(user_id.as_str())
        {
            return Err(bad("it is not this user's membership event"));
        }
        for field in ["signatures", "hashes", "unsigned", "event_id"] {
            event.remove(field);
        }
        event.insert("content".into(), content);
        event.insert(
            "origin_server_ts".into(),
            JsonValue::from(self.context.now()),
        );
        if rules.event_id_format == ruma::room_version_rules::EventIdFormatVersion::V1 {
            // Rooms v1 and v2: the event names itself, under this server.
            let event_id = format!(
                "${}:{}",
                self.context.random.alphanumeric(18),
                self.context.server_name
            );
            event.insert("event_id".into(), JsonValue::String(event_id));
        }
        if event.contains_key("origin") || !rules.redaction.content_field_redacts {
            event.insert(
                "origin".into(),
                JsonValue::String(self.context.server_name.to_string()),
            );
        }
        let mut object = try_from_json_map(event).map_err(|e| bad(&e.to_string()))?;
        ruma::signatures::hash_and_sign_event(
            self.context.server_name.as_str(),
            &self.context.server_key.key_pair,
            &mut object,
            &rules.redaction,
        )
        .map_err(|e| bad(&e.to_string()))?;
        let event_id = event_id_of(&object, rules)?;
        Pdu::from_json(event_id, &CanonicalJsonValue::Object(object).to_string())
    }

    /// Leaves (or declines an invite to) a room this server is not in, through the server
    /// that invited the user.
    pub(crate) async fn leave_remote(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        server: &ServerName,
    ) -> ServiceResult<()> {
        let request = prepare_leave_event::v1::Request::new(room_id.to_owned(), user_id.to_owned());
        let template = self.federation.send(server, request).await?;
        let version = template.room_version.unwrap_or(RoomVersionId::V1);
        let rules = joinable_rules(&version)?;
        let leave = self.sign_template(
            template.event.get(),
            user_id,
            "leave",
            serde_json::json!({"membership": "leave"}),
            &rules,
        )?;
        let request = send_leave::Request::new(
            room_id.to_owned(),
            leave.event_id.clone(),
            raw(&leave.json_string())?,
        );
        self.federation.send(server, request).await?;
        self.record_outside(&leave, &leave.json_string(), Vec::new())
            .await
    }

    /// Keeps a local user's membership event of a room this server is not in (an invite, a
    /// knock, a leave) and shows it to them with the room's stripped state.
    pub(crate) async fn record_outside(
        &self,
        event: &Pdu,
        json: &str,
        mut stripped: Vec<JsonValue>,
    ) -> ServiceResult<()> {
        let change = membership_change(event)
            .ok_or_else(|| ServiceError::Internal("not a membership event".into()))?;
        self.context
            .storage
            .events
            .store_outlier(&event.event_id, &event.room_id, json)
            .await?;
        stripped.push(event.stripped());
        let position = self
            .context
            .storage
            .memberships
            .record_outside_room(
                &change,
                &event.room_id,
                &JsonValue::Array(stripped).to_string(),
            )
            .await?;
        self.context
            .notifier
            .notify(std::slice::from_ref(&change.user_id), position);
        Ok(())
    }

    /// The membership changes a received event brings, less those older than what a local
    /// user received directly from outside the room: an invite (or a knock's answer) can
    /// reach this server before the room's earlier events do, and those must not undo it.
    pub(crate) async fn without_stale_changes(
        &self,
        incoming: &Pdu,
        changes: Vec<estafette_storage::MembershipChange>,
    ) -> ServiceResult<Vec<estafette_storage::MembershipChange>> {
        let storage = &self.context.storage;
        let mut kept = Vec::with_capacity(changes.len());
        for change in changes {
            // Only local users hold memberships recorded from outside the room.
            if change.user_id.server_name() != self.context.server_name {
                kept.push(change);
                continue;
            }
            let current = storage
                .memberships
                .get(&incoming.room_id, &change.user_id)
                .await?;
            let outside = match current {
                Some(current)
                    if current.event_id != change.event_id
                        && !storage.events.in_timeline(&current.event_id).await? =>
                {
                    self.pdu(&current.event_id).await?
                }
                _ => None,
            };
            let depth = if change.event_id == incoming.event_id {
                Some(incoming.depth)
            } else {
                self.pdu(&change.event_id).await?.map(|pdu| pdu.depth)
            };
            let stale =
                matches!((outside, depth), (Some(outside), Some(depth)) if outside.depth > depth);
            if stale {
                tracing::debug!(user = %change.user_id, event_id = %change.event_id,
                    "an older membership does not replace one received directly");
            } else {
                kept.push(change);
            }
        }
        Ok(kept)
    }

    /// Knocks on a room this server is not in, through the first server that accepts.
    pub(crate) async fn knock_remote(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        reason: Option<&str>,
        servers: &[OwnedServerName],
    ) -> ServiceResult<()> {
        let mut last_error = ServiceError::NotFound(format!("Room {room_id} not found"));
        for server in servers.iter().filter(|s| **s != self.context.server_name) {
            match self.knock_through(user_id, room_id, reason, server).await {
                Ok(()) => return Ok(()),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    async fn knock_through(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        reason: Option<&str>,
        server: &ServerName,
    ) -> ServiceResult<()> {
        let mut request =
            prepare_knock_event::v1::Request::new(room_id.to_owned(), user_id.to_owned());
        request.ver = JOINABLE_ROOM_VERSIONS.to_vec();
        let template = self.federation.send(server, request).await?;
        let rules = joinable_rules(&template.room_version)?;
        let content = self.member_content("knock", user_id, reason).await?;
        let knock = self.sign_template(template.event.get(), user_id, "knock", content, &rules)?;
        let request = send_knock::Request::new(
            room_id.to_owned(),
            knock.event_id.clone(),
            raw(&knock.json_string())?,
        );
        let response = self.federation.send(server, request).await?;
        let stripped = stripped_events(&response.knock_room_state);
        self.record_outside(&knock, &knock.json_string(), stripped)
            .await?;
        Ok(())
    }

    /// Invites a user of another server: their server co-signs the invite, which then joins
    /// the room's timeline like any local event.
    pub(crate) async fn invite_remote(
        &self,
        sender: &UserId,
        room_id: &RoomId,
        target: &UserId,
        reason: Option<&str>,
        extra_content: Option<JsonValue>,
    ) -> ServiceResult<()> {
        let _guard = self.lock(room_id).await;
        let (version, rules) = self.room_rules(room_id).await?;
        self.ensure_federates(room_id).await?;
        let (state, group) = self.current_state(room_id).await?;
        let mut content = self.member_content("invite", target, reason).await?;
        // `is_direct`, a third-party invite's `signed` block.
        if let Some(JsonValue::Object(extra)) = extra_content {
            for (key, value) in extra {
                content[key] = value;
            }
        }
        let draft = EventDraft::state(TimelineEventType::RoomMember, target.as_str(), content);
        let invite = self
            .prepare_locked(room_id, &rules, &state, sender, &draft)
            .await?;
        let mut invite_room_state = Vec::new();
        for pdu in self.stripped_state_pdus(room_id).await? {
            invite_room_state.push(RawStrippedState::Pdu(raw(&pdu.json_string())?));
        }
        let request = create_invite::Request::new(
            room_id.to_owned(),
            invite.event_id.clone(),
            version,
            raw(&invite.json_string())?,
            invite_room_state,
        );
        let destination = target.server_name();
        // A server already in the room takes the invite into its timeline from the room's
        // stream, like every other event; one that is not only keeps it aside.
        let resident = self
            .servers_in_room(room_id)
            .await?
            .iter()
            .any(|s| s == destination);
        let response = self.federation.send(destination, request).await?;
        let signed = self.parse_remote_pdu(&response.event, &rules).await?;
        let cosigned = signed.json.get("signatures").is_some_and(|signatures| {
            matches!(signatures, CanonicalJsonValue::Object(s) if s.contains_key(destination.as_str()))
        });
        if signed.event_id != invite.event_id || !cosigned {
            return Err(ServiceError::Unavailable(format!(
                "{destination} did not sign the invite"
            )));
        }
        let mut state_after = state;
        state_after.insert(
            (StateEventType::RoomMember, target.to_string()),
            signed.event_id.clone(),
        );
        let full = entries(&state_after);
        let delta = vec![(
            "m.room.member".to_owned(),
            target.to_string(),
            signed.event_id.clone(),
        )];
        let change = estafette_storage::StateChange::Changed {
            prev_group: Some(group),
            delta: &delta,
            full: &full,
        };
        let memberships: Vec<_> = membership_change(&signed).into_iter().collect();
        let appended = self
            .store_with(
                &signed,
                change,
                None,
                None,
                Stored::memberships(&memberships),
            )
            .await?;
        let room_members = self
            .evaluate_push(&signed, appended.stream_ordering, &state_after, &rules)
            .await?;
        self.wake(&room_members, &memberships, appended.stream_ordering);
        let skip: &[&ruma::ServerName] = if resident { &[] } else { &[destination] };
        self.broadcast(&signed, skip).await
    }
}

fn joinable_rules(version: &RoomVersionId) -> ServiceResult<RoomVersionRules> {
    version
        .rules()
        .filter(|_| JOINABLE_ROOM_VERSIONS.contains(version))
        .ok_or_else(|| {
            ServiceError::UnsupportedRoomVersion(format!(
                "This server cannot join rooms of version {version}"
            ))
        })
}

fn raw(json: &str) -> ServiceResult<Box<RawJsonValue>> {
    RawJsonValue::from_string(json.to_owned()).map_err(|e| ServiceError::Internal(e.to_string()))
}
