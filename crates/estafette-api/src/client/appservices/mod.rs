//! Client endpoints of the appservices domain: what an application service calls on the
//! homeserver ("Application Service API"), and the third-party networks they bridge.

mod ping;
mod thirdparty;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    let router = ping::routes(router);
    thirdparty::routes(router)
}
