//! Incoming webhooks (BRIDGES.md §4.3), outside `/_matrix`: members manage a room's hooks
//! with their access token (`manage`), and tools post to a hook's secret URL (`post`).

mod manage;
mod post;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    let router = manage::routes(router);
    post::routes(router)
}
