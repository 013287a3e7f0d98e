//! Reading a room's events over federation: `/event`, `/state`, `/state_ids`, `/event_auth`,
//! `/get_missing_events`, `/backfill` and `/timestamp_to_event`.

use axum::extract::State;
use ruma::MilliSecondsSinceUnixEpoch;
use ruma::api::federation::authorization::get_event_authorization;
use ruma::api::federation::backfill::get_backfill;
use ruma::api::federation::event::{
    get_event, get_event_by_timestamp, get_missing_events, get_room_state, get_room_state_ids,
};

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::json::{millis, pdu, pdus};
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    router
        .ruma(get_event)
        .ruma(get_room_state)
        .ruma(get_room_state_ids)
        .ruma(get_event_authorization)
        .ruma(get_missing_events)
        .ruma(get_backfill)
        .ruma(get_event_by_timestamp)
}

/// `GET /_matrix/federation/v1/timestamp_to_event/{roomId}`
async fn get_event_by_timestamp(
    State(state): State<AppState>,
    request: Ruma<get_event_by_timestamp::v1::Request>,
) -> ApiResult<get_event_by_timestamp::v1::Response> {
    let body = &request.body;
    let forward = body.dir == ruma::api::Direction::Forward;
    let (event_id, ts) = state
        .services
        .rooms
        .event_at_time_for_server(
            request.origin()?,
            &body.room_id,
            body.ts.get().into(),
            forward,
        )
        .await?;
    Ok(RumaResponse(get_event_by_timestamp::v1::Response::new(
        event_id,
        millis(ts),
    )))
}

fn now(state: &AppState) -> MilliSecondsSinceUnixEpoch {
    millis(state.services.context.now())
}

/// `GET /_matrix/federation/v1/event/{eventId}`
async fn get_event(
    State(state): State<AppState>,
    request: Ruma<get_event::v1::Request>,
) -> ApiResult<get_event::v1::Response> {
    let event = state
        .services
        .rooms
        .event_for_server(request.origin()?, &request.body.event_id)
        .await?;
    Ok(RumaResponse(get_event::v1::Response::new(
        state.services.context.server_name.clone(),
        now(&state),
        pdu(&event)?,
    )))
}

/// `GET /_matrix/federation/v1/state/{roomId}`
async fn get_room_state(
    State(state): State<AppState>,
    request: Ruma<get_room_state::v1::Request>,
) -> ApiResult<get_room_state::v1::Response> {
    let body = &request.body;
    let (state_pdus, auth_chain) = state
        .services
        .rooms
        .state_for_server(request.origin()?, &body.room_id, &body.event_id)
        .await?;
    Ok(RumaResponse(get_room_state::v1::Response::new(
        pdus(&auth_chain)?,
        pdus(&state_pdus)?,
    )))
}

/// `GET /_matrix/federation/v1/state_ids/{roomId}`
async fn get_room_state_ids(
    State(state): State<AppState>,
    request: Ruma<get_room_state_ids::v1::Request>,
) -> ApiResult<get_room_state_ids::v1::Response> {
    let body = &request.body;
    let (state_pdus, auth_chain) = state
        .services
        .rooms
        .state_for_server(request.origin()?, &body.room_id, &body.event_id)
        .await?;
    Ok(RumaResponse(get_room_state_ids::v1::Response::new(
        auth_chain.into_iter().map(|p| p.event_id).collect(),
        state_pdus.into_iter().map(|p| p.event_id).collect(),
    )))
}

/// `GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}`
async fn get_event_authorization(
    State(state): State<AppState>,
    request: Ruma<get_event_authorization::v1::Request>,
) -> ApiResult<get_event_authorization::v1::Response> {
    let body = &request.body;
    let chain = state
        .services
        .rooms
        .auth_chain_for_server(request.origin()?, &body.room_id, &body.event_id)
        .await?;
    Ok(RumaResponse(get_event_authorization::v1::Response::new(
        pdus(&chain)?,
    )))
}

/// `POST /_matrix/federation/v1/get_missing_events/{roomId}`
async fn get_missing_events(
    State(state): State<AppState>,
    request: Ruma<get_missing_events::v1::Request>,
) -> ApiResult<get_missing_events::v1::Response> {
    let body = &request.body;
    let events = state
        .services
        .rooms
        .missing_events_for_server(
            request.origin()?,
            &body.room_id,
            &body.earliest_events,
            &body.latest_events,
            usize::try_from(u64::from(body.limit)).unwrap_or(usize::MAX),
            body.min_depth.into(),
        )
        .await?;
    Ok(RumaResponse(get_missing_events::v1::Response::new(pdus(
        &events,
    )?)))
}

/// `GET /_matrix/federation/v1/backfill/{roomId}`
async fn get_backfill(
    State(state): State<AppState>,
    request: Ruma<get_backfill::v1::Request>,
) -> ApiResult<get_backfill::v1::Response> {
    let body = &request.body;
    let events = state
        .services
        .rooms
        .backfill_for_server(
            request.origin()?,
            &body.room_id,
            &body.v,
            usize::try_from(u64::from(body.limit)).unwrap_or(usize::MAX),
        )
        .await?;
    Ok(RumaResponse(get_backfill::v1::Response::new(
        state.services.context.server_name.clone(),
        now(&state),
        pdus(&events)?,
    )))
}
