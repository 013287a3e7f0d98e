//! Rooms: `createRoom`, `/rooms/{roomId}/event/{eventId}`, `/rooms/{roomId}/members`,
//! `/rooms/{roomId}/joined_members`.

use std::collections::BTreeMap;

use axum::extract::State;
use estafette_service::format_token;
use estafette_service::{CreateRoom, Preset};
use ruma::api::client::context::get_context;
use ruma::api::client::membership::{get_member_events, joined_members};
use ruma::api::client::room::{Visibility, create_room, get_event_by_timestamp, get_room_event};
use serde_json::Value as JsonValue;

use crate::client::pdu_format::{client_event, client_events};
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(create_room)
        .ruma(get_room_event)
        .ruma(get_member_events)
        .ruma(joined_members)
        .ruma(get_context)
        .ruma(get_event_by_timestamp)
}

fn json_object(
    raw: &serde_json::value::RawValue,
    what: &str,
) -> Result<serde_json::Map<String, JsonValue>, ApiError> {
    match serde_json::from_str(raw.get()) {
        Ok(JsonValue::Object(map)) => Ok(map),
        _ => Err(ApiError::bad_json(format!("{what} must be a JSON object"))),
    }
}

/// `POST /_matrix/client/v3/createRoom`
async fn create_room(
    State(state): State<AppState>,
    request: Ruma<create_room::v3::Request>,
) -> ApiResult<create_room::v3::Response> {
    let requester = request.requester()?;
    let body = &request.body;
    let preset = match body.preset.as_ref().map(|p| p.as_str()) {
        None => None,
        Some("private_chat") => Some(Preset::PrivateChat),
        Some("public_chat") => Some(Preset::PublicChat),
        Some("trusted_private_chat") => Some(Preset::TrustedPrivateChat),
        Some(other) => return Err(ApiError::bad_json(format!("Unknown preset {other}"))),
    };
    let mut initial_state = Vec::new();
    for event in &body.initial_state {
        let event = json_object(event.json(), "An initial_state event")?;
        let kind = event
            .get("type")
            .and_then(JsonValue::as_str)
            .ok_or_else(|| ApiError::bad_json("initial_state events need a type"))?;
        let key = event
            .get("state_key")
            .and_then(JsonValue::as_str)
            .unwrap_or_default();
        let content = event
            .get("content")
            .cloned()
            .unwrap_or(JsonValue::Object(Default::default()));
        initial_state.push((kind.to_owned(), key.to_owned(), content));
    }
    let request = CreateRoom {
        preset,
        public: body.visibility == Visibility::Public,
        room_version: body.room_version.clone(),
        name: body.name.clone(),
        topic: body.topic.clone(),
        invite: body.invite.clone(),
        is_direct: body.is_direct,
        initial_state,
        creation_content: body
            .creation_content
            .as_ref()
            .map(|c| json_object(c.json(), "creation_content"))
            .transpose()?,
        power_level_content_override: body
            .power_level_content_override
            .as_ref()
            .map(|c| json_object(c.json(), "power_level_content_override"))
            .transpose()?,
        room_alias_name: body.room_alias_name.clone(),
        upgrade: false,
    };
    let room_id = state
        .services
        .rooms
        .create_room(&requester.user_id, request)
        .await?;
    Ok(RumaResponse(create_room::v3::Response::new(room_id)))
}

/// `GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}`
async fn get_room_event(
    State(state): State<AppState>,
    request: Ruma<get_room_event::v3::Request>,
) -> ApiResult<get_room_event::v3::Response> {
    let body = &request.body;
    let pdu = state
        .services
        .rooms
        .event(request.requester()?, &body.room_id, &body.event_id)
        .await?;
    Ok(RumaResponse(get_room_event::v3::Response::new(
        client_event(&pdu, true)?,
    )))
}

/// `GET /_matrix/client/v3/rooms/{roomId}/members`
async fn get_member_events(
    State(state): State<AppState>,
    request: Ruma<get_member_events::v3::Request>,
) -> ApiResult<get_member_events::v3::Response> {
    let body = &request.body;
    let rooms = &state.services.rooms;
    let mut members = match body.at.as_deref() {
        Some(at) => {
            rooms
                .members_at(
                    request.requester()?,
                    &body.room_id,
                    estafette_service::parse_token(at)?,
                )
                .await?
        }
        None => rooms.members(request.requester()?, &body.room_id).await?,
    };
    let membership_of = |pdu: &estafette_service::Pdu| {
        serde_json::from_str::<JsonValue>(pdu.content.get())
            .ok()
            .and_then(|c| {
                c.get("membership")
                    .and_then(JsonValue::as_str)
                    .map(ToOwned::to_owned)
            })
            .unwrap_or_default()
    };
    if let Some(wanted) = &body.membership {
        members.retain(|pdu| membership_of(pdu) == wanted.as_str());
    }
    if let Some(unwanted) = &body.not_membership {
        members.retain(|pdu| membership_of(pdu) != unwanted.as_str());
    }
    Ok(RumaResponse(get_member_events::v3::Response::new(
        client_events(&members, true)?,
    )))
}

/// `GET /_matrix/client/v3/rooms/{roomId}/joined_members`
async fn joined_members(
    State(state): State<AppState>,
    request: Ruma<joined_members::v3::Request>,
) -> ApiResult<joined_members::v3::Response> {
    let members = state
        .services
        .rooms
        .members_for_joined(request.requester()?, &request.body.room_id)
        .await?;
    let mut joined = BTreeMap::new();
    for pdu in members {
        let content: JsonValue = serde_json::from_str(pdu.content.get()).unwrap_or_default();
        if content.get("membership").and_then(JsonValue::as_str) != Some("join") {
            continue;
        }
        let Some(user_id) = pdu
            .state_key
            .as_deref()
            .and_then(|key| ruma::UserId::parse(key).ok())
        else {
            continue;
        };
        let mut member = joined_members::v3::RoomMember::new();
        member.display_name = content
            .get("displayname")
            .and_then(JsonValue::as_str)
            .map(ToOwned::to_owned);
        member.avatar_url = content
            .get("avatar_url")
            .and_then(JsonValue::as_str)
            .map(Into::into);
        joined.insert(user_id, member);
    }
    Ok(RumaResponse(joined_members::v3::Response::new(joined)))
}

/// `GET /_matrix/client/v3/rooms/{roomId}/context/{eventId}`
async fn get_context(
    State(state): State<AppState>,
    request: Ruma<get_context::v3::Request>,
) -> ApiResult<get_context::v3::Response> {
    let body = &request.body;
    let limit = crate::json::small(body.limit);
    let context = state
        .services
        .rooms
        .context(request.requester()?, &body.room_id, &body.event_id, limit)
        .await?;
    let mut response = get_context::v3::Response::new();
    response.start = Some(format_token(context.start));
    response.end = Some(format_token(context.end));
    response.event = Some(client_event(&context.event, true)?);
    response.events_before = client_events(&context.before, true)?;
    response.events_after = client_events(&context.after, true)?;
    response.state = client_events(&context.state, true)?;
    Ok(RumaResponse(response))
}

/// `GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event`
async fn get_event_by_timestamp(
    State(state): State<AppState>,
    request: Ruma<get_event_by_timestamp::v1::Request>,
) -> ApiResult<get_event_by_timestamp::v1::Response> {
    let body = &request.body;
    let forward = body.dir == ruma::api::Direction::Forward;
    let (event_id, ts) = state
        .services
        .rooms
        .event_at_time(
            request.requester()?,
            &body.room_id,
            body.ts.get().into(),
            forward,
        )
        .await?;
    Ok(RumaResponse(get_event_by_timestamp::v1::Response::new(
        event_id,
        crate::json::millis(ts),
    )))
}
