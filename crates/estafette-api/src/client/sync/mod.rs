//! Client endpoints of the sync domain: `/sync`, typing and receipts, presence, push rules and
//! pushers.

mod ephemeral;
mod notifications;
mod presence;
mod push;
pub(crate) mod sync_events;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    let router = ephemeral::routes(router);
    let router = push::routes(router);
    let router = notifications::routes(router);
    let router = presence::routes(router);
    sync_events::routes(router)
}
