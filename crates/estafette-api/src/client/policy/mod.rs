//! Client endpoints of the policy domain: the identity lookup that tells a client which server
//! of the federation an email address registers on.

mod info;

pub(crate) use info::Lookup;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    info::routes(router)
}
