//! Client endpoints of the reports domain ("Reporting content"): events, rooms and users
//! reported to the server's administrators.

mod report_content;

use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    report_content::routes(router)
}
