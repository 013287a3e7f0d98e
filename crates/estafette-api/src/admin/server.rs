//! `GET /_synapse/admin/v1/server_version`, which the admin UIs call at login (no token).

use axum::Json;
use axum::routing::get;
use http::Method;
use serde_json::{Value, json};

use crate::router::Routes;

pub(super) fn routes(routes: Routes) -> Routes {
    routes.axum(
        "/_synapse/admin/v1/server_version",
        &[Method::GET],
        get(server_version),
    )
}

async fn server_version() -> Json<Value> {
    Json(json!({"server_version": format!("Estafette {}", env!("CARGO_PKG_VERSION"))}))
}
