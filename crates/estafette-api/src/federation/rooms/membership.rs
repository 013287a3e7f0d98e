//! Membership over federation, the resident side: `make_join`/`send_join` (v2),
//! `make_leave`/`send_leave` (v2), and `invite` (v2) for local users.

use axum::extract::State;
use ruma::api::federation::membership::{
    RawStrippedState, create_invite, create_join_event, create_knock_event, create_leave_event,
    prepare_join_event, prepare_knock_event, prepare_leave_event,
};

use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::json::{pdu, pdus, raw_value};
use crate::router::Routes;

pub(super) fn routes(router: Routes) -> Routes {
    router
        .ruma(make_join)
        .ruma(send_join)
        .ruma(make_leave)
        .ruma(send_leave)
        .ruma(invite)
        .ruma(make_knock)
        .ruma(send_knock)
}

/// `GET /_matrix/federation/v1/make_knock/{roomId}/{userId}`
async fn make_knock(
    State(state): State<AppState>,
    request: Ruma<prepare_knock_event::v1::Request>,
) -> ApiResult<prepare_knock_event::v1::Response> {
    let body = &request.body;
    let (version, event) = state
        .services
        .rooms
        .make_knock(request.origin()?, &body.room_id, &body.user_id, &body.ver)
        .await?;
    Ok(RumaResponse(prepare_knock_event::v1::Response::new(
        version,
        raw_value(&event)?,
    )))
}

/// `PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId}`: the knock joins the room, and
/// the knocking server gets the room's stripped state to show.
async fn send_knock(
    State(state): State<AppState>,
    request: Ruma<create_knock_event::v1::Request>,
) -> ApiResult<create_knock_event::v1::Response> {
    let body = &request.body;
    let rooms = &state.services.rooms;
    rooms
        .send_membership(
            request.origin()?,
            &body.room_id,
            &body.event_id,
            &body.pdu,
            "knock",
        )
        .await?;
    let stripped = rooms.stripped_state_pdus(&body.room_id).await?;
    Ok(RumaResponse(create_knock_event::v1::Response::new(
        stripped
            .iter()
            .map(|p| pdu(p).map(RawStrippedState::Pdu))
            .collect::<Result<_, _>>()?,
    )))
}

/// `GET /_matrix/federation/v1/make_join/{roomId}/{userId}`
async fn make_join(
    State(state): State<AppState>,
    request: Ruma<prepare_join_event::v1::Request>,
) -> ApiResult<prepare_join_event::v1::Response> {
    let body = &request.body;
    let (version, event) = state
        .services
        .rooms
        .make_join(request.origin()?, &body.room_id, &body.user_id, &body.ver)
        .await?;
    let mut response = prepare_join_event::v1::Response::new(raw_value(&event)?);
    response.room_version = Some(version);
    Ok(RumaResponse(response))
}

/// `PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}`
async fn send_join(
    State(state): State<AppState>,
    request: Ruma<create_join_event::v2::Request>,
) -> ApiResult<create_join_event::v2::Response> {
    let body = &request.body;
    let joined = state
        .services
        .rooms
        .send_membership(
            request.origin()?,
            &body.room_id,
            &body.event_id,
            &body.pdu,
            "join",
        )
        .await?;
    let mut room_state = create_join_event::v2::RoomState::new();
    room_state.state = pdus(&joined.state)?;
    room_state.auth_chain = pdus(&joined.auth_chain)?;
    room_state.event = Some(pdu(&joined.event)?);
    Ok(RumaResponse(create_join_event::v2::Response::new(
        room_state,
    )))
}

/// `GET /_matrix/federation/v1/make_leave/{roomId}/{userId}`
async fn make_leave(
    State(state): State<AppState>,
    request: Ruma<prepare_leave_event::v1::Request>,
) -> ApiResult<prepare_leave_event::v1::Response> {
    let body = &request.body;
    let (version, event) = state
        .services
        .rooms
        .make_leave(request.origin()?, &body.room_id, &body.user_id)
        .await?;
    Ok(RumaResponse(prepare_leave_event::v1::Response::new(
        Some(version),
        raw_value(&event)?,
    )))
}

/// `PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId}`
async fn send_leave(
    State(state): State<AppState>,
    request: Ruma<create_leave_event::v2::Request>,
) -> ApiResult<create_leave_event::v2::Response> {
    let body = &request.body;
    state
        .services
        .rooms
        .send_membership(
            request.origin()?,
            &body.room_id,
            &body.event_id,
            &body.pdu,
            "leave",
        )
        .await?;
    Ok(RumaResponse(create_leave_event::v2::Response::new()))
}

/// `PUT /_matrix/federation/v2/invite/{roomId}/{eventId}`
async fn invite(
    State(state): State<AppState>,
    request: Ruma<create_invite::v2::Request>,
) -> ApiResult<create_invite::v2::Response> {
    let body = &request.body;
    let signed = state
        .services
        .rooms
        .receive_invite(
            request.origin()?,
            &body.room_id,
            &body.event_id,
            &body.room_version,
            &body.event,
            &body.invite_room_state,
        )
        .await?;
    Ok(RumaResponse(create_invite::v2::Response::new(raw_value(
        &signed,
    )?)))
}
