//! Room aliases and the room directory: `/directory/room/{roomAlias}`,
//! `/rooms/{roomId}/aliases`, `/directory/list/room/{roomId}`, `/publicRooms`.

use axum::Router;
use axum::extract::State;
use estafette_service::{DirectoryQuery, PublicRoom, PublicRoomsPage};
use ruma::api::client::alias::{create_alias, delete_alias, get_alias};
use ruma::api::client::directory::{
    get_public_rooms, get_public_rooms_filtered, get_room_visibility, set_room_visibility,
};
use ruma::api::client::room::{Visibility, aliases};
use ruma::directory::{PublicRoomsChunk, PublicRoomsChunkInit, RoomTypeFilter};
use ruma::room::JoinRuleKind;
use ruma::{UInt, room::RoomType};

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::RouterExt;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Router<AppState>) -> Router<AppState> {
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

fn to_chunk(room: PublicRoom) -> PublicRoomsChunk {
    let mut chunk: PublicRoomsChunk = PublicRoomsChunkInit {
        num_joined_members: UInt::new(room.num_joined_members).unwrap_or_default(),
        room_id: room.room_id,
        world_readable: room.world_readable,
        guest_can_join: room.guest_can_join,
    }
    .into();
    chunk.name = room.name;
    chunk.topic = room.topic;
    chunk.canonical_alias = room.canonical_alias;
    chunk.avatar_url = room.avatar_url.map(Into::into);
    chunk.join_rule = JoinRuleKind::from(room.join_rule.as_str());
    chunk.room_type = room.room_type.map(|t| RoomType::from(t.as_str()));
    chunk
}

fn limit(limit: Option<UInt>) -> Option<usize> {
    limit.map(|l| usize::try_from(u64::from(l)).unwrap_or(usize::MAX))
}

fn local_only(server: Option<&ruma::ServerName>, state: &AppState) -> Result<(), ApiError> {
    match server {
        Some(server) if server != state.services.context.server_name => Err(ApiError::new(
            http::StatusCode::NOT_FOUND,
            ruma::api::error::ErrorKind::NotFound,
            "Other servers' directories are not reachable yet",
        )),
        _ => Ok(()),
    }
}

/// `GET /_matrix/client/v3/publicRooms`
async fn get_public_rooms(
    State(state): State<AppState>,
    request: Ruma<get_public_rooms::v3::Request>,
) -> ApiResult<get_public_rooms::v3::Response> {
    let body = &request.body;
    local_only(body.server.as_deref(), &state)?;
    let query = DirectoryQuery {
        since: body.since.clone(),
        limit: limit(body.limit),
        ..Default::default()
    };
    let page = state.services.rooms.public_rooms(query).await?;
    Ok(RumaResponse(get_public_rooms::v3::Response::build(page)))
}

/// Both `/publicRooms` responses have the same fields.
trait PublicRoomsResponse {
    fn build(page: PublicRoomsPage) -> Self;
}

macro_rules! public_rooms_response {
    ($response:ty, $new:expr) => {
        impl PublicRoomsResponse for $response {
            fn build(page: PublicRoomsPage) -> Self {
                let mut response: Self = $new;
                response.total_room_count_estimate = UInt::new(page.total);
                response.next_batch = page.next_batch;
                response.prev_batch = page.prev_batch;
                response.chunk = page.chunk.into_iter().map(to_chunk).collect();
                response
            }
        }
    };
}
public_rooms_response!(
    get_public_rooms::v3::Response,
    get_public_rooms::v3::Response::new(Vec::new())
);
public_rooms_response!(
    get_public_rooms_filtered::v3::Response,
    get_public_rooms_filtered::v3::Response::new()
);

/// `POST /_matrix/client/v3/publicRooms`
async fn get_public_rooms_filtered(
    State(state): State<AppState>,
    request: Ruma<get_public_rooms_filtered::v3::Request>,
) -> ApiResult<get_public_rooms_filtered::v3::Response> {
    let body = &request.body;
    local_only(body.server.as_deref(), &state)?;
    let room_types = (!body.filter.room_types.is_empty()).then(|| {
        body.filter
            .room_types
            .iter()
            .map(|t| match t {
                RoomTypeFilter::Default => None,
                other => other.as_str().map(ToOwned::to_owned),
            })
            .collect()
    });
    let query = DirectoryQuery {
        search: body.filter.generic_search_term.clone(),
        room_types,
        since: body.since.clone(),
        limit: limit(body.limit),
    };
    let page = state.services.rooms.public_rooms(query).await?;
    Ok(RumaResponse(
        get_public_rooms_filtered::v3::Response::build(page),
    ))
}
