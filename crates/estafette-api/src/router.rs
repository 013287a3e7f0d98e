//! Registers a handler under every path its ruma request type declares (r0, v3, unstable…),
//! so paths and methods come from one source of truth.

use std::future::Future;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, on};
use ruma::api::IncomingRequest;
use ruma::api::path_builder::PathBuilder;

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

pub(crate) trait RouterExt {
    fn ruma<T, H: RumaHandler<T>>(self, handler: H) -> Self;
}

impl RouterExt for Router<AppState> {
    fn ruma<T, H: RumaHandler<T>>(self, handler: H) -> Self {
        handler.add_to(self)
    }
}
