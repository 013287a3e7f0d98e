//! `Ruma<T>`: the extractor that turns an HTTP request into a typed ruma request, after
//! authenticating it, rate-limiting it and bounding its body; and `RumaResponse<T>`, its
//! counterpart for responses.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, RawPathParams, Request};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use estafette_service::Requester;
use http::{Method, StatusCode, header};
use ruma::api::auth_scheme::{
    AccessToken, AccessTokenOptional, AppserviceToken, AppserviceTokenOptional, NoAccessToken,
    NoAuthentication, extract_bearer_or_query_token,
};
use ruma::api::error::{DeserializationError, FromHttpRequestError};
use ruma::api::{
    IncomingRequest, IncomingRequestExt, Metadata, OutgoingResponse, OutgoingResponseExt,
};

use crate::{ApiError, AppState};

/// Whether an endpoint's authentication scheme needs an access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenRequirement {
    /// The token is not looked at, even if a client sends one.
    Ignored,
    Optional,
    Required,
    /// A request from another server, signed with X-Matrix.
    ServerSignatures,
    /// An access token of the identity service (`/_matrix/identity/v2`).
    IdentityService,
}

pub(crate) trait AuthRequirement {
    const TOKEN: TokenRequirement;
}

impl AuthRequirement for NoAuthentication {
    const TOKEN: TokenRequirement = TokenRequirement::Ignored;
}
impl AuthRequirement for NoAccessToken {
    const TOKEN: TokenRequirement = TokenRequirement::Ignored;
}
impl AuthRequirement for AccessTokenOptional {
    const TOKEN: TokenRequirement = TokenRequirement::Optional;
}
impl AuthRequirement for AccessToken {
    const TOKEN: TokenRequirement = TokenRequirement::Required;
}
impl AuthRequirement for AppserviceToken {
    const TOKEN: TokenRequirement = TokenRequirement::Required;
}
impl AuthRequirement for AppserviceTokenOptional {
    const TOKEN: TokenRequirement = TokenRequirement::Optional;
}
impl AuthRequirement for ruma::api::federation::authentication::ServerSignatures {
    const TOKEN: TokenRequirement = TokenRequirement::ServerSignatures;
}
impl AuthRequirement for ruma::api::identity_service::IdentityServiceToken {
    const TOKEN: TokenRequirement = TokenRequirement::IdentityService;
}

/// Who calls the identity service: the user its access token was granted to.
pub(crate) struct IdentityCaller {
    pub user_id: ruma::OwnedUserId,
    pub token: String,
}

/// A parsed, authenticated request.
pub(crate) struct Ruma<T> {
    pub body: T,
    pub requester: Option<Requester>,
    /// The server that signed a federation request.
    pub origin: Option<ruma::OwnedServerName>,
    /// Who calls an endpoint of the identity service.
    pub identity: Option<IdentityCaller>,
    pub client_ip: Option<IpAddr>,
    /// The query string, for parameters ruma's type does not know (MSC4140's delay on the
    /// send endpoints).
    pub query: Option<String>,
}

impl<T> Ruma<T> {
    /// The authenticated requester; always present on endpoints that require a token.
    pub fn requester(&self) -> Result<&Requester, ApiError> {
        self.requester.as_ref().ok_or_else(ApiError::missing_token)
    }

    /// Who calls the identity service; always present on its authenticated endpoints.
    pub fn identity(&self) -> Result<&IdentityCaller, ApiError> {
        self.identity.as_ref().ok_or_else(|| {
            ApiError::new(
                http::StatusCode::UNAUTHORIZED,
                ruma::api::error::ErrorKind::Unauthorized,
                "This endpoint requires an identity service access token".to_owned(),
            )
        })
    }

    /// The server that signed a federation request; always present on federation endpoints.
    pub fn origin(&self) -> Result<&ruma::ServerName, ApiError> {
        self.origin.as_deref().ok_or_else(|| {
            ApiError::new(
                http::StatusCode::UNAUTHORIZED,
                ruma::api::error::ErrorKind::Unauthorized,
                "This endpoint requires a signed federation request".to_owned(),
            )
        })
    }

    /// The client's address, as a rate-limiting key.
    pub fn client_key(&self) -> String {
        self.client_ip.map(|ip| ip.to_string()).unwrap_or_default()
    }
}

impl<T> FromRequest<AppState> for Ruma<T>
where
    T: IncomingRequest + Send + 'static,
    T::Authentication: AuthRequirement,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = request.into_parts();
        let path_params = RawPathParams::from_request_parts(&mut parts, state)
            .await
            .map_err(|err| ApiError::invalid_param(format!("Invalid path parameter: {err}")))?;
        let path_args: Vec<String> = path_params
            .iter()
            .map(|(_, value)| value.to_owned())
            .collect();
        let query = parts.uri.query().map(str::to_owned);
        let client_ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        let config = &state.services.context.config;
        // Uploads carry files, not JSON, bounded by the media limit (checked again, with its
        // own error, by the media service).
        let upload = parts.uri.path().starts_with("/_matrix/media/");
        let limit = if upload {
            config
                .limits
                .max_request_body_bytes
                .max(config.media.max_upload_bytes)
        } else {
            config.limits.max_request_body_bytes
        };
        let body = read_body(&parts.headers, body, limit).await?;
        let http_request = http::Request::from_parts(parts, body.as_ref());

        let origin = match <T::Authentication as AuthRequirement>::TOKEN {
            TokenRequirement::ServerSignatures => {
                let origin = state
                    .services
                    .federation
                    .verify_request(&http_request)
                    .await?;
                state.services.federation_sender.peer_is_up(&origin);
                Some(origin)
            }
            _ => None,
        };
        let requester = authenticate::<T>(&http_request, state, client_ip).await?;
        let identity = match <T::Authentication as AuthRequirement>::TOKEN {
            TokenRequirement::IdentityService => Some(identity_caller(&http_request, state).await?),
            _ => None,
        };
        let exempt = requester
            .as_ref()
            .is_some_and(|r| state.services.appservices.exempt_from_rate_limits(r));
        if T::RATE_LIMITED && !exempt {
            let key = match &requester {
                Some(requester) => requester.user_id.to_string(),
                None => client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            };
            state
                .services
                .rate_limits
                .check(&key)
                .await
                .map_err(ApiError::limit_exceeded)?;
        }
        if matches!(
            *http_request.method(),
            Method::POST | Method::PUT | Method::DELETE
        ) && !upload
            && !body.is_empty()
            && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err()
        {
            return Err(ApiError::not_json("The request body is not valid JSON"));
        }
        if !upload {
            crate::preflight::check_body(http_request.method(), http_request.uri().path(), &body)?;
        }
        let path = http_request.uri().path().to_owned();
        let args: Vec<&str> = path_args.iter().map(String::as_str).collect();
        // Some of ruma's deserializers assume what they do not check; the preflight above
        // covers the known cases, and a panic in one still answers as bad input.
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            T::try_from_http_request(http_request, &args)
        }));
        let body = match parsed {
            Ok(parsed) => parsed.map_err(request_error)?,
            Err(_) => {
                tracing::warn!(%path, "the request parser panicked");
                return Err(ApiError::bad_json(
                    "The request is missing something this endpoint requires",
                ));
            }
        };
        Ok(Self {
            body,
            requester,
            origin,
            identity,
            client_ip,
            query,
        })
    }
}

async fn read_body(
    headers: &http::HeaderMap,
    body: axum::body::Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let too_large = || ApiError::too_large(format!("The request body exceeds {limit} bytes"));
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(cause) = source {
            if cause.is::<http_body_util::LengthLimitError>() {
                return too_large();
            }
            source = cause.source();
        }
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ruma::api::error::ErrorKind::Unknown,
            "Could not read the request body",
        )
    })
}

fn is<T: 'static, U: 'static>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<U>()
}

/// Endpoints anyone may call that still learn who calls when a token comes: the room
/// directory, which externals may not browse (TCHAP.md §3).
fn identifies_anyway<T: 'static>() -> bool {
    is::<T, ruma::api::client::directory::get_public_rooms::v3::Request>()
}

async fn authenticate<T>(
    request: &http::Request<&[u8]>,
    state: &AppState,
    client_ip: Option<IpAddr>,
) -> Result<Option<Requester>, ApiError>
where
    T: Metadata + 'static,
    T::Authentication: AuthRequirement,
{
    let requirement = match <T::Authentication as AuthRequirement>::TOKEN {
        TokenRequirement::Ignored if identifies_anyway::<T>() => TokenRequirement::Optional,
        requirement => requirement,
    };
    if matches!(
        requirement,
        TokenRequirement::Ignored
            | TokenRequirement::ServerSignatures
            | TokenRequirement::IdentityService
    ) {
        return Ok(None);
    }
    let token = extract_bearer_or_query_token(request).map_err(|err| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ruma::api::error::ErrorKind::MissingToken,
            err.to_string(),
        )
    })?;
    match token {
        Some(token) => {
            // `/register` names the user it creates in its body: an application service's
            // `user_id` there (mautrix sends it) is not a user to act as.
            let uri = if is::<T, ruma::api::client::account::register::v3::Request>() {
                &http::Uri::from_static("/")
            } else {
                request.uri()
            };
            let requester = requester_of(&token, uri, state, client_ip).await?;
            // An expired account may still sign out (and renew, on routes of their own);
            // application services' users do not expire.
            let path = request.uri().path();
            if requester.appservice.is_none()
                && !(path.ends_with("/logout") || path.ends_with("/logout/all"))
            {
                state
                    .services
                    .account_validity
                    .check(&requester.user_id)
                    .await?;
            }
            Ok(Some(requester))
        }
        None if requirement == TokenRequirement::Required => Err(ApiError::missing_token()),
        None => Ok(None),
    }
}

/// Who sends an access token of the identity service.
pub(crate) async fn identity_caller(
    request: &http::Request<&[u8]>,
    state: &AppState,
) -> Result<IdentityCaller, ApiError> {
    let token = extract_bearer_or_query_token(request)
        .ok()
        .flatten()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                ruma::api::error::ErrorKind::Unauthorized,
                "This endpoint requires an identity service access token".to_owned(),
            )
        })?;
    let user_id = state.services.identity.authenticate(&token).await?;
    Ok(IdentityCaller { user_id, token })
}

/// Who sends an access token (expired accounts included), or an application service's
/// token, acting as the user and device its query names (BRIDGES.md §3.1).
async fn requester_of(
    token: &str,
    uri: &http::Uri,
    state: &AppState,
    client_ip: Option<IpAddr>,
) -> Result<Requester, ApiError> {
    if !state.services.appservices.registry().is_empty() {
        let mut user_id = None;
        let mut device_id = None;
        for (key, value) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        {
            match &*key {
                "user_id" => user_id = Some(value.into_owned()),
                // bot-sdk sends only the unstable name.
                "device_id" | "org.matrix.msc3202.device_id" => {
                    device_id = Some(value.into_owned())
                }
                _ => {}
            }
        }
        if let Some(requester) = state
            .services
            .appservices
            .authenticate(token, user_id.as_deref(), device_id.as_deref(), client_ip)
            .await?
        {
            return Ok(requester);
        }
    }
    let ip = client_ip.map(|ip| ip.to_string());
    Ok(state
        .services
        .sessions
        .authenticate(token, ip.as_deref())
        .await?)
}

/// The requester of a route that is not a ruma type: its access token in the header (or the
/// query). Expired accounts are let through: the routes that renew them call this.
pub(crate) async fn bearer_requester(
    request: &http::Request<&[u8]>,
    state: &AppState,
    client_ip: Option<IpAddr>,
) -> Result<Requester, ApiError> {
    let token = extract_bearer_or_query_token(request)
        .ok()
        .flatten()
        .ok_or_else(ApiError::missing_token)?;
    requester_of(&token, request.uri(), state, client_ip).await
}

/// The requester of a route that is not a ruma type, from its URI and headers (the token in
/// the header or the query): `None` when no token comes.
pub(crate) async fn optional_requester(
    uri: &http::Uri,
    headers: &http::HeaderMap,
    state: &AppState,
    client_ip: Option<IpAddr>,
) -> Result<Option<Requester>, ApiError> {
    let mut probe: http::Request<&[u8]> = http::Request::new(&[]);
    *probe.uri_mut() = uri.clone();
    *probe.headers_mut() = headers.clone();
    match extract_bearer_or_query_token(&probe).ok().flatten() {
        Some(token) => requester_of(&token, uri, state, client_ip).await.map(Some),
        None => Ok(None),
    }
}

fn request_error(err: FromHttpRequestError) -> ApiError {
    match err {
        FromHttpRequestError::Deserialization(DeserializationError::Json(err)) => {
            ApiError::bad_json(format!("Invalid request body: {err}"))
        }
        FromHttpRequestError::Deserialization(DeserializationError::Ident(err)) => {
            ApiError::invalid_param(format!("Invalid identifier: {err}"))
        }
        FromHttpRequestError::Deserialization(err) => {
            ApiError::invalid_param(format!("Invalid request: {err}"))
        }
        FromHttpRequestError::MethodMismatch { expected, received } => ApiError::unrecognized(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Expected {expected}, received {received}"),
        ),
        other => ApiError::bad_json(other.to_string()),
    }
}

/// A typed ruma response.
pub(crate) struct RumaResponse<T>(pub T);

impl<T: OutgoingResponse> IntoResponse for RumaResponse<T> {
    fn into_response(self) -> Response {
        match self.0.try_into_http_response::<BytesMut>() {
            Ok(response) => response
                .map(|body| axum::body::Body::from(body.freeze()))
                .into_response(),
            Err(err) => {
                tracing::error!(error = %err, "could not serialize a response");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ruma::api::error::ErrorKind::Unknown,
                    "Could not serialize the response",
                )
                .into_response()
            }
        }
    }
}

pub(crate) type ApiResult<T> = Result<RumaResponse<T>, ApiError>;

/// A JSON body for endpoints outside the Matrix spec (Synapse's admin API), with the same
/// size limit and error mapping as [`Ruma`].
pub(crate) struct MatrixJson<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequest<AppState> for MatrixJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (_, body) = request.into_parts();
        Self::from_body(state, body).await
    }
}

impl<T: serde::de::DeserializeOwned> MatrixJson<T> {
    /// The body of a request whose head another extractor read.
    pub(crate) async fn from_body(
        state: &AppState,
        body: axum::body::Body,
    ) -> Result<Self, ApiError> {
        let limit = state.services.context.config.limits.max_request_body_bytes;
        let body = read_body(&http::HeaderMap::new(), body, limit).await?;
        if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
            return Err(ApiError::not_json("The request body is not valid JSON"));
        }
        serde_json::from_slice(&body)
            .map(MatrixJson)
            .map_err(|err| ApiError::bad_json(format!("Invalid request body: {err}")))
    }
}

/// The requester behind the access token of a request that is not a ruma type, from its
/// parts (axum extractors of the webhook and admin routes).
pub(crate) async fn requester_of_parts(
    parts: &mut http::request::Parts,
    state: &AppState,
) -> Result<Requester, ApiError> {
    let ClientIp(ip) = ClientIp::from_request_parts(parts, state)
        .await
        .unwrap_or(ClientIp(None));
    let mut probe = http::Request::new(&[][..]);
    *probe.uri_mut() = parts.uri.clone();
    *probe.headers_mut() = parts.headers.clone();
    bearer_requester(&probe, state, ip).await
}

/// The client's address when the server knows it (always, unless driven without a socket).
pub(crate) struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}
