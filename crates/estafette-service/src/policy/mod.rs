//! The government deployment's policy layer (TCHAP.md): which server an email address belongs
//! to, and the identity lookups every server of the federation answers alike. Everything is
//! off unless configured (`[policy]`).

pub mod access_rules;
mod email_address;
mod identity_names;
pub(crate) mod last_admin;
mod peers;
pub(crate) mod room_creation;
mod routing;

use std::sync::Arc;

pub use email_address::EmailAddress;
pub use identity_names::{display_name_for, localpart_for};
pub use peers::{bound, internal_info};
pub use routing::{Route, RoutingRules, RoutingTable};

use crate::{Context, FederationService, ServiceError, ServiceResult};

/// `GET /_matrix/identity/api/v1/info`: where an address's owner registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicRoute {
    pub hs: String,
    pub shadow_hs: Option<String>,
    /// Where the rules send the address now, when an account elsewhere already holds it.
    pub new_hs: Option<String>,
}

/// `GET /_matrix/identity/api/v1/internal-info`: what the servers of the federation tell each
/// other, which the public never sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalRoute {
    pub hs: String,
    pub shadow_hs: Option<String>,
    pub requires_invite: bool,
    /// A pending, unexpired email invitation exists for the address.
    pub invited: bool,
    /// The account of this server the address is bound to.
    pub mxid: Option<ruma::OwnedUserId>,
}

#[derive(Clone)]
pub struct PolicyService {
    context: Arc<Context>,
    federation: FederationService,
    routing: Option<Arc<RoutingTable>>,
}

impl PolicyService {
    pub(crate) fn new(context: Arc<Context>, federation: FederationService) -> ServiceResult<Self> {
        let routing = match &context.config.policy.routing_file {
            Some(path) => Some(Arc::new(RoutingTable::load(path).map_err(|e| {
                ServiceError::Internal(format!("policy.routing_file: {e}"))
            })?)),
            None => None,
        };
        Ok(Self {
            context,
            federation,
            routing,
        })
    }

    /// Under the room access rules, externals do not browse the room directory (TCHAP.md §3),
    /// nor does anyone who does not say who they are.
    pub fn check_may_browse_rooms(&self, user_id: Option<&ruma::UserId>) -> ServiceResult<()> {
        let policy = &self.context.config.policy;
        let Some(user_id) = user_id else {
            return match policy.room_access_rules {
                true => Err(ServiceError::MissingToken(
                    "Sign in to browse the room directory".to_owned(),
                )),
                false => Ok(()),
            };
        };
        if access_rules::is_external_under_rules(&self.context, user_id.as_str()) {
            return Err(ServiceError::Forbidden(
                "Externals do not browse the room directory".to_owned(),
            ));
        }
        Ok(())
    }

    /// Whether this server routes email addresses (and answers identity lookups).
    pub fn routes_emails(&self) -> bool {
        self.routing.is_some()
    }

    /// Where `address` belongs: its rule, or the externals' server for an address no rule
    /// matches, even one that is not a valid address.
    pub fn route(&self, address: &str) -> ServiceResult<Route> {
        let Some(routing) = &self.routing else {
            return Err(ServiceError::NotFound(
                "This server does not route email addresses".to_owned(),
            ));
        };
        let rules = routing.current();
        let matched = EmailAddress::parse(address)
            .ok()
            .and_then(|address| rules.route(address.as_str()).cloned());
        if let Some(route) = matched {
            return Ok(route);
        }
        let external = self.context.config.policy.external_servers.first();
        external
            .map(|hs| Route {
                hs: hs.clone(),
                shadow_hs: None,
                requires_invite: true,
            })
            .ok_or_else(|| {
                ServiceError::NotFound(format!("No server of this federation takes {address:?}"))
            })
    }

    /// What anyone may learn of `address`: its rule's server, or the server of the account
    /// the address is already bound to (the rule's server then given as `new_hs`).
    pub async fn public_route(&self, address: &str) -> ServiceResult<PublicRoute> {
        let route = self.route(address)?;
        let bound = self.bound_server(address).await?;
        Ok(match bound {
            Some(bound) if bound != route.hs => PublicRoute {
                hs: bound,
                shadow_hs: None,
                new_hs: Some(route.hs),
            },
            _ => PublicRoute {
                hs: route.hs,
                shadow_hs: route.shadow_hs,
                new_hs: None,
            },
        })
    }

    /// The server of the account `address` is bound to, when this server holds that account.
    async fn bound_server(&self, address: &str) -> ServiceResult<Option<String>> {
        let Ok(address) = EmailAddress::parse(address) else {
            return Ok(None);
        };
        let threepids = &self.context.storage.threepids;
        let owner = threepids.owner("email", address.as_str()).await?;
        Ok(owner.map(|user| user.server_name().to_string()))
    }

    /// Whether `address`'s owner may register on this server (TCHAP.md §2): always, without
    /// routing rules; otherwise only when the address routes here and needs no invitation it
    /// lacks. A lookup that fails denies.
    pub async fn may_register_here(&self, address: &EmailAddress) -> ServiceResult<bool> {
        if !self.routed_here(address) {
            return Ok(false);
        }
        let requires_invite = self
            .route(address.as_str())
            .is_ok_and(|route| route.requires_invite);
        Ok(!requires_invite || self.invited_anywhere(address).await?)
    }

    /// Whether a user of this server may add `address` to their account: always, without
    /// routing rules; otherwise only when it routes here, so lookups keep finding them.
    pub fn may_bind_here(&self, address: &EmailAddress) -> bool {
        self.routed_here(address)
    }

    fn routed_here(&self, address: &EmailAddress) -> bool {
        if self.routing.is_none() {
            return true;
        }
        // By the rules alone: callers refuse addresses already bound to an account first.
        match self.route(address.as_str()) {
            Ok(route) => route.hs == self.context.server_name.as_str(),
            Err(e) => {
                tracing::warn!(%address, "address refused, it could not be routed: {e}");
                false
            }
        }
    }

    /// What the federation's servers learn of `address`.
    pub async fn internal_route(&self, address: &str) -> ServiceResult<InternalRoute> {
        let route = self.route(address)?;
        let mut answer = InternalRoute {
            hs: route.hs,
            shadow_hs: route.shadow_hs,
            requires_invite: route.requires_invite,
            invited: false,
            mxid: None,
        };
        let Ok(address) = EmailAddress::parse(address) else {
            return Ok(answer);
        };
        let storage = &self.context.storage;
        if let Some(owner) = storage.threepids.owner("email", address.as_str()).await? {
            answer.hs = owner.server_name().to_string();
            if crate::accounts::is_active_local_user(&self.context, &owner).await? {
                answer.mxid = Some(owner);
            }
        }
        answer.invited = self.invited(&address).await?;
        Ok(answer)
    }

    /// Whether an unexpired email invitation (not revoked) waits for `address` here.
    async fn invited(&self, address: &EmailAddress) -> ServiceResult<bool> {
        let invitations = &self.context.storage.email_invitations;
        let pending = invitations
            .pending_for(address.as_str(), self.context.now())
            .await?;
        Ok(!pending.is_empty())
    }
}
