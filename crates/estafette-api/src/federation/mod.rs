//! The Server-Server API, served on the federation listener (TLS) only: one folder per domain
//! of the services, as for the client API, and the federation domain's own endpoints (server
//! discovery and keys, transactions) beside them.

mod accounts;
mod discovery;
mod e2ee;
mod identity;
mod media;
mod policy;
mod rooms;
mod transactions;

use crate::router::Routes;

pub(crate) fn routes(router: Routes) -> Routes {
    let router = discovery::routes(router);
    let router = transactions::routes(router);
    let router = accounts::routes(router);
    let router = rooms::routes(router);
    let router = e2ee::routes(router);
    let router = policy::routes(router);
    let router = identity::routes(router);
    media::routes(router)
}
