//! `GET /_matrix/federation/v1/query/directory`: this server's aliases, for other servers.

use axum::extract::State;
use ruma::api::federation::query::get_room_information;

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(get_room_information)
}

/// `GET /_matrix/federation/v1/query/directory`: the room one of this server's aliases names.
async fn get_room_information(
    State(state): State<AppState>,
    request: Ruma<get_room_information::v1::Request>,
) -> ApiResult<get_room_information::v1::Response> {
    let alias = &request.body.room_alias;
    tracing::debug!(origin = ?request.origin, %alias, "alias query");
    let (room_id, servers) = state.services.rooms.resolve_local_alias(alias).await?;
    Ok(RumaResponse(get_room_information::v1::Response::new(
        room_id, servers,
    )))
}
