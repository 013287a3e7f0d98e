//! Client endpoints of the media domain: uploads, downloads, thumbnails, configuration.

pub(crate) mod content;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    content::routes(router)
}
