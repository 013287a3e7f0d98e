//! Downloaded media is whatever users uploaded: a browser must never run it as part of this
//! server's origin. Media responses carry a sandboxing Content-Security-Policy (as the spec
//! recommends) and may be embedded by web clients on other origins.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;

const MEDIA_CSP: &str = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';";

pub(crate) async fn media_headers(request: Request<Body>, next: Next) -> Response {
    let path = request.uri().path();
    let is_media = path.starts_with("/_matrix/client/v1/media/")
        || path.starts_with("/_matrix/media/")
        || path.starts_with("/_matrix/media_proxy/");
    let mut response = next.run(request).await;
    if is_media {
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(MEDIA_CSP),
        );
        headers.insert(
            "Cross-Origin-Resource-Policy",
            HeaderValue::from_static("cross-origin"),
        );
    }
    response
}
