//! Federation endpoints of the e2ee domain: local users' devices and keys for other servers.

mod keys;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    keys::routes(router)
}
