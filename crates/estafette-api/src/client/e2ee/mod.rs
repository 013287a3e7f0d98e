//! Client endpoints of the e2ee domain: keys, cross-signing, key backup, dehydrated devices,
//! send-to-device.

mod backup;
mod dehydrated_device;
mod keys;
mod to_device;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    let router = to_device::routes(router);
    let router = keys::routes(router);
    let router = backup::routes(router);
    dehydrated_device::routes(router)
}
