//! Accounts (SYNAPSE_ADMIN.md §3.1–§3.2): `GET /v2/users` and `/v3/users` (the list),
//! `GET /v2/users/{userId}` and its devices.

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::get;
use estafette_service::admin::AdminUser;
use estafette_service::{ListedUser, UserListQuery, UserOrder};
use http::Method;
use serde_json::{Value, json};

use super::conventions::{Admin, Caller, Params, next_token};
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
        .axum(
            "/_synapse/admin/v1/users/{user_id}/joined_rooms",
            &[Method::GET],
            get(joined_rooms),
        )
        .axum(
            "/_synapse/admin/v1/users/{user_id}/memberships",
            &[Method::GET],
            get(memberships),
        )
        .axum(
            "/_synapse/admin/v1/users/{user_id}/pushers",
            &[Method::GET],
            get(pushers),
        )
        .axum(
            "/_synapse/admin/v1/whois/{user_id}",
            &[Method::GET],
            get(whois),
        )
}

pub(super) fn user_id(raw: &str) -> Result<ruma::OwnedUserId, ApiError> {
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

/// `GET /_synapse/admin/v1/users/{userId}/joined_rooms`
async fn joined_rooms(
    State(state): State<AppState>,
    _admin: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let memberships = state.services.admin.memberships(&user_id(&raw)?).await?;
    let rooms: Vec<&ruma::OwnedRoomId> = memberships
        .iter()
        .filter(|m| m.membership == "join")
        .map(|m| &m.room_id)
        .collect();
    Ok(Json(json!({"joined_rooms": rooms, "total": rooms.len()})))
}

/// `GET /_synapse/admin/v1/users/{userId}/memberships`: every room with the membership.
async fn memberships(
    State(state): State<AppState>,
    _admin: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let memberships = state.services.admin.memberships(&user_id(&raw)?).await?;
    let by_room: serde_json::Map<String, Value> = memberships
        .into_iter()
        .map(|m| (m.room_id.to_string(), Value::String(m.membership)))
        .collect();
    Ok(Json(json!({"memberships": by_room})))
}

/// `GET /_synapse/admin/v1/users/{userId}/pushers`
async fn pushers(
    State(state): State<AppState>,
    _admin: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pushers = state.services.admin.pushers(&user_id(&raw)?).await?;
    let listed: Vec<Value> = pushers
        .iter()
        .map(|p| {
            let data: Value = serde_json::from_str(&p.data_json).unwrap_or_else(|_| json!({}));
            json!({
                "app_id": p.app_id, "pushkey": p.pushkey, "kind": p.kind,
                "app_display_name": p.app_display_name,
                "device_display_name": p.device_display_name, "profile_tag": p.profile_tag,
                "lang": p.lang, "data": data,
            })
        })
        .collect();
    Ok(Json(json!({"pushers": listed, "total": listed.len()})))
}

/// `GET /_synapse/admin/v1/whois/{userId}`: an administrator, or the user about themself;
/// each device's last connection.
async fn whois(
    State(state): State<AppState>,
    Caller(requester): Caller,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user_id = user_id(&raw)?;
    let admin = &state.services.admin;
    admin
        .ensure_admin_or_self(&requester, &user_id, &format!("whois {user_id}"))
        .await?;
    // As Synapse: every connection under one empty device key.
    let connections: Vec<Value> = admin
        .devices(&user_id)
        .await?
        .iter()
        .filter_map(|d| {
            let ip = d.last_seen_ip.as_ref()?;
            Some(json!({"ip": ip, "last_seen": d.last_seen_ts, "user_agent": null}))
        })
        .collect();
    let by_device = json!({"": {"sessions": [{"connections": connections}]}});
    Ok(Json(json!({"user_id": user_id, "devices": by_device})))
}
