//! `timestamp_to_event`: the event of a room closest to a date, for clients jumping to a day
//! of history. When this server's history of the room stops short of the date (it joined
//! later), the other servers in the room are asked, and the history up to their answer is
//! fetched so that the client can read around it.

use ruma::api::Direction as SpecDirection;
use ruma::api::federation::event::get_event_by_timestamp::v1 as timestamp_to_event;
use ruma::{MilliSecondsSinceUnixEpoch, OwnedEventId, RoomId, ServerName, UInt};

use super::RoomService;
use crate::{Requester, ServiceError, ServiceResult};

/// Backfill rounds spent bringing a remote answer's history here.
const JUMP_BACKFILL_ROUNDS: u32 = 10;

impl RoomService {
    /// The event closest to `ts` at or after it (`forward`) or at or before it, that the
    /// requester may see: its ID and timestamp.
    pub async fn event_at_time(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        ts: u64,
        forward: bool,
    ) -> ServiceResult<(OwnedEventId, u64)> {
        let until = self.visible_until(&requester.user_id, room_id).await?;
        let ceiling = match until {
            Some(until) => until,
            None => self.context.storage.streams.current().await?,
        };
        let local = self
            .context
            .storage
            .events
            .closest_to_time(room_id, ts, forward, ceiling)
            .await?;
        if !self.history_stops_at(room_id, local.as_ref()).await? {
            return local.ok_or_else(|| not_found(ts, forward));
        }
        for server in self.servers_in_room(room_id).await? {
            if server == self.context.server_name {
                continue;
            }
            let Some((event_id, remote_ts)) =
                self.ask_for_time(&server, room_id, ts, forward).await
            else {
                continue;
            };
            let closer = local.as_ref().is_none_or(|(_, local_ts)| {
                if forward {
                    remote_ts < *local_ts
                } else {
                    remote_ts > *local_ts
                }
            });
            if !closer {
                break;
            }
            self.fetch_history_to(room_id, &event_id).await?;
            return Ok((event_id, remote_ts));
        }
        local.ok_or_else(|| not_found(ts, forward))
    }

    /// `GET /_matrix/federation/v1/timestamp_to_event/{roomId}` from `origin`: this server's
    /// answer only, for a server with a member in the room.
    pub async fn event_at_time_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        ts: u64,
        forward: bool,
    ) -> ServiceResult<(OwnedEventId, u64)> {
        self.room_rules(room_id).await?;
        if !self
            .servers_in_room(room_id)
            .await?
            .iter()
            .any(|s| s == origin)
        {
            return Err(ServiceError::Forbidden(format!(
                "{origin} has no member in {room_id}"
            )));
        }
        let until = self.context.storage.streams.current().await?;
        self.context
            .storage
            .events
            .closest_to_time(room_id, ts, forward, until)
            .await?
            .ok_or_else(|| not_found(ts, forward))
    }

    /// Whether this server's history may lack what lies around `found`: nothing was found,
    /// or the room's oldest event here was, and it points at events this server never got.
    async fn history_stops_at(
        &self,
        room_id: &RoomId,
        found: Option<&(OwnedEventId, u64)>,
    ) -> ServiceResult<bool> {
        Ok(self
            .history_gap(room_id)
            .await?
            .is_some_and(|gap| found.is_none_or(|(id, _)| *id == gap.earliest)))
    }

    async fn ask_for_time(
        &self,
        server: &ServerName,
        room_id: &RoomId,
        ts: u64,
        forward: bool,
    ) -> Option<(OwnedEventId, u64)> {
        let dir = if forward {
            SpecDirection::Forward
        } else {
            SpecDirection::Backward
        };
        let ts = MilliSecondsSinceUnixEpoch(UInt::new(ts).unwrap_or_default());
        let request = timestamp_to_event::Request::new(room_id.to_owned(), ts, dir);
        match self.federation.send(server, request).await {
            Ok(answer) => Some((answer.event_id, answer.origin_server_ts.get().into())),
            Err(e) => {
                tracing::info!(%room_id, %server, "no event by time from this server: {e}");
                None
            }
        }
    }

    /// Backfills until `event_id` is in the timeline, a bounded number of rounds.
    async fn fetch_history_to(
        &self,
        room_id: &RoomId,
        event_id: &OwnedEventId,
    ) -> ServiceResult<()> {
        for _ in 0..JUMP_BACKFILL_ROUNDS {
            if self.context.storage.events.in_timeline(event_id).await?
                || self
                    .backfill_from_remote(room_id, super::backfill::BACKFILL_BATCH)
                    .await?
                    == 0
            {
                break;
            }
        }
        Ok(())
    }
}

fn not_found(ts: u64, forward: bool) -> ServiceError {
    let direction = if forward { "after" } else { "before" };
    ServiceError::NotFound(format!("No event {direction} {ts} in this room"))
}
