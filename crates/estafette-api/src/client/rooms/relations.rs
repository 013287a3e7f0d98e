//! Redactions and relations: `/rooms/{roomId}/redact/{eventId}/{txnId}`,
//! `/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]`, `/rooms/{roomId}/threads`.

use axum::extract::State;
use estafette_service::{RelationsPage, Requester, format_token, parse_token};
use ruma::api::client::redact::redact_event;
use ruma::api::client::relations::{
    get_relating_events, get_relating_events_with_rel_type,
    get_relating_events_with_rel_type_and_event_type,
};
use ruma::api::client::threads::get_threads;
use ruma::{EventId, RoomId, UInt};

use crate::client::pdu_format::client_events;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

const DEFAULT_LIMIT: u32 = 50;

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(redact_event)
        .ruma(get_relating_events)
        .ruma(get_relating_events_with_rel_type)
        .ruma(get_relating_events_with_rel_type_and_event_type)
        .ruma(get_threads)
}

fn limit(limit: Option<UInt>) -> u32 {
    limit.map_or(DEFAULT_LIMIT, crate::json::small)
}

/// `PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}`
async fn redact_event(
    State(state): State<AppState>,
    request: Ruma<redact_event::v3::Request>,
) -> ApiResult<redact_event::v3::Response> {
    let body = &request.body;
    let event_id = state
        .services
        .rooms
        .redact(
            request.requester()?,
            &body.room_id,
            &body.event_id,
            body.reason.as_deref(),
            body.txn_id.as_str(),
        )
        .await?;
    Ok(RumaResponse(redact_event::v3::Response::new(event_id)))
}

/// The query every relations endpoint shares.
struct RelationsQuery<'a> {
    room_id: &'a RoomId,
    event_id: &'a EventId,
    rel_type: Option<String>,
    event_type: Option<String>,
    from: Option<&'a str>,
    forward: bool,
    limit: Option<UInt>,
}

async fn relations(
    state: &AppState,
    requester: &Requester,
    query: RelationsQuery<'_>,
) -> Result<
    (
        Vec<ruma::serde::Raw<ruma::events::AnyMessageLikeEvent>>,
        Option<String>,
    ),
    ApiError,
> {
    let from = query.from.map(parse_token).transpose()?;
    let RelationsPage { chunk, next_batch } = state
        .services
        .rooms
        .relations(
            requester,
            query.room_id,
            query.event_id,
            query.rel_type.as_deref(),
            query.event_type.as_deref(),
            from,
            query.forward,
            limit(query.limit),
        )
        .await?;
    Ok((client_events(&chunk, true)?, next_batch.map(format_token)))
}

/// `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}`
async fn get_relating_events(
    State(state): State<AppState>,
    request: Ruma<get_relating_events::v1::Request>,
) -> ApiResult<get_relating_events::v1::Response> {
    let b = &request.body;
    let query = RelationsQuery {
        room_id: &b.room_id,
        event_id: &b.event_id,
        rel_type: None,
        event_type: None,
        from: b.from.as_deref(),
        forward: b.dir == ruma::api::Direction::Forward,
        limit: b.limit,
    };
    let (chunk, next_batch) = relations(&state, request.requester()?, query).await?;
    let mut response = get_relating_events::v1::Response::new(chunk);
    response.next_batch = next_batch;
    Ok(RumaResponse(response))
}

/// `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}`
async fn get_relating_events_with_rel_type(
    State(state): State<AppState>,
    request: Ruma<get_relating_events_with_rel_type::v1::Request>,
) -> ApiResult<get_relating_events_with_rel_type::v1::Response> {
    let b = &request.body;
    let query = RelationsQuery {
        room_id: &b.room_id,
        event_id: &b.event_id,
        rel_type: Some(b.rel_type.to_string()),
        event_type: None,
        from: b.from.as_deref(),
        forward: b.dir == ruma::api::Direction::Forward,
        limit: b.limit,
    };
    let (chunk, next_batch) = relations(&state, request.requester()?, query).await?;
    let mut response = get_relating_events_with_rel_type::v1::Response::new(chunk);
    response.next_batch = next_batch;
    Ok(RumaResponse(response))
}

/// `GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}`
async fn get_relating_events_with_rel_type_and_event_type(
    State(state): State<AppState>,
    request: Ruma<get_relating_events_with_rel_type_and_event_type::v1::Request>,
) -> ApiResult<get_relating_events_with_rel_type_and_event_type::v1::Response> {
    let b = &request.body;
    let query = RelationsQuery {
        room_id: &b.room_id,
        event_id: &b.event_id,
        rel_type: Some(b.rel_type.to_string()),
        event_type: Some(b.event_type.to_string()),
        from: b.from.as_deref(),
        forward: b.dir == ruma::api::Direction::Forward,
        limit: b.limit,
    };
    let (chunk, next_batch) = relations(&state, request.requester()?, query).await?;
    let mut response = get_relating_events_with_rel_type_and_event_type::v1::Response::new(chunk);
    response.next_batch = next_batch;
    Ok(RumaResponse(response))
}

/// `GET /_matrix/client/v1/rooms/{roomId}/threads`
async fn get_threads(
    State(state): State<AppState>,
    request: Ruma<get_threads::v1::Request>,
) -> ApiResult<get_threads::v1::Response> {
    let b = &request.body;
    let from = b.from.as_deref().map(parse_token).transpose()?;
    let participated = b.include == get_threads::v1::IncludeThreads::Participated;
    let page = state
        .services
        .rooms
        .threads(
            request.requester()?,
            &b.room_id,
            participated,
            from,
            limit(b.limit),
        )
        .await?;
    let mut response = get_threads::v1::Response::new(client_events(&page.chunk, true)?);
    response.next_batch = page.next_batch.map(format_token);
    Ok(RumaResponse(response))
}
