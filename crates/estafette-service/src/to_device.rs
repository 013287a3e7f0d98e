//! Send-to-device messaging: messages for specific devices, delivered in order and exactly
//! once through `/sync`.

use std::collections::BTreeMap;
use std::sync::Arc;

use estafette_storage::ToDeviceDelivery;
use ruma::{OwnedDeviceId, OwnedUserId};
use serde_json::value::RawValue as RawJsonValue;

use crate::{Context, Requester, ServiceError, ServiceResult};

/// `*` addresses every device of a user.
const ALL_DEVICES: &str = "*";

#[derive(Clone)]
pub struct ToDeviceService {
    context: Arc<Context>,
}

impl ToDeviceService {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        Self { context }
    }

    /// `PUT /sendToDevice/{eventType}/{txnId}`. Messages for other servers' users wait for
    /// federation.
    pub async fn send(
        &self,
        requester: &Requester,
        event_type: &str,
        txn_id: &str,
        messages: &BTreeMap<OwnedUserId, BTreeMap<String, Box<RawJsonValue>>>,
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
            .send(
                &requester.user_id,
                &requester.device_id,
                txn_id,
                event_type,
                &deliveries,
            )
            .await?;
        if let Some(position) = sent {
            self.context.notifier.notify(&recipients, position);
        }
        Ok(())
    }
}
