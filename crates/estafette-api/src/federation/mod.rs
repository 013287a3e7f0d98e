//! The Server-Server API, served on the federation listener (TLS) only.

mod discovery;

use axum::Router;

use crate::AppState;

pub(crate) fn routes(router: Router<AppState>) -> Router<AppState> {
    discovery::routes(router)
}
