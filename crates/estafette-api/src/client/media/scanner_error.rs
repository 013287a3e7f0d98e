//! The content scanner's errors, `{"reason": CODE, "info": "…"}` (TCHAP.md §5), mapped once
//! from the service's.

use std::time::Duration;

use axum::Json;
use axum::response::{IntoResponse, Response};
use estafette_service::{INFECTED_INFO, ServiceError};
use http::StatusCode;
use serde_json::json;

#[derive(Debug)]
pub(crate) struct ScannerError {
    status: StatusCode,
    reason: &'static str,
    info: String,
    retry_after: Option<Duration>,
}

impl ScannerError {
    pub(crate) fn new(status: StatusCode, reason: &'static str, info: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            info: info.into(),
            retry_after: None,
        }
    }

    pub(crate) fn malformed(info: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MCS_MALFORMED_JSON", info)
    }
}

impl From<ServiceError> for ScannerError {
    fn from(err: ServiceError) -> Self {
        let info = err.to_string();
        match err {
            ServiceError::MediaNotClean(_) => {
                Self::new(StatusCode::FORBIDDEN, "MCS_MEDIA_NOT_CLEAN", INFECTED_INFO)
            }
            ServiceError::MimeTypeForbidden(_) => {
                Self::new(StatusCode::FORBIDDEN, "MCS_MIME_TYPE_FORBIDDEN", info)
            }
            ServiceError::DecryptionFailed(_) => {
                Self::new(StatusCode::BAD_REQUEST, "MCS_MEDIA_FAILED_TO_DECRYPT", info)
            }
            ServiceError::BadRequestEncryption(_) => {
                Self::new(StatusCode::FORBIDDEN, "MCS_BAD_DECRYPTION", info)
            }
            ServiceError::BadJson(_)
            | ServiceError::InvalidParam(_)
            | ServiceError::MissingParam(_) => Self::malformed(info),
            ServiceError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", info),
            ServiceError::Unavailable(_) => {
                Self::new(StatusCode::BAD_GATEWAY, "MCS_MEDIA_REQUEST_FAILED", info)
            }
            ServiceError::AccountExpired(_) => {
                Self::new(StatusCode::FORBIDDEN, "ORG_MATRIX_EXPIRED_ACCOUNT", info)
            }
            ServiceError::UnknownToken { .. } | ServiceError::UserDeactivated => {
                Self::new(StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN", info)
            }
            ServiceError::ScannerUnavailable {
                retry_after_secs, ..
            } => Self {
                retry_after: Some(Duration::from_secs(retry_after_secs)),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "M_UNKNOWN", info)
            },
            ServiceError::LimitExceeded(_) => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED", info)
            }
            ServiceError::Forbidden(_) => Self::new(StatusCode::FORBIDDEN, "M_FORBIDDEN", info),
            ServiceError::TooLarge(_) => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE", info)
            }
            ServiceError::NotYetUploaded(_) => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, "M_NOT_YET_UPLOADED", info)
            }
            other => {
                tracing::error!(error = %other, "content scanner: internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "M_UNKNOWN",
                    "Internal Server Error",
                )
            }
        }
    }
}

impl IntoResponse for ScannerError {
    fn into_response(self) -> Response {
        let body = Json(json!({"reason": self.reason, "info": self.info}));
        let mut response = (self.status, body).into_response();
        if let Some(retry_after) = self.retry_after {
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(retry_after.as_secs()),
            );
        }
        response
    }
}
