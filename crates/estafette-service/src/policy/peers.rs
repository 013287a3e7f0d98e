//! What the servers of a federation (`federation.allowed_servers` and the servers the rules
//! route to) ask each other about addresses, on signed requests: whether an invitation waits
//! for an address somewhere (an external registers only then), which account an address
//! routed to another server belongs to, and, once an address is bound, the news for the
//! servers holding invitations for it.

use ruma::{OwnedServerName, OwnedUserId, UserId};

use super::{EmailAddress, PolicyService};
use crate::ServiceResult;

/// `GET /_matrix/identity/api/v1/internal-info` (TCHAP.md §1), as one server asks another;
/// `mxid` is Estafette's: the account the address is bound to there.
pub mod internal_info {
    use ruma::OwnedUserId;
    use ruma::api::federation::authentication::ServerSignatures;
    use ruma::api::{request, response};

    ruma::metadata! {
        method: GET,
        rate_limited: false,
        authentication: ServerSignatures,
        path: "/_matrix/identity/api/v1/internal-info",
    }

    #[request]
    pub struct Request {
        #[ruma_api(query)]
        pub medium: String,
        #[ruma_api(query)]
        pub address: String,
    }

    #[response]
    pub struct Response {
        pub hs: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub shadow_hs: Option<String>,
        #[serde(default)]
        pub requires_invite: bool,
        #[serde(default)]
        pub invited: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub mxid: Option<OwnedUserId>,
    }
}

/// `POST /_matrix/identity/unstable/estafette/bound`: an address routed to the sender is now
/// bound to one of its accounts; the invitations held for it become that account's invites.
pub mod bound {
    use ruma::OwnedUserId;
    use ruma::api::federation::authentication::ServerSignatures;
    use ruma::api::{request, response};

    ruma::metadata! {
        method: POST,
        rate_limited: false,
        authentication: ServerSignatures,
        path: "/_matrix/identity/unstable/estafette/bound",
    }

    #[request]
    pub struct Request {
        pub medium: String,
        pub address: String,
        pub mxid: OwnedUserId,
    }

    #[response]
    pub struct Response {}

    impl Response {
        pub fn new() -> Self {
            Self {}
        }
    }
}

impl PolicyService {
    /// The other servers of the federation: the closed federation's, and those the rules
    /// route addresses to.
    fn peers(&self) -> Vec<OwnedServerName> {
        let own = &self.context.server_name;
        let rules = self.routing.as_ref().map(|table| table.current());
        let routed = rules.iter().flat_map(|rules| rules.servers());
        let federation = self.context.config.federation.allowed_names();
        let mut peers: Vec<OwnedServerName> = federation
            .chain(routed)
            .filter_map(|server| ruma::ServerName::parse(server).ok())
            .filter(|server| server != own)
            .collect();
        peers.sort();
        peers.dedup();
        peers
    }

    /// Whether `server` is one of the federation's, which alone learn what `internal-info`
    /// tells (who holds an address, whether it is invited).
    pub fn is_peer(&self, server: &ruma::ServerName) -> bool {
        self.peers().iter().any(|peer| peer == server)
    }

    /// Whether an invitation waits for `address` here or at another server of the federation
    /// (one that cannot be asked counts as none).
    pub(super) async fn invited_anywhere(&self, address: &EmailAddress) -> ServiceResult<bool> {
        if self.invited(address).await? {
            return Ok(true);
        }
        for peer in self.peers() {
            let request = internal_info::Request {
                medium: "email".to_owned(),
                address: address.to_string(),
            };
            match self.federation.send(&peer, request).await {
                Ok(answer) if answer.invited => return Ok(true),
                Ok(_) => {}
                Err(e) => tracing::warn!(%peer, "no invitation lookup at {peer}: {e}"),
            }
        }
        Ok(false)
    }

    /// The account `address` is bound to at the server the rules send it to, when that is
    /// another server of the federation.
    pub async fn bound_elsewhere(
        &self,
        address: &EmailAddress,
    ) -> ServiceResult<Option<OwnedUserId>> {
        let Ok(route) = self.route(address.as_str()) else {
            return Ok(None);
        };
        let Ok(home) = ruma::ServerName::parse(&route.hs) else {
            return Ok(None);
        };
        if home == self.context.server_name || !self.peers().contains(&home) {
            return Ok(None);
        }
        let request = internal_info::Request {
            medium: "email".to_owned(),
            address: address.to_string(),
        };
        let answer = self.federation.send(&home, request).await?;
        Ok(answer.mxid.filter(|mxid| mxid.server_name() == home))
    }

    /// Tells the other servers of the federation that `address` is now `user_id`'s, so that
    /// the invitations they hold for it reach them. A server that cannot be told keeps its
    /// invitations until they expire.
    pub async fn announce_binding(&self, address: &str, user_id: &UserId) {
        // All at once: the registration that binds the address waits for them.
        let mut announcements = tokio::task::JoinSet::new();
        for peer in self.peers() {
            let request = bound::Request {
                medium: "email".to_owned(),
                address: address.to_owned(),
                mxid: user_id.to_owned(),
            };
            let federation = self.federation.clone();
            announcements.spawn(async move {
                if let Err(e) = federation.send(&peer, request).await {
                    tracing::warn!(%peer, "{peer} not told of a new binding: {e}");
                }
            });
        }
        while announcements.join_next().await.is_some() {}
    }

    /// Whether `origin` may say who holds `address`: the rules send the address there.
    pub fn answers_for(&self, address: &EmailAddress, origin: &ruma::ServerName) -> bool {
        self.route(address.as_str())
            .is_ok_and(|route| route.hs == origin.as_str())
    }
}
