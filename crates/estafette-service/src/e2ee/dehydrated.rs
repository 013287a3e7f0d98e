//! Dehydrated devices (MSC3814, used by Element X): a device parked on the server, with its
//! keys, so that room keys sent while every client is offline are not lost.

use std::collections::BTreeMap;
use std::sync::Arc;

use ruma::{DeviceId, OwnedDeviceId};
use serde_json::{Value as JsonValue, json};

use crate::{
    Context, DeviceKeyService, Requester, ServiceError, ServiceResult, format_token, parse_token,
};

const EVENTS_PER_CALL: u32 = 100;

/// What a `PUT /dehydrated_device` carries.
#[derive(Debug, Clone)]
pub struct DehydratedDevice {
    pub device_id: OwnedDeviceId,
    pub display_name: Option<String>,
    pub device_data: JsonValue,
    pub device_keys: JsonValue,
    pub one_time_keys: BTreeMap<String, JsonValue>,
    pub fallback_keys: BTreeMap<String, JsonValue>,
}

#[derive(Clone)]
pub struct DehydratedDeviceService {
    context: Arc<Context>,
    keys: DeviceKeyService,
}

impl DehydratedDeviceService {
    pub(crate) fn new(context: Arc<Context>, keys: DeviceKeyService) -> Self {
        Self { context, keys }
    }

    async fn remove_current(&self, requester: &Requester) -> ServiceResult<Option<OwnedDeviceId>> {
        let storage = &self.context.storage;
        let Some((device_id, _)) = storage.dehydrated_devices.get(&requester.user_id).await? else {
            return Ok(None);
        };
        let removed = storage
            .devices
            .delete(&requester.user_id, std::slice::from_ref(&device_id))
            .await?;
        self.keys
            .device_lists
            .devices_removed(&requester.user_id, &removed)
            .await?;
        storage
            .dehydrated_devices
            .delete(&requester.user_id)
            .await?;
        Ok(Some(device_id))
    }

    /// Replaces the user's dehydrated device with a new one and its keys.
    pub async fn put(
        &self,
        requester: &Requester,
        device: DehydratedDevice,
    ) -> ServiceResult<OwnedDeviceId> {
        let storage = &self.context.storage;
        let current = storage
            .dehydrated_devices
            .get(&requester.user_id)
            .await?
            .map(|(id, _)| id);
        let taken = storage
            .devices
            .get(&requester.user_id, &device.device_id)
            .await?
            .is_some();
        if taken && current.as_ref() != Some(&device.device_id) {
            return Err(ServiceError::InvalidParam(format!(
                "Device {} already exists",
                device.device_id
            )));
        }
        // The keys are checked as the new device's own upload, before anything changes.
        let as_device = Requester::new(requester.user_id.clone(), device.device_id.clone());
        self.keys.check_upload(&as_device, &device.device_keys)?;
        self.remove_current(requester).await?;
        let now = self.context.now();
        let name = device.display_name.as_deref().or(Some("Dehydrated device"));
        storage
            .devices
            .upsert(&requester.user_id, &device.device_id, name, now)
            .await?;
        self.keys
            .upload(
                &as_device,
                Some(device.device_keys),
                device.one_time_keys,
                device.fallback_keys,
            )
            .await?;
        storage
            .dehydrated_devices
            .set(
                &requester.user_id,
                &device.device_id,
                &device.device_data.to_string(),
            )
            .await?;
        Ok(device.device_id)
    }

    pub async fn get(&self, requester: &Requester) -> ServiceResult<(OwnedDeviceId, JsonValue)> {
        let (device_id, data) = self
            .context
            .storage
            .dehydrated_devices
            .get(&requester.user_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound("No dehydrated device".into()))?;
        Ok((device_id, serde_json::from_str(&data).unwrap_or_default()))
    }

    pub async fn delete(&self, requester: &Requester) -> ServiceResult<OwnedDeviceId> {
        self.remove_current(requester)
            .await?
            .ok_or_else(|| ServiceError::NotFound("No dehydrated device".into()))
    }

    /// The to-device messages waiting for the dehydrated device; passing back `next_batch`
    /// acknowledges them.
    pub async fn events(
        &self,
        requester: &Requester,
        device_id: &DeviceId,
        next_batch: Option<&str>,
    ) -> ServiceResult<(Vec<JsonValue>, Option<String>)> {
        let (current, _) = self.get(requester).await?;
        if current != device_id {
            return Err(ServiceError::Forbidden(
                "That is not your dehydrated device".into(),
            ));
        }
        let after = next_batch.map(parse_token).transpose()?.unwrap_or(0);
        let storage = &self.context.storage;
        let messages = storage
            .to_device
            .take(&requester.user_id, device_id, after, EVENTS_PER_CALL)
            .await?;
        let next = messages.last().map(|m| format_token(m.stream_id));
        let events = messages
            .into_iter()
            .map(|m| {
                let content: JsonValue = serde_json::from_str(&m.content_json).unwrap_or_default();
                json!({"sender": m.sender, "type": m.event_type, "content": content})
            })
            .collect();
        Ok((events, next.or_else(|| next_batch.map(ToOwned::to_owned))))
    }
}
