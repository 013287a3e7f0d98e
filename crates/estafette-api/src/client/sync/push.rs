//! Push rules and pushers: `/pushrules/…` and `/pushers`.

use axum::Json;
use axum::extract::State;
use ruma::api::client::push::{
    delete_pushrule, get_pushers, get_pushrule, get_pushrule_actions, get_pushrule_enabled,
    get_pushrules_all, get_pushrules_global_scope, set_pusher, set_pushrule, set_pushrule_actions,
    set_pushrule_enabled,
};
use serde_json::{Value as JsonValue, json};

use crate::extract::{ApiResult, Ruma, RumaResponse};
use crate::router::Routes;
use crate::{ApiError, AppState};

pub(crate) fn routes(router: Routes) -> Routes {
    router
        .ruma(get_pushrules_all)
        .ruma(get_pushrules_global_scope)
        .ruma(get_pushrule)
        .ruma(set_pushrule)
        .ruma(delete_pushrule)
        .ruma(get_pushrule_enabled)
        .ruma(set_pushrule_enabled)
        .ruma(get_pushrule_actions)
        .ruma(set_pushrule_actions)
        .ruma(get_pushers)
        .ruma(set_pusher)
}

/// `GET /_matrix/client/v3/pushrules/`: every kind present (ruma's response type would
/// leave the empty ones out, and clients read them all).
async fn get_pushrules_all(
    State(state): State<AppState>,
    request: Ruma<get_pushrules_all::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let user_id = &request.requester()?.user_id;
    let ruleset = state.services.push.ruleset_json(user_id).await?;
    Ok(Json(json!({"global": ruleset})))
}

/// `GET /_matrix/client/v3/pushrules/global/`
async fn get_pushrules_global_scope(
    State(state): State<AppState>,
    request: Ruma<get_pushrules_global_scope::v3::Request>,
) -> Result<Json<JsonValue>, ApiError> {
    let user_id = &request.requester()?.user_id;
    Ok(Json(state.services.push.ruleset_json(user_id).await?))
}

/// `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
async fn get_pushrule(
    State(state): State<AppState>,
    request: Ruma<get_pushrule::v3::Request>,
) -> ApiResult<get_pushrule::v3::Response> {
    let body = &request.body;
    let rule = state
        .services
        .push
        .rule(request.requester()?, body.kind.clone(), &body.rule_id)
        .await?;
    Ok(RumaResponse(get_pushrule::v3::Response::new(rule.into())))
}

/// `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
async fn set_pushrule(
    State(state): State<AppState>,
    request: Ruma<set_pushrule::v3::Request>,
) -> ApiResult<set_pushrule::v3::Response> {
    let body = &request.body;
    state
        .services
        .push
        .set_rule(
            request.requester()?,
            body.rule.clone(),
            body.before.as_deref(),
            body.after.as_deref(),
        )
        .await?;
    Ok(RumaResponse(set_pushrule::v3::Response::new()))
}

/// `DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}`
async fn delete_pushrule(
    State(state): State<AppState>,
    request: Ruma<delete_pushrule::v3::Request>,
) -> ApiResult<delete_pushrule::v3::Response> {
    let body = &request.body;
    state
        .services
        .push
        .delete_rule(request.requester()?, body.kind.clone(), &body.rule_id)
        .await?;
    Ok(RumaResponse(delete_pushrule::v3::Response::new()))
}

/// `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled`
async fn get_pushrule_enabled(
    State(state): State<AppState>,
    request: Ruma<get_pushrule_enabled::v3::Request>,
) -> ApiResult<get_pushrule_enabled::v3::Response> {
    let body = &request.body;
    let rule = state
        .services
        .push
        .rule(request.requester()?, body.kind.clone(), &body.rule_id)
        .await?;
    Ok(RumaResponse(get_pushrule_enabled::v3::Response::new(
        rule.as_ref().enabled(),
    )))
}

/// `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled`
async fn set_pushrule_enabled(
    State(state): State<AppState>,
    request: Ruma<set_pushrule_enabled::v3::Request>,
) -> ApiResult<set_pushrule_enabled::v3::Response> {
    let body = &request.body;
    state
        .services
        .push
        .set_enabled(
            request.requester()?,
            body.kind.clone(),
            &body.rule_id,
            body.enabled,
        )
        .await?;
    Ok(RumaResponse(set_pushrule_enabled::v3::Response::new()))
}

/// `GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`
async fn get_pushrule_actions(
    State(state): State<AppState>,
    request: Ruma<get_pushrule_actions::v3::Request>,
) -> ApiResult<get_pushrule_actions::v3::Response> {
    let body = &request.body;
    let rule = state
        .services
        .push
        .rule(request.requester()?, body.kind.clone(), &body.rule_id)
        .await?;
    Ok(RumaResponse(get_pushrule_actions::v3::Response::new(
        rule.as_ref().actions().to_vec(),
    )))
}

/// `PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions`
async fn set_pushrule_actions(
    State(state): State<AppState>,
    request: Ruma<set_pushrule_actions::v3::Request>,
) -> ApiResult<set_pushrule_actions::v3::Response> {
    let body = &request.body;
    state
        .services
        .push
        .set_actions(
            request.requester()?,
            body.kind.clone(),
            &body.rule_id,
            body.actions.clone(),
        )
        .await?;
    Ok(RumaResponse(set_pushrule_actions::v3::Response::new()))
}

/// `GET /_matrix/client/v3/pushers`
async fn get_pushers(
    State(state): State<AppState>,
    request: Ruma<get_pushers::v3::Request>,
) -> ApiResult<get_pushers::v3::Response> {
    let pushers = state.services.push.pushers(request.requester()?).await?;
    let pushers = pushers
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::bad_json(format!("A stored pusher is malformed: {e}")))?;
    Ok(RumaResponse(get_pushers::v3::Response::new(pushers)))
}

/// `POST /_matrix/client/v3/pushers/set`
async fn set_pusher(
    State(state): State<AppState>,
    request: Ruma<set_pusher::v3::Request>,
) -> ApiResult<set_pusher::v3::Response> {
    let requester = request.requester()?;
    match &request.body.action {
        set_pusher::v3::PusherAction::Post(data) => {
            let pusher = serde_json::to_value(&data.pusher)
                .map_err(|e| ApiError::bad_json(e.to_string()))?;
            state
                .services
                .push
                .set_pusher(requester, &pusher, data.append)
                .await?;
        }
        set_pusher::v3::PusherAction::Delete(ids) => {
            state
                .services
                .push
                .delete_pusher(requester, &ids.app_id, &ids.pushkey)
                .await?;
        }
        _ => return Err(ApiError::bad_json("Unknown pusher action")),
    }
    Ok(RumaResponse(set_pusher::v3::Response::new()))
}
