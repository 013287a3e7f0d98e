//! Read receipts (`m.read`, `m.read.private`, threaded) and the fully-read marker.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ruma::{EventId, OwnedRoomId, OwnedUserId, RoomId};
use serde_json::{Value as JsonValue, json};

use crate::{Context, Requester, ServiceError, ServiceResult};

pub const RECEIPT_READ: &str = "m.read";
pub const RECEIPT_READ_PRIVATE: &str = "m.read.private";
pub const FULLY_READ: &str = "m.fully_read";

#[derive(Clone)]
pub struct ReceiptService {
    context: Arc<Context>,
    /// Public receipts go to the other servers in the room.
    sender: crate::FederationSender,
    /// A member's own read receipt may change the badge on their phones.
    push: crate::PushDeliveryService,
}

impl ReceiptService {
    pub(crate) fn new(
        context: Arc<Context>,
        sender: crate::FederationSender,
        push: crate::PushDeliveryService,
    ) -> Self {
        Self {
            context,
            sender,
            push,
        }
    }

    async fn check_event(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> ServiceResult<()> {
        let membership = self
            .context
            .storage
            .memberships
            .get(room_id, &requester.user_id)
            .await?;
        if !membership.is_some_and(|m| m.membership == "join") {
            return Err(ServiceError::Forbidden("You are not in this room".into()));
        }
        let record = self.context.storage.events.get(event_id).await?;
        let in_room = match record {
            Some(record) => crate::Pdu::from_record(record)?.room_id == room_id,
            None => false,
        };
        if !in_room {
            return Err(ServiceError::NotFound(format!(
                "Event {event_id} not found in this room"
            )));
        }
        Ok(())
    }

    /// `POST /rooms/{roomId}/receipt/{receiptType}/{eventId}`
    pub async fn send_receipt(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        receipt_type: &str,
        event_id: &EventId,
        thread_id: Option<&str>,
    ) -> ServiceResult<()> {
        if ![RECEIPT_READ, RECEIPT_READ_PRIVATE, FULLY_READ].contains(&receipt_type) {
            return Err(ServiceError::InvalidParam(format!(
                "Unknown receipt type {receipt_type}"
            )));
        }
        if receipt_type == FULLY_READ && thread_id.is_some() {
            return Err(ServiceError::InvalidParam(
                "The fully-read marker cannot be threaded".into(),
            ));
        }
        self.check_event(requester, room_id, event_id).await?;
        if receipt_type == FULLY_READ {
            return self.set_fully_read(requester, room_id, event_id).await;
        }
        let now = self.context.now();
        self.apply(
            room_id,
            receipt_type,
            &requester.user_id,
            thread_id,
            event_id,
            now,
        )
        .await?;
        if receipt_type == RECEIPT_READ {
            self.sender
                .receipt(room_id, &requester.user_id, event_id, now, thread_id)
                .await?;
        }
        Ok(())
    }

    /// Records a receipt (local, or from the member's server) and wakes those who see it.
    pub(crate) async fn apply(
        &self,
        room_id: &RoomId,
        receipt_type: &str,
        user_id: &ruma::UserId,
        thread_id: Option<&str>,
        event_id: &EventId,
        ts: u64,
    ) -> ServiceResult<()> {
        let thread = thread_id.unwrap_or("");
        let receipts = &self.context.storage.receipts;
        let position = receipts
            .set(room_id, receipt_type, user_id, thread, event_id, ts)
            .await?;
        let concerned = if receipt_type == RECEIPT_READ_PRIVATE {
            vec![user_id.to_owned()]
        } else {
            self.joined_members(room_id).await?
        };
        self.context.notifier.notify(&concerned, position);
        self.context.appservice_wake.notify_one();
        if user_id.server_name() == self.context.server_name {
            self.push.badge_changed(user_id);
        }
        Ok(())
    }

    /// `POST /rooms/{roomId}/read_markers`
    pub async fn set_read_markers(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        fully_read: Option<&EventId>,
        read: Option<&EventId>,
        read_private: Option<&EventId>,
    ) -> ServiceResult<()> {
        if let Some(event_id) = fully_read {
            self.send_receipt(requester, room_id, FULLY_READ, event_id, None)
                .await?;
        }
        if let Some(event_id) = read {
            self.send_receipt(requester, room_id, RECEIPT_READ, event_id, None)
                .await?;
        }
        if let Some(event_id) = read_private {
            self.send_receipt(requester, room_id, RECEIPT_READ_PRIVATE, event_id, None)
                .await?;
        }
        Ok(())
    }

    async fn set_fully_read(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> ServiceResult<()> {
        let content = json!({"event_id": event_id}).to_string();
        let now = self.context.now();
        let storage = &self.context.storage;
        let position = storage
            .account_data
            .set(&requester.user_id, Some(room_id), FULLY_READ, &content, now)
            .await?;
        self.context
            .notifier
            .notify(&[requester.user_id.clone()], position);
        Ok(())
    }

    async fn joined_members(&self, room_id: &RoomId) -> ServiceResult<Vec<OwnedUserId>> {
        let members = self.context.storage.memberships.of_room(room_id).await?;
        Ok(members
            .into_iter()
            .filter(|m| m.membership == "join")
            .map(|m| m.user_id)
            .collect())
    }

    /// Per room, the `m.receipt` content of receipts written after `since` that `viewer` may
    /// see (rooms without any are left out).
    pub async fn receipts_since(
        &self,
        viewer: &ruma::UserId,
        room_ids: &[&RoomId],
        since: i64,
    ) -> ServiceResult<HashMap<OwnedRoomId, JsonValue>> {
        if room_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let records = self
            .context
            .storage
            .receipts
            .changed_since(room_ids, since)
            .await?;
        type Content = BTreeMap<String, BTreeMap<String, BTreeMap<String, JsonValue>>>;
        let mut rooms: HashMap<OwnedRoomId, Content> = HashMap::new();
        for record in records {
            if record.receipt_type == RECEIPT_READ_PRIVATE && record.user_id != viewer {
                continue;
            }
            let mut receipt = json!({"ts": record.ts});
            if !record.thread_id.is_empty() {
                receipt["thread_id"] = JsonValue::String(record.thread_id.clone());
            }
            rooms
                .entry(record.room_id)
                .or_default()
                .entry(record.event_id.to_string())
                .or_default()
                .entry(record.receipt_type)
                .or_default()
                .insert(record.user_id.to_string(), receipt);
        }
        Ok(rooms
            .into_iter()
            .map(|(room_id, content)| (room_id, json!(content)))
            .collect())
    }
}
