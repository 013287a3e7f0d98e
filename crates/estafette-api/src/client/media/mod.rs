//! Client endpoints of the media domain: uploads, downloads, thumbnails, configuration, link
//! previews, and the Matrix Content Scanner API (`/_matrix/media_proxy/unstable`) that clients
//! ask before they show a file.

pub(crate) mod content;
mod content_scanner;
mod legacy_content;
mod preview_url;
mod scanner_error;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    let router = legacy_content::routes(content::routes(router));
    let router = preview_url::routes(router);
    content_scanner::routes(router)
}
