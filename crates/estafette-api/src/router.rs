//! Registers a handler under every path its ruma request type declares (r0, v3, unstable…),
//! so paths and methods come from one source of truth.

use std::future::Future;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, on};
use ruma::api::path_builder::PathBuilder;
use ruma::api::{IncomingRequest, Metadata};

use crate::extract::{AuthRequirement, Ruma};
use crate::{ApiError, AppState};

pub(crate) trait RumaHandler<T> {
    fn add_to(self, router: Router<AppState>) -> Router<AppState>;
}

impl<T, F, Fut, R> RumaHandler<T> for F
where
    T: IncomingRequest + Send + 'static,
    T::Authentication: AuthRequirement,
    F: Fn(State<AppState>, Ruma<T>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<R, ApiError>> + Send + 'static,
    R: IntoResponse + 'static,
{
    fn add_to(self, mut router: Router<AppState>) -> Router<AppState> {
        let Ok(filter) = MethodFilter::try_from(T::METHOD) else {
            tracing::error!(method = %T::METHOD, "cannot route this method");
            return router;
        };
        for path in T::PATH_BUILDER.all_paths() {
            router = router.route(path, on(filter, self.clone()));
            // State endpoints also answer with an empty state key left out of the path.
            if let Some(prefix) = path.strip_suffix("/{state_key}") {
                router = router.route(prefix, on(filter, self.clone()));
                router = router.route(&format!("{prefix}/"), on(filter, self.clone()));
            }
        }
        router
    }
}

/// One endpoint a listener serves: its method and every path it answers on (r0, v3,
/// unstable…), oldest first.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: http::Method,
    pub paths: Vec<String>,
}

/// A listener's routes as they are built: the axum router, and the table of what it serves,
/// so that tests can go through every endpoint.
pub(crate) struct Routes {
    pub router: Router<AppState>,
    pub table: Vec<Route>,
}

impl Routes {
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    /// Serves a typed ruma endpoint with `handler`.
    pub fn ruma<T: Metadata, H: RumaHandler<T>>(mut self, handler: H) -> Self {
        self.table.push(Route {
            method: T::METHOD,
            paths: T::PATH_BUILDER.all_paths().map(ToOwned::to_owned).collect(),
        });
        self.router = handler.add_to(self.router);
        self
    }

    /// Serves an endpoint outside the Matrix spec (Synapse's admin API).
    pub fn axum(
        mut self,
        path: &str,
        methods: &[http::Method],
        route: axum::routing::MethodRouter<AppState>,
    ) -> Self {
        for method in methods {
            self.table.push(Route {
                method: method.clone(),
                paths: vec![path.to_owned()],
            });
        }
        self.router = self.router.route(path, route);
        self
    }
}
