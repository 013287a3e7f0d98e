//! Room aliases and the room directory: `/directory/room/{roomAlias}`,
//! `/rooms/{roomId}/aliases`, `/directory/list/room/{roomId}`, `/publicRooms`.

use axum::extract::State;
use ruma::api::client::alias::{create_alias, delete_alias, get_alias};
use ruma::api::client::directory::{
    get_public_rooms, get_public_rooms_filtered, get_room_visibility, set_room_visibility,
};
use ruma::api::client::room::{Visibility, aliases};

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::public_rooms::{self, PublicRoomsResponse};
use crate::router::Routes;

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(create_alias)
        .ruma(get_alias)
        .ruma(delete_alias)
        .ruma(get_room_aliases)
        .ruma(get_room_visibility)
        .ruma(set_room_visibility)
        .ruma(get_public_rooms)
        .ruma(get_public_rooms_filtered)
}

/// `PUT /_matrix/client/v3/directory/room/{roomAlias}`
async fn create_alias(
    State(state): State<AppState>,
    request: Ruma<create_alias::v3::Request>,
) -> ApiResult<create_alias::v3::Response> {
    let body = &request.body;
    state
        .services
        .rooms
        .create_alias(request.requester()?, &body.room_alias, &body.room_id)
        .await?;
    Ok(RumaResponse(create_alias::v3::Response::new()))
}

/// `GET /_matrix/client/v3/directory/room/{roomAlias}`
async fn get_alias(
    State(state): State<AppState>,
    request: Ruma<get_alias::v3::Request>,
) -> ApiResult<get_alias::v3::Response> {
    let (room_id, servers) = state
        .services
        .rooms
        .resolve_alias(&request.body.room_alias)
        .await?;
    Ok(RumaResponse(get_alias::v3::Response::new(room_id, servers)))
}

/// `DELETE /_matrix/client/v3/directory/room/{roomAlias}`
async fn delete_alias(
    State(state): State<AppState>,
    request: Ruma<delete_alias::v3::Request>,
) -> ApiResult<delete_alias::v3::Response> {
    state
        .services
        .rooms
        .delete_alias(request.requester()?, &request.body.room_alias)
        .await?;
    Ok(RumaResponse(delete_alias::v3::Response::new()))
}

/// `GET /_matrix/client/v3/rooms/{roomId}/aliases`
async fn get_room_aliases(
    State(state): State<AppState>,
    request: Ruma<aliases::v3::Request>,
) -> ApiResult<aliases::v3::Response> {
    let aliases = state
        .services
        .rooms
        .room_aliases(request.requester()?, &request.body.room_id)
        .await?;
    Ok(RumaResponse(aliases::v3::Response::new(aliases)))
}

/// `GET /_matrix/client/v3/directory/list/room/{roomId}`
async fn get_room_visibility(
    State(state): State<AppState>,
    request: Ruma<get_room_visibility::v3::Request>,
) -> ApiResult<get_room_visibility::v3::Response> {
    let public = state
        .services
        .rooms
        .directory_visibility(&request.body.room_id)
        .await?;
    let visibility = if public {
        Visibility::Public
    } else {
        Visibility::Private
    };
    Ok(RumaResponse(get_room_visibility::v3::Response::new(
        visibility,
    )))
}

/// `PUT /_matrix/client/v3/directory/list/room/{roomId}`
async fn set_room_visibility(
    State(state): State<AppState>,
    request: Ruma<set_room_visibility::v3::Request>,
) -> ApiResult<set_room_visibility::v3::Response> {
    let body = &request.body;
    let public = body.visibility == Visibility::Public;
    state
        .services
        .rooms
        .set_directory_visibility(request.requester()?, &body.room_id, public)
        .await?;
    Ok(RumaResponse(set_room_visibility::v3::Response::new()))
}

/// `GET /_matrix/client/v3/publicRooms`
async fn get_public_rooms(
    State(state): State<AppState>,
    request: Ruma<get_public_rooms::v3::Request>,
) -> ApiResult<get_public_rooms::v3::Response> {
    let requester = request.requester.as_ref().map(|r| r.user_id.as_ref());
    state.services.policy.check_may_browse_rooms(requester)?;
    let body = &request.body;
    let query = public_rooms::query(body.since.clone(), body.limit, body.server.clone());
    let page = state.services.rooms.public_rooms(query).await?;
    Ok(RumaResponse(get_public_rooms::v3::Response::build(page)))
}

/// `POST /_matrix/client/v3/publicRooms`
async fn get_public_rooms_filtered(
    State(state): State<AppState>,
    request: Ruma<get_public_rooms_filtered::v3::Request>,
) -> ApiResult<get_public_rooms_filtered::v3::Response> {
    state
        .services
        .policy
        .check_may_browse_rooms(Some(&request.requester()?.user_id))?;
    let body = &request.body;
    let query = public_rooms::filtered_query(
        &body.filter,
        body.since.clone(),
        body.limit,
        body.server.clone(),
    );
    let page = state.services.rooms.public_rooms(query).await?;
    Ok(RumaResponse(
        get_public_rooms_filtered::v3::Response::build(page),
    ))
}
