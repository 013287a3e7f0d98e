//! Spaces, summaries and upgrades: `/rooms/{roomId}/hierarchy`, `/room_summary/{roomIdOrAlias}`,
//! `/rooms/{roomId}/upgrade`.

use axum::extract::State;
use ruma::api::client::room::{get_summary, upgrade_room};
use ruma::api::client::space::{SpaceHierarchyRoomsChunk, get_hierarchy};
use ruma::room::RoomSummary;
use ruma::serde::Raw;
use serde_json::json;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(get_hierarchy)
        .ruma(get_room_summary)
        .ruma(upgrade_room)
}

/// `GET /_matrix/client/v1/rooms/{roomId}/hierarchy`
async fn get_hierarchy(
    State(state): State<AppState>,
    request: Ruma<get_hierarchy::v1::Request>,
) -> ApiResult<get_hierarchy::v1::Response> {
    let body = &request.body;
    let to_usize = |n: ruma::UInt| usize::try_from(u64::from(n)).unwrap_or(usize::MAX);
    let page = state
        .services
        .rooms
        .hierarchy(
            request.requester()?,
            &body.room_id,
            body.max_depth.map(to_usize),
            body.suggested_only,
            body.from.as_deref(),
            body.limit.map(to_usize),
        )
        .await?;
    let mut response = get_hierarchy::v1::Response::new();
    response.next_batch = page.next_batch;
    for entry in page.rooms {
        let summary = summary_of(&entry.room, &entry.room_version, json!({}))?;
        let children = entry
            .children_state
            .iter()
            .map(|event| serde_json::value::to_raw_value(event).map(Raw::from_json))
            .collect::<Result<_, _>>()
            .map_err(|e| ApiError::bad_json(e.to_string()))?;
        response
            .rooms
            .push(SpaceHierarchyRoomsChunk::new(summary, children));
    }
    Ok(RumaResponse(response))
}

/// A room's summary as the spec's shape, with `extra` fields.
fn summary_of(
    room: &estafette_service::PublicRoom,
    room_version: &str,
    extra: serde_json::Value,
) -> Result<RoomSummary, ApiError> {
    let mut summary = json!({
        "room_id": room.room_id, "name": room.name, "topic": room.topic,
        "canonical_alias": room.canonical_alias, "avatar_url": room.avatar_url,
        "room_type": room.room_type, "num_joined_members": room.num_joined_members,
        "join_rule": room.join_rule, "world_readable": room.world_readable,
        "guest_can_join": room.guest_can_join, "room_version": room_version,
    });
    if let (Some(summary), Some(extra)) = (summary.as_object_mut(), extra.as_object()) {
        summary.extend(extra.clone());
    }
    serde_json::from_value(strip_nulls(summary))
        .map_err(|e| ApiError::bad_json(format!("Cannot summarise {}: {e}", room.room_id)))
}

/// A room's summary with what the spec adds to the directory's: encryption, version and the
/// rooms a restricted room allows.
pub(crate) fn full_summary(
    found: &estafette_service::RoomSummary,
) -> Result<RoomSummary, ApiError> {
    let mut extra = json!({"encryption": found.encryption});
    if !found.allowed_room_ids.is_empty() {
        extra["allowed_room_ids"] = json!(found.allowed_room_ids);
    }
    summary_of(&found.room, &found.room_version, strip_nulls(extra))
}

/// `GET /_matrix/client/v1/room_summary/{roomIdOrAlias}`: anyone may ask about a room anyone
/// may enter or read; members and those a restricted room allows see it too.
async fn get_room_summary(
    State(state): State<AppState>,
    request: Ruma<get_summary::v1::Request>,
) -> ApiResult<get_summary::v1::Response> {
    let requester = request.requester.as_ref().map(|r| r.user_id.as_ref());
    let body = &request.body;
    let found = state
        .services
        .rooms
        .summary(requester, &body.room_id_or_alias, &body.via)
        .await?;
    let summary = full_summary(&found)?;
    let mut response = get_summary::v1::Response::new(summary);
    response.membership = found.membership.as_deref().map(Into::into);
    Ok(RumaResponse(response))
}

fn strip_nulls(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(object) = value.as_object_mut() {
        object.retain(|_, v| !v.is_null());
    }
    value
}

/// `POST /_matrix/client/v3/rooms/{roomId}/upgrade`
async fn upgrade_room(
    State(state): State<AppState>,
    request: Ruma<upgrade_room::v3::Request>,
) -> ApiResult<upgrade_room::v3::Response> {
    let body = &request.body;
    let replacement = state
        .services
        .rooms
        .upgrade(
            request.requester()?,
            &body.room_id,
            body.new_version.clone(),
            body.additional_creators.clone(),
        )
        .await?;
    Ok(RumaResponse(upgrade_room::v3::Response::new(replacement)))
}
