//! The Synapse-compatible admin API, as operators' tools call it (`/_synapse/admin/…`,
//! SYNAPSE_ADMIN.md), on the `admin` service: shared-secret registration, the server's
//! version, accounts (listed, read, deactivated, their password set, their devices, rooms,
//! memberships, pushers and connections), rooms with their members and state. The rest of the
//! admin API goes here, one module per area.

mod conventions;
mod register;
mod rooms;
mod server;
mod user_actions;
mod users;

use crate::router::Routes;

pub(crate) fn routes(routes: Routes) -> Routes {
    let routes = register::routes(routes);
    let routes = server::routes(routes);
    let routes = users::routes(routes);
    let routes = user_actions::routes(routes);
    rooms::routes(routes)
}
