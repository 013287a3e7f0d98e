//! Delayed events (MSC4140): a user has the server send an event later — a MatrixRTC call
//! membership that ends by itself when the client stops restarting its delay (so a dropped
//! phone leaves the call), a scheduled message. Kept in the database until sent or
//! cancelled, sent by whichever process finds it due ([`scheduler`]), after a restart too.
//! The event is built, authorised and sent when it goes out, as its owner's device would.

mod scheduler;

use std::sync::Arc;

use estafette_storage::DelayedEventRecord;
use ruma::events::TimelineEventType;
use ruma::{OwnedRoomId, RoomId};
use serde_json::Value as JsonValue;

use crate::{Context, Requester, RoomService, ServiceError, ServiceResult};

/// What a client may do with a waiting event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayAction {
    /// Send it now.
    Send,
    /// Never send it.
    Cancel,
    /// Start its delay again (the heartbeat of a call membership).
    Restart,
}

/// A waiting event as its owner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct DelayedEvent {
    pub delay_id: String,
    pub room_id: OwnedRoomId,
    pub event_type: String,
    pub state_key: Option<String>,
    pub content: JsonValue,
    pub delay_ms: u64,
    pub running_since: u64,
}

/// What to send later.
#[derive(Debug, Clone)]
pub struct DelayedDraft<'a> {
    pub room_id: &'a RoomId,
    pub kind: TimelineEventType,
    /// Present for a state event.
    pub state_key: Option<&'a str>,
    pub content: JsonValue,
    pub delay_ms: u64,
}

#[derive(Clone)]
pub struct DelayedEventService {
    context: Arc<Context>,
    rooms: RoomService,
    /// Wakes this process's scheduler when a delay starts or restarts here.
    wake: Arc<tokio::sync::Notify>,
}

fn not_found() -> ServiceError {
    ServiceError::NotFound("No such delayed event is waiting".into())
}

fn view(record: DelayedEventRecord) -> DelayedEvent {
    DelayedEvent {
        content: serde_json::from_str(&record.content).unwrap_or(JsonValue::Null),
        delay_id: record.delay_id,
        room_id: record.room_id,
        event_type: record.event_type,
        state_key: record.state_key,
        delay_ms: record.delay_ms,
        running_since: record.running_since,
    }
}

impl DelayedEventService {
    pub(crate) fn new(context: Arc<Context>, rooms: RoomService) -> Self {
        Self {
            context,
            rooms,
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Whether the server accepts delayed events at all.
    pub fn enabled(&self) -> bool {
        self.context.config.limits.max_event_delay_ms > 0
    }

    /// Schedules `draft` for its owner's device; returns its `delay_id`. Refused up front
    /// when it could not be sent now either (not in the room, a membership or create event).
    pub async fn schedule(
        &self,
        requester: &Requester,
        draft: DelayedDraft<'_>,
    ) -> ServiceResult<String> {
        let limits = &self.context.config.limits;
        if !self.enabled() {
            return Err(ServiceError::Forbidden(
                "This server does not send delayed events".into(),
            ));
        }
        if draft.delay_ms > limits.max_event_delay_ms {
            return Err(ServiceError::InvalidParam(format!(
                "The delay ({} ms) exceeds this server's maximum ({} ms)",
                draft.delay_ms, limits.max_event_delay_ms
            )));
        }
        if draft.state_key.is_some()
            && matches!(
                draft.kind,
                TimelineEventType::RoomMember | TimelineEventType::RoomCreate
            )
        {
            return Err(ServiceError::Forbidden(format!(
                "{} events cannot be delayed",
                draft.kind
            )));
        }
        let membership = self
            .context
            .storage
            .memberships
            .get(draft.room_id, &requester.user_id)
            .await?;
        if membership.is_none_or(|m| m.membership != "join") {
            return Err(ServiceError::Forbidden(
                "You are not joined to this room".into(),
            ));
        }
        let now = self.context.now();
        let record = DelayedEventRecord {
            delay_id: self.context.random.alphanumeric(24),
            user_id: requester.user_id.clone(),
            device_id: requester.device_id.clone(),
            room_id: draft.room_id.to_owned(),
            event_type: draft.kind.to_string(),
            state_key: draft.state_key.map(str::to_owned),
            content: draft.content.to_string(),
            delay_ms: draft.delay_ms,
            created_ts: now,
            running_since: now,
            send_ts: now.saturating_add(draft.delay_ms),
        };
        let stored = self
            .context
            .storage
            .delayed_events
            .add(&record, limits.max_delayed_events_per_user)
            .await?;
        if !stored {
            return Err(ServiceError::LimitExceeded(format!(
                "At most {} delayed events may wait at once",
                limits.max_delayed_events_per_user
            )));
        }
        self.wake.notify_one();
        Ok(record.delay_id)
    }

    /// The requester's waiting events, soonest first.
    pub async fn list(&self, requester: &Requester) -> ServiceResult<Vec<DelayedEvent>> {
        let records = self
            .context
            .storage
            .delayed_events
            .of_user(&requester.user_id)
            .await?;
        Ok(records.into_iter().map(view).collect())
    }

    /// One of the requester's waiting events.
    pub async fn get(&self, requester: &Requester, delay_id: &str) -> ServiceResult<DelayedEvent> {
        let record = self.context.storage.delayed_events.get(delay_id).await?;
        match record {
            Some(record) if record.user_id == requester.user_id => Ok(view(record)),
            _ => Err(not_found()),
        }
    }

    /// Sends, cancels or restarts a waiting event. With an `owner`, only theirs; without,
    /// anyone holding the `delay_id` may (MSC4140's unauthenticated form: the ID is the
    /// capability, kept by the client's call stack).
    pub async fn update(
        &self,
        owner: Option<&Requester>,
        delay_id: &str,
        action: DelayAction,
    ) -> ServiceResult<()> {
        let store = &self.context.storage.delayed_events;
        if let Some(owner) = owner {
            let record = store.get(delay_id).await?.ok_or_else(not_found)?;
            if record.user_id != owner.user_id {
                return Err(not_found());
            }
        }
        let now = self.context.now();
        match action {
            DelayAction::Cancel => {
                if !store.cancel(delay_id).await? {
                    return Err(not_found());
                }
            }
            DelayAction::Restart => {
                if !store.restart(delay_id, now).await? {
                    return Err(not_found());
                }
                self.wake.notify_one();
            }
            DelayAction::Send => {
                let record = store
                    .claim(delay_id, now, scheduler::stale_before(now), false)
                    .await?
                    .ok_or_else(not_found)?;
                self.send_claimed(record).await?;
            }
        }
        Ok(())
    }
}
