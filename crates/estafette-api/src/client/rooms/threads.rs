//! Thread subscriptions (MSC4306): `PUT`, `GET` and `DELETE
//! /_matrix/client/unstable/io.element.msc4306/rooms/{roomId}/thread/{eventId}/subscription`,
//! and MSC4308's `GET /_matrix/client/unstable/io.element.msc4308/thread_subscriptions`, which
//! pages back through the changes a sliding sync response left out.

use std::collections::BTreeMap;

use axum::extract::State;
use estafette_service::ThreadSubscriptionRecord;
use ruma::api::client::threads::get_thread_subscriptions_changes::unstable::{
    self as changes, ThreadSubscription, ThreadUnsubscription,
};
use ruma::api::client::threads::{get_thread_subscription, subscribe_thread, unsubscribe_thread};
use ruma::{OwnedEventId, OwnedRoomId, UInt};

use crate::ApiError;
use crate::AppState;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

/// Changes per page unless the client asks for fewer.
pub(crate) const MAX_CHANGES: u32 = 100;

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(subscribe)
        .ruma(get)
        .ruma(unsubscribe)
        .ruma(get_changes)
}

/// Subscribed and unsubscribed threads, per room, as both MSC4308 forms carry them.
pub(crate) type ThreadMaps = (
    BTreeMap<OwnedRoomId, BTreeMap<OwnedEventId, ThreadSubscription>>,
    BTreeMap<OwnedRoomId, BTreeMap<OwnedEventId, ThreadUnsubscription>>,
);

pub(crate) fn thread_maps(records: Vec<ThreadSubscriptionRecord>) -> ThreadMaps {
    let (mut subscribed, mut unsubscribed): ThreadMaps = Default::default();
    for record in records {
        let stamp = UInt::new_saturating(u64::try_from(record.stream_id).unwrap_or(0));
        if record.subscribed {
            subscribed.entry(record.room_id).or_default().insert(
                record.thread_root,
                ThreadSubscription::new(record.automatic, stamp),
            );
        } else {
            unsubscribed
                .entry(record.room_id)
                .or_default()
                .insert(record.thread_root, ThreadUnsubscription::new(stamp));
        }
    }
    (subscribed, unsubscribed)
}

/// The token of the changes in `(lower, upper]` still to page through.
pub(crate) fn page_token(upper: i64, lower: i64) -> String {
    format!("ts{upper}_{lower}")
}

fn parse_page_token(token: &str) -> Option<(i64, i64)> {
    let (upper, lower) = token.strip_prefix("ts")?.split_once('_')?;
    Some((upper.parse().ok()?, lower.parse().ok()?))
}

async fn subscribe(
    State(state): State<AppState>,
    request: Ruma<subscribe_thread::unstable::Request>,
) -> ApiResult<subscribe_thread::unstable::Response> {
    let body = &request.body;
    state
        .services
        .rooms
        .subscribe_thread(
            request.requester()?,
            &body.room_id,
            &body.thread_root,
            body.automatic.as_deref(),
        )
        .await?;
    Ok(RumaResponse(subscribe_thread::unstable::Response::new()))
}

async fn get(
    State(state): State<AppState>,
    request: Ruma<get_thread_subscription::unstable::Request>,
) -> ApiResult<get_thread_subscription::unstable::Response> {
    let body = &request.body;
    let automatic = state
        .services
        .rooms
        .thread_subscription(request.requester()?, &body.room_id, &body.thread_root)
        .await?;
    Ok(RumaResponse(
        get_thread_subscription::unstable::Response::new(automatic),
    ))
}

async fn unsubscribe(
    State(state): State<AppState>,
    request: Ruma<unsubscribe_thread::unstable::Request>,
) -> ApiResult<unsubscribe_thread::unstable::Response> {
    let body = &request.body;
    state
        .services
        .rooms
        .unsubscribe_thread(request.requester()?, &body.room_id, &body.thread_root)
        .await?;
    Ok(RumaResponse(unsubscribe_thread::unstable::Response::new()))
}

async fn get_changes(
    State(state): State<AppState>,
    request: Ruma<changes::Request>,
) -> ApiResult<changes::Response> {
    let body = &request.body;
    let malformed = |what: &str| ApiError::invalid_param(format!("Unknown {what} token"));
    // `to` may be a sliding sync position, which says nothing here: the `from` token this
    // server gave carries its own lower bound.
    let (upper, lower) = match &body.from {
        Some(from) => parse_page_token(from).ok_or_else(|| malformed("from"))?,
        None => (
            i64::MAX,
            body.to
                .as_deref()
                .and_then(parse_page_token)
                .map_or(0, |(_, lower)| lower),
        ),
    };
    let limit = body
        .limit
        .map_or(MAX_CHANGES, |l| {
            u32::try_from(u64::from(l)).unwrap_or(MAX_CHANGES)
        })
        .clamp(1, MAX_CHANGES);
    let (records, older) = state
        .services
        .rooms
        .thread_subscription_changes(request.requester()?, lower, upper, limit)
        .await?;
    let end = older.map(|(upper, lower)| page_token(upper, lower));
    let (subscribed, unsubscribed) = thread_maps(records);
    let mut response = changes::Response::new();
    response.subscribed = subscribed;
    response.unsubscribed = unsubscribed;
    response.end = end;
    Ok(RumaResponse(response))
}
