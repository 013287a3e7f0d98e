//! `POST /_matrix/identity/unstable/estafette/bound` (signed by the sender): an address the
//! rules send to the sender is now bound to one of its users; the email invitations this
//! server holds for it become that user's invites.

use axum::extract::State;
use estafette_service::policy::bound;

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(address_bound)
}

async fn address_bound(
    State(state): State<AppState>,
    request: Ruma<bound::Request>,
) -> ApiResult<bound::Response> {
    let origin = request.origin()?;
    let body = &request.body;
    state
        .services
        .invitations
        .deliver_announced(origin, &body.address, &body.mxid)
        .await?;
    Ok(RumaResponse(bound::Response::new()))
}
