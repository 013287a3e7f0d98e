//! This server's public room directory, for other servers: `/_matrix/federation/v1/publicRooms`.

use axum::extract::State;
use ruma::api::federation::directory::{get_public_rooms, get_public_rooms_filtered};

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::public_rooms::{self, PublicRoomsResponse};
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    router
        .ruma(get_public_rooms)
        .ruma(get_public_rooms_filtered)
}

/// `GET /_matrix/federation/v1/publicRooms`
async fn get_public_rooms(
    State(state): State<AppState>,
    request: Ruma<get_public_rooms::v1::Request>,
) -> ApiResult<get_public_rooms::v1::Response> {
    let body = &request.body;
    tracing::debug!(origin = ?request.origin, "public rooms query");
    let mut query = public_rooms::query(body.since.clone(), body.limit, None);
    query.for_federation = true;
    let page = state.services.rooms.public_rooms(query).await?;
    Ok(RumaResponse(get_public_rooms::v1::Response::build(page)))
}

/// `POST /_matrix/federation/v1/publicRooms`
async fn get_public_rooms_filtered(
    State(state): State<AppState>,
    request: Ruma<get_public_rooms_filtered::v1::Request>,
) -> ApiResult<get_public_rooms_filtered::v1::Response> {
    let body = &request.body;
    tracing::debug!(origin = ?request.origin, "filtered public rooms query");
    let mut query =
        public_rooms::filtered_query(&body.filter, body.since.clone(), body.limit, None);
    query.for_federation = true;
    let page = state.services.rooms.public_rooms(query).await?;
    Ok(RumaResponse(
        get_public_rooms_filtered::v1::Response::build(page),
    ))
}
