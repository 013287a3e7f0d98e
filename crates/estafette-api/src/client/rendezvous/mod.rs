//! Client endpoints of the rendezvous domain: the sessions through which a signed-in device
//! signs a new one in by QR code. Two wire forms over the same sessions: MSC4388's JSON
//! (`/unstable/io.element.msc4388/rendezvous`), and MSC4108's earlier ETag form
//! (`/unstable/org.matrix.msc4108/rendezvous`) that matrix-rust-sdk 0.18 and Element X speak.

mod msc4108;
mod msc4388;

use http::{HeaderMap, StatusCode};

use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    let router = msc4388::routes(router);
    msc4108::routes(router)
}

/// 404 `M_UNRECOGNIZED` while the server offers no QR login.
fn served(state: &AppState) -> Result<(), ApiError> {
    if state.services.rendezvous.enabled() {
        Ok(())
    } else {
        Err(ApiError::unrecognized(
            StatusCode::NOT_FOUND,
            "This server does not offer sign-in by QR code",
        ))
    }
}

/// A browser opening the session's URL as a page, which must not be served the payload: the
/// session is unauthenticated, so it could otherwise carry content to show under the server's
/// name (MSC4388 "Unsafe content").
fn refuse_navigation(headers: &HeaderMap) -> Result<(), ApiError> {
    let is = |name: &str, value: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case(value))
    };
    if is("sec-fetch-mode", "navigate") || is("sec-fetch-dest", "document") {
        return Err(ApiError::forbidden(
            "A rendezvous session cannot be opened as a page",
        ));
    }
    Ok(())
}

/// A request outside ruma's typed routes let in: QR login is offered, and the caller, known
/// by its address only, is within the rate limit.
async fn admitted(state: &AppState, ip: Option<std::net::IpAddr>) -> Result<(), ApiError> {
    served(state)?;
    let key = ip.map(|ip| ip.to_string()).unwrap_or_default();
    state
        .services
        .rate_limits
        .check(&key)
        .await
        .map_err(ApiError::limit_exceeded)
}

/// A session read by anyone who has its ID: never by a browser navigating to it.
async fn read(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    id: &str,
    headers: &HeaderMap,
) -> Result<estafette_service::Rendezvous, ApiError> {
    admitted(state, ip).await?;
    refuse_navigation(headers)?;
    Ok(state.services.rendezvous.read(id).await?)
}
