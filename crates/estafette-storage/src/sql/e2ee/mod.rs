//! End-to-end encryption: device and one-time keys, cross-signing, key backup, dehydrated devices, tracked device lists, to-device messages.

mod backup;
mod dehydrated;
mod device_lists;
mod keys;
mod to_device;
