//! MSC4388's rendezvous API: `GET /rendezvous` (may the caller create?), `POST /rendezvous`,
//! and `GET`, `PUT`, `DELETE /rendezvous/{id}`, as JSON with a `sequence_token` per payload.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use estafette_service::{MAX_PAYLOAD_BYTES, RendezvousWrite};
use http::{HeaderMap, Method, StatusCode};
use ruma::api::client::rendezvous::{
    create_rendezvous_session, delete_rendezvous_session, discover_rendezvous,
    update_rendezvous_session,
};
use serde_json::json;

use super::{read, served};
use crate::error::spec_errcode;
use crate::extract::{ApiResult, ClientIp, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

const SESSION_PATH: &str = "/_matrix/client/unstable/io.element.msc4388/rendezvous/{id}";

pub(super) fn routes(router: Routes) -> Routes {
    router
        .ruma(discover)
        .ruma(create)
        .ruma(update)
        .ruma(delete)
        .axum(SESSION_PATH, &[Method::GET], axum::routing::get(receive))
}

async fn discover(
    State(state): State<AppState>,
    request: Ruma<discover_rendezvous::unstable::Request>,
) -> ApiResult<discover_rendezvous::unstable::Response> {
    served(&state)?;
    let available = state
        .services
        .rendezvous
        .create_available(request.requester.is_some());
    Ok(RumaResponse(discover_rendezvous::unstable::Response::new(
        available,
    )))
}

async fn create(
    State(state): State<AppState>,
    request: Ruma<create_rendezvous_session::unstable_msc4388::Request>,
) -> ApiResult<create_rendezvous_session::unstable_msc4388::Response> {
    served(&state)?;
    let session = state
        .services
        .rendezvous
        .create(
            request.requester.is_some(),
            request.body.data,
            MAX_PAYLOAD_BYTES,
        )
        .await?;
    Ok(RumaResponse(
        create_rendezvous_session::unstable_msc4388::Response::new(
            session.id,
            session.token,
            Duration::from_millis(session.expires_in_ms),
        ),
    ))
}

async fn receive(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = read(&state, ip, &id, &headers).await?;
    Ok((
        [(http::header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "data": session.data,
            "sequence_token": session.token,
            "expires_in_ms": session.expires_in_ms,
        })),
    )
        .into_response())
}

async fn update(
    State(state): State<AppState>,
    request: Ruma<update_rendezvous_session::unstable::Request>,
) -> ApiResult<update_rendezvous_session::unstable::Response> {
    served(&state)?;
    let body = request.body;
    let written = state
        .services
        .rendezvous
        .write(&body.id, &body.sequence_token, body.data, MAX_PAYLOAD_BYTES)
        .await?;
    match written {
        RendezvousWrite::Written(session) => Ok(RumaResponse(
            update_rendezvous_session::unstable::Response::new(session.token),
        )),
        RendezvousWrite::Conflict(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            spec_errcode("IO_ELEMENT_MSC4388_CONCURRENT_WRITE"),
            "The payload changed since this sequence_token; read it again",
        )),
    }
}

async fn delete(
    State(state): State<AppState>,
    request: Ruma<delete_rendezvous_session::unstable::Request>,
) -> ApiResult<delete_rendezvous_session::unstable::Response> {
    served(&state)?;
    state.services.rendezvous.delete(&request.body.id).await?;
    Ok(RumaResponse(
        delete_rendezvous_session::unstable::Response::new(),
    ))
}
