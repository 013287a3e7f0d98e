//! Client-Server API handlers, one folder per domain of the services (`accounts/`, `e2ee/`,
//! `rooms/`, `sync/`, `media/`, `policy/`) and one module per area of the spec inside it, so that an
//! endpoint leads to its service in one step. Server-wide discovery and the helpers the
//! domains share (event formats, filters) sit beside them.

mod account_validity;
mod accounts;
mod appservices;
mod calls;
mod delayed_events;
pub(crate) mod discovery;
mod e2ee;
pub(crate) mod event_filters;
mod identity;
pub(crate) mod media;
mod oauth;
pub(crate) mod pdu_format;
pub(crate) mod policy;
mod rendezvous;
mod reports;
pub(crate) mod rooms;
mod sliding_sync;
mod sync;
mod webhooks;

use crate::router::Routes;

pub(crate) fn routes(router: Routes) -> Routes {
    let router = discovery::routes(router);
    let router = calls::routes(router);
    let router = accounts::routes(router);
    let router = appservices::routes(router);
    let router = rooms::routes(router);
    let router = sync::routes(router);
    let router = sliding_sync::routes(router);
    let router = oauth::routes(router);
    let router = reports::routes(router);
    let router = delayed_events::routes(router);
    let router = rendezvous::routes(router);
    let router = e2ee::routes(router);
    let router = policy::routes(router);
    let router = account_validity::routes(router);
    let router = identity::routes(router);
    let router = webhooks::routes(router);
    media::routes(router)
}
