//! Local users' device-list changes: their room mates' syncs wake, and the other servers that
//! share a room with them are told (`m.device_list_update`, `m.signing_key_update`).

use std::sync::Arc;

use ruma::{DeviceId, OwnedDeviceId, UserId};

use crate::{Context, FederationSender, ServiceResult};

/// What changed in a user's device list.
pub(crate) enum DeviceListChange<'a> {
    Device {
        device_id: &'a DeviceId,
        deleted: bool,
    },
    /// The `(kind, key JSON)` of the cross-signing keys that changed.
    CrossSigning(&'a [(String, String)]),
}

/// Given to the services that change devices or keys when they are built.
#[derive(Clone)]
pub struct DeviceListPublisher {
    context: Arc<Context>,
    sender: FederationSender,
}

impl DeviceListPublisher {
    pub(crate) fn new(context: Arc<Context>, sender: FederationSender) -> Self {
        Self { context, sender }
    }

    /// A local user's devices or cross-signing keys changed at `position`.
    pub(crate) async fn changed(
        &self,
        user_id: &UserId,
        position: i64,
        change: DeviceListChange<'_>,
    ) -> ServiceResult<()> {
        self.context.notify_room_mates(user_id, position).await?;
        match change {
            DeviceListChange::Device { device_id, deleted } => {
                self.sender
                    .device_list_update(user_id, device_id, deleted, position)
                    .await
            }
            DeviceListChange::CrossSigning(keys) => {
                self.sender.signing_key_update(user_id, keys).await
            }
        }
    }

    /// Forgets the keys (and sliding sync connections) of deleted devices and tells the users who track this user's devices.
    pub(crate) async fn devices_removed(
        &self,
        user_id: &UserId,
        devices: &[OwnedDeviceId],
    ) -> ServiceResult<()> {
        for device_id in devices {
            self.context
                .storage
                .sliding_sync
                .forget_device(user_id, device_id)
                .await?;
            let position = self
                .context
                .storage
                .keys
                .delete_device(user_id, device_id)
                .await?;
            let change = DeviceListChange::Device {
                device_id,
                deleted: true,
            };
            self.changed(user_id, position, change).await?;
        }
        Ok(())
    }
}
