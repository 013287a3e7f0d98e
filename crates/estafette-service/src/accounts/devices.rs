//! A user's devices: listing, renaming and deleting them (deletion re-authenticates).

use std::sync::Arc;

use estafette_storage::DeviceRecord;
use ruma::api::client::uiaa::AuthData;
use ruma::{DeviceId, OwnedDeviceId};

use crate::{Context, Requester, ServiceError, ServiceResult, UiaAction, UiaService};

const MAX_DISPLAY_NAME_CHARS: usize = 256;

#[derive(Clone)]
pub struct DeviceService {
    context: Arc<Context>,
    uia: UiaService,
    device_lists: crate::DeviceListPublisher,
}

impl DeviceService {
    pub(crate) fn new(
        context: Arc<Context>,
        uia: UiaService,
        device_lists: crate::DeviceListPublisher,
    ) -> Self {
        Self {
            context,
            uia,
            device_lists,
        }
    }

    pub async fn list(&self, requester: &Requester) -> ServiceResult<Vec<DeviceRecord>> {
        Ok(self
            .context
            .storage
            .devices
            .list(&requester.user_id)
            .await?)
    }

    pub async fn get(
        &self,
        requester: &Requester,
        device_id: &DeviceId,
    ) -> ServiceResult<DeviceRecord> {
        self.context
            .storage
            .devices
            .get(&requester.user_id, device_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("Device {device_id} not found")))
    }

    pub async fn rename(
        &self,
        requester: &Requester,
        device_id: &DeviceId,
        display_name: Option<&str>,
    ) -> ServiceResult<bool> {
        if display_name.is_some_and(|name| name.chars().count() > MAX_DISPLAY_NAME_CHARS) {
            return Err(ServiceError::InvalidParam(format!(
                "Device display names are limited to {MAX_DISPLAY_NAME_CHARS} characters"
            )));
        }
        let updated = self
            .context
            .storage
            .devices
            .set_display_name(&requester.user_id, device_id, display_name)
            .await?;
        if updated {
            return Ok(false);
        }
        // An application service creates its users' devices this way (MSC4190), without
        // a token: it acts as them through its own.
        if requester.appservice.is_some() {
            self.context
                .storage
                .devices
                .upsert(
                    &requester.user_id,
                    device_id,
                    display_name,
                    self.context.now(),
                )
                .await?;
            tracing::info!(user_id = %requester.user_id, %device_id, "appservice device created");
            return Ok(true);
        }
        Err(ServiceError::NotFound(format!(
            "Device {device_id} not found"
        )))
    }

    /// Deletes devices (and their tokens) after re-authentication. Unknown IDs are ignored,
    /// as the spec's `delete_devices` allows.
    pub async fn delete(
        &self,
        requester: &Requester,
        device_ids: &[OwnedDeviceId],
        auth: Option<&AuthData>,
    ) -> ServiceResult<()> {
        // Application services manage their users' devices without authenticating again.
        if requester.appservice.is_none() {
            self.uia
                .reauthenticate(UiaAction::DeleteDevices, &requester.user_id, auth)
                .await?;
        }
        let deleted = self
            .context
            .storage
            .devices
            .delete(&requester.user_id, device_ids)
            .await?;
        self.device_lists
            .devices_removed(&requester.user_id, &deleted)
            .await?;
        tracing::info!(user_id = %requester.user_id, count = deleted.len(), "devices deleted");
        Ok(())
    }
}
