//! Federation endpoints of the identity domain: an email invitation becomes its invitee's
//! invite through the invitee's server (`3pid/onbind`, called by the identity service) and the
//! inviter's (`exchange_third_party_invite`).

mod bind_callback;
mod exchange_third_party_invite;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    let router = bind_callback::routes(router);
    exchange_third_party_invite::routes(router)
}
