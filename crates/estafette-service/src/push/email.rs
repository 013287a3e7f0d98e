//! Email notifications (pushers of kind `email`, as Synapse's email pusher): some time after
//! a notification, one digest of every notification still unread by then goes to the
//! pusher's address, which must be one of the account's; what was read meanwhile is left out.

use std::collections::HashMap;

use estafette_storage::{DuePusher, PendingPush, PushFailure};
use ruma::events::StateEventType;
use ruma::{OwnedRoomId, RoomId};
use serde_json::Value as JsonValue;

use super::PushDeliveryService;
use super::{CLAIM_LEASE_MS, MAX_BACKOFF_MS, PUSHERS_PER_PASS};
use crate::email::Email;
use crate::policy::EmailAddress;
use crate::{ServiceError, ServiceResult};

/// Notifications one digest looks at (the rest wait for the next).
const DIGEST_NOTIFICATIONS: u32 = 100;
/// Lines per room in a digest.
const LINES_PER_ROOM: usize = 10;
/// Characters of a message shown.
const EXCERPT_CHARS: usize = 200;
/// An SMTP server that fails is tried again after a minute at least.
const FIRST_EMAIL_BACKOFF_MS: u64 = 60_000;

/// A room's part of a digest.
struct RoomDigest {
    name: String,
    lines: Vec<String>,
    unread: usize,
}

impl PushDeliveryService {
    /// One pass over the email pushers: schedules a digest for new notifications, sends the
    /// digests due.
    pub(super) async fn deliver_emails(&self) -> ServiceResult<()> {
        if !self.email.enabled() {
            return Ok(());
        }
        let store = &self.context.storage.push_delivery;
        let now = self.context.now();
        let stale = now.saturating_sub(CLAIM_LEASE_MS);
        let delay = self
            .context
            .config
            .push
            .email_delay_secs
            .saturating_mul(1000);
        for pusher in store.due_emails(now, stale, PUSHERS_PER_PASS).await? {
            let (user_id, app_id, pushkey) = (&pusher.user_id, &pusher.app_id, &pusher.pushkey);
            if pusher.retry_ts == 0 {
                store
                    .schedule(user_id, app_id, pushkey, now + delay.max(1))
                    .await?;
                continue;
            }
            if !store.claim(user_id, app_id, pushkey, now, stale).await? {
                continue;
            }
            if let Err(err) = self.send_digest(&pusher).await {
                let backoff = (pusher.backoff_ms * 2).clamp(FIRST_EMAIL_BACKOFF_MS, MAX_BACKOFF_MS);
                let failure = PushFailure {
                    failing_since: pusher.failing_since.unwrap_or(now),
                    backoff_ms: backoff,
                    retry_ts: now + backoff,
                    attempted_stream: pusher.delivered_stream,
                };
                store.failed(user_id, app_id, pushkey, failure).await?;
                tracing::warn!(%user_id, "email notifications: {err}; retried in {backoff} ms");
            }
        }
        Ok(())
    }

    /// Sends the digest of what is still unread, and moves the pusher past it.
    async fn send_digest(&self, pusher: &DuePusher) -> ServiceResult<()> {
        let store = &self.context.storage.push_delivery;
        let (user_id, app_id, pushkey) = (&pusher.user_id, &pusher.app_id, &pusher.pushkey);
        let pending = store
            .pending(user_id, pusher.delivered_stream, DIGEST_NOTIFICATIONS)
            .await?;
        let Some(last) = pending.last().map(|push| push.stream_ordering) else {
            return Ok(store
                .delivered(user_id, app_id, pushkey, pusher.delivered_stream)
                .await?);
        };
        let rooms = self.unread_by_room(pusher, &pending).await?;
        if !rooms.is_empty() {
            let to = EmailAddress::parse(pushkey)?;
            let data: JsonValue = serde_json::from_str(&pusher.data_json).unwrap_or_default();
            let brand = data["brand"]
                .as_str()
                .filter(|b| !b.trim().is_empty())
                .unwrap_or(self.context.config.server_name.as_str())
                .to_owned();
            let unread: usize = rooms.iter().map(|r| r.unread).sum();
            let subject = match rooms.as_slice() {
                [room] => format!("{brand}: {} in {}", messages(unread), room.name),
                _ => format!("{brand}: {} in {} rooms", messages(unread), rooms.len()),
            };
            let text = self.digest_text(pusher, &rooms, unread);
            self.email
                .send(Email {
                    to: &to,
                    subject: &subject,
                    text: &text,
                })
                .await?;
        }
        Ok(store.delivered(user_id, app_id, pushkey, last).await?)
    }

    /// The notifications still unread, by room in the order they came: a room's newest
    /// ones, as many as its unread count.
    async fn unread_by_room(
        &self,
        pusher: &DuePusher,
        pending: &[PendingPush],
    ) -> ServiceResult<Vec<RoomDigest>> {
        let mut order: Vec<OwnedRoomId> = Vec::new();
        let mut by_room: HashMap<OwnedRoomId, Vec<&PendingPush>> = HashMap::new();
        for push in pending {
            if !by_room.contains_key(&push.room_id) {
                order.push(push.room_id.clone());
            }
            by_room.entry(push.room_id.clone()).or_default().push(push);
        }
        let room_ids: Vec<&RoomId> = order.iter().map(|r| r.as_ref()).collect();
        let mut unread: HashMap<OwnedRoomId, u64> = HashMap::new();
        for counts in self
            .context
            .storage
            .push_actions
            .unread_counts(&pusher.user_id, &room_ids)
            .await?
        {
            *unread.entry(counts.room_id).or_default() += counts.notifications;
        }
        let mut rooms = Vec::new();
        for room_id in order {
            let pushes = by_room.remove(&room_id).unwrap_or_default();
            let count = unread.get(&room_id).copied().unwrap_or(0) as usize;
            let still_unread = &pushes[pushes.len().saturating_sub(count)..];
            if still_unread.is_empty() {
                continue;
            }
            let (state, _) = self.rooms.current_state(&room_id).await?;
            let state_text = |content: Option<JsonValue>, key: &str| {
                content
                    .and_then(|c| c[key].as_str().map(str::to_owned))
                    .filter(|text| !text.trim().is_empty())
            };
            let name = self.rooms.notification_room_name(&state).await?;
            let mut lines = Vec::new();
            for push in still_unread.iter().rev().take(LINES_PER_ROOM).rev() {
                let Some(event) = self.rooms.pdu(&push.event_id).await? else {
                    continue;
                };
                let sender = state_text(
                    self.rooms
                        .state_content(&state, StateEventType::RoomMember, event.sender.as_str())
                        .await?,
                    "displayname",
                )
                .unwrap_or_else(|| event.sender.to_string());
                let content: JsonValue =
                    serde_json::from_str(event.content.get()).unwrap_or_default();
                lines.push(format!(
                    "{sender}: {}",
                    excerpt(&event.kind.to_string(), &content)
                ));
            }
            let link = &self.context.config.push.email_room_link;
            lines.push(format!("Open: {link}{room_id}"));
            rooms.push(RoomDigest {
                name: name.unwrap_or_else(|| format!("the room {room_id}")),
                lines,
                unread: still_unread.len(),
            });
        }
        Ok(rooms)
    }

    fn digest_text(&self, pusher: &DuePusher, rooms: &[RoomDigest], unread: usize) -> String {
        let mut text = format!(
            "Hello,\n\nYou have {} for {} on {}:\n",
            messages(unread),
            pusher.user_id,
            self.context.config.server_name
        );
        for room in rooms {
            text.push_str(&format!("\n{} ({})\n", room.name, messages(room.unread)));
            for line in &room.lines {
                text.push_str(&format!("  {line}\n"));
            }
        }
        text.push_str(&format!(
            "\nYou receive this email because email notifications are on for {}. \
             Turn them off in your Matrix client's notification settings.\n",
            pusher.pushkey
        ));
        text
    }
}

fn messages(count: usize) -> String {
    match count {
        1 => "1 unread message".to_owned(),
        n => format!("{n} unread messages"),
    }
}

/// One line for an event: a message's text (shortened, on one line), or what happened.
fn excerpt(kind: &str, content: &JsonValue) -> String {
    match kind {
        "m.room.message" => {
            let body = content["body"].as_str().unwrap_or_default();
            let line: String = body
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(EXCERPT_CHARS)
                .collect();
            if body.chars().count() > EXCERPT_CHARS {
                format!("{line}…")
            } else {
                line
            }
        }
        "m.room.encrypted" => "(an encrypted message)".to_owned(),
        "m.room.member" if content["membership"] == "invite" => "invited you".to_owned(),
        other => format!("({other})"),
    }
}

/// Refused unless the address is one of the account's, and emails can be sent.
pub(crate) fn check_email_pusher(
    enabled: bool,
    pushkey: &str,
    addresses: &[String],
) -> ServiceResult<()> {
    if !enabled {
        return Err(ServiceError::InvalidParam(
            "This server sends no email notifications (no SMTP server is configured)".to_owned(),
        ));
    }
    let address = EmailAddress::parse(pushkey)?;
    if !addresses
        .iter()
        .any(|known| known.eq_ignore_ascii_case(address.as_str()))
    {
        return Err(ServiceError::ThreepidNotFound(format!(
            "{pushkey} is not an email address of this account"
        )));
    }
    Ok(())
}
