//! Federation endpoints of the accounts domain: profile queries, OpenID token checks.

mod openid;
mod profile_query;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    let router = openid::routes(router);
    profile_query::routes(router)
}
