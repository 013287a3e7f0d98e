//! Application services (spec "Application Service API", BRIDGES.md §1–§3): the services'
//! own requests (their token, masquerading as their users and devices, registering their
//! users), what the server asks them (ping, whether a user or alias exists) and the
//! transactions it pushes to them (`delivery`).
//!
//! Owns the registrations (loaded once at start-up) and the delivery state tables; calls
//! accounts (to create users and sessions) and rooms (events to deliver). Rooms ask the
//! services about unknown users and aliases through `queries`.

mod delivery;
mod device_extensions;
mod interest;
mod queries;
mod registry;
mod thirdparty;

use std::sync::Arc;
use std::time::{Duration, Instant};

use estafette_core::Registration;
use ruma::{OwnedDeviceId, OwnedUserId, UserId};

pub use delivery::AppserviceDelivery;
pub use queries::AppserviceQueries;
pub use registry::AppserviceRegistry;
pub use thirdparty::{ThirdPartyLookup, ThirdPartyNetworks};

use crate::accounts::NO_DEVICE;
use crate::{
    AccountService, Context, LoginOutcome, NewAccount, Requester, ServiceError, ServiceResult,
    SessionService,
};

/// How long the server waits for a service's answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct AppserviceService {
    context: Arc<Context>,
    accounts: AccountService,
    sessions: SessionService,
    http: reqwest::Client,
}

/// A `/register` request from an application service.
#[derive(Debug, Clone, Default)]
pub struct AppserviceRegistration {
    pub username: Option<String>,
    pub inhibit_login: bool,
    pub device_id: Option<OwnedDeviceId>,
    pub initial_device_display_name: Option<String>,
    pub refresh_token: bool,
}

impl AppserviceService {
    pub(crate) fn new(
        context: Arc<Context>,
        accounts: AccountService,
        sessions: SessionService,
    ) -> Self {
        Self {
            context,
            accounts,
            sessions,
            http: crate::plain_http_client(REQUEST_TIMEOUT),
        }
    }

    pub fn registry(&self) -> &AppserviceRegistry {
        &self.context.appservices
    }

    /// The requester behind an application service's token (BRIDGES.md §3.1): its sender,
    /// or the user of its namespace it names (who must exist), through the device it names
    /// (which must exist). `None` when the token is no service's.
    pub async fn authenticate(
        &self,
        token: &str,
        user_id: Option<&str>,
        device_id: Option<&str>,
        client_ip: Option<std::net::IpAddr>,
    ) -> ServiceResult<Option<Requester>> {
        let Some(service) = self.registry().by_token(token) else {
            return Ok(None);
        };
        if !service.accepts_from(client_ip) {
            // As Synapse: the token is unknown from anywhere else.
            tracing::warn!(appservice = %service.id, ?client_ip, "an application service token from outside its ip_range_whitelist");
            return Err(ServiceError::UnknownToken {
                soft_logout: false,
                message: "Unknown access token".to_owned(),
            });
        }
        let user_id = match user_id {
            None => service.sender.clone(),
            Some(user_id) => {
                let user_id = UserId::parse(user_id).map_err(|e| {
                    ServiceError::Forbidden(format!("`user_id` is not a user ID: {e}"))
                })?;
                if !service.is_user_of(&user_id) {
                    return Err(ServiceError::Forbidden(format!(
                        "Application service {} cannot masquerade as {user_id}: it is outside \
                         its namespace",
                        service.id
                    )));
                }
                let known = self.context.storage.users.get(&user_id).await?.is_some();
                if user_id != service.sender && !known {
                    return Err(ServiceError::Forbidden(format!(
                        "Application service {} has not registered {user_id}",
                        service.id
                    )));
                }
                user_id
            }
        };
        let device_id = match device_id {
            None => OwnedDeviceId::from(NO_DEVICE),
            Some(device_id) => {
                let device_id = OwnedDeviceId::from(device_id);
                let known = self
                    .context
                    .storage
                    .devices
                    .get(&user_id, &device_id)
                    .await?
                    .is_some();
                if !known {
                    return Err(ServiceError::UnknownDevice(format!(
                        "{user_id} has no device {device_id}"
                    )));
                }
                device_id
            }
        };
        Ok(Some(Requester {
            user_id,
            device_id,
            appservice: Some(service.id.clone()),
        }))
    }

    /// The registration a requester acts for, if it is an application service.
    pub fn service_of(&self, requester: &Requester) -> Option<&Arc<Registration>> {
        requester
            .appservice
            .as_deref()
            .and_then(|id| self.registry().by_id(id))
    }

    /// Whether the requester's limits are lifted (`rate_limited: false`, or the service's
    /// own user, which is never limited).
    pub fn exempt_from_rate_limits(&self, requester: &Requester) -> bool {
        self.service_of(requester)
            .is_some_and(|service| !service.rate_limited || requester.user_id == service.sender)
    }

    /// Registers a user of the service's namespace (BRIDGES.md §3.2): nothing that applies
    /// to people (closed registration, authentication, username rules beyond the user ID
    /// grammar, email routing) applies.
    pub async fn register(
        &self,
        requester: &Requester,
        request: AppserviceRegistration,
    ) -> ServiceResult<(OwnedUserId, Option<LoginOutcome>)> {
        let service = self.service_of(requester).ok_or_else(|| {
            ServiceError::Forbidden("Only an application service may register this way".into())
        })?;
        let localpart = request
            .username
            .ok_or_else(|| ServiceError::MissingParam("`username` is required".into()))?;
        let user_id = UserId::parse_with_server_name(localpart.as_str(), &self.context.server_name)
            .map_err(|e| ServiceError::InvalidUsername(format!("Invalid username: {e}")))?;
        if !service.is_user_of(&user_id) {
            return Err(ServiceError::Exclusive(format!(
                "{user_id} is not in the namespace of application service {}",
                service.id
            )));
        }
        if !request.inhibit_login && service.device_management {
            return Err(ServiceError::AppserviceLoginUnsupported(format!(
                "Application service {} manages its devices itself: register with \
                 `inhibit_login: true`",
                service.id
            )));
        }
        self.accounts
            .create(NewAccount {
                localpart: Some(localpart),
                trusted_localpart: true,
                ..Default::default()
            })
            .await?;
        let session = self
            .sessions
            .session_after_registration(
                &user_id,
                request.inhibit_login,
                request.device_id,
                request.initial_device_display_name.as_deref(),
                request.refresh_token,
            )
            .await?;
        Ok((user_id, session))
    }

    /// Logs a user of the service's namespace in (`m.login.application_service`).
    pub async fn login(
        &self,
        requester: &Requester,
        user: &str,
        device_id: Option<OwnedDeviceId>,
        initial_device_display_name: Option<&str>,
        refresh_token: bool,
    ) -> ServiceResult<LoginOutcome> {
        let service = self.service_of(requester).ok_or_else(|| {
            ServiceError::Forbidden("This login type needs an application service token".into())
        })?;
        if service.device_management {
            return Err(ServiceError::AppserviceLoginUnsupported(format!(
                "Application service {} manages its devices itself and cannot log in",
                service.id
            )));
        }
        let user_id = if user.starts_with('@') {
            UserId::parse(user).map_err(|e| ServiceError::InvalidParam(format!("{e}")))?
        } else {
            UserId::parse_with_server_name(user, &self.context.server_name)
                .map_err(|e| ServiceError::InvalidParam(format!("{e}")))?
        };
        if !service.is_user_of(&user_id) {
            return Err(ServiceError::Forbidden(format!(
                "{user_id} is not in the namespace of application service {}",
                service.id
            )));
        }
        if self.context.storage.users.get(&user_id).await?.is_none() {
            return Err(ServiceError::Forbidden(format!(
                "{user_id} is not registered"
            )));
        }
        self.sessions
            .open_session(
                &user_id,
                device_id,
                initial_device_display_name,
                refresh_token,
            )
            .await
    }

    /// Creates every service's own user that does not exist yet, so that it can be
    /// invited, joined and masqueraded like any other.
    pub async fn ensure_senders(&self) -> ServiceResult<()> {
        for service in self.registry().all() {
            let created = self
                .accounts
                .create(NewAccount {
                    localpart: Some(service.sender.localpart().to_owned()),
                    trusted_localpart: true,
                    ..Default::default()
                })
                .await;
            match created {
                Ok(_) | Err(ServiceError::UserInUse) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// `POST /appservice/{id}/ping`: asks the service to answer, and resends what waits for
    /// it at once when it does. Returns how long it took.
    pub async fn ping(
        &self,
        requester: &Requester,
        appservice_id: &str,
        transaction_id: Option<&str>,
    ) -> ServiceResult<u64> {
        let service = self
            .service_of(requester)
            .filter(|service| service.id == appservice_id)
            .ok_or_else(|| {
                ServiceError::Forbidden(format!(
                    "Only application service {appservice_id} may ping itself"
                ))
            })?;
        let url = service.url.as_deref().ok_or_else(|| {
            ServiceError::UrlNotSet(format!("Application service {appservice_id} has no URL"))
        })?;
        let mut body = serde_json::Map::new();
        if let Some(id) = transaction_id {
            body.insert("transaction_id".into(), id.into());
        }
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{url}/_matrix/app/v1/ping"))
            .bearer_auth(&service.hs_token)
            .json(&body)
            .send()
            .await
            .map_err(|err| {
                if err.is_timeout() {
                    ServiceError::ConnectionTimeout(format!(
                        "Application service {appservice_id} did not answer in time"
                    ))
                } else {
                    ServiceError::ConnectionFailed(format!(
                        "Application service {appservice_id} cannot be reached: {err}"
                    ))
                }
            })?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(ServiceError::BadStatus {
                status: status.as_u16(),
                body,
            });
        }
        let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.context
            .storage
            .appservices
            .retry_now(&service.id)
            .await?;
        self.context.appservice_wake.notify_one();
        Ok(elapsed)
    }
}

/// An identifier as one segment of a path the server requests from a service.
fn path_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}
