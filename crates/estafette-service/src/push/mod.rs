//! Push delivery (spec "Push Gateway API", BRIDGES.md §5): every notification the users'
//! push rules decide goes to each of their HTTP pushers' gateways — one request per pusher
//! per event, in order, from the pusher's position kept in the database, so that a restart
//! resends nothing and loses nothing. A failing gateway is retried after 1 s, doubling to an
//! hour; after a day of failures the notifications it missed are skipped rather than sent
//! stale; a notification newer than those it failed on is tried at once (the gateway may be
//! back) where Synapse waits out its back-off. A pushkey the gateway rejects ends its pusher. Every process runs
//! the loop, claiming a pusher before sending its notifications; each claimed pusher is
//! served by a task of its own, so that a slow gateway holds back only its own pushers.

mod email;
mod notification;

pub(crate) use email::check_email_pusher;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use estafette_storage::{DuePusher, PushFailure};
use ruma::{OwnedUserId, UserId};
use serde_json::Value as JsonValue;
use tokio::sync::Semaphore;

use crate::{Context, RoomService, ServiceResult};

/// How long a claim holds before another process may take the pusher over.
const CLAIM_LEASE_MS: u64 = 60_000;
/// Pushers served per pass, and notifications per pusher per turn.
const PUSHERS_PER_PASS: u32 = 100;
const NOTIFICATIONS_PER_TURN: u32 = 20;
const FIRST_BACKOFF_MS: u64 = 1_000;
const MAX_BACKOFF_MS: u64 = 3_600_000;
/// After failing this long, a notification the gateway cannot take is skipped.
const GIVE_UP_MS: u64 = 86_400_000;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Pushers one process serves at once.
const CONCURRENT_PUSHERS: usize = 64;

#[derive(Clone)]
pub struct PushDeliveryService {
    context: Arc<Context>,
    rooms: RoomService,
    email: crate::email::EmailService,
    http: reqwest::Client,
    /// The badge each user's phones were last sent from this process.
    badges: Arc<Mutex<HashMap<OwnedUserId, u64>>>,
    slots: Arc<Semaphore>,
}

/// Why a gateway did not take a notification.
enum Refused {
    /// Retry later.
    Failed(String),
    /// The gateway no longer knows this pushkey.
    Rejected,
}

impl PushDeliveryService {
    pub(crate) fn new(
        context: Arc<Context>,
        rooms: RoomService,
        email: crate::email::EmailService,
    ) -> Self {
        Self {
            context,
            rooms,
            email,
            http: crate::plain_http_client(REQUEST_TIMEOUT),
            badges: Arc::default(),
            slots: Arc::new(Semaphore::new(CONCURRENT_PUSHERS)),
        }
    }

    /// After a user's own read receipt: the unread count on their phones, when it moved
    /// (BRIDGES.md §5.2's badge-only update; sent once, without retry, as Synapse does).
    pub(crate) fn badge_changed(&self, user_id: &UserId) {
        let this = self.clone();
        let user_id = user_id.to_owned();
        tokio::spawn(async move {
            if let Err(err) = this.send_badge(&user_id).await {
                tracing::debug!(%user_id, "badge update: {err}");
            }
        });
    }

    async fn send_badge(&self, user_id: &UserId) -> ServiceResult<()> {
        let storage = &self.context.storage;
        let pushers: Vec<_> = storage
            .pushers
            .of_user(user_id)
            .await?
            .into_iter()
            .filter(|p| p.kind == "http")
            .collect();
        if pushers.is_empty() {
            return Ok(());
        }
        let unread = storage.push_delivery.unread_rooms(user_id).await?;
        if crate::lock(&self.badges).insert(user_id.to_owned(), unread) == Some(unread) {
            return Ok(());
        }
        for pusher in pushers {
            let mut data: serde_json::Map<String, JsonValue> =
                serde_json::from_str(&pusher.data_json).unwrap_or_default();
            let Some(url) = data
                .remove("url")
                .and_then(|u| u.as_str().map(str::to_owned))
            else {
                continue;
            };
            let body = serde_json::json!({"notification": {
                "id": "", "type": null, "sender": "", "counts": {"unread": unread},
                "devices": [{"app_id": pusher.app_id, "pushkey": pusher.pushkey, "data": data}],
            }});
            if let Err(Refused::Failed(why)) = self.post(&url, &body, &pusher.pushkey).await {
                tracing::debug!(%user_id, "badge update not taken: {why}");
            }
        }
        Ok(())
    }

    /// Delivers until the server stops: soon after new events, at retries, and now and then.
    pub async fn run(self) {
        let wake = self.rooms.push_wake();
        crate::due_loop::run(&self.context, &wake, "push delivery", || self.deliver_due()).await;
    }

    /// One pass over the pushers with something to send; returns the next retry time.
    pub async fn deliver_due(&self) -> ServiceResult<Option<u64>> {
        let store = &self.context.storage.push_delivery;
        let now = self.context.now();
        let stale = now.saturating_sub(CLAIM_LEASE_MS);
        for pusher in store.due(now, stale, PUSHERS_PER_PASS).await? {
            // Every slot busy: the first task to end wakes the loop again.
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                break;
            };
            if !store
                .claim(&pusher.user_id, &pusher.app_id, &pusher.pushkey, now, stale)
                .await?
            {
                continue;
            }
            let this = self.clone();
            tokio::spawn(async move {
                let more = match this.serve(&pusher).await {
                    Ok(more) => more,
                    Err(err) => {
                        tracing::warn!(user_id = %pusher.user_id, app_id = %pusher.app_id, "push: {err}");
                        true
                    }
                };
                drop(slot);
                if more {
                    this.rooms.push_wake().notify_one();
                }
            });
        }
        if let Err(err) = self.deliver_emails().await {
            tracing::warn!("email notifications: {err}");
        }
        Ok(store.next_retry(now).await?)
    }

    /// Sends a claimed pusher's waiting notifications in order, until one fails, then
    /// releases it; says whether the loop must look again (a retry time to keep, or more
    /// waiting: arrived while it was claimed, when a pass could not take it).
    async fn serve(&self, pusher: &DuePusher) -> ServiceResult<bool> {
        let store = &self.context.storage.push_delivery;
        let (user_id, app_id, pushkey) = (&pusher.user_id, &pusher.app_id, &pusher.pushkey);
        let data: JsonValue = serde_json::from_str(&pusher.data_json).unwrap_or_default();
        let url = data["url"].as_str().unwrap_or_default().to_owned();
        let mut position = pusher.delivered_stream;
        let pending = store
            .pending(user_id, position, NOTIFICATIONS_PER_TURN)
            .await?;
        // What this turn tries: all that waits, unless the turn is full.
        let full_turn = pending.len() == NOTIFICATIONS_PER_TURN as usize;
        let last_fetched = pending.last().map_or(position, |push| push.stream_ordering);
        for push in pending {
            let Some(body) = self.notification(pusher, &data, &push).await? else {
                // The event is gone (purged): nothing to say about it.
                position = push.stream_ordering;
                continue;
            };
            match self.post(&url, &body, pushkey).await {
                Ok(()) => position = push.stream_ordering,
                Err(Refused::Rejected) => {
                    tracing::info!(%user_id, %app_id, "the gateway rejected the pushkey: pusher removed");
                    self.context
                        .storage
                        .pushers
                        .delete(user_id, app_id, pushkey)
                        .await?;
                    return Ok(false);
                }
                Err(Refused::Failed(why)) => {
                    let now = self.context.now();
                    let since = pusher.failing_since.unwrap_or(now);
                    if now.saturating_sub(since) >= GIVE_UP_MS {
                        // Failing for a day: this one is stale, the next is tried later.
                        position = push.stream_ordering;
                    }
                    if position > pusher.delivered_stream {
                        store.delivered(user_id, app_id, pushkey, position).await?;
                    }
                    let backoff = (pusher.backoff_ms * 2).clamp(FIRST_BACKOFF_MS, MAX_BACKOFF_MS);
                    // Only a notification newer than all that waited makes it due early.
                    let attempted_stream = match full_turn {
                        true => store.newest(user_id).await?,
                        false => last_fetched,
                    };
                    let failure = PushFailure {
                        failing_since: since,
                        backoff_ms: backoff,
                        retry_ts: now + backoff,
                        attempted_stream,
                    };
                    store.failed(user_id, app_id, pushkey, failure).await?;
                    tracing::info!(%user_id, %app_id, "the push gateway failed ({why}); retried in {backoff} ms or at the next notification");
                    // The loop looks again: for the retry time, and for what came meanwhile.
                    return Ok(true);
                }
            }
        }
        store.delivered(user_id, app_id, pushkey, position).await?;
        Ok(!store.pending(user_id, position, 1).await?.is_empty())
    }

    async fn post(&self, url: &str, body: &JsonValue, pushkey: &str) -> Result<(), Refused> {
        let response = self
            .http
            .post(url)
            .json(body)
            .send()
            .await
            .map_err(|e| Refused::Failed(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Refused::Failed(format!("status {status}")));
        }
        let answer: JsonValue = response.json().await.unwrap_or_default();
        let rejected = answer["rejected"]
            .as_array()
            .is_some_and(|keys| keys.iter().any(|key| key == pushkey));
        if rejected {
            Err(Refused::Rejected)
        } else {
            Ok(())
        }
    }
}
