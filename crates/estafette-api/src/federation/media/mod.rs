//! Federation endpoints of the media domain: authenticated media for other servers.

mod content;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    content::routes(router)
}
