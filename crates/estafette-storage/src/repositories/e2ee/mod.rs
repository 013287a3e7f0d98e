//! End-to-end encryption: device and one-time keys, cross-signing, key backup, dehydrated devices, tracked device lists, to-device messages.

mod backup;
mod dehydrated;
mod device_lists;
mod keys;
mod to_device;

pub use backup::{BackupKey, BackupRepository, BackupVersion};
pub use dehydrated::DehydratedDeviceRepository;
pub use device_lists::DeviceListRepository;
pub use keys::{ClaimedKey, KeyRepository, NewKey};
pub use to_device::{AddressedToDevice, ToDeviceDelivery, ToDeviceMessage, ToDeviceRepository};
