//! Federation endpoints of the policy domain: what the federation's servers tell each other
//! about an email address, which the public lookup hides.

mod internal_info;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    internal_info::routes(router)
}
