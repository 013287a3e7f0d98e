//! Client-Server API handlers, one module per area of the spec.

mod account;
mod account_data;
mod device;
mod discovery;
mod filter;
mod profile;
mod session;

use axum::Router;

use crate::AppState;

pub(crate) fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = discovery::routes(router);
    let router = session::routes(router);
    let router = account::routes(router);
    let router = device::routes(router);
    let router = profile::routes(router);
    let router = account_data::routes(router);
    filter::routes(router)
}
