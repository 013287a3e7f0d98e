//! Stored sync filters: `/user/{userId}/filter` and `/user/{userId}/filter/{filterId}`.

use axum::extract::State;
use ruma::api::client::filter::{create_filter, get_filter};

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(create_filter).ruma(get_filter)
}

/// `POST /_matrix/client/v3/user/{userId}/filter`
async fn create_filter(
    State(state): State<AppState>,
    request: Ruma<create_filter::v3::Request>,
) -> ApiResult<create_filter::v3::Response> {
    let body = &request.body;
    let filter_id = state
        .services
        .filters
        .create(request.requester()?, &body.user_id, &body.filter)
        .await?;
    Ok(RumaResponse(create_filter::v3::Response::new(filter_id)))
}

/// `GET /_matrix/client/v3/user/{userId}/filter/{filterId}`
async fn get_filter(
    State(state): State<AppState>,
    request: Ruma<get_filter::v3::Request>,
) -> ApiResult<get_filter::v3::Response> {
    let body = &request.body;
    let filter = state
        .services
        .filters
        .get(request.requester()?, &body.user_id, &body.filter_id)
        .await?;
    Ok(RumaResponse(get_filter::v3::Response::new(filter)))
}

/// A spec event filter as the services apply it.
pub(super) fn event_filter(
    filter: &ruma::api::client::filter::RoomEventFilter,
) -> estafette_service::EventFilter {
    use ruma::api::client::filter::{LazyLoadOptions, UrlFilter};
    estafette_service::EventFilter {
        types: filter.types.clone(),
        not_types: filter.not_types.clone(),
        senders: filter.senders.clone(),
        not_senders: filter.not_senders.clone(),
        contains_url: filter
            .url_filter
            .as_ref()
            .map(|f| matches!(f, UrlFilter::EventsWithUrl)),
        lazy_load_members: matches!(filter.lazy_load_options, LazyLoadOptions::Enabled { .. }),
    }
}

/// The room part of a sync filter.
pub(super) fn room_filter(
    filter: &ruma::api::client::filter::RoomFilter,
) -> estafette_service::RoomFilter {
    estafette_service::RoomFilter {
        rooms: filter.rooms.clone(),
        not_rooms: filter.not_rooms.clone(),
        include_leave: filter.include_leave,
        timeline: event_filter(&filter.timeline),
        state: event_filter(&filter.state),
    }
}
