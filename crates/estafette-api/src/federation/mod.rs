//! The Server-Server API, served on the federation listener (TLS) only.

mod directory;
mod discovery;
mod keys;
mod openid;
mod query;

use axum::Router;

use crate::AppState;

pub(crate) fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = discovery::routes(router);
    let router = directory::routes(router);
    let router = keys::routes(router);
    let router = openid::routes(router);
    query::routes(router)
}
