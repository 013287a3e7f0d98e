//! Client endpoints of the sliding sync domain: simplified sliding sync (MSC4186).

mod sync_events;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    sync_events::routes(router)
}
