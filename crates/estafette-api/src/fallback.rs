//! Answers for requests no route takes (spec: "Common error codes", M_UNRECOGNIZED).

use http::{Method, StatusCode, Uri};

use crate::ApiError;

pub(crate) async fn unknown_endpoint(method: Method, uri: Uri) -> ApiError {
    ApiError::unrecognized(
        StatusCode::NOT_FOUND,
        format!("Unrecognized request: {method} {}", uri.path()),
    )
}

pub(crate) async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::unrecognized(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("Method {method} is not allowed on {}", uri.path()),
    )
}
