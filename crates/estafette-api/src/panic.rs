//! The last defence: a handler that panics answers `500 M_UNKNOWN` and logs the panic inside
//! the request's trace span (method and path), instead of dropping the connection.

use std::any::Any;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use ruma::api::error::ErrorKind;
use tower_http::catch_panic::CatchPanicLayer;

use crate::ApiError;

pub(crate) type PanicHandler = fn(Box<dyn Any + Send + 'static>) -> Response;

pub(crate) fn catch_panic_layer() -> CatchPanicLayer<PanicHandler> {
    CatchPanicLayer::custom(answer_panic as PanicHandler)
}

fn answer_panic(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    tracing::error!(panic = detail, "a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Unknown,
        "Internal server error",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn panics() -> &'static str {
        let nothing: Option<&str> = None;
        nothing.expect("a handler bug")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_m_unknown() {
        let app = Router::new()
            .route("/boom", get(panics))
            .layer(catch_panic_layer());
        let response = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["errcode"], "M_UNKNOWN");
        assert!(body["error"].as_str().is_some_and(|m| !m.is_empty()));
    }
}
