//! Federation endpoints of the policy domain: what the federation's servers tell each other
//! about an email address, which the public lookup hides, and the news of a new binding.

mod bound;
mod internal_info;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    let router = bound::routes(router);
    internal_info::routes(router)
}
