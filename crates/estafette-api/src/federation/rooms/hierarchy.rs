//! A space (or any room) as this server shows it to another: `/_matrix/federation/v1/hierarchy`,
//! which also serves remote room summaries.

use axum::extract::State;
use ruma::api::federation::space::{SpaceHierarchyParentSummary, get_hierarchy};
use ruma::serde::Raw;

use crate::client::rooms::space::full_summary;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(get_hierarchy)
}

/// `GET /_matrix/federation/v1/hierarchy/{roomId}`
async fn get_hierarchy(
    State(state): State<AppState>,
    request: Ruma<get_hierarchy::v1::Request>,
) -> ApiResult<get_hierarchy::v1::Response> {
    let body = &request.body;
    let hierarchy = state
        .services
        .rooms
        .hierarchy_for_server(request.origin()?, &body.room_id, body.suggested_only)
        .await?;
    let children_state = hierarchy
        .children_state
        .iter()
        .map(|event| serde_json::value::to_raw_value(event).map(Raw::from_json))
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::bad_json(e.to_string()))?;
    let room = SpaceHierarchyParentSummary::new(full_summary(&hierarchy.room)?, children_state);
    let mut response = get_hierarchy::v1::Response::new(room);
    response.children = hierarchy
        .children
        .iter()
        .map(full_summary)
        .collect::<Result<_, _>>()?;
    response.inaccessible_children = hierarchy.inaccessible_children;
    Ok(RumaResponse(response))
}
