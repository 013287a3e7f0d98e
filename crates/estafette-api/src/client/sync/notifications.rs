//! `GET /_matrix/client/v3/notifications`: the events the user was notified about, latest
//! first, with whether a read receipt covers each.

use axum::extract::State;
use ruma::MilliSecondsSinceUnixEpoch;
use ruma::api::client::push::get_notifications;
use ruma::push::{Action, Tweak};

use crate::ApiError;
use crate::AppState;
use crate::client::pdu_format::client_event;
use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;

/// Entries per page unless the client asks for fewer.
const DEFAULT_LIMIT: u32 = 20;

pub(crate) fn routes(router: Routes) -> Routes {
    router.ruma(get_notifications)
}

async fn get_notifications(
    State(state): State<AppState>,
    request: Ruma<get_notifications::v3::Request>,
) -> ApiResult<get_notifications::v3::Response> {
    let body = &request.body;
    let before = body
        .from
        .as_deref()
        .map(|from| {
            from.parse::<i64>()
                .map_err(|_| ApiError::invalid_param(format!("Unknown from token '{from}'")))
        })
        .transpose()?;
    let limit = body.limit.map_or(DEFAULT_LIMIT, |l| {
        u32::try_from(u64::from(l)).unwrap_or(u32::MAX)
    });
    let only_highlights = match body.only.as_deref() {
        None => false,
        Some("highlight") => true,
        Some(other) => {
            return Err(ApiError::invalid_param(format!(
                "only={other}: the one filter is 'highlight'"
            )));
        }
    };
    let (notified, next) = state
        .services
        .rooms
        .notification_list(request.requester()?, before, limit, only_highlights)
        .await?;
    let notifications = notified
        .into_iter()
        .map(|entry| {
            // What the rules said, as stored: a notification, highlighted or not.
            let mut actions = vec![Action::Notify];
            if entry.record.highlight {
                actions.push(Action::SetTweak(Tweak::Highlight(true.into())));
            }
            Ok(get_notifications::v3::Notification::new(
                actions,
                client_event(&entry.event, false)?,
                entry.record.read,
                entry.record.room_id,
                MilliSecondsSinceUnixEpoch(entry.event.origin_server_ts.get()),
            ))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let mut response = get_notifications::v3::Response::new(notifications);
    response.next_token = next.map(|position| position.to_string());
    Ok(RumaResponse(response))
}
