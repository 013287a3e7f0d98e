//! `POST` and `GET /_estafette/hooks/v1/rooms/{roomId}` (create, list),
//! `DELETE /_estafette/hooks/v1/{hookId}` (revoke), `POST …/{hookId}/rotate`: with a room
//! member's access token, answered as Matrix errors.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use estafette_service::{IssuedWebhook, NewWebhook, WEBHOOK_PATH, WebhookRecord};
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::post;
use crate::extract::{MatrixJson, requester_of_parts};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router
        .axum(
            &format!("{WEBHOOK_PATH}/rooms/{{room_id}}"),
            &[Method::POST, Method::GET],
            axum::routing::post(create).get(list),
        )
        .axum(
            &format!("{WEBHOOK_PATH}/{{hook}}"),
            &[Method::DELETE, Method::POST, Method::PUT, Method::GET],
            axum::routing::delete(revoke)
                .post(post::post_to_path)
                .put(post::post_to_path)
                .get(post::refuse_get),
        )
        .axum(
            &format!("{WEBHOOK_PATH}/{{hook_id}}/rotate"),
            &[Method::POST],
            axum::routing::post(rotate),
        )
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    #[serde(default = "generic")]
    format: String,
    #[serde(default = "notice")]
    msgtype: String,
    #[serde(default)]
    allowed_ips: Vec<String>,
    #[serde(default)]
    expires_in_secs: Option<u64>,
}

fn generic() -> String {
    "generic".into()
}

fn notice() -> String {
    "m.notice".into()
}

fn room_id(raw: &str) -> Result<ruma::OwnedRoomId, ApiError> {
    ruma::RoomId::parse(raw).map_err(|e| ApiError::invalid_param(format!("Invalid room ID: {e}")))
}

/// What a hook looks like to members: never its secret.
fn described(hook: &WebhookRecord) -> Value {
    json!({
        "hook_id": hook.hook_id, "room_id": hook.room_id, "name": hook.name,
        "format": hook.format, "msgtype": hook.msgtype, "sender": hook.sender,
        "creator": hook.creator, "created_ts": hook.created_ts,
        "allowed_ips": hook.allowed_ips, "expires_ts": hook.expires_ts,
    })
}

fn issued(issued: &IssuedWebhook) -> Value {
    let mut value = described(&issued.hook);
    value["url"] = Value::String(issued.url.clone());
    value
}

/// The member behind the access token of a management request.
struct Member(estafette_service::Requester);

impl FromRequestParts<AppState> for Member {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        requester_of_parts(parts, state).await.map(Member)
    }
}

async fn create(
    State(state): State<AppState>,
    Member(requester): Member,
    Path(raw_room): Path<String>,
    MatrixJson(body): MatrixJson<CreateBody>,
) -> Result<Json<Value>, ApiError> {
    let hook = state
        .services
        .webhooks
        .create(
            &requester,
            &room_id(&raw_room)?,
            &NewWebhook {
                name: body.name,
                format: body.format,
                msgtype: body.msgtype,
                allowed_ips: body.allowed_ips,
                expires_in_secs: body.expires_in_secs,
            },
        )
        .await?;
    Ok(Json(issued(&hook)))
}

async fn list(
    State(state): State<AppState>,
    Member(requester): Member,
    Path(raw_room): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let hooks = state
        .services
        .webhooks
        .list(&requester, &room_id(&raw_room)?)
        .await?;
    Ok(Json(
        json!({"hooks": hooks.iter().map(described).collect::<Vec<_>>()}),
    ))
}

async fn revoke(
    State(state): State<AppState>,
    Member(requester): Member,
    Path(hook_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.services.webhooks.revoke(&requester, &hook_id).await?;
    Ok(Json(json!({})))
}

async fn rotate(
    State(state): State<AppState>,
    Member(requester): Member,
    Path(hook_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let hook = state.services.webhooks.rotate(&requester, &hook_id).await?;
    Ok(Json(issued(&hook)))
}
