//! The Synapse-compatible admin API, as operators' tools call it (`/_synapse/admin/…`). For now:
//! shared-secret registration. The rest of the admin API goes here, one module per area.

mod register;

use crate::router::Routes;

pub(crate) fn routes(routes: Routes) -> Routes {
    register::routes(routes)
}
