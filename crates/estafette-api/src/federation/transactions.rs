//! `PUT /_matrix/federation/v1/send/{txnId}`: another server's PDUs and EDUs.

use std::collections::BTreeMap;

use axum::extract::State;
use estafette_service::{MAX_EDUS_PER_TRANSACTION, MAX_PDUS_PER_TRANSACTION};
use ruma::api::error::ErrorKind;
use ruma::api::federation::transactions::send_transaction_message;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router.ruma(send_transaction_message)
}

/// Each PDU is handled in order and gets its own result; a refused PDU does not fail the
/// transaction, as the spec asks.
async fn send_transaction_message(
    State(state): State<AppState>,
    request: Ruma<send_transaction_message::v1::Request>,
) -> ApiResult<send_transaction_message::v1::Response> {
    let origin = request.origin()?;
    let body = &request.body;
    if body.origin != origin {
        return Err(ApiError::forbidden(format!(
            "The transaction claims to come from {}",
            body.origin
        )));
    }
    if body.pdus.len() > MAX_PDUS_PER_TRANSACTION as usize
        || body.edus.len() > MAX_EDUS_PER_TRANSACTION as usize
    {
        return Err(ApiError::new(
            http::StatusCode::BAD_REQUEST,
            ErrorKind::TooLarge,
            format!(
                "A transaction carries at most {MAX_PDUS_PER_TRANSACTION} PDUs and {MAX_EDUS_PER_TRANSACTION} EDUs"
            ),
        ));
    }
    // To-device messages first: they carry the room keys of the encrypted events that the
    // same transaction may bring, which a client must hold when it receives those events.
    let is_to_device = |edu: &&ruma::serde::Raw<_>| {
        edu.get_field::<String>("edu_type")
            .ok()
            .flatten()
            .as_deref()
            == Some("m.direct_to_device")
    };
    let (to_device, other_edus): (Vec<_>, Vec<_>) = body.edus.iter().partition(is_to_device);
    receive_edus(&state, origin, to_device).await;
    let mut results = BTreeMap::new();
    for pdu in &body.pdus {
        match state.services.rooms.receive_pdu(origin, pdu).await {
            Ok((event_id, outcome)) => {
                let outcome = outcome.map(drop).map_err(|e| e.to_string());
                if let Err(error) = &outcome {
                    tracing::info!(%origin, %event_id, "refused a PDU: {error}");
                }
                results.insert(event_id, outcome);
            }
            Err(e) => tracing::info!(%origin, "dropped a PDU: {e}"),
        }
    }
    receive_edus(&state, origin, other_edus).await;
    Ok(RumaResponse(send_transaction_message::v1::Response::new(
        results,
    )))
}

async fn receive_edus<T>(
    state: &AppState,
    origin: &ruma::ServerName,
    edus: Vec<&ruma::serde::Raw<T>>,
) {
    for edu in edus {
        if let Err(e) = state.services.edus.receive(origin, edu.json()).await {
            tracing::info!(%origin, "dropped an EDU: {e}");
        }
    }
}
