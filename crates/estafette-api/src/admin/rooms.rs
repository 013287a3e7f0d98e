//! Rooms (SYNAPSE_ADMIN.md §3.4): `GET /v1/rooms/{roomId}`, its members and its state.

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::get;
use http::Method;
use serde_json::{Value, json};

use super::conventions::{Admin, Params};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .axum(
            "/_synapse/admin/v1/rooms/{room_id}",
            &[Method::GET],
            get(room),
        )
        .axum(
            "/_synapse/admin/v1/rooms/{room_id}/members",
            &[Method::GET],
            get(members),
        )
        .axum(
            "/_synapse/admin/v1/rooms/{room_id}/state",
            &[Method::GET],
            get(room_state),
        )
}

fn room_id(raw: &str) -> Result<ruma::OwnedRoomId, ApiError> {
    ruma::RoomId::parse(raw)
        .map_err(|_| ApiError::invalid_param(format!("{raw} is not a legal room ID")))
}

/// `GET /_synapse/admin/v1/rooms/{roomId}`
async fn room(
    State(state): State<AppState>,
    _admin: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.services.admin.room(&room_id(&raw)?).await?))
}

/// `GET /_synapse/admin/v1/rooms/{roomId}/members`: the joined members.
async fn members(
    State(state): State<AppState>,
    _admin: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let members = state.services.admin.joined_members(&room_id(&raw)?).await?;
    Ok(Json(json!({"members": members, "total": members.len()})))
}

/// `GET /_synapse/admin/v1/rooms/{roomId}/state[?type=…]`
async fn room_state(
    State(state): State<AppState>,
    _admin: Admin,
    Path(raw): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let events = state.services.admin.room_state(&room_id(&raw)?).await?;
    let kind = params.text("type");
    let events: Vec<Value> = events
        .iter()
        .filter(|pdu| kind.is_none_or(|kind| pdu.kind.to_string() == kind))
        .map(|pdu| pdu.to_client_json(true))
        .collect();
    Ok(Json(json!({"state": events})))
}
