//! Sending delayed events when their time comes. Every process runs the loop: it claims each
//! due event before sending it, so one process sends it; a claim a minute old (its process
//! died while sending) is taken over, so none is lost; a message goes out under a
//! transaction ID of its own, so one sent twice that way is stored once.

use estafette_storage::DelayedEventRecord;
use ruma::events::{StateEventType, TimelineEventType};

use super::DelayedEventService;
use crate::{Requester, ServiceError, ServiceResult};

/// How long a claim holds before another process may take the event over.
const CLAIM_LEASE_MS: u64 = 60_000;
/// Events sent per pass.
const BATCH: u32 = 100;

pub(super) fn stale_before(now: u64) -> u64 {
    now.saturating_sub(CLAIM_LEASE_MS)
}

/// Errors after which the event is tried again later rather than dropped.
fn transient(err: &ServiceError) -> bool {
    matches!(
        err,
        ServiceError::Storage(_) | ServiceError::Internal(_) | ServiceError::Unavailable(_)
    )
}

impl DelayedEventService {
    /// Sends until the server stops: each due event, as soon as the clock reaches it.
    pub async fn run(self) {
        let wake = self.wake.clone();
        crate::due_loop::run(&self.context, &wake, "sending delayed events", || {
            self.send_due()
        })
        .await;
    }

    /// Sends every due event this process can claim; returns when the next one is due.
    pub async fn send_due(&self) -> ServiceResult<Option<u64>> {
        let store = &self.context.storage.delayed_events;
        loop {
            let now = self.context.now();
            let due = store.due(now, stale_before(now), BATCH).await?;
            let full = due.len() == BATCH as usize;
            for delay_id in due {
                let claimed = store.claim(&delay_id, now, stale_before(now), true).await?;
                if let Some(record) = claimed
                    && let Err(err) = self.send_claimed(record).await
                {
                    tracing::warn!(%delay_id, "a delayed event was not sent: {err}");
                }
            }
            if !full {
                return Ok(store.next_send_ts().await?);
            }
        }
    }

    /// Sends a claimed event as its owner's device, then forgets it, unless the failure may
    /// pass (it is tried again once the claim is stale).
    pub(super) async fn send_claimed(&self, record: DelayedEventRecord) -> ServiceResult<()> {
        let sent = self.deliver(&record).await;
        if let Err(err) = &sent
            && transient(err)
        {
            return sent;
        }
        self.context
            .storage
            .delayed_events
            .finish(&record.delay_id)
            .await?;
        sent
    }

    async fn deliver(&self, record: &DelayedEventRecord) -> ServiceResult<()> {
        let requester = Requester::new(record.user_id.clone(), record.device_id.clone());
        let content: serde_json::Value = serde_json::from_str(&record.content)
            .map_err(|e| ServiceError::Internal(format!("stored delayed content: {e}")))?;
        let kind = TimelineEventType::from(record.event_type.as_str());
        let Some(state_key) = &record.state_key else {
            let txn_id = format!("delayed/{}", record.delay_id);
            self.rooms
                .send_message(&requester, &record.room_id, kind, content, &txn_id)
                .await?;
            return Ok(());
        };
        if self.overtaken(record, state_key).await? {
            tracing::debug!(delay_id = %record.delay_id, "newer state from someone else: not sent");
            return Ok(());
        }
        self.rooms
            .send_state(&requester, &record.room_id, kind, state_key, content)
            .await?;
        Ok(())
    }

    /// Whether someone else set this state since the event was scheduled: a delayed state
    /// event never overwrites newer state of another user (MSC4140).
    async fn overtaken(&self, record: &DelayedEventRecord, state_key: &str) -> ServiceResult<bool> {
        let (state, _) = self.rooms.current_state(&record.room_id).await?;
        let key = (
            StateEventType::from(record.event_type.as_str()),
            state_key.to_owned(),
        );
        let Some(event_id) = state.get(&key) else {
            return Ok(false);
        };
        let Some(current) = self.rooms.pdu(event_id).await? else {
            return Ok(false);
        };
        Ok(current.sender != record.user_id
            && u64::from(current.origin_server_ts.get()) >= record.created_ts)
    }
}
