//! What the server asks application services (BRIDGES.md §2.5): whether a user or an alias
//! of their namespace exists — they create it when it should. 200 is yes; 404, any other
//! status, a timeout or a connection error is no (logged).

use std::sync::Arc;
use std::time::Duration;

use estafette_core::Registration;
use ruma::UserId;

use crate::Context;

/// A query gets less time than a transaction: someone waits on it.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct AppserviceQueries {
    context: Arc<Context>,
    http: reqwest::Client,
}

impl AppserviceQueries {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        Self {
            context,
            http: crate::plain_http_client(QUERY_TIMEOUT),
        }
    }

    /// Asks the services whose users namespace matches whether the user exists; `true` once
    /// one says yes.
    pub async fn user_exists(&self, user_id: &UserId) -> bool {
        for service in self.context.appservices.all() {
            if service.matches_user(user_id.as_str())
                && self.query(service, "users", user_id.as_str()).await
            {
                return true;
            }
        }
        false
    }

    /// Asks the services whose aliases namespace matches whether the alias exists.
    pub async fn alias_exists(&self, alias: &str) -> bool {
        for service in self.context.appservices.all() {
            if service.matches_alias(alias) && self.query(service, "rooms", alias).await {
                return true;
            }
        }
        false
    }

    async fn query(&self, service: &Registration, kind: &str, id: &str) -> bool {
        let Some(url) = &service.url else {
            return false;
        };
        let answer = self
            .http
            .get(format!(
                "{url}/_matrix/app/v1/{kind}/{}",
                super::path_segment(id)
            ))
            .bearer_auth(&service.hs_token)
            .send()
            .await;
        match answer {
            Ok(response) if response.status().is_success() => true,
            Ok(response) if response.status() == reqwest::StatusCode::NOT_FOUND => false,
            Ok(response) => {
                tracing::warn!(appservice = %service.id, status = %response.status(), "{kind} query failed");
                false
            }
            Err(err) => {
                tracing::warn!(appservice = %service.id, "{kind} query failed: {err}");
                false
            }
        }
    }
}
