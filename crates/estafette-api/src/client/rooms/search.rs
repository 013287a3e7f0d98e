//! Server-side search: `POST /_matrix/client/v3/search`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use estafette_service::{SearchHit, SearchRequest, SearchResults, format_token};
use ruma::api::client::search::search_events::v3::{
    self as search_events, EventContextResult, GroupingKey, OrderBy, ResultGroup, ResultGroupMap,
    ResultRoomEvents, SearchResult, UserProfile,
};
use serde_json::{Value as JsonValue, json};

use crate::client::event_filters::event_filter;
use crate::client::pdu_format::{client_event, client_events};
use crate::extract::Ruma;
use crate::json::small;
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(crate) fn routes(router: Routes) -> Routes {
    router.ruma(search)
}

/// `POST /_matrix/client/v3/search`. The answer always carries `room_events` with its
/// `results`, `count` and `highlights` (ruma's type leaves an empty one out; clients read it).
async fn search(
    State(state): State<AppState>,
    request: Ruma<search_events::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    let Some(criteria) = &body.search_categories.room_events else {
        return Ok(Json(json!({"search_categories": {}})));
    };
    let filter = &criteria.filter;
    let context = &criteria.event_context;
    let search = SearchRequest {
        term: criteria.search_term.clone(),
        keys: criteria
            .keys
            .iter()
            .flatten()
            .map(|key| key.as_str().to_owned())
            .collect(),
        filter: event_filter(filter),
        rooms: filter.rooms.clone(),
        not_rooms: filter.not_rooms.clone(),
        limit: filter.limit.map(small),
        recent_first: matches!(criteria.order_by, Some(OrderBy::Recent)),
        context: Some((
            context_limit(context.before_limit),
            context_limit(context.after_limit),
            context.include_profile,
        )),
        include_state: criteria.include_state.unwrap_or(false),
        next_batch: body.next_batch.clone(),
    };
    let results = state.services.rooms.search(requester, search).await?;
    let keys: Vec<GroupingKey> = criteria
        .groupings
        .group_by
        .iter()
        .filter_map(|grouping| grouping.key.clone())
        .collect();
    let room_events = room_events(results, &keys)?;
    let mut room_events = serde_json::to_value(room_events)
        .map_err(|e| ApiError::bad_json(format!("Cannot format the results: {e}")))?;
    for (field, empty) in [
        ("results", json!([])),
        ("highlights", json!([])),
        ("count", json!(0)),
    ] {
        if room_events.get(field).is_none() {
            room_events[field] = empty;
        }
    }
    Ok(Json(
        json!({"search_categories": {"room_events": room_events}}),
    ))
}

/// Context events on each side of a result, at most.
fn context_limit(limit: ruma::UInt) -> u32 {
    small(limit).min(100)
}

fn room_events(results: SearchResults, keys: &[GroupingKey]) -> Result<ResultRoomEvents, ApiError> {
    let mut out = ResultRoomEvents::new();
    out.count = ruma::UInt::new(results.count);
    out.highlights = results.highlights.clone();
    out.next_batch = results.next_batch.clone();
    for (room_id, pdus) in &results.state {
        out.state
            .insert(room_id.clone(), client_events(pdus, true)?);
    }
    for key in keys {
        let map = match key {
            GroupingKey::RoomId => {
                ResultGroupMap::RoomId(group_by(&results, |hit| Some(hit.event.room_id.clone())))
            }
            GroupingKey::Sender => {
                ResultGroupMap::Sender(group_by(&results, |hit| Some(hit.event.sender.clone())))
            }
            _ => continue,
        };
        out.groups.insert(map);
    }
    out.results = results
        .hits
        .iter()
        .map(search_result)
        .collect::<Result<_, _>>()?;
    Ok(out)
}

/// The results of the page by `key`, each group in the order of its first result.
fn group_by<K: Ord>(
    results: &SearchResults,
    key: impl Fn(&SearchHit) -> Option<K>,
) -> BTreeMap<K, ResultGroup> {
    let mut groups: BTreeMap<K, ResultGroup> = BTreeMap::new();
    for (order, hit) in results.hits.iter().enumerate() {
        let Some(group_id) = key(hit) else { continue };
        let group = groups.entry(group_id).or_insert_with(|| {
            let mut group = ResultGroup::new();
            group.order = ruma::UInt::new(order as u64);
            group.next_batch = results.next_batch.clone();
            group
        });
        group.results.push(hit.event.event_id.clone());
    }
    groups
}

fn search_result(hit: &SearchHit) -> Result<SearchResult, ApiError> {
    let mut result = SearchResult::new();
    result.rank = Some(hit.rank);
    result.result = Some(client_event(&hit.event, true)?);
    if let Some(context) = &hit.context {
        let mut found = EventContextResult::new();
        found.start = Some(format_token(context.start));
        found.end = Some(format_token(context.end));
        found.events_before = client_events(&context.before, true)?;
        found.events_after = client_events(&context.after, true)?;
        for (user_id, (displayname, avatar_url)) in &context.profiles {
            let mut profile = UserProfile::new();
            profile.displayname = displayname.clone();
            profile.avatar_url = avatar_url.as_deref().map(Into::into);
            found.profile_info.insert(user_id.clone(), profile);
        }
        result.context = found;
    }
    Ok(result)
}
