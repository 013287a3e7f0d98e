//! Incoming webhooks (BRIDGES.md §4): a room member with the power to change the room's state
//! creates a hook bound to the room; the hook posts, as a visible user of its own, what CI and
//! monitoring tools send to its secret URL, in hookshot's generic format or Slack's. The
//! secret is stored only as a digest, shown once, rotated or revoked; a non-secret state
//! event tells the room the hook exists. Hooks do not post into encrypted rooms: the server
//! cannot encrypt for the members, and posting in clear there silently is not acceptable.
//!
//! Owns the webhooks table; calls accounts (the hook's user) and rooms (membership, posts).

mod admission;
mod mrkdwn;
mod render;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use estafette_storage::WebhookRecord;
use ruma::events::TimelineEventType;
use ruma::{OwnedDeviceId, OwnedEventId, OwnedUserId, RoomId};
use serde_json::json;

pub use render::{PayloadError, WebhookPayload};

use crate::accounts::NO_DEVICE;
use crate::accounts::tokens::digest;
use crate::{
    AccountService, Context, EventDraft, NewAccount, Requester, RoomService, ServiceError,
    ServiceResult,
};

/// The state event that tells members a hook exists (never its secret).
pub const WEBHOOK_STATE_TYPE: &str = "im.estafette.webhook";
pub const WEBHOOK_PATH: &str = "/_estafette/hooks/v1";
const TOKEN_LENGTH: usize = 40;
const HOOK_ID_LENGTH: usize = 12;
const MAX_NAME_CHARS: usize = 64;
const HOOK_USER_PREFIX: &str = "_webhook_";

#[derive(Clone)]
pub struct WebhookService {
    context: Arc<Context>,
    accounts: AccountService,
    rooms: RoomService,
    /// Each hook's and each address's token bucket: tokens left and when it was last filled.
    buckets: Arc<Mutex<HashMap<String, (f64, u64)>>>,
}

/// What a member asks for when creating a hook.
#[derive(Debug, Clone, Default)]
pub struct NewWebhook {
    pub name: String,
    /// `generic` or `slack`.
    pub format: String,
    /// `m.notice` or `m.text`.
    pub msgtype: String,
    /// The addresses it takes posts from (CIDR ranges or addresses); any when empty.
    pub allowed_ips: Vec<String>,
    pub expires_in_secs: Option<u64>,
}

/// A hook just created or rotated, with the secret URL shown this once.
#[derive(Debug, Clone)]
pub struct IssuedWebhook {
    pub hook: WebhookRecord,
    pub url: String,
}

/// Why a post was refused, in terms the senders' formats answer with.
#[derive(Debug)]
pub enum PostRefusal {
    RateLimited {
        retry_after_secs: u64,
    },
    Payload(PayloadError),
    /// No such hook (never, revoked, expired, or its creator left the room).
    Gone,
    /// The room is encrypted, the hook's user can no longer post there, or the hook takes
    /// no posts from the sender's address.
    Forbidden(String),
    Failed(ServiceError),
}

impl From<ServiceError> for PostRefusal {
    fn from(err: ServiceError) -> Self {
        Self::Failed(err)
    }
}

impl From<estafette_storage::StorageError> for PostRefusal {
    fn from(err: estafette_storage::StorageError) -> Self {
        Self::Failed(err.into())
    }
}

impl WebhookService {
    pub(crate) fn new(context: Arc<Context>, accounts: AccountService, rooms: RoomService) -> Self {
        Self {
            context,
            accounts,
            rooms,
            buckets: Arc::default(),
        }
    }

    fn url_of(&self, token: &str) -> String {
        format!("{}{WEBHOOK_PATH}/{token}", self.context.config.base_url())
    }

    /// Creates a hook in `room_id` for `requester`, who must be a member with the power the
    /// configuration asks (the room's `state_default` by default).
    pub async fn create(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        new: &NewWebhook,
    ) -> ServiceResult<IssuedWebhook> {
        let (name, format, msgtype) = (&*new.name, &*new.format, &*new.msgtype);
        let config = &self.context.config.webhooks;
        if !config.enabled {
            return Err(ServiceError::Forbidden(
                "Webhooks are disabled on this server".into(),
            ));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(ServiceError::InvalidParam(format!(
                "A hook's name has 1 to {MAX_NAME_CHARS} characters"
            )));
        }
        if !matches!(format, "generic" | "slack") {
            return Err(ServiceError::InvalidParam(
                "`format` is \"generic\" or \"slack\"".into(),
            ));
        }
        if !matches!(msgtype, "m.notice" | "m.text") {
            return Err(ServiceError::InvalidParam(
                "`msgtype` is \"m.notice\" or \"m.text\"".into(),
            ));
        }
        let allowed_ips = admission::allowed_ranges(&new.allowed_ips)?;
        let expires_ts = admission::expiry(self.context.now(), new.expires_in_secs)?;
        self.ensure_may_manage(requester, room_id).await?;
        if self.rooms.is_encrypted(room_id).await? {
            return Err(ServiceError::Forbidden(encrypted_refusal()));
        }
        let hook_id = self
            .context
            .random
            .string_from(b"abcdefghijklmnopqrstuvwxyz0123456789", HOOK_ID_LENGTH);
        let sender = self
            .accounts
            .create(NewAccount {
                localpart: Some(format!("{HOOK_USER_PREFIX}{hook_id}")),
                display_name: Some(name.to_owned()),
                trusted_localpart: true,
                ..Default::default()
            })
            .await?;
        self.rooms.invite(requester, room_id, &sender, None).await?;
        self.rooms.join(&as_hook(&sender), room_id, &[]).await?;
        let token = self.context.random.alphanumeric(TOKEN_LENGTH);
        let hook = WebhookRecord {
            hook_id,
            room_id: room_id.to_owned(),
            name: name.to_owned(),
            format: format.to_owned(),
            msgtype: msgtype.to_owned(),
            sender,
            creator: requester.user_id.clone(),
            created_ts: self.context.now(),
            allowed_ips,
            expires_ts,
        };
        self.context
            .storage
            .webhooks
            .create(&hook, &digest(&token))
            .await?;
        // Members see that the hook exists, when its creator may say so in the room's state
        // (the operator may let members below `state_default` create hooks).
        let described = self
            .rooms
            .send_state(
                requester,
                room_id,
                TimelineEventType::from(WEBHOOK_STATE_TYPE),
                &hook.hook_id,
                json!({"name": hook.name, "format": hook.format, "sender": hook.sender,
                       "creator": hook.creator}),
            )
            .await;
        match described {
            Ok(_) | Err(ServiceError::Forbidden(_)) => {}
            Err(err) => return Err(err),
        }
        tracing::info!(hook_id = %hook.hook_id, %room_id, creator = %hook.creator, "webhook created");
        Ok(IssuedWebhook {
            url: self.url_of(&token),
            hook,
        })
    }

    /// The room's hooks, for its members (never their secrets).
    pub async fn list(
        &self,
        requester: &Requester,
        room_id: &RoomId,
    ) -> ServiceResult<Vec<WebhookRecord>> {
        let joined = self
            .context
            .storage
            .memberships
            .get(room_id, &requester.user_id)
            .await?
            .is_some_and(|m| m.membership == "join");
        if !joined {
            return Err(ServiceError::Forbidden("You are not in this room".into()));
        }
        let now = self.context.now();
        let mut hooks = self.context.storage.webhooks.of_room(room_id).await?;
        hooks.retain(|hook| hook.expires_ts.is_none_or(|at| at > now));
        Ok(hooks)
    }

    /// A hook's creator, or a member with the power to manage hooks, revokes it: its URL
    /// stops working, its user leaves, and the room's state says it is gone.
    pub async fn revoke(&self, requester: &Requester, hook_id: &str) -> ServiceResult<()> {
        let hook = self.managed(requester, hook_id).await?;
        self.end(
            &hook,
            requester,
            &format!("revoked by {}", requester.user_id),
        )
        .await
    }

    /// A new secret URL for the hook; the old one stops working.
    pub async fn rotate(
        &self,
        requester: &Requester,
        hook_id: &str,
    ) -> ServiceResult<IssuedWebhook> {
        let hook = self.managed(requester, hook_id).await?;
        let token = self.context.random.alphanumeric(TOKEN_LENGTH);
        self.context
            .storage
            .webhooks
            .set_token(hook_id, &digest(&token))
            .await?;
        tracing::info!(%hook_id, by = %requester.user_id, "webhook token rotated");
        Ok(IssuedWebhook {
            url: self.url_of(&token),
            hook,
        })
    }

    async fn managed(&self, requester: &Requester, hook_id: &str) -> ServiceResult<WebhookRecord> {
        let hook = self
            .context
            .storage
            .webhooks
            .get(hook_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("No webhook {hook_id}")))?;
        if hook.creator != requester.user_id {
            self.ensure_may_manage(requester, &hook.room_id).await?;
        }
        Ok(hook)
    }

    async fn ensure_may_manage(
        &self,
        requester: &Requester,
        room_id: &RoomId,
    ) -> ServiceResult<()> {
        let needed = self.context.config.webhooks.power_level;
        if !self
            .rooms
            .has_power_for_state(&requester.user_id, room_id, WEBHOOK_STATE_TYPE, needed)
            .await?
        {
            return Err(ServiceError::Forbidden(
                "Managing webhooks needs a member's power to change the room's state".into(),
            ));
        }
        Ok(())
    }

    /// Posts what a tool sent to `hook` (found by its token); returns the event.
    pub async fn post(
        &self,
        hook: &WebhookRecord,
        payload: &WebhookPayload,
    ) -> Result<OwnedEventId, PostRefusal> {
        let config = &self.context.config.webhooks;
        self.take(&hook.hook_id, config.per_second, config.burst)?;
        if self.rooms.is_encrypted(&hook.room_id).await? {
            return Err(PostRefusal::Forbidden(encrypted_refusal()));
        }
        let mut content =
            render::message(&hook.format, &hook.msgtype, payload).map_err(PostRefusal::Payload)?;
        // `@room` only from a hook whose user may notify the whole room.
        if content.get("m.mentions").is_some()
            && !self
                .rooms
                .may_notify_room(&hook.sender, &hook.room_id)
                .await?
            && let Some(object) = content.as_object_mut()
        {
            object.remove("m.mentions");
        }
        let txn = self.context.random.alphanumeric(24);
        let draft = EventDraft::message(TimelineEventType::RoomMessage, content);
        match self
            .rooms
            .send_message_at(&as_hook(&hook.sender), &hook.room_id, draft, &txn)
            .await
        {
            Ok(event_id) => Ok(event_id),
            Err(ServiceError::Forbidden(why)) => Err(PostRefusal::Forbidden(why)),
            Err(err) => Err(PostRefusal::Failed(err)),
        }
    }

    /// One post from the bucket of `key` (a hook, or an address), or how long until there is
    /// one.
    fn take(&self, key: &str, per_second: f64, burst: u32) -> Result<(), PostRefusal> {
        let now = self.context.now();
        let mut buckets = crate::lock(&self.buckets);
        let burst = f64::from(burst);
        let (tokens, at) = buckets.entry(key.to_owned()).or_insert((burst, now));
        let elapsed = now.saturating_sub(*at) as f64 / 1000.0;
        *tokens = (*tokens + elapsed * per_second).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - *tokens) / per_second).ceil() as u64;
        Err(PostRefusal::RateLimited {
            retry_after_secs: wait.max(1),
        })
    }
}

/// Hooks' users: `@_webhook_…`, a prefix no person can register (`_` is reserved).
pub(crate) fn is_hook_user(user_id: &ruma::UserId) -> bool {
    user_id.localpart().starts_with(HOOK_USER_PREFIX)
}

fn as_hook(sender: &OwnedUserId) -> Requester {
    Requester::new(sender.clone(), OwnedDeviceId::from(NO_DEVICE))
}

fn encrypted_refusal() -> String {
    "This room is encrypted: a webhook cannot encrypt its messages for the room's members, and \
     it will not post in clear into an encrypted room. Use a room without encryption for alerts."
        .into()
}

/// Text made safe inside HTML content and attribute values (the server's pages use it too).
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A sender's HTML reduced to the spec's allowed subset (ammonia's allow-list, with the
/// spec's tags and attributes): no scripts, no handlers, no foreign links.
pub(crate) fn sanitize_html(html: &str) -> String {
    const TAGS: &[&str] = &[
        "font",
        "del",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "p",
        "a",
        "ul",
        "ol",
        "sup",
        "sub",
        "li",
        "b",
        "i",
        "u",
        "strong",
        "em",
        "s",
        "code",
        "hr",
        "br",
        "div",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "caption",
        "pre",
        "span",
        "details",
        "summary",
    ];
    ammonia::Builder::default()
        .tags(TAGS.iter().copied().collect())
        .add_tag_attributes("font", &["data-mx-bg-color", "data-mx-color", "color"])
        .add_tag_attributes(
            "span",
            &["data-mx-bg-color", "data-mx-color", "data-mx-spoiler"],
        )
        .add_tag_attributes("a", &["target"])
        .add_tag_attributes("ol", &["start"])
        .add_tag_attributes("code", &["class"])
        .url_schemes(
            ["https", "http", "ftp", "mailto", "magnet"]
                .into_iter()
                .collect(),
        )
        .link_rel(Some("noopener"))
        .clean(html)
        .to_string()
}
