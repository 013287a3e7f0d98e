//! The events of a room between two positions, read once however many readers ask at the same
//! moment: a message wakes every member's `/sync`, and they all ask for the same window.
//!
//! A window ending at a committed position never gains an event (positions are taken in
//! order and everything up to the current one has committed), so it can be kept. Two things
//! change stored events: a redaction, which clears the cache here and, through the cluster
//! feed, in the server's other processes; and backfill, which files history at negative
//! positions, so windows reaching below zero are never kept.

use std::sync::Arc;

use ruma::{OwnedRoomId, RoomId};
use tokio::sync::OnceCell;

use super::{BoundedCache, RoomService};
use crate::{Pdu, ServiceResult};

/// An event of a window: its position, the state group after it, the event.
pub(crate) type WindowEvent = (i64, i64, Pdu);

type Window = Arc<Vec<WindowEvent>>;

/// (room, after, until, forward, limit)
type WindowKey = (OwnedRoomId, i64, i64, bool, u32);

/// Windows kept at once: a few per busy room is all a wake-up needs.
const CAPACITY: usize = 128;

pub(crate) struct WindowCache {
    windows: BoundedCache<WindowKey, Arc<OnceCell<Window>>>,
}

impl WindowCache {
    pub(crate) fn new() -> Self {
        Self {
            windows: BoundedCache::new(CAPACITY),
        }
    }

    /// Forgets every window (an event in one of them was redacted).
    pub(crate) fn clear(&self) {
        self.windows.clear();
    }
}

impl RoomService {
    /// Up to `limit` events of the room in `(after, until]`, oldest first when `forward`;
    /// `until` must be a committed position (the callers' is at most the current one).
    pub(crate) async fn window(
        &self,
        room_id: &RoomId,
        after: i64,
        until: i64,
        forward: bool,
        limit: u32,
    ) -> ServiceResult<Window> {
        if after < 0 {
            return self
                .read_window(room_id, after, until, forward, limit)
                .await;
        }
        let key = (room_id.to_owned(), after, until, forward, limit);
        let cell = match self.windows.windows.get(&key) {
            Some(cell) => cell,
            None => {
                let cell = Arc::new(OnceCell::new());
                self.windows.windows.insert(key, cell.clone());
                cell
            }
        };
        // Concurrent readers of one window wait for the first one's read.
        let window = cell
            .get_or_try_init(|| self.read_window(room_id, after, until, forward, limit))
            .await?;
        Ok(window.clone())
    }

    async fn read_window(
        &self,
        room_id: &RoomId,
        after: i64,
        until: i64,
        forward: bool,
        limit: u32,
    ) -> ServiceResult<Window> {
        let records = self
            .context
            .storage
            .events
            .room_events(room_id, after, until, forward, limit)
            .await?;
        let mut events = Vec::with_capacity(records.len());
        for record in records {
            let (position, group) = (record.stream_ordering, record.state_group);
            events.push((position, group, Pdu::from_record(record)?));
        }
        Ok(Arc::new(events))
    }
}
