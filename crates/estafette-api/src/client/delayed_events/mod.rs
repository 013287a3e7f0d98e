//! Client endpoints of the delayed events domain (MSC4140): `?org.matrix.msc4140.delay=` on
//! the send and state endpoints (handled there, through [`scheduled`]), the newer
//! `/rooms/{roomId}/delayed_event/…` form, and `/delayed_events` to list, send, cancel and
//! restart what waits.

mod delayed_event;
mod delayed_events;

use axum::Json;
use axum::response::{IntoResponse, Response};
use estafette_service::{DelayedDraft, Requester};
use serde_json::json;

use crate::router::Routes;
use crate::{ApiError, AppState};

const DELAY_PARAMETER: &str = "org.matrix.msc4140.delay";
/// An earlier form of MSC4140 (events sent with another's), which this server does not serve.
const PARENT_PARAMETER: &str = "org.matrix.msc4140.parent_delay_id";

pub(super) fn routes(router: Routes) -> Routes {
    let router = delayed_event::routes(router);
    delayed_events::routes(router)
}

/// The delay a send or state request asks for in its query, in milliseconds.
pub(crate) fn requested_delay(query: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(query) = query else {
        return Ok(None);
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|_| ApiError::invalid_param("The query string is malformed"))?;
    if pairs.iter().any(|(name, _)| name == PARENT_PARAMETER) {
        return Err(ApiError::invalid_param(
            "Delayed events sent with their parent's are not supported; give a delay",
        ));
    }
    pairs
        .into_iter()
        .find(|(name, _)| name == DELAY_PARAMETER)
        .map(|(_, value)| {
            value.parse::<u64>().map_err(|_| {
                ApiError::invalid_param(format!(
                    "{DELAY_PARAMETER} must be a number of milliseconds"
                ))
            })
        })
        .transpose()
}

/// Schedules the event a send or state request describes: the answer names it by its
/// `delay_id` instead of an event ID.
pub(crate) async fn scheduled(
    state: &AppState,
    requester: &Requester,
    draft: DelayedDraft<'_>,
) -> Result<Response, ApiError> {
    let delay_id = state
        .services
        .delayed_events
        .schedule(requester, draft)
        .await?;
    Ok(Json(json!({ "delay_id": delay_id })).into_response())
}
