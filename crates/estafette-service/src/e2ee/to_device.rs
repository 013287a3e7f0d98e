//! Send-to-device messaging: messages for specific devices, delivered in order and exactly
//! once through `/sync`.

use std::collections::BTreeMap;
use std::sync::Arc;

use estafette_storage::ToDeviceDelivery;
use ruma::{OwnedDeviceId, OwnedServerName, OwnedUserId};
use serde_json::Value as JsonValue;
use serde_json::value::RawValue as RawJsonValue;

use crate::{Context, Requester, ServiceError, ServiceResult};

/// `*` addresses every device of a user.
const ALL_DEVICES: &str = "*";

#[derive(Clone)]
pub struct ToDeviceService {
    context: Arc<Context>,
    /// Messages for other servers' users go to their servers.
    sender: crate::FederationSender,
}

/// Messages per user and device (`*` for all), as clients and servers send them.
pub(crate) type ToDeviceMessages = BTreeMap<OwnedUserId, BTreeMap<String, Box<RawJsonValue>>>;

impl ToDeviceService {
    pub(crate) fn new(context: Arc<Context>, sender: crate::FederationSender) -> Self {
        Self { context, sender }
    }

    /// `PUT /sendToDevice/{eventType}/{txnId}`.
    pub async fn send(
        &self,
        requester: &Requester,
        event_type: &str,
        txn_id: &str,
        messages: &ToDeviceMessages,
    ) -> ServiceResult<()> {
        self.deliver(
            &requester.user_id,
            &requester.device_id,
            txn_id,
            event_type,
            messages,
        )
        .await?;
        let mut remote: BTreeMap<OwnedServerName, BTreeMap<String, BTreeMap<String, JsonValue>>> =
            BTreeMap::new();
        for (user_id, devices) in messages {
            if user_id.server_name() == self.context.server_name {
                continue;
            }
            let for_user = remote
                .entry(user_id.server_name().to_owned())
                .or_default()
                .entry(user_id.to_string())
                .or_default();
            for (device, content) in devices {
                let content = serde_json::from_str(content.get())
                    .map_err(|e| ServiceError::BadJson(e.to_string()))?;
                for_user.insert(device.clone(), content);
            }
        }
        // Unique per sending device, path and transaction, so that a retried request is
        // recognised and two different ones are not.
        let scope = serde_json::json!([requester.device_id, event_type, txn_id]).to_string();
        let message_id = crate::accounts::digest(&scope);
        for (server, messages) in remote {
            self.sender
                .to_device(
                    server,
                    &requester.user_id,
                    event_type,
                    &message_id,
                    messages,
                )
                .await?;
        }
        Ok(())
    }

    /// Messages another server's user sent to this server's users (`m.direct_to_device`).
    pub(crate) async fn receive(
        &self,
        origin: &ruma::ServerName,
        sender: &ruma::UserId,
        event_type: &str,
        message_id: &str,
        messages: &ToDeviceMessages,
    ) -> ServiceResult<()> {
        if sender.server_name() != origin {
            return Err(ServiceError::Forbidden(format!(
                "{origin} cannot send for {sender}"
            )));
        }
        let device: &ruma::DeviceId = "".into();
        self.deliver(sender, device, message_id, event_type, messages)
            .await
    }

    /// Queues the messages for this server's users, once per transaction.
    async fn deliver(
        &self,
        sender: &ruma::UserId,
        sender_device: &ruma::DeviceId,
        txn_id: &str,
        event_type: &str,
        messages: &ToDeviceMessages,
    ) -> ServiceResult<()> {
        let mut deliveries = Vec::new();
        let mut recipients = Vec::new();
        for (user_id, devices) in messages {
            if user_id.server_name() != self.context.server_name {
                continue;
            }
            for (device, content) in devices {
                let targets: Vec<OwnedDeviceId> = if device == ALL_DEVICES {
                    self.context
                        .storage
                        .devices
                        .list(user_id)
                        .await?
                        .into_iter()
                        .map(|d| d.device_id)
                        .collect()
                } else {
                    vec![OwnedDeviceId::from(device.as_str())]
                };
                for device_id in targets {
                    deliveries.push(ToDeviceDelivery {
                        user_id: user_id.clone(),
                        device_id,
                        content_json: content.get().to_owned(),
                    });
                }
            }
            recipients.push(user_id.clone());
        }
        let storage = &self.context.storage;
        let limit = self.context.config.limits.to_device_queue_per_device;
        for delivery in &deliveries {
            if storage
                .to_device
                .pending(&delivery.user_id, &delivery.device_id)
                .await?
                >= limit
            {
                return Err(ServiceError::LimitExceeded(format!(
                    "Device {} of {} has too many undelivered messages",
                    delivery.device_id, delivery.user_id
                )));
            }
        }
        let sent = storage
            .to_device
            .send(sender, sender_device, txn_id, event_type, &deliveries)
            .await?;
        if let Some(position) = sent {
            self.context.notifier.notify(&recipients, position);
            self.context.appservice_wake.notify_one();
        }
        Ok(())
    }
}
