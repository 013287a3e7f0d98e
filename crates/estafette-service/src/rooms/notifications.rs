//! Push rules evaluated on every event for every member: what notifies and what highlights,
//! stored so that `/sync` can count unread notifications.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use estafette_storage::{MembershipRecord, PushAction};
use ruma::push::{
    Action, FlattenedJson, PushConditionPowerLevelsCtx, PushConditionRoomCtx, Ruleset,
};
use ruma::room_version_rules::{RoomPowerLevelsRules, RoomVersionRules};
use ruma::serde::Raw;
use ruma::{Int, OwnedEventId, OwnedUserId, UInt};

use super::power::PowerLevels;
use super::{RoomService, StateMap};
use crate::{Pdu, ServiceResult};

/// The account data type that holds a user's push rules.
pub const PUSH_RULES: &str = "m.push_rules";

impl RoomService {
    /// Evaluates the event against each other joined member's push rules and stores the
    /// result; returns the room's memberships it read (after the event was stored), for waking
    /// the members.
    pub(crate) async fn evaluate_push(
        &self,
        pdu: &Pdu,
        stream_ordering: i64,
        state: &StateMap,
        rules: &RoomVersionRules,
    ) -> ServiceResult<Vec<MembershipRecord>> {
        let room_members = self
            .context
            .storage
            .memberships
            .of_room(&pdu.room_id)
            .await?;
        let (thread, actions) = self.push_actions(pdu, state, rules, &room_members).await?;
        self.context
            .storage
            .push_actions
            .insert(
                &pdu.room_id,
                &pdu.event_id,
                stream_ordering,
                &thread,
                &actions,
            )
            .await?;
        Ok(room_members)
    }

    /// What the event means for each other joined member (`room_members` as they are with the
    /// event), by their push rules; and its thread ('' for the main timeline).
    pub(crate) async fn push_actions(
        &self,
        pdu: &Pdu,
        state: &StateMap,
        rules: &RoomVersionRules,
        room_members: &[MembershipRecord],
    ) -> ServiceResult<(String, Vec<PushAction>)> {
        let members: Vec<&MembershipRecord> = room_members
            .iter()
            .filter(|m| m.membership == "join")
            .collect();
        let levels = self.power_levels(state, rules).await?;
        let power_ctx = push_power_levels(&levels, rules);
        let event: Raw<ruma::events::AnySyncTimelineEvent> = Raw::from_json(
            serde_json::value::to_raw_value(&pdu.to_client_json(false))
                .map_err(|e| crate::ServiceError::Internal(e.to_string()))?,
        );
        // Once per event, not per member: the flattened event and every member's stored rules.
        let flattened = FlattenedJson::from_raw(&event);
        let stored: HashMap<OwnedUserId, String> = self
            .context
            .storage
            .account_data
            .global_of_joined_members(&pdu.room_id, PUSH_RULES)
            .await?
            .into_iter()
            .collect();
        let member_count = UInt::new(members.len() as u64).unwrap_or_default();
        let mut actions = Vec::new();
        for member in &members {
            if member.user_id == pdu.sender {
                continue;
            }
            let ruleset = self.ruleset(&member.user_id, stored.get(&member.user_id));
            let ctx = member_ctx(pdu, member_count, member, &power_ctx);
            let matched = first_match(&ruleset, &flattened, &ctx).await;
            let notify = matched.iter().any(Action::should_notify);
            let highlight = matched.iter().any(Action::is_highlight);
            if notify || highlight {
                actions.push(PushAction {
                    user_id: member.user_id.clone(),
                    notify,
                    highlight,
                    tweaks: if notify {
                        gateway_tweaks(&matched)
                    } else {
                        String::new()
                    },
                });
            }
        }
        let thread = match pdu.relates_to() {
            Some((rel_type, root, _)) if rel_type == "m.thread" => root.to_string(),
            _ => String::new(),
        };
        Ok((thread, actions))
    }
}

impl RoomService {
    /// A member's push rules, parsed once for as long as the stored rules stay the same (they
    /// are read again with every event, so a change made by any process is seen at once).
    fn ruleset(&self, user_id: &OwnedUserId, stored: Option<&String>) -> Arc<Ruleset> {
        if let Some((cached_from, ruleset)) = self.ruleset_cache.get(user_id)
            && cached_from.as_ref() == stored
        {
            return ruleset;
        }
        let ruleset = Arc::new(crate::sync::parse_ruleset(
            stored.map(String::as_str),
            user_id,
        ));
        self.ruleset_cache
            .insert(user_id.clone(), (stored.cloned(), ruleset.clone()));
        ruleset
    }
}

/// The rule's tweaks as push gateways read them (`{"sound": "default", "highlight": true}`,
/// a highlight without a value being true), '' for none.
fn gateway_tweaks(actions: &[Action]) -> String {
    let mut tweaks = serde_json::Map::new();
    for action in actions {
        if let Action::SetTweak(tweak) = action {
            // As the rules write them: `{"set_tweak": "sound", "value": "default"}`.
            let written = serde_json::to_value(tweak).unwrap_or_default();
            if let Some(name) = written["set_tweak"].as_str() {
                let value = written
                    .get("value")
                    .cloned()
                    .unwrap_or(serde_json::Value::Bool(true));
                tweaks.insert(name.to_owned(), value);
            }
        }
    }
    if tweaks.is_empty() {
        String::new()
    } else {
        serde_json::Value::Object(tweaks).to_string()
    }
}

/// What the rules see of the room and the member.
fn member_ctx(
    pdu: &Pdu,
    member_count: UInt,
    member: &MembershipRecord,
    power_ctx: &PushConditionPowerLevelsCtx,
) -> PushConditionRoomCtx {
    let display_name = member
        .display_name
        .clone()
        .unwrap_or_else(|| member.user_id.localpart().to_owned());
    let mut ctx = PushConditionRoomCtx::new(
        pdu.room_id.clone(),
        member_count,
        member.user_id.clone(),
        display_name,
    );
    ctx.power_levels = Some(power_ctx.clone());
    ctx
}

/// The actions of the first rule that applies (none when none does).
async fn first_match<'a>(
    ruleset: &'a Ruleset,
    flattened: &FlattenedJson,
    ctx: &PushConditionRoomCtx,
) -> &'a [Action] {
    for rule in ruleset.iter() {
        if rule.applies(flattened, ctx).await {
            return rule.actions();
        }
    }
    &[]
}

fn push_power_levels(
    levels: &PowerLevels,
    rules: &RoomVersionRules,
) -> PushConditionPowerLevelsCtx {
    let users: BTreeMap<OwnedUserId, Int> = levels
        .explicit_users()
        .into_iter()
        .filter_map(|(user, level)| Some((OwnedUserId::try_from(user).ok()?, Int::new(level)?)))
        .collect();
    let mut notifications = ruma::power_levels::NotificationPowerLevels::new();
    notifications.room = Int::new(levels.notification_level("room")).unwrap_or_default();
    let creators = levels
        .creators()
        .iter()
        .filter_map(|c| OwnedUserId::try_from(c.as_str()).ok());
    PushConditionPowerLevelsCtx::new(
        users,
        Int::new(levels.field("users_default", 0)).unwrap_or_default(),
        notifications,
        RoomPowerLevelsRules::new(&rules.authorization, creators),
    )
}

/// One entry of `/notifications`: the notification and its event.
#[derive(Debug, Clone)]
pub struct NotifiedEvent {
    pub record: estafette_storage::NotificationRecord,
    pub event: Pdu,
}

/// Notifications per page at most.
const MAX_NOTIFICATIONS: u32 = 100;

impl RoomService {
    /// The events the requester was notified about, latest first, from the stream position
    /// `before` (exclusive; the latest when `None`), with where the next page starts.
    pub async fn notification_list(
        &self,
        requester: &crate::Requester,
        before: Option<i64>,
        limit: u32,
        only_highlights: bool,
    ) -> ServiceResult<(Vec<NotifiedEvent>, Option<i64>)> {
        let limit = limit.clamp(1, MAX_NOTIFICATIONS);
        let records = self
            .context
            .storage
            .push_actions
            .notifications(
                &requester.user_id,
                before.unwrap_or(i64::MAX),
                limit,
                only_highlights,
            )
            .await?;
        let next = (records.len() == limit as usize)
            .then(|| records.last().map(|r| r.stream_ordering))
            .flatten();
        let ids: Vec<OwnedEventId> = records.iter().map(|r| r.event_id.clone()).collect();
        let mut events: HashMap<OwnedEventId, Pdu> = self
            .pdus(&ids)
            .await?
            .into_iter()
            .map(|pdu| (pdu.event_id.clone(), pdu))
            .collect();
        let notified = records
            .into_iter()
            .filter_map(|record| {
                let event = events.remove(&record.event_id)?;
                Some(NotifiedEvent { record, event })
            })
            .collect();
        Ok((notified, next))
    }
}
