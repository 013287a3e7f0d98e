//! Federation endpoints of the rooms domain: reading events, membership (the resident side),
//! the public room directory, space hierarchies and alias queries.

mod alias_query;
mod directory;
mod events;
mod hierarchy;
mod membership;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    let router = directory::routes(router);
    let router = events::routes(router);
    let router = hierarchy::routes(router);
    let router = membership::routes(router);
    alias_query::routes(router)
}
