//! Shared-secret registration (`/_synapse/admin/v1/register`), as Synapse answers it, used by
//! `register_new_matrix_user` and provisioning tools.

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use estafette_service::SharedSecretRequest;
use http::Method;
use serde::{Deserialize, Serialize};

use crate::extract::{ClientIp, MatrixJson};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(crate) fn routes(routes: Routes) -> Routes {
    routes.axum(
        "/_synapse/admin/v1/register",
        &[Method::GET, Method::POST],
        get(get_nonce).post(register),
    )
}

#[derive(Serialize)]
struct NonceResponse {
    nonce: String,
}

#[derive(Deserialize)]
struct RegisterBody {
    nonce: String,
    username: String,
    password: String,
    #[serde(default)]
    displayname: Option<String>,
    #[serde(default)]
    admin: bool,
    mac: String,
}

#[derive(Serialize)]
struct RegisterResponse {
    access_token: String,
    user_id: String,
    home_server: String,
    device_id: String,
}

/// `GET /_synapse/admin/v1/register`
async fn get_nonce(State(state): State<AppState>) -> Result<Json<NonceResponse>, ApiError> {
    let nonce = state.services.shared_secret.issue_nonce().await?;
    Ok(Json(NonceResponse { nonce }))
}

/// `POST /_synapse/admin/v1/register`
async fn register(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    MatrixJson(body): MatrixJson<RegisterBody>,
) -> Result<Json<RegisterResponse>, ApiError> {
    let client = client_ip.map(|ip| ip.to_string()).unwrap_or_default();
    state
        .services
        .rate_limits
        .check_login(&client)
        .await
        .map_err(ApiError::limit_exceeded)?;
    let outcome = state
        .services
        .shared_secret
        .register(SharedSecretRequest {
            nonce: body.nonce,
            username: body.username,
            password: body.password,
            displayname: body.displayname,
            admin: body.admin,
            mac: body.mac,
        })
        .await?;
    Ok(Json(RegisterResponse {
        access_token: outcome.grant.access_token,
        user_id: outcome.user_id.to_string(),
        home_server: state.services.context.server_name.to_string(),
        device_id: outcome.device_id.to_string(),
    }))
}
