//! `createRoom`: the create event, the creator's join, power levels, the preset's rules,
//! initial state, name, topic and invites, in the order the spec gives.

use estafette_storage::{
    MembershipChange, NewEvent, NewRoom, RoomCreation, StateChange, StateEntry,
};
use ruma::events::{StateEventType, TimelineEventType};
use ruma::room_version_rules::RoomVersionRules;
use ruma::{OwnedRoomId, OwnedUserId, RoomAliasId, RoomVersionId, UserId};
use serde_json::{Map, Value as JsonValue, json};

use super::timeline::{AuthPdus, auth_event_ids, auth_keys, entries, membership_change, new_event};
use super::{CREATABLE_ROOM_VERSIONS, RoomService, StateMap};
use crate::policy::access_rules::is_external_under_rules;
use crate::policy::room_creation::{self, RoomRequest};
use crate::rooms::pdu::PduPosition;
use crate::{EventDraft, Pdu, ServiceError, ServiceResult};

const ROOM_ID_LENGTH: usize = 18;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    PrivateChat,
    PublicChat,
    TrustedPrivateChat,
}

/// A `createRoom` request, parsed.
#[derive(Debug, Clone, Default)]
pub struct CreateRoom {
    pub preset: Option<Preset>,
    /// Published in the room directory.
    pub public: bool,
    pub room_version: Option<RoomVersionId>,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub invite: Vec<OwnedUserId>,
    pub is_direct: bool,
    /// `(type, state_key, content)`
    pub initial_state: Vec<(String, String, JsonValue)>,
    pub creation_content: Option<Map<String, JsonValue>>,
    pub power_level_content_override: Option<Map<String, JsonValue>>,
    pub room_alias_name: Option<String>,
    /// The replacement of an upgraded room: its state is carried over, not chosen.
    pub upgrade: bool,
}

impl RoomService {
    pub async fn create_room(
        &self,
        creator: &UserId,
        mut request: CreateRoom,
    ) -> ServiceResult<OwnedRoomId> {
        let version = request.room_version.clone().unwrap_or(RoomVersionId::V12);
        if !CREATABLE_ROOM_VERSIONS.contains(&version) {
            return Err(ServiceError::UnsupportedRoomVersion(format!(
                "This server creates rooms of versions 10, 11 and 12, not {version}"
            )));
        }
        let rules = version
            .rules()
            .ok_or_else(|| ServiceError::Internal(format!("no rules for {version}")))?;
        let alias = match &request.room_alias_name {
            Some(name) => {
                let alias = RoomAliasId::parse(format!("#{name}:{}", self.context.server_name))
                    .map_err(|e| {
                        ServiceError::InvalidParam(format!("Invalid room_alias_name: {e}"))
                    })?;
                if self
                    .context
                    .storage
                    .aliases
                    .resolve(&alias)
                    .await?
                    .is_some()
                {
                    return Err(ServiceError::RoomInUse(format!(
                        "The alias {alias} is taken"
                    )));
                }
                Some(alias)
            }
            None => None,
        };
        let preset = request.preset.unwrap_or(if request.public {
            Preset::PublicChat
        } else {
            Preset::PrivateChat
        });
        let access_levels = self
            .access_rules_defaults(creator, preset, &mut request)
            .await?;
        let (local_invites, remote_invites): (Vec<&OwnedUserId>, Vec<&OwnedUserId>) = request
            .invite
            .iter()
            .partition(|invitee| invitee.server_name() == self.context.server_name);
        for invitee in &local_invites {
            if !self.is_local_user(invitee).await? {
                return Err(ServiceError::NotFound(format!("Unknown user {invitee}")));
            }
        }
        let creators_have_infinite_power = rules.authorization.explicitly_privilege_room_creators;

        let mut create_content = request.creation_content.clone().unwrap_or_default();
        create_content.insert("room_version".into(), json!(version.as_str()));
        if !rules.authorization.use_room_create_sender {
            create_content.insert("creator".into(), json!(creator));
        }
        if creators_have_infinite_power
            && preset == Preset::TrustedPrivateChat
            && !request.invite.is_empty()
        {
            create_content.insert("additional_creators".into(), json!(request.invite));
        }
        let create = EventDraft::state(
            TimelineEventType::RoomCreate,
            "",
            JsonValue::Object(create_content),
        );
        let mut drafts = vec![EventDraft::state(
            TimelineEventType::RoomMember,
            creator.as_str(),
            self.member_content("join", creator, None).await?,
        )];
        let mut users = Map::new();
        if !creators_have_infinite_power {
            users.insert(creator.to_string(), json!(100));
        }
        if preset == Preset::TrustedPrivateChat && !creators_have_infinite_power {
            for invitee in &request.invite {
                users.insert(invitee.to_string(), json!(100));
            }
        }
        let mut power_levels = match access_levels {
            Some(levels) => JsonValue::Object(levels),
            None => json!({
                "users_default": 0,
                "events": {
                    "m.room.name": 50, "m.room.power_levels": 100,
                    "m.room.history_visibility": 100, "m.room.canonical_alias": 50,
                    "m.room.avatar": 50, "m.room.tombstone": 100, "m.room.server_acl": 100,
                    "m.room.encryption": 100
                },
                "events_default": 0, "state_default": 50, "ban": 50, "kick": 50, "redact": 50,
                "invite": 0, "notifications": {"room": 50}
            }),
        };
        power_levels["users"] = JsonValue::Object(users);
        if let (Some(levels), Some(overrides)) = (
            power_levels.as_object_mut(),
            &request.power_level_content_override,
        ) {
            for (key, value) in overrides {
                levels.insert(key.clone(), value.clone());
            }
        }
        drafts.push(EventDraft::state(
            TimelineEventType::RoomPowerLevels,
            "",
            power_levels,
        ));
        if let Some(alias) = &alias {
            drafts.push(EventDraft::state(
                TimelineEventType::RoomCanonicalAlias,
                "",
                json!({"alias": alias}),
            ));
        }
        let (join_rule, guest_access) = match preset {
            Preset::PublicChat => ("public", "forbidden"),
            Preset::PrivateChat | Preset::TrustedPrivateChat => ("invite", "can_join"),
        };
        drafts.push(EventDraft::state(
            TimelineEventType::RoomJoinRules,
            "",
            json!({"join_rule": join_rule}),
        ));
        drafts.push(EventDraft::state(
            TimelineEventType::RoomHistoryVisibility,
            "",
            json!({"history_visibility": "shared"}),
        ));
        drafts.push(EventDraft::state(
            TimelineEventType::RoomGuestAccess,
            "",
            json!({"guest_access": guest_access}),
        ));
        for (kind, key, content) in &request.initial_state {
            drafts.push(EventDraft::state(
                TimelineEventType::from(kind.as_str()),
                key.clone(),
                content.clone(),
            ));
        }
        if let Some(name) = &request.name {
            drafts.push(EventDraft::state(
                TimelineEventType::RoomName,
                "",
                json!({"name": name}),
            ));
        }
        if let Some(topic) = &request.topic {
            drafts.push(EventDraft::state(
                TimelineEventType::RoomTopic,
                "",
                json!({"topic": topic}),
            ));
        }
        for invitee in &local_invites {
            let mut content = self.member_content("invite", invitee, None).await?;
            if request.is_direct {
                content["is_direct"] = json!(true);
            }
            drafts.push(EventDraft::state(
                TimelineEventType::RoomMember,
                invitee.as_str(),
                content,
            ));
        }
        // A v12 room ID is the hash of its create event: each creation here takes its own
        // timestamp, and a collision (another process's room) takes the next one.
        let mut attempt = 0;
        let room_id = loop {
            let room_id = if super::pdu::needs_room_id_from_create(&rules) {
                None
            } else {
                let id = format!(
                    "!{}:{}",
                    self.context.random.alphanumeric(ROOM_ID_LENGTH),
                    self.context.server_name
                );
                Some(OwnedRoomId::try_from(id).map_err(|e| ServiceError::Internal(e.to_string()))?)
            };
            let position = PduPosition {
                room_id: room_id.as_deref(),
                prev_events: vec![],
                auth_events: vec![],
                depth: 1,
                legacy: None,
            };
            let create_pdu =
                self.build_at(&create, position, &rules, creator, self.creation_ts())?;
            ruma::state_res::check_state_independent_auth_rules(
                &rules.authorization,
                &create_pdu,
                |_: &ruma::EventId| None::<crate::Pdu>,
            )
            .map_err(ServiceError::BadJson)?;
            let events = self.build_creation(create_pdu, &drafts, &rules, creator)?;
            let room = NewRoom {
                room_id: &events[0].0.room_id,
                room_version: version.as_str(),
                creator,
                is_public: request.public,
                now: self.context.now(),
                alias: alias.as_deref(),
            };
            match self.store_creation(&room, &events, &rules).await? {
                RoomCreation::Created(_) => break events[0].0.room_id.clone(),
                RoomCreation::AliasTaken => {
                    return Err(ServiceError::RoomInUse(format!(
                        "The alias {} is taken",
                        alias.as_ref().map(|a| a.as_str()).unwrap_or_default()
                    )));
                }
                RoomCreation::RoomIdTaken => {
                    attempt += 1;
                    if attempt > 100 {
                        return Err(ServiceError::Internal("cannot find a free room ID".into()));
                    }
                }
            }
        };
        // Other servers' users are invited once the room exists: their servers co-sign.
        for invitee in remote_invites {
            if let Err(e) = self
                .invite_remote(
                    creator,
                    &room_id,
                    invitee,
                    None,
                    request
                        .is_direct
                        .then(|| serde_json::json!({"is_direct": true})),
                )
                .await
            {
                tracing::warn!(%room_id, %invitee, "cannot invite: {e}");
            }
        }
        tracing::info!(%room_id, %creator, %version, "room created");
        Ok(room_id)
    }

    /// Under the room access rules (not for server admins): the request checked and completed
    /// (TCHAP.md §4), and the power levels to start from.
    async fn access_rules_defaults(
        &self,
        creator: &UserId,
        preset: Preset,
        request: &mut CreateRoom,
    ) -> ServiceResult<Option<Map<String, JsonValue>>> {
        let policy = &self.context.config.policy;
        if !policy.room_access_rules {
            return Ok(None);
        }
        let storage = &self.context.storage;
        if storage
            .users
            .get(creator)
            .await?
            .is_some_and(|user| user.is_admin)
        {
            return Ok(None);
        }
        if is_external_under_rules(&self.context, creator.as_str()) {
            return Err(ServiceError::Forbidden(
                "Externals do not create rooms: an agent invites them".to_owned(),
            ));
        }
        let join_rule = request
            .initial_state
            .iter()
            .rev()
            .find(|(kind, key, _)| kind == "m.room.join_rules" && key.is_empty())
            .and_then(|(_, _, content)| content["join_rule"].as_str().map(ToOwned::to_owned))
            .unwrap_or_else(|| match preset {
                Preset::PublicChat => "public".to_owned(),
                _ => "invite".to_owned(),
            });
        room_creation::apply(RoomRequest {
            is_direct: request.is_direct,
            upgrade: request.upgrade,
            published: request.public,
            join_rule: &join_rule,
            initial_state: &mut request.initial_state,
            power_level_override: &request.power_level_content_override,
        })
        .map(Some)
    }

    /// A timestamp for a create event: now, or just after the last one this process used.
    fn creation_ts(&self) -> u64 {
        use std::sync::atomic::Ordering;
        let now = self.context.now();
        let previous = self
            .last_creation_ts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .unwrap_or(now);
        now.max(previous + 1)
    }

    /// The room's first events, each authorised against the state the ones before it left,
    /// with that state: built in memory, so that they are stored together or not at all.
    fn build_creation(
        &self,
        create: Pdu,
        drafts: &[EventDraft],
        rules: &RoomVersionRules,
        creator: &UserId,
    ) -> ServiceResult<Vec<(Pdu, StateMap)>> {
        let room_id = create.room_id.clone();
        let mut auth_state = AuthPdus::new();
        let mut state = StateMap::new();
        let create_key = (StateEventType::RoomCreate, String::new());
        auth_state.insert(create_key.clone(), create.clone());
        state.insert(create_key, create.event_id.clone());
        let mut events = vec![(create, state.clone())];
        for draft in drafts {
            let auth: AuthPdus = auth_keys(draft, creator, rules)?
                .into_iter()
                .filter_map(|key| auth_state.get(&key).map(|pdu| (key, pdu.clone())))
                .collect();
            let previous = &events[events.len() - 1].0;
            let position = PduPosition {
                room_id: Some(&room_id),
                prev_events: vec![previous.event_id.clone()],
                auth_events: auth_event_ids(draft, creator, rules, &auth)?,
                depth: previous.depth + 1,
                legacy: None,
            };
            let pdu = self.build_authorised(draft, position, rules, creator, &auth)?;
            if let Some(key) = &pdu.state_key {
                let key = (StateEventType::from(pdu.kind.to_string()), key.clone());
                auth_state.insert(key.clone(), pdu.clone());
                state.insert(key, pdu.event_id.clone());
            }
            events.push((pdu, state.clone()));
        }
        Ok(events)
    }

    /// Stores a room and its first events in one transaction, then does what follows each
    /// stored event (relations, push counts, wake-ups).
    async fn store_creation(
        &self,
        room: &NewRoom<'_>,
        events: &[(Pdu, StateMap)],
        rules: &RoomVersionRules,
    ) -> ServiceResult<RoomCreation> {
        let _guard = self.lock(room.room_id).await;
        let jsons: Vec<(String, String)> = events
            .iter()
            .map(|(pdu, _)| (pdu.json_string(), pdu.kind.to_string()))
            .collect();
        // Every first event is a state event: its delta is its own entry.
        let deltas: Vec<(Vec<StateEntry>, Vec<StateEntry>)> = events
            .iter()
            .map(|(pdu, state)| {
                let own = pdu
                    .state_key
                    .iter()
                    .map(|key| (pdu.kind.to_string(), key.clone(), pdu.event_id.clone()))
                    .collect();
                (own, entries(state))
            })
            .collect();
        let memberships: Vec<Vec<MembershipChange>> = events
            .iter()
            .map(|(pdu, _)| membership_change(pdu).into_iter().collect())
            .collect();
        let new_events: Vec<NewEvent<'_>> = events
            .iter()
            .enumerate()
            .map(|(i, (pdu, _))| {
                let (delta, full) = &deltas[i];
                let state = if i == 0 {
                    StateChange::Changed {
                        prev_group: None,
                        delta: full,
                        full,
                    }
                } else {
                    StateChange::AfterPrevious { delta, full }
                };
                NewEvent {
                    memberships: &memberships[i],
                    ..new_event(pdu, &jsons[i].0, &jsons[i].1, state)
                }
            })
            .collect();
        let outcome = self
            .context
            .storage
            .rooms
            .create_with_events(room, &new_events)
            .await?;
        if let RoomCreation::Created(appended) = &outcome {
            for ((pdu, state), stored) in events.iter().zip(appended) {
                self.after_store(pdu, stored.stream_ordering).await?;
                self.evaluate_push(pdu, stored.stream_ordering, state, rules)
                    .await?;
            }
            let concerned: Vec<_> = memberships
                .iter()
                .flatten()
                .map(|m| m.user_id.clone())
                .collect();
            if let Some(last) = appended.last() {
                self.context
                    .notifier
                    .notify(&concerned, last.stream_ordering);
                self.wake_delivery();
            }
        }
        Ok(outcome)
    }
}
