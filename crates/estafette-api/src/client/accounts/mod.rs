//! Client endpoints of the accounts domain: registration and account management, login and
//! sessions, devices, profiles and the user directory, account data and room tags, filters,
//! OpenID tokens, third-party identifiers.

mod account;
mod account_data;
mod device;
mod filter;
mod openid;
mod profile;
mod session;
mod threepid;
mod user_directory;

pub(crate) use threepid::{deliver_invitations, request_token};

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    let router = session::routes(router);
    let router = account::routes(router);
    let router = openid::routes(router);
    let router = device::routes(router);
    let router = profile::routes(router);
    let router = account_data::routes(router);
    let router = filter::routes(router);
    let router = threepid::routes(router);
    user_directory::routes(router)
}

/// The separate, high limit on the users and devices an application service creates
/// (BRIDGES.md §3.5), which holds whatever its `rate_limited` says.
pub(crate) async fn check_appservice_limit(
    state: &crate::AppState,
    appservice: &str,
) -> Result<(), crate::ApiError> {
    state
        .services
        .rate_limits
        .check_appservice(appservice)
        .await
        .map_err(crate::ApiError::limit_exceeded)
}
