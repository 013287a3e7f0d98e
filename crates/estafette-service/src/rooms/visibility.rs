//! History visibility (spec: "History visibility"): which events of a room a member may see,
//! decided by the room's `m.room.history_visibility` and the member's membership in the state
//! after each event. Callers first check that the user is or was a member (`visible_until`),
//! which bounds what a former member sees to their departure.

use std::collections::HashMap;

use ruma::UserId;
use ruma::events::{StateEventType, TimelineEventType};
use serde_json::Value as JsonValue;

use super::RoomService;
use crate::{Pdu, ServiceResult};

/// What one user may see of one room's history, remembered per state group.
pub(crate) struct HistoryView<'a> {
    rooms: &'a RoomService,
    user: &'a UserId,
    by_group: HashMap<i64, bool>,
}

impl RoomService {
    pub(crate) fn history_view<'a>(&'a self, user: &'a UserId) -> HistoryView<'a> {
        HistoryView {
            rooms: self,
            user,
            by_group: HashMap::new(),
        }
    }
}

impl HistoryView<'_> {
    /// The events of `records` the user may see, in the same order.
    pub(crate) async fn visible(
        &mut self,
        records: Vec<estafette_storage::EventRecord>,
    ) -> ServiceResult<Vec<Pdu>> {
        let mut pdus = Vec::with_capacity(records.len());
        for record in records {
            let group = record.state_group;
            let pdu = Pdu::from_record(record)?;
            if self.allows(&pdu, group).await? {
                pdus.push(pdu);
            }
        }
        Ok(pdus)
    }

    /// Whether the user may see `pdu`, whose state afterwards is `state_group`.
    pub(crate) async fn allows(&mut self, pdu: &Pdu, state_group: i64) -> ServiceResult<bool> {
        // Users always see their own membership changes.
        if pdu.kind == TimelineEventType::RoomMember
            && pdu.state_key.as_deref() == Some(self.user.as_str())
        {
            return Ok(true);
        }
        if let Some(allowed) = self.by_group.get(&state_group) {
            return Ok(*allowed);
        }
        let state = self.rooms.load_state(state_group).await?;
        let field = |key: (StateEventType, String), name: &'static str| {
            let rooms = self.rooms;
            let id = state.get(&key).cloned();
            async move {
                let Some(id) = id else {
                    return Ok::<_, crate::ServiceError>(None);
                };
                Ok(rooms.pdu(&id).await?.and_then(|pdu| {
                    serde_json::from_str::<JsonValue>(pdu.content.get())
                        .ok()
                        .and_then(|content| content[name].as_str().map(ToOwned::to_owned))
                }))
            }
        };
        let visibility = field(
            (StateEventType::RoomHistoryVisibility, String::new()),
            "history_visibility",
        )
        .await?
        .unwrap_or_else(|| "shared".to_owned());
        let membership = field(
            (StateEventType::RoomMember, self.user.to_string()),
            "membership",
        )
        .await?;
        let member = |allowed: &[&str]| membership.as_deref().is_some_and(|m| allowed.contains(&m));
        let allowed = match visibility.as_str() {
            "world_readable" => true,
            "joined" => member(&["join"]),
            "invited" => member(&["join", "invite"]),
            // `shared` (and values this server does not know, as `shared`): a member, or
            // former member, sees the whole history.
            _ => true,
        };
        self.by_group.insert(state_group, allowed);
        Ok(allowed)
    }
}
