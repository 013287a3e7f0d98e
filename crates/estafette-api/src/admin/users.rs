//! Accounts (SYNAPSE_ADMIN.md §3.1–§3.2): `GET /v2/users` and `/v3/users` (the list),
//! `GET /v2/users/{userId}` and its devices.

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::get;
use estafette_service::admin::AdminUser;
use estafette_service::{ListedUser, UserListQuery, UserOrder};
use http::Method;
use serde_json::{Value, json};

use super::conventions::{Admin, Params, next_token};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .axum("/_synapse/admin/v2/users", &[Method::GET], get(list_v2))
        .axum("/_synapse/admin/v3/users", &[Method::GET], get(list_v3))
        .axum(
            "/_synapse/admin/v2/users/{user_id}",
            &[Method::GET],
            get(user),
        )
        .axum(
            "/_synapse/admin/v2/users/{user_id}/devices",
            &[Method::GET],
            get(devices),
        )
}

fn user_id(raw: &str) -> Result<ruma::OwnedUserId, ApiError> {
    ruma::UserId::parse(raw).map_err(|e| ApiError::invalid_param(format!("Invalid user ID: {e}")))
}

/// One account as the list shows it (`creation_ts` in milliseconds there).
fn listed(user: &ListedUser) -> Value {
    json!({
        "name": user.user_id, "displayname": user.display_name, "avatar_url": user.avatar_url,
        "is_guest": false, "admin": user.is_admin, "deactivated": user.deactivated,
        "locked": false, "erased": false, "shadow_banned": false, "user_type": null,
        "creation_ts": user.created_ts, "last_seen_ts": user.last_seen_ts,
    })
}

async fn list_v2(
    state: State<AppState>,
    admin: Admin,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    list(state, admin, params, 2).await
}

async fn list_v3(
    state: State<AppState>,
    admin: Admin,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    list(state, admin, params, 3).await
}

/// `GET /_synapse/admin/v2/users` and `/v3/users`: `deactivated=true` includes deactivated
/// accounts in v2, and selects only them in v3.
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    params: Params,
    version: u8,
) -> Result<Json<Value>, ApiError> {
    let from = params.integer("from", 0)?;
    let limit = params.integer("limit", 100)?;
    let deactivated = match (version, params.boolean("deactivated")?) {
        (2, Some(true)) => None,
        (2, _) => Some(false),
        (_, selected) => selected,
    };
    let order = match params.text("order_by").unwrap_or("name") {
        "name" => UserOrder::Name,
        "displayname" => UserOrder::DisplayName,
        "avatar_url" => UserOrder::AvatarUrl,
        "admin" => UserOrder::Admin,
        "deactivated" => UserOrder::Deactivated,
        "creation_ts" => UserOrder::CreationTs,
        "last_seen_ts" => UserOrder::LastSeenTs,
        // Accounts here are neither guests, typed, shadow-banned nor locked: all tie.
        "is_guest" | "user_type" | "shadow_banned" | "locked" => UserOrder::Name,
        other => {
            return Err(ApiError::invalid_param(format!(
                "Unknown value for order_by: {other}"
            )));
        }
    };
    let query = UserListQuery {
        from,
        limit,
        name: params.text("name").map(str::to_owned),
        user_id: params.text("user_id").map(str::to_owned),
        deactivated,
        admins: params.boolean("admins")?,
        order,
        descending: params.descending()?,
    };
    params.boolean("guests")?;
    params.boolean("locked")?;
    let (users, total) = state.services.admin.users(&query).await?;
    let mut body = json!({
        "users": users.iter().map(listed).collect::<Vec<_>>(),
        "total": total,
    });
    if let Some(token) = next_token(from, limit, users.len(), total) {
        body["next_token"] = json!(token);
    }
    Ok(Json(body))
}

/// `GET /_synapse/admin/v2/users/{userId}`: `creation_ts` in seconds here, as Synapse.
async fn user(
    State(state): State<AppState>,
    _admin: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let AdminUser {
        listed: user,
        threepids,
    } = state.services.admin.user(&user_id(&raw)?).await?;
    let mut body = listed(&user);
    body["creation_ts"] = json!(user.created_ts / 1000);
    body["threepids"] = threepids
        .iter()
        .map(|t| {
            json!({"medium": t.medium, "address": t.address,
                   "added_at": t.added_ts, "validated_at": t.validated_ts})
        })
        .collect();
    body["external_ids"] = json!([]);
    body["suspended"] = json!(false);
    body["appservice_id"] = json!(null);
    body["consent_server_notice_sent"] = json!(null);
    body["consent_version"] = json!(null);
    body["consent_ts"] = json!(null);
    Ok(Json(body))
}

/// `GET /_synapse/admin/v2/users/{userId}/devices`
async fn devices(
    State(state): State<AppState>,
    _admin: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user_id = user_id(&raw)?;
    let devices = state.services.admin.devices(&user_id).await?;
    let listed: Vec<Value> = devices
        .iter()
        .map(|d| {
            json!({
                "device_id": d.device_id, "display_name": d.display_name,
                "last_seen_ip": d.last_seen_ip, "last_seen_ts": d.last_seen_ts,
                "last_seen_user_agent": null, "user_id": d.user_id, "dehydrated": false,
            })
        })
        .collect();
    Ok(Json(json!({"total": listed.len(), "devices": listed})))
}
