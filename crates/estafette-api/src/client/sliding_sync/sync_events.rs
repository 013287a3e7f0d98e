//! `POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync`

use std::time::Duration;

use axum::extract::State;
use estafette_service::{
    ExtensionScope, ExtensionsRequest, ListFilters, ListRequest, RoomConfig, RoomSection,
    SlidingSyncRequest, SlidingSyncResponse, ToDeviceRequest,
};
use ruma::api::client::sync::sync_events::v5;
use ruma::directory::RoomTypeFilter;

use crate::client::rooms::threads::{MAX_CHANGES, page_token, thread_maps};
use crate::client::sync::sync_events::{account_data_event, counts, raw_json};
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::json::small;
use crate::router::Routes;
use crate::{ApiError, AppState};

/// Long-polls are capped so that a client cannot hold a connection open for hours.
const MAX_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) fn routes(router: Routes) -> Routes {
    router.ruma(sync_events)
}

fn room_config(
    required_state: &[(ruma::events::StateEventType, String)],
    limit: ruma::UInt,
) -> RoomConfig {
    RoomConfig {
        required_state: required_state
            .iter()
            .map(|(kind, key)| (kind.to_string(), key.clone()))
            .collect(),
        timeline_limit: small(limit),
    }
}

fn room_type(filter: &RoomTypeFilter) -> Option<String> {
    match filter {
        RoomTypeFilter::Default => None,
        other => other.as_str().map(str::to_owned),
    }
}

fn scope(
    lists: &Option<Vec<String>>,
    rooms: &Option<Vec<v5::request::ExtensionRoomConfig>>,
) -> ExtensionScope {
    ExtensionScope {
        lists: lists.clone(),
        rooms: rooms.as_ref().map(|rooms| {
            rooms
                .iter()
                .map(|room| match room {
                    v5::request::ExtensionRoomConfig::Room(room_id) => Some(room_id.clone()),
                    _ => None,
                })
                .collect()
        }),
    }
}

fn request_of(body: &v5::Request) -> SlidingSyncRequest {
    let extensions = &body.extensions;
    let enabled = |flag: Option<bool>| flag == Some(true);
    SlidingSyncRequest {
        conn_id: body.conn_id.clone().unwrap_or_default(),
        pos: body.pos.clone(),
        timeout: body.timeout.unwrap_or_default().min(MAX_TIMEOUT),
        set_presence: Some(body.set_presence.as_str().to_owned()),
        lists: body
            .lists
            .iter()
            .map(|(name, list)| {
                let filters = list.filters.as_ref();
                let request = ListRequest {
                    ranges: list
                        .ranges
                        .iter()
                        .map(|(start, end)| (u64::from(*start), u64::from(*end)))
                        .collect(),
                    config: room_config(
                        &list.room_details.required_state,
                        list.room_details.timeline_limit,
                    ),
                    filters: ListFilters {
                        is_dm: filters.and_then(|f| f.is_dm),
                        is_encrypted: filters.and_then(|f| f.is_encrypted),
                        is_invite: filters.and_then(|f| f.is_invite),
                        room_types: filters
                            .map(|f| f.room_types.iter().map(room_type).collect())
                            .unwrap_or_default(),
                        not_room_types: filters
                            .map(|f| f.not_room_types.iter().map(room_type).collect())
                            .unwrap_or_default(),
                    },
                };
                (name.clone(), request)
            })
            .collect(),
        room_subscriptions: body
            .room_subscriptions
            .iter()
            .map(|(room_id, sub)| {
                (
                    room_id.clone(),
                    room_config(&sub.required_state, sub.timeline_limit),
                )
            })
            .collect(),
        extensions: ExtensionsRequest {
            to_device: enabled(extensions.to_device.enabled).then(|| ToDeviceRequest {
                since: extensions.to_device.since.clone(),
                limit: extensions.to_device.limit.map(small),
            }),
            e2ee: enabled(extensions.e2ee.enabled),
            account_data: enabled(extensions.account_data.enabled).then(|| {
                scope(
                    &extensions.account_data.lists,
                    &extensions.account_data.rooms,
                )
            }),
            receipts: enabled(extensions.receipts.enabled)
                .then(|| scope(&extensions.receipts.lists, &extensions.receipts.rooms)),
            typing: enabled(extensions.typing.enabled)
                .then(|| scope(&extensions.typing.lists, &extensions.typing.rooms)),
            thread_subscriptions: enabled(extensions.thread_subscriptions.enabled).then(|| {
                extensions
                    .thread_subscriptions
                    .limit
                    .map_or(MAX_CHANGES, |l| {
                        u32::try_from(u64::from(l)).unwrap_or(MAX_CHANGES)
                    })
                    .clamp(1, MAX_CHANGES)
            }),
        },
    }
}

fn uint(n: u64) -> ruma::UInt {
    ruma::UInt::new(n).unwrap_or_default()
}

fn room_of(section: RoomSection) -> Result<v5::response::Room, ApiError> {
    let mut room = v5::response::Room::new();
    room.name = section.name;
    room.avatar = match section.avatar {
        Some(url) => js_option::JsOption::Some(url.into()),
        None => js_option::JsOption::Undefined,
    };
    room.initial = section.initial.then_some(true);
    room.is_dm = section.is_dm.then_some(true);
    room.invite_state = section
        .invite_state
        .map(|state| state.iter().map(raw_json).collect::<Result<_, _>>())
        .transpose()?;
    if let Some(unread) = section.unread {
        room.unread_notifications = counts(unread);
    }
    for pdu in &section.timeline {
        let mut event = pdu.to_client_json(false);
        if let Some(txn_id) = section.transaction_ids.get(&pdu.event_id) {
            event["unsigned"]["transaction_id"] = serde_json::Value::String(txn_id.clone());
        }
        room.timeline.push(raw_json(&event)?);
    }
    room.required_state = section
        .required_state
        .iter()
        .map(|pdu| raw_json(&pdu.to_client_json(false)))
        .collect::<Result<_, _>>()?;
    room.prev_batch = section.prev_batch;
    room.limited = section.limited;
    room.joined_count = section.joined_count.map(uint);
    room.invited_count = section.invited_count.map(uint);
    room.num_live = section.num_live.map(uint);
    room.bump_stamp = section
        .bump_stamp
        .map(|stamp| uint(u64::try_from(stamp).unwrap_or_default()));
    room.heroes = section.heroes.map(|heroes| {
        heroes
            .into_iter()
            .map(|hero| {
                let mut out = v5::response::Hero::new(hero.user_id);
                out.name = hero.displayname;
                out.avatar = hero.avatar_url.map(Into::into);
                out
            })
            .collect()
    });
    Ok(room)
}

fn response_of(result: SlidingSyncResponse) -> Result<v5::Response, ApiError> {
    let mut response = v5::Response::new(result.pos);
    for (name, count) in result.lists {
        let mut list = v5::response::List::default();
        list.count = uint(count);
        response.lists.insert(name, list);
    }
    for (room_id, section) in result.rooms {
        response.rooms.insert(room_id, room_of(section)?);
    }
    let extensions = result.extensions;
    let out = &mut response.extensions;
    if let Some(to_device) = extensions.to_device {
        let mut section = v5::response::ToDevice::default();
        section.next_batch = to_device.next_batch;
        section.events = to_device
            .events
            .iter()
            .map(raw_json)
            .collect::<Result<_, _>>()?;
        out.to_device = Some(section);
    }
    if let Some(e2ee) = extensions.e2ee {
        out.e2ee.device_lists.changed = e2ee.changed.into_iter().collect();
        out.e2ee.device_lists.left = e2ee.left.into_iter().collect();
        out.e2ee.device_one_time_keys_count = e2ee
            .one_time_key_counts
            .iter()
            .map(|(algorithm, n)| (algorithm.as_str().into(), uint(*n)))
            .collect();
        out.e2ee.device_unused_fallback_key_types = Some(
            e2ee.unused_fallback_key_types
                .iter()
                .map(|a| a.as_str().into())
                .collect(),
        );
    }
    if let Some((global, rooms)) = extensions.account_data {
        for (kind, content) in &global {
            out.account_data
                .global
                .push(account_data_event(kind, content)?);
        }
        for (room_id, entries) in rooms {
            let events = entries
                .iter()
                .map(|(kind, content)| account_data_event(kind, content))
                .collect::<Result<_, _>>()?;
            out.account_data.rooms.insert(room_id, events);
        }
    }
    for (room_id, content) in extensions.receipts.unwrap_or_default() {
        let event = serde_json::json!({"type": "m.receipt", "content": content});
        out.receipts.rooms.insert(room_id, raw_json(&event)?);
    }
    for (room_id, users) in extensions.typing.unwrap_or_default() {
        let event = serde_json::json!({"type": "m.typing", "content": {"user_ids": users}});
        out.typing.rooms.insert(room_id, raw_json(&event)?);
    }
    if let Some(threads) = extensions.thread_subscriptions {
        let section = &mut out.thread_subscriptions;
        (section.subscribed, section.unsubscribed) = thread_maps(threads.changes);
        section.prev_batch = threads.older.map(|(upper, lower)| page_token(upper, lower));
    }
    Ok(response)
}

async fn sync_events(
    State(state): State<AppState>,
    request: Ruma<v5::Request>,
) -> ApiResult<v5::Response> {
    let requester = request.requester()?;
    let mut response = response_of(
        state
            .services
            .sliding_sync
            .sync(requester, request_of(&request.body))
            .await?,
    )?;
    response.txn_id = request.body.txn_id.clone();
    Ok(RumaResponse(response))
}
