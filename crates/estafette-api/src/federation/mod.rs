//! The Server-Server API, served on the federation listener (TLS) only.

mod directory;
mod discovery;
mod events;
mod keys;
mod media;
mod membership;
mod openid;
mod query;
mod transactions;

use crate::router::Routes;

pub(crate) fn routes(router: Routes) -> Routes {
    let router = discovery::routes(router);
    let router = directory::routes(router);
    let router = keys::routes(router);
    let router = openid::routes(router);
    let router = events::routes(router);
    let router = membership::routes(router);
    let router = transactions::routes(router);
    let router = media::routes(router);
    query::routes(router)
}
