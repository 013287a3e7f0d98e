//! Backfill: when a client pages back past the oldest event this server holds of a room it
//! joined over federation, the history before it is fetched from a server in the room,
//! checked (signatures, hashes, auth events) and placed before the timeline.

use ruma::api::federation::backfill::get_backfill::v1 as backfill;
use ruma::{OwnedEventId, RoomId, UInt};

use super::RoomService;
use crate::{Pdu, ServiceResult};

/// The most events asked for at once.
pub(crate) const BACKFILL_BATCH: u32 = 100;
/// How many times one request may fetch older history from other servers.
pub(crate) const MAX_BACKFILL_ROUNDS: u32 = 5;

impl RoomService {
    /// Fetches up to `limit` events older than the room's oldest known one; returns how many
    /// were added. Nothing to fetch (the room's creation is here) or nobody to ask is 0.
    pub(crate) async fn backfill_from_remote(
        &self,
        room_id: &RoomId,
        limit: u32,
    ) -> ServiceResult<usize> {
        let _guard = self.lock(room_id).await;
        let Some(gap) = self.history_gap(room_id).await? else {
            return Ok(0);
        };
        let (state_group, missing) = (gap.state_group, gap.missing);
        let (_, rules) = self.room_rules(room_id).await?;
        let limit = UInt::from(limit.clamp(1, BACKFILL_BATCH));
        for server in self.servers_in_room(room_id).await? {
            if server == self.context.server_name {
                continue;
            }
            let request = backfill::Request::new(room_id.to_owned(), missing.clone(), limit);
            let pdus = match self.federation.send(&server, request).await {
                Ok(response) => response.pdus,
                Err(e) => {
                    tracing::info!(%room_id, %server, "cannot backfill: {e}");
                    continue;
                }
            };
            let mut events = self.parse_all(&pdus, &rules).await;
            // Newest first, so each gets a position before the one after it.
            events.sort_by_key(|pdu| std::cmp::Reverse(pdu.depth));
            let mut added = 0;
            for pdu in events {
                if pdu.room_id != room_id
                    || self
                        .context
                        .storage
                        .events
                        .in_timeline(&pdu.event_id)
                        .await?
                {
                    continue;
                }
                let checked = match self.ensure_auth_events(&server, &pdu, &rules).await {
                    Ok(()) => self.check_against_auth_events(&pdu, &rules).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = checked {
                    tracing::info!(event_id = %pdu.event_id, "a backfilled event was refused: {e}");
                    continue;
                }
                // History carries the state of the oldest event known, enough to show it.
                self.store_backfilled(&pdu, state_group).await?;
                added += 1;
            }
            return Ok(added);
        }
        Ok(0)
    }

    /// Where this server's history of a room stops short: its oldest event, when that points
    /// at events this server never got (a room joined over federation); `None` when the
    /// history goes back to the room's creation.
    pub(crate) async fn history_gap(&self, room_id: &RoomId) -> ServiceResult<Option<HistoryGap>> {
        let Some(earliest) = self.context.storage.events.earliest_event(room_id).await? else {
            return Ok(None);
        };
        let state_group = earliest.state_group;
        let earliest = Pdu::from_record(earliest)?;
        let mut missing = Vec::new();
        for prev in &earliest.prev_events {
            if !self.context.storage.events.in_timeline(prev).await? {
                missing.push(prev.clone());
            }
        }
        Ok((!missing.is_empty()).then_some(HistoryGap {
            earliest: earliest.event_id,
            state_group,
            missing,
        }))
    }

    async fn store_backfilled(&self, pdu: &Pdu, state_group: i64) -> ServiceResult<()> {
        let (json, event_type) = (pdu.json_string(), pdu.kind.to_string());
        let state = estafette_storage::StateChange::Unchanged(state_group);
        let event = super::timeline::new_event(pdu, &json, &event_type, state);
        let position = self
            .context
            .storage
            .events
            .insert_backfilled(&event)
            .await?;
        self.after_store(pdu, position).await
    }
}

/// The oldest event this server holds of a room, and the events before it it lacks.
pub(crate) struct HistoryGap {
    pub earliest: OwnedEventId,
    /// The state after the oldest event, which backfilled history is shown with.
    pub state_group: i64,
    pub missing: Vec<OwnedEventId>,
}
