//! Client-Server API handlers, one module per area of the spec.

mod account;
mod account_data;
mod backup;
mod dehydrated_device;
mod device;
mod directory;
pub(crate) mod discovery;
mod ephemeral;
pub(crate) mod filter;
mod keys;
pub(crate) mod media;
mod membership;
mod message;
mod openid;
mod pdu_format;
mod presence;
mod profile;
mod push;
mod relations;
mod room;
mod search;
mod session;
mod space;
mod state;
mod sync;
mod to_device;
mod user_directory;

use crate::router::Routes;

pub(crate) fn routes(router: Routes) -> Routes {
    let router = discovery::routes(router);
    let router = session::routes(router);
    let router = account::routes(router);
    let router = openid::routes(router);
    let router = device::routes(router);
    let router = profile::routes(router);
    let router = account_data::routes(router);
    let router = filter::routes(router);
    let router = room::routes(router);
    let router = membership::routes(router);
    let router = message::routes(router);
    let router = state::routes(router);
    let router = ephemeral::routes(router);
    let router = relations::routes(router);
    let router = directory::routes(router);
    let router = push::routes(router);
    let router = presence::routes(router);
    let router = user_directory::routes(router);
    let router = space::routes(router);
    let router = search::routes(router);
    let router = to_device::routes(router);
    let router = keys::routes(router);
    let router = media::routes(router);
    let router = backup::routes(router);
    let router = dehydrated_device::routes(router);
    sync::routes(router)
}
