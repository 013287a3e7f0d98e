//! Whether a post to a hook's URL goes in: the sender's address within its rate (guessing
//! URLs is limited too), the hook known, not expired, its creator still in the room (hooks
//! die with the creator's membership), and the address one the hook takes posts from.

use std::net::IpAddr;

use estafette_storage::WebhookRecord;
use ipnet::IpNet;
use ruma::events::TimelineEventType;
use serde_json::json;

use super::{PostRefusal, WEBHOOK_STATE_TYPE, WebhookService, as_hook};
use crate::accounts::tokens::digest;
use crate::{Requester, ServiceError, ServiceResult};

/// Ranges a hook may list.
const MAX_ALLOWED_IPS: usize = 32;
/// The longest life a hook may be given: ten years.
const MAX_EXPIRY_SECS: u64 = 10 * 365 * 86_400;

/// The ranges as written (`10.0.0.0/8`, or one address), checked and normalised.
pub(super) fn allowed_ranges(written: &[String]) -> ServiceResult<Vec<String>> {
    if written.len() > MAX_ALLOWED_IPS {
        return Err(ServiceError::InvalidParam(format!(
            "`allowed_ips` lists at most {MAX_ALLOWED_IPS} ranges"
        )));
    }
    written
        .iter()
        .map(|range| {
            parse_range(range)
                .map(|net| net.to_string())
                .ok_or_else(|| {
                    ServiceError::InvalidParam(format!(
                        "`allowed_ips`: `{range}` is neither a CIDR range nor an address"
                    ))
                })
        })
        .collect()
}

fn parse_range(range: &str) -> Option<IpNet> {
    range
        .parse::<IpNet>()
        .ok()
        .or_else(|| range.parse::<IpAddr>().ok().map(IpNet::from))
}

/// When a hook given `expires_in_secs` at `now` expires.
pub(super) fn expiry(now: u64, expires_in_secs: Option<u64>) -> ServiceResult<Option<u64>> {
    match expires_in_secs {
        None => Ok(None),
        Some(secs) if (1..=MAX_EXPIRY_SECS).contains(&secs) => Ok(Some(now + secs * 1000)),
        Some(_) => Err(ServiceError::InvalidParam(format!(
            "`expires_in_secs` is between 1 and {MAX_EXPIRY_SECS}"
        ))),
    }
}

impl WebhookService {
    /// The hook a post to `token` from `client_ip` goes to, or why it does not.
    pub async fn admit(
        &self,
        token: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<WebhookRecord, PostRefusal> {
        let config = &self.context.config.webhooks;
        if let Some(ip) = client_ip {
            self.take(
                &format!("ip {ip}"),
                config.per_ip_per_second,
                config.per_ip_burst,
            )?;
        }
        let storage = &self.context.storage;
        let Some(hook) = storage.webhooks.by_token(&digest(token)).await? else {
            return Err(PostRefusal::Gone);
        };
        if hook.expires_ts.is_some_and(|at| at <= self.context.now()) {
            self.retire(&hook, "it expired").await?;
            return Err(PostRefusal::Gone);
        }
        let creator_in = storage
            .memberships
            .get(&hook.room_id, &hook.creator)
            .await?
            .is_some_and(|m| m.membership == "join");
        if !creator_in {
            self.retire(&hook, "its creator left the room").await?;
            return Err(PostRefusal::Gone);
        }
        if !hook.allowed_ips.is_empty() {
            let allowed = client_ip.is_some_and(|ip| {
                hook.allowed_ips
                    .iter()
                    .filter_map(|range| parse_range(range))
                    .any(|range| range.contains(&ip))
            });
            if !allowed {
                let from =
                    client_ip.map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
                return Err(PostRefusal::Forbidden(format!(
                    "This hook takes no posts from {from}"
                )));
            }
        }
        Ok(hook)
    }

    /// Ends a hook: its URL stops working, its user leaves, and the room's description of
    /// it goes when `remover` (who revoked it, or the hook's user) may change the state.
    pub(super) async fn end(
        &self,
        hook: &WebhookRecord,
        remover: &Requester,
        why: &str,
    ) -> ServiceResult<()> {
        let hook_id = &hook.hook_id;
        self.context.storage.webhooks.delete(hook_id).await?;
        let sender = as_hook(&hook.sender);
        if let Err(err) = self
            .rooms
            .send_state(
                remover,
                &hook.room_id,
                TimelineEventType::from(WEBHOOK_STATE_TYPE),
                hook_id,
                json!({}),
            )
            .await
        {
            tracing::debug!(%hook_id, "the ended hook's state event stays: {err}");
        }
        if let Err(err) = self.rooms.leave(&sender, &hook.room_id, None).await {
            tracing::warn!(%hook_id, "the ended hook's user could not leave: {err}");
        }
        tracing::info!(%hook_id, "webhook ended: {why}");
        Ok(())
    }

    /// Ends a hook nobody revoked (expired, or its creator gone).
    async fn retire(&self, hook: &WebhookRecord, why: &str) -> ServiceResult<()> {
        self.end(hook, &as_hook(&hook.sender), why).await
    }
}
