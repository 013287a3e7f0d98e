//! `/thirdparty/…`: the networks application services bridge, and lookups in them.

use std::collections::BTreeMap;

use axum::extract::State;
use estafette_service::ThirdPartyLookup;
use ruma::api::client::thirdparty::{
    get_location_for_protocol, get_location_for_room_alias, get_protocol, get_protocols,
    get_user_for_protocol, get_user_for_user_id,
};
use serde::de::DeserializeOwned;
use serde_json::Value as JsonValue;

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(super) fn routes(router: Routes) -> Routes {
    router
        .ruma(protocols)
        .ruma(protocol)
        .ruma(locations)
        .ruma(users)
        .ruma(location_for_alias)
        .ruma(user_for_id)
}

/// Users or locations found through the bridges, as ruma's types; what does not fit is
/// left out.
async fn lookup<T: DeserializeOwned>(
    state: &AppState,
    kind: &str,
    lookup: ThirdPartyLookup<'_>,
) -> Vec<T> {
    state
        .services
        .thirdparty
        .lookup(kind, lookup)
        .await
        .into_iter()
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect()
}

fn protocol_of(value: JsonValue) -> Result<ruma::thirdparty::Protocol, ApiError> {
    serde_json::from_value(value).map_err(|e| {
        ApiError::from(estafette_service::ServiceError::Unavailable(format!(
            "The bridge described its protocol badly: {e}"
        )))
    })
}

/// `GET /_matrix/client/v3/thirdparty/protocols`
async fn protocols(
    State(state): State<AppState>,
    request: Ruma<get_protocols::v3::Request>,
) -> ApiResult<get_protocols::v3::Response> {
    request.requester()?;
    let protocols: BTreeMap<String, ruma::thirdparty::Protocol> = state
        .services
        .thirdparty
        .protocols()
        .await
        .into_iter()
        .filter_map(|(name, value)| Some((name, serde_json::from_value(value).ok()?)))
        .collect();
    Ok(RumaResponse(get_protocols::v3::Response::new(protocols)))
}

/// `GET /_matrix/client/v3/thirdparty/protocol/{protocol}`
async fn protocol(
    State(state): State<AppState>,
    request: Ruma<get_protocol::v3::Request>,
) -> ApiResult<get_protocol::v3::Response> {
    request.requester()?;
    let value = state
        .services
        .thirdparty
        .protocol(&request.body.protocol)
        .await?;
    Ok(RumaResponse(get_protocol::v3::Response::new(protocol_of(
        value,
    )?)))
}

/// `GET /_matrix/client/v3/thirdparty/location/{protocol}`
async fn locations(
    State(state): State<AppState>,
    request: Ruma<get_location_for_protocol::v3::Request>,
) -> ApiResult<get_location_for_protocol::v3::Response> {
    request.requester()?;
    let body = &request.body;
    let found = lookup(
        &state,
        "location",
        ThirdPartyLookup::Protocol(&body.protocol, &body.fields),
    )
    .await;
    Ok(RumaResponse(get_location_for_protocol::v3::Response::new(
        found,
    )))
}

/// `GET /_matrix/client/v3/thirdparty/user/{protocol}`
async fn users(
    State(state): State<AppState>,
    request: Ruma<get_user_for_protocol::v3::Request>,
) -> ApiResult<get_user_for_protocol::v3::Response> {
    request.requester()?;
    let body = &request.body;
    let found = lookup(
        &state,
        "user",
        ThirdPartyLookup::Protocol(&body.protocol, &body.fields),
    )
    .await;
    Ok(RumaResponse(get_user_for_protocol::v3::Response::new(
        found,
    )))
}

/// `GET /_matrix/client/v3/thirdparty/location?alias=`
async fn location_for_alias(
    State(state): State<AppState>,
    request: Ruma<get_location_for_room_alias::v3::Request>,
) -> ApiResult<get_location_for_room_alias::v3::Response> {
    request.requester()?;
    let alias = request.body.alias.to_string();
    let found = lookup(
        &state,
        "location",
        ThirdPartyLookup::Reverse("alias", &alias),
    )
    .await;
    Ok(RumaResponse(
        get_location_for_room_alias::v3::Response::new(found),
    ))
}

/// `GET /_matrix/client/v3/thirdparty/user?userid=`
async fn user_for_id(
    State(state): State<AppState>,
    request: Ruma<get_user_for_user_id::v3::Request>,
) -> ApiResult<get_user_for_user_id::v3::Response> {
    request.requester()?;
    let user_id = request.body.userid.to_string();
    let found = lookup(
        &state,
        "user",
        ThirdPartyLookup::Reverse("userid", &user_id),
    )
    .await;
    Ok(RumaResponse(get_user_for_user_id::v3::Response::new(found)))
}
