//! Estafette's HTTP edge: axum routes for the Client-Server API. Handlers are thin: parse the
//! ruma request, call a service, return the ruma response. Errors become Matrix errors in one
//! place ([`error`]).

mod admin;
mod client;
mod cors;
mod error;
mod extract;
mod fallback;
mod federation;
mod html;
mod json;
mod media_headers;
mod panic;
mod preflight;
mod public_rooms;
mod router;

use axum::Router;
use estafette_service::Services;

pub use error::ApiError;
pub use router::Route;
use router::Routes;

/// What every handler can reach. Cloned for every request (axum's `State`), hence shared
/// behind one pointer: the services themselves hold caches, clients and channels.
#[derive(Clone)]
pub struct AppState {
    pub services: std::sync::Arc<Services>,
}

impl AppState {
    pub fn new(services: std::sync::Arc<Services>) -> Self {
        Self { services }
    }
}

/// The federation listener's application: the Server-Server and key APIs.
pub fn federation_app(state: AppState) -> Router {
    federation::routes(Routes::new())
        .router
        .fallback(fallback::unknown_endpoint)
        .method_not_allowed_fallback(fallback::wrong_method)
        .layer(panic::catch_panic_layer())
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// The whole HTTP application of one homeserver.
pub fn app(state: AppState) -> Router {
    client_routes_table()
        .router
        .fallback(fallback::unknown_endpoint)
        .method_not_allowed_fallback(fallback::wrong_method)
        .layer(panic::catch_panic_layer())
        .layer(axum::middleware::from_fn(media_headers::media_headers))
        .layer(axum::middleware::from_fn(cors::cors))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of a request, without what is a secret: the query (access tokens may ride
/// there) and a webhook's token in its path.
fn request_span(request: &http::Request<axum::body::Body>) -> tracing::Span {
    let path = request.uri().path();
    let path = match path.strip_prefix(estafette_service::WEBHOOK_PATH) {
        Some(rest) if !rest.is_empty() && !rest.starts_with("/rooms/") => {
            format!("{}/<redacted>", estafette_service::WEBHOOK_PATH)
        }
        _ => path.to_owned(),
    };
    tracing::debug_span!("request", method = %request.method(), %path)
}

fn client_routes_table() -> Routes {
    admin::routes(client::routes(Routes::new()))
}

/// Every endpoint the client listener serves, for tests that go through them all.
pub fn client_routes() -> Vec<Route> {
    client_routes_table().table
}

/// Every endpoint the federation listener serves.
pub fn federation_routes() -> Vec<Route> {
    federation::routes(Routes::new()).table
}
