//! Thread subscriptions (MSC4306): a user follows a thread by hand, or their client does it
//! for them when they take part (`automatic`, up to the event that prompted it). A client's
//! automatic subscription never overrides the user: not a manual one, nor an unsubscription
//! made after the prompting event. Changes reach sliding sync (MSC4308) as stream positions.

use estafette_storage::{Subscribed, ThreadSubscriptionRecord};
use ruma::{EventId, RoomId};
use serde_json::Value as JsonValue;

use super::{Pdu, RoomService};
use crate::{Requester, ServiceError, ServiceResult};

/// Whether `event` is `root` or one of its thread's events.
fn in_thread(event: &Pdu, root: &EventId) -> bool {
    if event.event_id == root {
        return true;
    }
    let content: JsonValue = serde_json::from_str(event.content.get()).unwrap_or_default();
    let relation = &content["m.relates_to"];
    relation["rel_type"] == "m.thread" && relation["event_id"] == root.as_str()
}

impl RoomService {
    /// An event of the thread the requester can see; one they cannot is not found, whether
    /// or not they are in the room (MSC4306).
    async fn visible_in_thread(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> ServiceResult<Pdu> {
        self.visible_event(requester, room_id, event_id)
            .await
            .map_err(|err| match err {
                ServiceError::Forbidden(_) => {
                    ServiceError::NotFound(format!("Event {event_id} not found"))
                }
                other => other,
            })
    }

    pub async fn subscribe_thread(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        thread_root: &EventId,
        automatic: Option<&EventId>,
    ) -> ServiceResult<()> {
        self.visible_in_thread(requester, room_id, thread_root)
            .await?;
        let up_to = match automatic {
            None => None,
            Some(event_id) => {
                let event = self.visible_in_thread(requester, room_id, event_id).await?;
                if !in_thread(&event, thread_root) {
                    return Err(ServiceError::NotInThread(format!(
                        "{event_id} is not an event of the thread {thread_root}"
                    )));
                }
                let record = self.context.storage.events.get(event_id).await?;
                Some(record.map_or(0, |r| r.stream_ordering))
            }
        };
        let user_id = &requester.user_id;
        let subscriptions = &self.context.storage.thread_subscriptions;
        match subscriptions
            .subscribe(user_id, room_id, thread_root, up_to)
            .await?
        {
            Subscribed::Changed(position) => {
                self.context.notifier.notify(&[user_id.clone()], position);
                Ok(())
            }
            Subscribed::Unchanged => Ok(()),
            Subscribed::Conflict => Err(ServiceError::ConflictingUnsubscription(
                "You left this thread after that event: the automatic subscription is skipped"
                    .into(),
            )),
        }
    }

    pub async fn unsubscribe_thread(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        thread_root: &EventId,
    ) -> ServiceResult<()> {
        self.visible_in_thread(requester, room_id, thread_root)
            .await?;
        let user_id = &requester.user_id;
        let position = self
            .context
            .storage
            .thread_subscriptions
            .unsubscribe(user_id, room_id, thread_root)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound("You are not subscribed to this thread".into())
            })?;
        self.context.notifier.notify(&[user_id.clone()], position);
        Ok(())
    }

    /// Whether the requester follows the thread, and automatically; `NotFound` when not.
    pub async fn thread_subscription(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        thread_root: &EventId,
    ) -> ServiceResult<bool> {
        self.visible_in_thread(requester, room_id, thread_root)
            .await?;
        let record = self
            .context
            .storage
            .thread_subscriptions
            .get(&requester.user_id, room_id, thread_root)
            .await?;
        match record {
            Some(ThreadSubscriptionRecord {
                subscribed: true,
                automatic,
                ..
            }) => Ok(automatic),
            _ => Err(ServiceError::NotFound(
                "You are not subscribed to this thread".into(),
            )),
        }
    }

    /// The requester's subscription changes in `(after, until]`, latest first, at most
    /// `limit`, and the window `(after, upper]` of the older ones left out, if any.
    pub async fn thread_subscription_changes(
        &self,
        requester: &Requester,
        after: i64,
        until: i64,
        limit: u32,
    ) -> ServiceResult<(Vec<ThreadSubscriptionRecord>, Option<(i64, i64)>)> {
        let mut changes = self
            .context
            .storage
            .thread_subscriptions
            .changes(&requester.user_id, after, until, limit.saturating_add(1))
            .await?;
        let more = changes.len() > limit as usize;
        changes.truncate(limit as usize);
        let older = more
            .then(|| changes.last().map(|c| (c.stream_id - 1, after)))
            .flatten();
        Ok((changes, older))
    }
}
