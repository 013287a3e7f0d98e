//! The one mapping from failures to Matrix errors (`errcode`, HTTP status, message).

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use estafette_service::ServiceError;
use http::StatusCode;
use ruma::api::OutgoingResponseExt;
use ruma::api::client::uiaa::{UiaaInfo, UiaaResponse};
use ruma::api::error::{
    Error as RumaError, ErrorBody, ErrorKind, LimitExceededErrorData, RetryAfter,
    StandardErrorBody, UnknownTokenErrorData,
};

/// A Matrix error response.
#[derive(Debug)]
pub enum ApiError {
    Standard {
        status: StatusCode,
        kind: ErrorKind,
        message: String,
    },
    /// User-interactive authentication continues: 401 with the session's flows.
    Uia(Box<UiaaInfo>),
    /// A service this request needs is down for now: 503 with `Retry-After`.
    Unavailable {
        retry_after: Duration,
        message: String,
    },
}

impl ApiError {
    pub fn new(status: StatusCode, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::Standard {
            status,
            kind,
            message: message.into(),
        }
    }

    pub fn bad_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorKind::BadJson, message)
    }

    pub fn not_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorKind::NotJson, message)
    }

    pub fn invalid_param(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorKind::InvalidParam, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorKind::Forbidden, message)
    }

    pub fn missing_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorKind::MissingToken,
            "Missing access token",
        )
    }

    pub fn unrecognized(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, ErrorKind::Unrecognized, message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorKind::TooLarge, message)
    }

    pub fn limit_exceeded(retry_after: Duration) -> Self {
        let mut data = LimitExceededErrorData::new();
        data.retry_after = Some(RetryAfter::Delay(retry_after));
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::LimitExceeded(data),
            "Too many requests",
        )
    }

    fn unknown_token(soft_logout: bool, message: String) -> Self {
        let mut data = UnknownTokenErrorData::new();
        data.soft_logout = soft_logout;
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorKind::UnknownToken(data),
            message,
        )
    }
}

/// An errcode of the spec that ruma has no variant for.
pub(crate) fn spec_errcode(errcode: &str) -> ErrorKind {
    serde_json::from_value::<StandardErrorBody>(
        serde_json::json!({"errcode": errcode, "error": ""}),
    )
    .map(|body| body.kind)
    .unwrap_or(ErrorKind::Unknown)
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        let message = err.to_string();
        match err {
            ServiceError::Forbidden(_) => Self::forbidden(message),
            ServiceError::NotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, message)
            }
            ServiceError::InvalidParam(_) => Self::invalid_param(message),
            ServiceError::MissingParam(_) => {
                Self::new(StatusCode::BAD_REQUEST, ErrorKind::MissingParam, message)
            }
            ServiceError::BadJson(_) => Self::bad_json(message),
            ServiceError::ServerManaged(_) => {
                Self::new(StatusCode::METHOD_NOT_ALLOWED, ErrorKind::BadJson, message)
            }
            ServiceError::Unknown(_) => {
                Self::new(StatusCode::BAD_REQUEST, ErrorKind::Unknown, message)
            }
            ServiceError::InvalidUsername(_) => {
                Self::new(StatusCode::BAD_REQUEST, ErrorKind::InvalidUsername, message)
            }
            ServiceError::UserInUse => {
                Self::new(StatusCode::BAD_REQUEST, ErrorKind::UserInUse, message)
            }
            ServiceError::WeakPassword(_) => {
                Self::new(StatusCode::BAD_REQUEST, ErrorKind::WeakPassword, message)
            }
            ServiceError::UserDeactivated => {
                Self::new(StatusCode::FORBIDDEN, ErrorKind::UserDeactivated, message)
            }
            ServiceError::GuestAccessForbidden(_) => Self::new(
                StatusCode::FORBIDDEN,
                ErrorKind::GuestAccessForbidden,
                message,
            ),
            ServiceError::UnknownToken {
                soft_logout,
                message,
            } => Self::unknown_token(soft_logout, message),
            ServiceError::AuthenticationRequired(info) => Self::Uia(info),
            ServiceError::TooLarge(_) => Self::too_large(message),
            ServiceError::Conflict(_) => {
                Self::new(StatusCode::CONFLICT, ErrorKind::Unknown, message)
            }
            ServiceError::BadAlias(_) => {
                Self::new(StatusCode::BAD_REQUEST, ErrorKind::BadAlias, message)
            }
            ServiceError::Unauthorized(_) => {
                Self::new(StatusCode::UNAUTHORIZED, ErrorKind::Unauthorized, message)
            }
            ServiceError::MissingToken(_) => {
                Self::new(StatusCode::UNAUTHORIZED, ErrorKind::MissingToken, message)
            }
            ServiceError::Unavailable(_) => {
                Self::new(StatusCode::BAD_GATEWAY, ErrorKind::Unknown, message)
            }
            ServiceError::LimitExceeded(_) => {
                let mut data = LimitExceededErrorData::new();
                data.retry_after = Some(RetryAfter::Delay(Duration::from_secs(1)));
                Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorKind::LimitExceeded(data),
                    message,
                )
            }
            ServiceError::WrongRoomKeysVersion(current) => Self::new(
                StatusCode::FORBIDDEN,
                ErrorKind::WrongRoomKeysVersion(
                    ruma::api::error::WrongRoomKeysVersionErrorData::new(current),
                ),
                message,
            ),
            ServiceError::InvalidSignature(_) => Self::new(
                StatusCode::BAD_REQUEST,
                spec_errcode("M_INVALID_SIGNATURE"),
                message,
            ),
            ServiceError::ThreepidInUse(_) => {
                Self::new(StatusCode::BAD_REQUEST, ErrorKind::ThreepidInUse, message)
            }
            ServiceError::InvalidPepper(_) => Self::new(
                StatusCode::BAD_REQUEST,
                spec_errcode("M_INVALID_PEPPER"),
                message,
            ),
            ServiceError::AccountExpired(_) => Self::new(
                StatusCode::FORBIDDEN,
                spec_errcode("ORG_MATRIX_EXPIRED_ACCOUNT"),
                message,
            ),
            ServiceError::ThreepidNotFound(_) => Self::new(
                StatusCode::BAD_REQUEST,
                ErrorKind::ThreepidNotFound,
                message,
            ),
            ServiceError::ThreepidDenied(_) => {
                Self::new(StatusCode::FORBIDDEN, ErrorKind::ThreepidDenied, message)
            }
            ServiceError::MediaNotClean(_)
            | ServiceError::MimeTypeForbidden(_)
            | ServiceError::BadRequestEncryption(_) => Self::forbidden(message),
            ServiceError::DecryptionFailed(_) => Self::invalid_param(message),
            ServiceError::CannotOverwriteMedia(_) => Self::new(
                StatusCode::CONFLICT,
                ErrorKind::CannotOverwriteMedia,
                message,
            ),
            ServiceError::NotYetUploaded(_) => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                ErrorKind::NotYetUploaded,
                message,
            ),
            ServiceError::ScannerUnavailable {
                retry_after_secs, ..
            } => Self::Unavailable {
                retry_after: Duration::from_secs(retry_after_secs),
                message,
            },
            ServiceError::UnknownPos(_) => {
                Self::new(StatusCode::BAD_REQUEST, ErrorKind::UnknownPos, message)
            }
            ServiceError::ProfileTooLarge(_) => Self::new(
                StatusCode::BAD_REQUEST,
                spec_errcode("M_PROFILE_TOO_LARGE"),
                message,
            ),
            ServiceError::KeyTooLarge(_) => Self::new(
                StatusCode::BAD_REQUEST,
                spec_errcode("M_KEY_TOO_LARGE"),
                message,
            ),
            ServiceError::NotInThread(_) => Self::new(
                StatusCode::BAD_REQUEST,
                spec_errcode("IO.ELEMENT.MSC4306.M_NOT_IN_THREAD"),
                message,
            ),
            ServiceError::ConflictingUnsubscription(_) => Self::new(
                StatusCode::CONFLICT,
                spec_errcode("IO.ELEMENT.MSC4306.M_CONFLICTING_UNSUBSCRIPTION"),
                message,
            ),
            ServiceError::Exclusive(_) => {
                Self::new(StatusCode::BAD_REQUEST, ErrorKind::Exclusive, message)
            }
            ServiceError::UnknownDevice(_) => {
                Self::new(StatusCode::BAD_REQUEST, ErrorKind::UnknownDevice, message)
            }
            ServiceError::AppserviceLoginUnsupported(_) => Self::new(
                StatusCode::BAD_REQUEST,
                ErrorKind::AppserviceLoginUnsupported,
                message,
            ),
            ServiceError::UrlNotSet(_) => {
                Self::new(StatusCode::BAD_REQUEST, ErrorKind::UrlNotSet, message)
            }
            ServiceError::BadStatus { status, body } => {
                let mut data = ruma::api::error::BadStatusErrorData::new();
                data.status = http::StatusCode::from_u16(status).ok();
                data.body = Some(body);
                Self::new(StatusCode::BAD_GATEWAY, ErrorKind::BadStatus(data), message)
            }
            ServiceError::ConnectionTimeout(_) => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                ErrorKind::ConnectionTimeout,
                message,
            ),
            ServiceError::ConnectionFailed(_) => Self::new(
                StatusCode::BAD_GATEWAY,
                ErrorKind::ConnectionFailed,
                message,
            ),
            ServiceError::RoomInUse(_) => {
                Self::new(StatusCode::BAD_REQUEST, ErrorKind::RoomInUse, message)
            }
            ServiceError::IncompatibleRoomVersion(version) => Self::new(
                StatusCode::BAD_REQUEST,
                ErrorKind::IncompatibleRoomVersion(
                    ruma::api::error::IncompatibleRoomVersionErrorData::new(version.clone()),
                ),
                message,
            ),
            ServiceError::UnsupportedRoomVersion(_) => Self::new(
                StatusCode::BAD_REQUEST,
                ErrorKind::UnsupportedRoomVersion,
                message,
            ),
            ServiceError::Internal(_) | ServiceError::Storage(_) => {
                tracing::error!(error = %message, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorKind::Unknown,
                    "Internal server error",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let response = match self {
            Self::Standard {
                status,
                kind,
                message,
            } => RumaError::new(
                status,
                ErrorBody::Standard(StandardErrorBody::new(kind, message)),
            )
            .try_into_http_response::<BytesMut>(),
            Self::Uia(info) => {
                UiaaResponse::AuthResponse(*info).try_into_http_response::<BytesMut>()
            }
            Self::Unavailable {
                retry_after,
                message,
            } => RumaError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorBody::Standard(StandardErrorBody::new(ErrorKind::Unknown, message)),
            )
            .try_into_http_response::<BytesMut>()
            .map(|mut response| {
                response.headers_mut().insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from(retry_after.as_secs()),
                );
                response
            }),
        };
        match response {
            Ok(response) => response
                .map(|body| axum::body::Body::from(body.freeze()))
                .into_response(),
            Err(err) => {
                tracing::error!(error = %err, "could not serialize an error response");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}
