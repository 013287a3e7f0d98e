//! `GET /_matrix/identity/api/v1/internal-info?medium=email&address=…` (TCHAP.md §1): for the
//! other servers of the federation only, on requests they signed (X-Matrix); whether the
//! address's owner needs an invitation, and has one.

use axum::Json;
use axum::extract::{Query, Request, State};
use http::Method;
use serde_json::{Value, json};

use crate::client::policy::Lookup;
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router.axum(
        "/_matrix/identity/api/v1/internal-info",
        &[Method::GET],
        axum::routing::get(internal_info),
    )
}

async fn internal_info(
    State(state): State<AppState>,
    Query(lookup): Query<Lookup>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let (parts, _) = request.into_parts();
    let signed = http::Request::from_parts(parts, &[][..]);
    let origin = state.services.federation.verify_request(&signed).await?;
    if !state.services.policy.is_peer(&origin) {
        return Err(ApiError::forbidden(format!(
            "{origin} is not a server of this federation"
        )));
    }
    let address = lookup.address(&state)?;
    let route = state.services.policy.internal_route(address).await?;
    let mut answer = json!({
        "hs": route.hs,
        "requires_invite": route.requires_invite,
        "invited": route.invited,
    });
    if let Some(shadow) = route.shadow_hs {
        answer["shadow_hs"] = shadow.into();
    }
    // Estafette's: the account the address is bound to here, for an invitation to reach it.
    if let Some(mxid) = route.mxid {
        answer["mxid"] = mxid.as_str().into();
    }
    Ok(Json(answer))
}
