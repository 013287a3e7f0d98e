//! EDUs from other servers: typing, read receipts, presence, send-to-device messages, and
//! changes to their users' devices and cross-signing keys. A server speaks only for its own
//! users, and only about rooms they are in; anything else is dropped.

use std::collections::BTreeMap;
use std::sync::Arc;

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, ServerName, UserId};
use serde::Deserialize;
use serde_json::value::RawValue as RawJsonValue;

use crate::e2ee::ToDeviceMessages;
use crate::e2ee::{
    DeviceListUpdate, SigningKeyUpdate, apply_device_list_update, apply_signing_keys,
};
use crate::{
    Context, PresenceService, ReceiptService, ServiceError, ServiceResult, ToDeviceService,
    TypingService,
};

#[derive(Clone)]
pub struct EduService {
    context: Arc<Context>,
    typing: TypingService,
    receipts: ReceiptService,
    presence: PresenceService,
    to_device: ToDeviceService,
}

#[derive(Deserialize)]
struct Edu {
    edu_type: String,
    content: Box<RawJsonValue>,
}

#[derive(Deserialize)]
struct Typing {
    room_id: OwnedRoomId,
    user_id: OwnedUserId,
    typing: bool,
}

#[derive(Deserialize)]
struct UserReceipt {
    event_ids: Vec<OwnedEventId>,
    #[serde(default)]
    data: ReceiptData,
}

#[derive(Deserialize, Default)]
struct ReceiptData {
    ts: Option<u64>,
    thread_id: Option<String>,
}

#[derive(Deserialize)]
struct Presence {
    push: Vec<PresenceUpdate>,
}

#[derive(Deserialize)]
struct PresenceUpdate {
    user_id: OwnedUserId,
    presence: String,
    status_msg: Option<String>,
}

#[derive(Deserialize)]
struct DirectToDevice {
    sender: OwnedUserId,
    #[serde(rename = "type")]
    event_type: String,
    message_id: String,
    messages: ToDeviceMessages,
}

impl EduService {
    pub(crate) fn new(
        context: Arc<Context>,
        typing: TypingService,
        receipts: ReceiptService,
        presence: PresenceService,
        to_device: ToDeviceService,
    ) -> Self {
        Self {
            context,
            typing,
            receipts,
            presence,
            to_device,
        }
    }

    /// Handles one EDU of a transaction from `origin`. Unknown types are ignored.
    pub async fn receive(&self, origin: &ServerName, edu: &RawJsonValue) -> ServiceResult<()> {
        let edu: Edu = parse(edu)?;
        match edu.edu_type.as_str() {
            "m.typing" => {
                let typing: Typing = parse(&edu.content)?;
                self.check_member(origin, &typing.room_id, &typing.user_id)
                    .await?;
                self.typing
                    .apply(&typing.room_id, &typing.user_id, typing.typing, None)
                    .await
            }
            "m.receipt" => self.receive_receipts(origin, &edu.content).await,
            "m.presence" => {
                let presence: Presence = parse(&edu.content)?;
                for update in presence.push {
                    check_origin(origin, &update.user_id)?;
                    self.presence
                        .apply_remote(
                            &update.user_id,
                            &update.presence,
                            update.status_msg.as_deref(),
                        )
                        .await?;
                }
                Ok(())
            }
            "m.direct_to_device" => {
                let message: DirectToDevice = parse(&edu.content)?;
                self.to_device
                    .receive(
                        origin,
                        &message.sender,
                        &message.event_type,
                        &message.message_id,
                        &message.messages,
                    )
                    .await
            }
            "m.device_list_update" => {
                let update: DeviceListUpdate = parse(&edu.content)?;
                check_origin(origin, &update.user_id)?;
                apply_device_list_update(&self.context, &update).await?;
                self.keys_changed(&update.user_id).await
            }
            "m.signing_key_update" => {
                let update: SigningKeyUpdate = parse(&edu.content)?;
                check_origin(origin, &update.user_id)?;
                apply_signing_keys(&self.context, &update).await?;
                self.keys_changed(&update.user_id).await
            }
            _ => Ok(()),
        }
    }

    /// The local users who share a room with this user re-query their keys.
    async fn keys_changed(&self, user_id: &UserId) -> ServiceResult<()> {
        let position = self
            .context
            .storage
            .keys
            .record_device_list_change(user_id)
            .await?;
        self.context.notify_room_mates(user_id, position).await
    }

    async fn receive_receipts(
        &self,
        origin: &ServerName,
        content: &RawJsonValue,
    ) -> ServiceResult<()> {
        let rooms: BTreeMap<OwnedRoomId, BTreeMap<String, BTreeMap<OwnedUserId, UserReceipt>>> =
            parse(content)?;
        for (room_id, kinds) in rooms {
            let Some(users) = kinds.get(crate::RECEIPT_READ) else {
                continue;
            };
            for (user_id, receipt) in users {
                self.check_member(origin, &room_id, user_id).await?;
                for event_id in &receipt.event_ids {
                    let known = self.context.storage.events.get(event_id).await?.is_some();
                    if !known {
                        continue;
                    }
                    let ts = receipt.data.ts.unwrap_or_else(|| self.context.now());
                    self.receipts
                        .apply(
                            &room_id,
                            crate::RECEIPT_READ,
                            user_id,
                            receipt.data.thread_id.as_deref(),
                            event_id,
                            ts,
                        )
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// The user must belong to `origin` and be joined to the room.
    async fn check_member(
        &self,
        origin: &ServerName,
        room_id: &ruma::RoomId,
        user_id: &UserId,
    ) -> ServiceResult<()> {
        check_origin(origin, user_id)?;
        let membership = self
            .context
            .storage
            .memberships
            .get(room_id, user_id)
            .await?;
        if membership.is_some_and(|m| m.membership == "join") {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "{user_id} is not in {room_id}"
            )))
        }
    }
}

fn check_origin(origin: &ServerName, user_id: &UserId) -> ServiceResult<()> {
    if user_id.server_name() == origin {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(format!(
            "{origin} cannot speak for {user_id}"
        )))
    }
}

fn parse<T: serde::de::DeserializeOwned>(json: &RawJsonValue) -> ServiceResult<T> {
    serde_json::from_str(json.get()).map_err(|e| ServiceError::BadJson(format!("Invalid EDU: {e}")))
}
