//! Client endpoints of the media domain: uploads, downloads, thumbnails, configuration, and the
//! Matrix Content Scanner API (`/_matrix/media_proxy/unstable`) that clients ask before they
//! show a file.

pub(crate) mod content;
mod content_scanner;
mod scanner_error;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    content_scanner::routes(content::routes(router))
}
