//! What an administrator does to an account (SYNAPSE_ADMIN.md §2.2–§2.3, §4): deactivate it,
//! set its password, sign one of its devices out.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{delete, post};
use http::Method;
use serde_json::{Value, json};

use super::conventions::{Admin, body_flag, body_object};
use super::users::user_id;
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .axum(
            "/_synapse/admin/v1/deactivate/{user_id}",
            &[Method::POST],
            post(deactivate),
        )
        .axum(
            "/_synapse/admin/v1/reset_password/{user_id}",
            &[Method::POST],
            post(reset_password),
        )
        .axum(
            "/_synapse/admin/v2/users/{user_id}/devices/{device_id}",
            &[Method::DELETE],
            delete(delete_device),
        )
}

/// `POST /_synapse/admin/v1/deactivate/{userId}` (`erase` read, the body optional).
async fn deactivate(
    State(state): State<AppState>,
    _admin: Admin,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = body_object(&body)?;
    // Erasing (hiding the account's messages from later joiners) is not done yet: the
    // account is deactivated either way.
    body_flag(&body, "erase", false)?;
    state.services.admin.deactivate(&user_id(&raw)?).await?;
    // Addresses are released here, never by an identity server that could fail: as Synapse
    // when every unbinding succeeded (none needed included).
    Ok(Json(json!({"id_server_unbind_result": "success"})))
}

/// `POST /_synapse/admin/v1/reset_password/{userId}`: `new_password` (required),
/// `logout_devices` (true by default); no password policy, as Synapse.
async fn reset_password(
    State(state): State<AppState>,
    _admin: Admin,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = body_object(&body)?;
    let Some(password) = body.get("new_password") else {
        return Err(ApiError::from(
            estafette_service::ServiceError::MissingParam(
                "Missing params: ['new_password']".into(),
            ),
        ));
    };
    let Some(password) = password.as_str() else {
        return Err(ApiError::invalid_param("new_password must be a string"));
    };
    let logout_devices = body_flag(&body, "logout_devices", true)?;
    state
        .services
        .admin
        .reset_password(&user_id(&raw)?, password.to_owned(), logout_devices)
        .await?;
    Ok(Json(json!({})))
}

/// `DELETE /_synapse/admin/v2/users/{userId}/devices/{deviceId}`
async fn delete_device(
    State(state): State<AppState>,
    _admin: Admin,
    Path((raw, device_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let device_id: ruma::OwnedDeviceId = device_id.into();
    state
        .services
        .admin
        .delete_device(&user_id(&raw)?, &device_id)
        .await?;
    Ok(Json(json!({})))
}
