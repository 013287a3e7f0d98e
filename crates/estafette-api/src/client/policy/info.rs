//! `GET /_matrix/identity/api/v1/info?medium=email&address=…` (TCHAP.md §1): public, without
//! authentication, answered alike by every server of the federation. Whether the address's
//! owner needs an invitation is never told here.

use axum::Json;
use axum::extract::{Query, State};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router.axum(
        "/_matrix/identity/api/v1/info",
        &[Method::GET],
        axum::routing::get(info),
    )
}

/// The query both lookups take.
#[derive(Debug, Deserialize)]
pub(crate) struct Lookup {
    medium: Option<String>,
    address: Option<String>,
}

impl Lookup {
    /// The email address asked about, once the lookup is known to be one this server answers.
    pub(crate) fn address(&self, state: &AppState) -> Result<&str, ApiError> {
        if !state.services.policy.routes_emails() {
            return Err(ApiError::unrecognized(
                StatusCode::NOT_FOUND,
                "This server does not route email addresses",
            ));
        }
        let (Some(medium), Some(address)) = (&self.medium, &self.address) else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ruma::api::error::ErrorKind::MissingParam,
                "Both medium and address are required",
            ));
        };
        if medium != "email" {
            return Err(ApiError::invalid_param(format!(
                "Only email addresses are routed, not {medium:?}"
            )));
        }
        Ok(address)
    }
}

async fn info(
    State(state): State<AppState>,
    Query(lookup): Query<Lookup>,
) -> Result<Json<Value>, ApiError> {
    let address = lookup.address(&state)?;
    let route = state.services.policy.public_route(address).await?;
    let mut answer = json!({"hs": route.hs});
    if let Some(shadow) = route.shadow_hs {
        answer["shadow_hs"] = shadow.into();
    }
    if let Some(new) = route.new_hs {
        answer["new_hs"] = new.into();
    }
    Ok(Json(answer))
}
