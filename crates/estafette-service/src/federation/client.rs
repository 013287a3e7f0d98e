//! Talking to other servers: discovery, signed requests (X-Matrix), fetching and caching their
//! signing keys, and verifying their requests. A closed federation (`allowed_servers`) is
//! enforced here, in both directions.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ruma::api::auth_scheme::NoAuthentication;
use ruma::api::federation::authentication::{ServerSignatures, XMatrix, XMatrixSigningInput};
use ruma::api::path_builder::SinglePath;
use ruma::api::{IncomingResponse, IncomingResponseExt, OutgoingRequest, OutgoingRequestExt};
use ruma::serde::Base64;
use ruma::signatures::PublicKeyMap;
use ruma::{OwnedServerName, ServerName};
use serde_json::Value as JsonValue;

use crate::{Context, ServiceError, ServiceResult};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a server's federation API answers: the URL to connect to, and the `Host` its
/// requests carry (the name the certificate must be for).
#[derive(Debug, Clone)]
pub(crate) struct Destination {
    pub url: String,
    pub host: String,
}

impl Destination {
    /// A name used as is: with its port, or an IP address on port 8448.
    fn at(name: &ServerName) -> Self {
        let url = match name.port() {
            Some(_) => format!("https://{name}"),
            None => format!("https://{name}:8448"),
        };
        Self {
            url,
            host: name.to_string(),
        }
    }
}

#[derive(Clone)]
pub struct FederationService {
    pub(crate) context: Arc<Context>,
    pub(crate) http: reqwest::Client,
    /// Where each server's federation API answers, once discovered.
    resolved: Arc<Mutex<HashMap<OwnedServerName, Destination>>>,
    /// Pinned servers whose key document matched the pin, until the document expires.
    pub(crate) pins_checked: Arc<Mutex<HashMap<OwnedServerName, u64>>>,
    /// SRV lookups and the addresses connections go to; `None` when no DNS configuration
    /// could be read (then the system's plain lookups, and no SRV).
    dns: Option<crate::federation::dns::Dns>,
}

impl FederationService {
    pub(crate) fn new(context: Arc<Context>) -> ServiceResult<Self> {
        let dns = match crate::federation::dns::Dns::new(&context.config.federation.nameservers) {
            Ok(dns) => Some(dns),
            Err(e) => {
                tracing::warn!("no SRV discovery of other servers: {e}");
                None
            }
        };
        let mut builder = reqwest::Client::builder()
            .danger_accept_invalid_certs(context.config.federation.insecure_tls)
            .timeout(REQUEST_TIMEOUT);
        if let Some(dns) = &dns {
            builder = builder.dns_resolver(Arc::new(dns.clone()));
        }
        let http = builder.build().map_err(|e| {
            ServiceError::Internal(format!("cannot build the federation client: {e}"))
        })?;
        Ok(Self {
            context,
            http,
            resolved: Arc::default(),
            pins_checked: Arc::default(),
            dns,
        })
    }

    /// Whether this server federates with `server` (closed federation when a list is set).
    pub fn allowed(&self, server: &ServerName) -> bool {
        self.context.config.federation.allows(server.as_str())
    }

    pub(crate) fn check_allowed(&self, server: &ServerName) -> ServiceResult<()> {
        if self.allowed(server) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "Federation with {server} is not allowed on this server"
            )))
        }
    }

    /// Server discovery as the spec orders it: an IP literal or an explicit port is used as
    /// is; otherwise `/.well-known/matrix/server` may delegate to another name, and a name
    /// without a port is looked up as an SRV record (`_matrix-fed._tcp`, then `_matrix._tcp`)
    /// before falling back to port 8448.
    pub(crate) async fn base_url(&self, server: &ServerName) -> Destination {
        if let Some(destination) = self
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(server)
        {
            return destination.clone();
        }
        let direct = |name: &ServerName| name.port().is_some() || name.is_ip_literal();
        let destination = if direct(server) {
            Destination::at(server)
        } else {
            let well_known = self
                .http
                .get(format!("https://{server}/.well-known/matrix/server"))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            let delegated = match well_known {
                Some(response) => response
                    .json::<JsonValue>()
                    .await
                    .ok()
                    .and_then(|v| OwnedServerName::try_from(v["m.server"].as_str()?).ok()),
                None => None,
            };
            match delegated {
                Some(target) if direct(&target) => Destination::at(&target),
                Some(target) => self.srv_or_8448(target.as_str()).await,
                None => self.srv_or_8448(server.as_str()).await,
            }
        };
        self.resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(server.to_owned(), destination.clone());
        destination
    }

    /// The name's SRV record (connections then go to its target), or port 8448; the `Host`
    /// is the name alone.
    async fn srv_or_8448(&self, hostname: &str) -> Destination {
        let srv = match &self.dns {
            Some(dns) => dns.srv(hostname).await,
            None => None,
        };
        let port = srv.map_or(8448, |(_, port)| port);
        Destination {
            url: format!("https://{hostname}:{port}"),
            host: hostname.to_owned(),
        }
    }

    /// This server's name, which signs its requests.
    pub fn server_name(&self) -> &ServerName {
        &self.context.server_name
    }

    /// Sends a signed request to another server and parses its answer.
    pub async fn send<R>(
        &self,
        destination: &ServerName,
        request: R,
    ) -> ServiceResult<R::IncomingResponse>
    where
        R: OutgoingRequest<Authentication = ServerSignatures, PathBuilder = SinglePath>,
    {
        self.check_allowed(destination)?;
        self.check_pinned_peer(destination).await?;
        let target = self.base_url(destination).await;
        let signing = XMatrixSigningInput::new(
            self.context.server_name.clone(),
            destination.to_owned(),
            &self.context.server_key.key_pair,
        );
        let http_request = request
            .try_into_http_request::<Vec<u8>>(&target.url, signing, ())
            .map_err(|e| {
                ServiceError::Internal(format!("cannot build a request to {destination}: {e}"))
            })?;
        self.round_trip::<R::IncomingResponse>(destination, &target, http_request)
            .await
    }

    /// Sends a request the spec leaves unsigned (an identity service calls it: `3pid/onbind`).
    pub async fn send_unsigned<R>(
        &self,
        destination: &ServerName,
        request: R,
    ) -> ServiceResult<R::IncomingResponse>
    where
        R: OutgoingRequest<Authentication = NoAuthentication, PathBuilder = SinglePath>,
    {
        self.check_allowed(destination)?;
        self.check_pinned_peer(destination).await?;
        let target = self.base_url(destination).await;
        let http_request = request
            .try_into_http_request::<Vec<u8>>(&target.url, (), ())
            .map_err(|e| {
                ServiceError::Internal(format!("cannot build a request to {destination}: {e}"))
            })?;
        self.round_trip::<R::IncomingResponse>(destination, &target, http_request)
            .await
    }

    async fn round_trip<Response: IncomingResponse>(
        &self,
        destination: &ServerName,
        target: &Destination,
        http_request: http::Request<Vec<u8>>,
    ) -> ServiceResult<Response> {
        let (parts, body) = http_request.into_parts();
        let response = self
            .http
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .header(reqwest::header::HOST, &target.host)
            .body(body)
            .send()
            .await
            .map_err(|e| ServiceError::Unavailable(format!("{destination} is unreachable: {e}")))?;
        let status = response.status();
        // Some answers are read from their headers too (media: multipart/mixed).
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ServiceError::Unavailable(format!("{destination}: {e}")))?;
        if !status.is_success() {
            return Err(remote_error(destination, status, &bytes));
        }
        let mut http_response = http::Response::builder()
            .status(status)
            .body(bytes.as_ref())
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        *http_response.headers_mut() = headers;
        Response::try_from_http_response(http_response).map_err(|e| {
            ServiceError::Unavailable(format!("{destination} answered with an error: {e}"))
        })
    }

    /// Checks an inbound request's X-Matrix signature; returns the origin server.
    pub async fn verify_request(
        &self,
        request: &http::Request<&[u8]>,
    ) -> ServiceResult<OwnedServerName> {
        let unauthorized = |message: String| ServiceError::Unauthorized(message);
        let x_matrix = XMatrix::extract_from_http_headers(request.headers())
            .map_err(|e| unauthorized(format!("Missing or invalid X-Matrix authorization: {e}")))?;
        let origin = x_matrix.origin.clone();
        self.check_allowed(&origin)?;
        let key_id = x_matrix.key.to_string();
        let key = self
            .verify_key(&origin, &key_id)
            .await
            .map_err(|e| unauthorized(format!("Cannot get the keys of {origin}: {e}")))?
            .ok_or_else(|| {
                let pinned = self.context.config.federation.pinned_keys(origin.as_str());
                let why = if pinned.is_some() {
                    ", not the key pinned for it"
                } else {
                    ""
                };
                unauthorized(format!("Unknown key {key_id} of {origin}{why}"))
            })?;
        let key =
            Base64::parse(&key).map_err(|e| unauthorized(format!("Bad key of {origin}: {e}")))?;
        let mut public_keys = PublicKeyMap::new();
        public_keys.insert(origin.to_string(), BTreeMap::from([(key_id, key)]));
        x_matrix
            .verify_http_request(request, &self.context.server_name, &public_keys)
            .map_err(|e| unauthorized(format!("Invalid signature from {origin}: {e}")))?;
        Ok(origin)
    }
}

/// Another server's error answer, as this server's own error where the client should see it
/// (refused, not found, unsupported room version) and as "unavailable" otherwise.
fn remote_error(destination: &ServerName, status: http::StatusCode, body: &[u8]) -> ServiceError {
    let body: JsonValue = serde_json::from_slice(body).unwrap_or_default();
    let errcode = body["errcode"].as_str().unwrap_or_default();
    let message = format!(
        "{destination}: {}",
        body["error"].as_str().unwrap_or(status.as_str())
    );
    match (status.as_u16(), errcode) {
        (403, _) => ServiceError::Forbidden(message),
        (404, "M_NOT_FOUND") => ServiceError::NotFound(message),
        (400, "M_INCOMPATIBLE_ROOM_VERSION" | "M_UNSUPPORTED_ROOM_VERSION") => {
            ServiceError::UnsupportedRoomVersion(message)
        }
        _ => ServiceError::Unavailable(format!("{destination} answered {status}: {message}")),
    }
}
