//! The room access rules (`policy::access_rules`, TCHAP.md §4) applied to this server's own
//! events, against the room's state before each: a refusal is `M_FORBIDDEN` with the rule.

use ruma::events::{StateEventType, TimelineEventType};
use ruma::{RoomId, UserId};
use serde_json::Value as JsonValue;

use super::{RoomService, StateMap};
use crate::policy::access_rules::{
    ACCESS_RULES_EVENT, AccessRule, EventFacts, Externals, RoomFacts, check,
};
use crate::policy::last_admin;
use crate::{Pdu, Requester, ServiceError, ServiceResult};

impl RoomService {
    /// Whether `pdu`, about to follow `state`, passes the room's access rules (when on).
    pub(crate) async fn check_access_rules(
        &self,
        room_id: &RoomId,
        state: &StateMap,
        pdu: &Pdu,
    ) -> ServiceResult<()> {
        let policy = &self.context.config.policy;
        if !policy.room_access_rules {
            return Ok(());
        }
        let content: JsonValue = serde_json::from_str(pdu.content.get())
            .map_err(|e| ServiceError::Internal(format!("unreadable content: {e}")))?;
        let event = EventFacts {
            kind: &pdu.kind.to_string(),
            state_key: pdu.state_key.as_deref(),
            sender: pdu.sender.as_str(),
            content: &content,
        };
        let facts = self.access_facts(room_id, state, &event).await?;
        // Bridged externals are this server's call, on its own events: other servers judge
        // theirs and ours by the externals' servers alone, and so do we theirs, so that all
        // agree on the room's state.
        let bridges = match pdu.sender.server_name() == self.context.server_name {
            true => self.context.appservices.all(),
            false => &[],
        };
        check(
            &facts,
            &event,
            &Externals(&policy.external_servers, bridges),
        )
        .map_err(|rule| {
            ServiceError::Forbidden(format!("Refused by the room's access rules: {rule}"))
        })
    }

    /// An invite into a room this server is not in yet, judged by the access rules on what
    /// its stripped state tells: an external is not invited into a restricted room. Without
    /// the rule there, the room's own servers alone judge.
    pub(crate) fn check_invite_from_afar(
        &self,
        sender: &UserId,
        invitee: &UserId,
        stripped: &[JsonValue],
    ) -> ServiceResult<()> {
        let policy = &self.context.config.policy;
        if !policy.room_access_rules {
            return Ok(());
        }
        let of_type = |kind: &str| {
            stripped
                .iter()
                .find(|event| event["type"] == kind && event["state_key"] == "")
                .map(|event| &event["content"])
        };
        let Some(rule) = of_type(ACCESS_RULES_EVENT).and_then(AccessRule::of) else {
            return Ok(());
        };
        let facts = RoomFacts {
            rule: Some(rule),
            join_rule: of_type("m.room.join_rules")
                .and_then(|content| content["join_rule"].as_str().map(ToOwned::to_owned)),
            ..RoomFacts::default()
        };
        let content = serde_json::json!({"membership": "invite"});
        let event = EventFacts {
            kind: "m.room.member",
            state_key: Some(invitee.as_str()),
            sender: sender.as_str(),
            content: &content,
        };
        let externals = Externals(&policy.external_servers, self.context.appservices.all());
        check(&facts, &event, &externals).map_err(|rule| {
            ServiceError::Forbidden(format!("Refused by the room's access rules: {rule}"))
        })
    }

    /// The room's access rule now: without the event, `restricted`.
    pub(crate) async fn access_rule(&self, room_id: &RoomId) -> ServiceResult<AccessRule> {
        let (state, _) = self.current_state(room_id).await?;
        Ok(self
            .rule_in(&state)
            .await?
            .unwrap_or(AccessRule::Restricted))
    }

    /// The access rule of a room in `state`, if it has one.
    async fn rule_in(&self, state: &StateMap) -> ServiceResult<Option<AccessRule>> {
        Ok(self
            .state_content(state, StateEventType::from(ACCESS_RULES_EVENT), "")
            .await?
            .as_ref()
            .and_then(AccessRule::of))
    }

    /// Before the room's last admin leaves, the power levels that keep one in it (TCHAP.md
    /// §4), sent as theirs while they still may.
    pub(crate) async fn promote_successors(
        &self,
        requester: &Requester,
        room_id: &RoomId,
    ) -> ServiceResult<()> {
        let policy = &self.context.config.policy;
        if !policy.room_access_rules {
            return Ok(());
        }
        let (state, _) = self.current_state(room_id).await?;
        let rule = self
            .rule_in(&state)
            .await?
            .unwrap_or(AccessRule::Restricted);
        let Some(levels) = self
            .state_content(&state, StateEventType::RoomPowerLevels, "")
            .await?
        else {
            return Ok(());
        };
        let (_, rules) = self.room_rules(room_id).await?;
        let power = self.power_levels(&state, &rules).await?;
        let members: Vec<String> = self
            .joined_user_ids(room_id)
            .await?
            .iter()
            .map(ToString::to_string)
            .collect();
        let promoted = last_admin::promotion(
            &levels,
            power.creators(),
            &members,
            requester.user_id.as_str(),
            rule,
            &Externals(&policy.external_servers, self.context.appservices.all()),
        );
        if let Some(levels) = promoted {
            self.send_state(
                requester,
                room_id,
                TimelineEventType::RoomPowerLevels,
                "",
                levels,
            )
            .await?;
        }
        Ok(())
    }

    /// Under the access rules, only `restricted` rooms are published in the directory.
    pub(crate) async fn check_publication(&self, room_id: &RoomId) -> ServiceResult<()> {
        if !self.context.config.policy.room_access_rules {
            return Ok(());
        }
        match self.access_rule(room_id).await? {
            AccessRule::Restricted => Ok(()),
            rule => Err(ServiceError::Forbidden(format!(
                "Refused by the room's access rules: only restricted rooms are published, \
                 not {} ones",
                rule.as_str()
            ))),
        }
    }

    async fn access_facts(
        &self,
        room_id: &RoomId,
        state: &StateMap,
        event: &EventFacts<'_>,
    ) -> ServiceResult<RoomFacts> {
        let rule = self.rule_in(state).await?;
        let join_rule = self
            .state_content(state, StateEventType::RoomJoinRules, "")
            .await?
            .and_then(|content| content["join_rule"].as_str().map(ToOwned::to_owned));
        let encrypted = state.contains_key(&(StateEventType::RoomEncryption, String::new()));
        // Only a change of rule asks whether the room is published here.
        let published = event.kind == ACCESS_RULES_EVENT
            && self
                .context
                .storage
                .rooms
                .get(room_id)
                .await?
                .is_some_and(|room| room.is_public);
        let mut facts = RoomFacts {
            rule,
            join_rule,
            encrypted,
            published,
            ..Default::default()
        };
        if RoomFacts::needs_everyone(rule, event) {
            // From the state before the event, so that every server judges it alike.
            for ((kind, key), _) in state {
                if *kind == StateEventType::RoomMember {
                    let content = self.state_content(state, kind.clone(), key).await?;
                    let membership = content.as_ref().and_then(|c| c["membership"].as_str());
                    if let Some(membership @ ("join" | "invite")) = membership {
                        facts.members.push((key.clone(), membership.to_owned()));
                    }
                } else if *kind == StateEventType::RoomThirdPartyInvite {
                    let content = self.state_content(state, kind.clone(), key).await?;
                    if content.is_some_and(|c| c.as_object().is_some_and(|c| !c.is_empty())) {
                        facts.pending_email_invites += 1;
                    }
                }
            }
        } else if let (Some(target), "m.room.member") = (event.state_key, event.kind) {
            let current = self
                .state_content(state, StateEventType::RoomMember, target)
                .await?;
            if let Some(membership) = current.as_ref().and_then(|c| c["membership"].as_str()) {
                facts
                    .members
                    .push((target.to_owned(), membership.to_owned()));
            }
        }
        Ok(facts)
    }
}
