//! `GET /_matrix/client/v3/sync`

use std::time::Duration;

use axum::extract::State;
use estafette_service::{DEFAULT_TIMELINE_LIMIT, RoomTimeline, SyncRequest};
use ruma::api::client::filter::FilterDefinition;
use ruma::api::client::sync::sync_events::v3;
use ruma::serde::Raw;
use serde_json::value::{RawValue, to_raw_value};

use crate::client::pdu_format::client_events;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

/// Long-polls are capped so that a client cannot hold a connection open for hours.
const MAX_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) fn routes(router: Routes) -> Routes {
    router.ruma(sync_events)
}

fn timeline(
    section: &RoomTimeline,
    state_after: bool,
) -> Result<(v3::Timeline, v3::State), ApiError> {
    let mut timeline = v3::Timeline::new();
    timeline.limited = section.limited;
    timeline.prev_batch = section.prev_batch.clone();
    for pdu in &section.events {
        let mut event = pdu.to_client_json(false);
        if let Some(txn_id) = section.transaction_ids.get(&pdu.event_id) {
            event["unsigned"]["transaction_id"] = serde_json::Value::String(txn_id.clone());
        }
        timeline.events.push(raw_json(&event)?);
    }
    let mut state = v3::StateEvents::new();
    state.events = client_events(&section.state, false)?;
    let state = if state_after {
        v3::State::After(state)
    } else {
        v3::State::Before(state)
    };
    Ok((timeline, state))
}

pub(crate) fn counts(
    (notifications, highlights): (u64, u64),
) -> ruma::api::client::sync::sync_events::UnreadNotificationsCount {
    let mut counts = ruma::api::client::sync::sync_events::UnreadNotificationsCount::new();
    counts.notification_count = ruma::UInt::new(notifications);
    counts.highlight_count = ruma::UInt::new(highlights);
    counts
}

pub(crate) fn raw_json<T>(value: &serde_json::Value) -> Result<Raw<T>, ApiError> {
    to_raw_value(value)
        .map(Raw::from_json)
        .map_err(|e| ApiError::bad_json(e.to_string()))
}

/// An account data event from its stored type and content JSON.
pub(crate) fn account_data_event<T>(kind: &str, content: &str) -> Result<Raw<T>, ApiError> {
    let event = format!(
        r#"{{"type":{},"content":{content}}}"#,
        serde_json::Value::String(kind.to_owned())
    );
    RawValue::from_string(event)
        .map(Raw::from_json)
        .map_err(|e| ApiError::bad_json(e.to_string()))
}

async fn sync_events(
    State(state): State<AppState>,
    request: Ruma<v3::Request>,
) -> ApiResult<v3::Response> {
    let requester = request.requester()?;
    let body = &request.body;
    let filter = match &body.filter {
        Some(v3::Filter::FilterDefinition(filter)) => Some(filter.clone()),
        Some(v3::Filter::FilterId(id)) => Some(
            state
                .services
                .filters
                .get(requester, &requester.user_id, id)
                .await?,
        ),
        _ => None,
    };
    let timeline_limit = filter
        .as_ref()
        .and_then(|f: &FilterDefinition| f.room.timeline.limit)
        .map(crate::json::small)
        .unwrap_or(DEFAULT_TIMELINE_LIMIT);
    let sync = SyncRequest {
        since: body.since.clone(),
        timeout: body.timeout.unwrap_or_default().min(MAX_TIMEOUT),
        full_state: body.full_state,
        timeline_limit,
        filter: filter
            .as_ref()
            .map(|f| crate::client::event_filters::room_filter(&f.room))
            .unwrap_or_default(),
        use_state_after: body.use_state_after,
        set_presence: Some(body.set_presence.as_str().to_owned()),
        thread_notifications: filter
            .as_ref()
            .is_some_and(|f| f.room.timeline.unread_thread_notifications),
    };
    let result = state.services.sync.sync(requester, sync).await?;

    let mut response = v3::Response::new(result.next_batch);
    for (room_id, section) in &result.joined {
        let mut joined = v3::JoinedRoom::new();
        (joined.timeline, joined.state) = timeline(section, body.use_state_after)?;
        for (kind, content) in &section.account_data {
            joined
                .account_data
                .events
                .push(account_data_event(kind, content)?);
        }
        joined.ephemeral.events = section
            .ephemeral
            .iter()
            .map(raw_json)
            .collect::<Result<_, _>>()?;
        joined.unread_notifications = counts(section.unread);
        for (root, notifications, highlights) in &section.unread_threads {
            joined
                .unread_thread_notifications
                .insert(root.clone(), counts((*notifications, *highlights)));
        }
        response.rooms.join.insert(room_id.clone(), joined);
    }
    for (room_id, section) in &result.left {
        let mut left = v3::LeftRoom::new();
        (left.timeline, left.state) = timeline(section, body.use_state_after)?;
        response.rooms.leave.insert(room_id.clone(), left);
    }
    for (room_id, stripped) in &result.knocked {
        let mut knocked = v3::KnockedRoom::new();
        knocked.knock_state.events = stripped.iter().map(raw_json).collect::<Result<_, _>>()?;
        response.rooms.knock.insert(room_id.clone(), knocked);
    }
    for (room_id, stripped) in &result.invited {
        let mut invited = v3::InvitedRoom::new();
        invited.invite_state.events = stripped.iter().map(raw_json).collect::<Result<_, _>>()?;
        response.rooms.invite.insert(room_id.clone(), invited);
    }
    response.presence.events = result
        .presence
        .iter()
        .map(raw_json)
        .collect::<Result<_, _>>()?;
    response.to_device.events = result
        .to_device
        .iter()
        .map(raw_json)
        .collect::<Result<_, _>>()?;
    response.device_one_time_keys_count = result
        .one_time_key_counts
        .iter()
        .map(|(algorithm, n)| {
            (
                algorithm.as_str().into(),
                ruma::UInt::new(*n).unwrap_or_default(),
            )
        })
        .collect();
    response.device_unused_fallback_key_types = Some(
        result
            .unused_fallback_key_types
            .iter()
            .map(|a| a.as_str().into())
            .collect(),
    );
    response.device_lists.changed = result.device_lists_changed.iter().cloned().collect();
    response.device_lists.left = result.device_lists_left.iter().cloned().collect();
    for (kind, content) in &result.account_data {
        let event = format!(
            r#"{{"type":{},"content":{content}}}"#,
            serde_json::Value::String(kind.clone())
        );
        let raw = RawValue::from_string(event).map_err(|e| ApiError::bad_json(e.to_string()))?;
        response.account_data.events.push(Raw::from_json(raw));
    }
    Ok(RumaResponse(response))
}
