//! End-to-end encryption: device and one-time keys, cross-signing and signatures, key backup,
//! dehydrated devices, send-to-device messages, local device-list changes (published to room
//! mates and other servers) and other servers' users' device lists and keys. Calls the
//! context and the federation domain (to ask and tell other servers).

mod backup;
mod cross_signing;
mod dehydrated;
mod device_keys;
mod device_list_publisher;
mod device_lists;
mod remote_keys;
mod to_device;

pub use backup::{BackupInfo, BackupService, BackupSessions};
pub use cross_signing::SignatureFailure;
pub use dehydrated::{DehydratedDevice, DehydratedDeviceService};
pub use device_keys::{ClaimedKeys, DeviceKeyService, KeyClaimResult, KeyClaims, KeyQueryResult};
pub use device_list_publisher::DeviceListPublisher;
pub use remote_keys::DeviceList;
pub use to_device::ToDeviceService;

pub(crate) use device_list_publisher::DeviceListChange;
// For the federation domain's inbound EDUs.
pub(crate) use device_lists::{
    DeviceListUpdate, SigningKeyUpdate, apply_signing_keys,
    apply_update as apply_device_list_update,
};
pub(crate) use to_device::ToDeviceMessages;
