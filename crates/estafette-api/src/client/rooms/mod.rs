//! Client endpoints of the rooms domain: creating rooms, membership, messages and state,
//! relations, aliases and the directory, spaces, search.

mod directory;
mod membership;
mod message;
mod relations;
mod room;
mod search;
pub(crate) mod space;
mod state;
pub(crate) mod threads;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    let router = room::routes(router);
    let router = membership::routes(router);
    let router = message::routes(router);
    let router = state::routes(router);
    let router = relations::routes(router);
    let router = directory::routes(router);
    let router = space::routes(router);
    let router = threads::routes(router);
    search::routes(router)
}
