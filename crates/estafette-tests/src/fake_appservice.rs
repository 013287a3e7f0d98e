//! An application service on a loopback port for the delivery engine's tests (BRIDGES.md §6
//! "Fake AS in Rust"): it records every transaction and ping, checks the `hs_token` header
//! as mautrix-go does, and answers what the test sets — accepted, a failure, or a hang.
//! Its registration file is written beside it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::push_gateway::lock;

/// What the service answers next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppserviceAnswer {
    Accept,
    Fail(u16),
    /// Never answers (the server's timeout ends the request).
    Hang,
}

/// A transaction as the service received it.
#[derive(Debug, Clone)]
pub struct ReceivedTransaction {
    pub txn_id: String,
    pub body: Value,
}

#[derive(Default)]
struct Recorded {
    accepted: Vec<ReceivedTransaction>,
    attempts: Vec<ReceivedTransaction>,
    pings: Vec<Value>,
    user_queries: Vec<String>,
    alias_queries: Vec<String>,
}

#[derive(Clone)]
struct Service {
    hs_token: String,
    recorded: Arc<Mutex<Recorded>>,
    answer: Arc<Mutex<AppserviceAnswer>>,
    /// The homeserver and the service's token, when queries create what they ask about.
    creates: Arc<Mutex<Option<(String, String)>>>,
}

pub struct FakeAppservice {
    pub url: String,
    pub id: String,
    pub as_token: String,
    pub hs_token: String,
    pub sender_localpart: String,
    /// The registration file the server is configured with.
    pub registration: PathBuf,
    service: Service,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeAppservice {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn authorized(service: &Service, headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        == Some(format!("Bearer {}", service.hs_token).as_str())
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"errcode": "M_FORBIDDEN", "error": "bad hs_token"})),
    )
        .into_response()
}

async fn transaction(
    State(service): State<Service>,
    Path(txn_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&service, &headers) {
        return forbidden();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let received = ReceivedTransaction { txn_id, body };
    lock(&service.recorded).attempts.push(received.clone());
    let answer = *lock(&service.answer);
    match answer {
        AppserviceAnswer::Accept => {
            lock(&service.recorded).accepted.push(received);
            Json(json!({})).into_response()
        }
        AppserviceAnswer::Fail(status) => StatusCode::from_u16(status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        AppserviceAnswer::Hang => {
            tokio::time::sleep(Duration::from_secs(3_600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}

async fn ping(State(service): State<Service>, headers: HeaderMap, body: Json<Value>) -> Response {
    if !authorized(&service, &headers) {
        return forbidden();
    }
    lock(&service.recorded).pings.push(body.0);
    let answer = *lock(&service.answer);
    match answer {
        AppserviceAnswer::Accept => Json(json!({})).into_response(),
        AppserviceAnswer::Fail(status) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "the bridge is unwell",
        )
            .into_response(),
        AppserviceAnswer::Hang => {
            tokio::time::sleep(Duration::from_secs(3_600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}

async fn user_query(
    State(service): State<Service>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&service, &headers) {
        return forbidden();
    }
    lock(&service.recorded).user_queries.push(user_id.clone());
    let creates = lock(&service.creates).clone();
    let Some((homeserver, as_token)) = creates else {
        return (StatusCode::NOT_FOUND, Json(json!({}))).into_response();
    };
    // As a bridge does: the ghost is registered before the answer.
    let localpart = user_id
        .trim_start_matches('@')
        .split(':')
        .next()
        .unwrap_or_default();
    let registered = reqwest::Client::new()
        .post(format!("{homeserver}/_matrix/client/v3/register"))
        .bearer_auth(&as_token)
        .json(
            &json!({"type": "m.login.application_service", "username": localpart,
                      "inhibit_login": true}),
        )
        .send()
        .await
        .is_ok_and(|response| response.status().is_success());
    let status = if registered {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    (status, Json(json!({}))).into_response()
}

async fn alias_query(
    State(service): State<Service>,
    Path(alias): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&service, &headers) {
        return forbidden();
    }
    lock(&service.recorded).alias_queries.push(alias.clone());
    let creates = lock(&service.creates).clone();
    let Some((homeserver, as_token)) = creates else {
        return (StatusCode::NOT_FOUND, Json(json!({}))).into_response();
    };
    // As a bridge does: a portal room is made with the alias before the answer.
    let localpart = alias
        .trim_start_matches('#')
        .split(':')
        .next()
        .unwrap_or_default();
    let created = reqwest::Client::new()
        .post(format!("{homeserver}/_matrix/client/v3/createRoom"))
        .bearer_auth(&as_token)
        .json(
            &json!({"preset": "public_chat", "room_alias_name": localpart,
                      "name": "Portal"}),
        )
        .send()
        .await
        .is_ok_and(|response| response.status().is_success());
    let status = if created {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    (status, Json(json!({}))).into_response()
}

/// `thirdparty/protocol/{protocol}`: an IRC-like network with one instance.
async fn protocol(State(service): State<Service>, headers: HeaderMap) -> Response {
    if !authorized(&service, &headers) {
        return forbidden();
    }
    Json(json!({
        "user_fields": ["network", "nickname"], "location_fields": ["network", "channel"],
        "icon": "mxc://example.org/irc", "field_types": {
            "network": {"regexp": "[a-z]+", "placeholder": "libera"},
            "nickname": {"regexp": "[^\\s]+", "placeholder": "nick"},
            "channel": {"regexp": "#[^\\s]+", "placeholder": "#channel"}},
        "instances": [{"network_id": "libera", "desc": "Libera.Chat",
                       "fields": {"network": "libera"}}],
    }))
    .into_response()
}

/// `thirdparty/user/{protocol}`: one user, and one item missing its `userid` (dropped).
async fn third_party_users(
    State(service): State<Service>,
    Path(name): Path<String>,
    headers: HeaderMap,
    query: axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    if !authorized(&service, &headers) {
        return forbidden();
    }
    let nick = query.get("nickname").cloned().unwrap_or_default();
    Json(json!([
        {"userid": format!("@_test_irc_{nick}:bridge"), "protocol": name,
         "fields": {"network": "libera", "nickname": nick}},
        {"protocol": name, "fields": {}},
    ]))
    .into_response()
}

impl FakeAppservice {
    /// A service whose users are `@_test_…` and `@bridged_…`, exclusively; `extra` is
    /// appended to its registration file (flags under test).
    pub async fn start(id: &str, extra: &str) -> Self {
        Self::start_with_url(id, extra, true, "@_test_.*").await
    }

    /// A service registered with `url: null` (a double-puppeting registration).
    pub async fn start_without_url(id: &str) -> Self {
        Self::start_with_url(id, "", false, "@_test_.*").await
    }

    /// A service whose users namespace is `users` alone (exclusive).
    pub async fn start_with_users(id: &str, users: &str) -> Self {
        Self::start_with_url(id, "", true, users).await
    }

    async fn start_with_url(id: &str, extra: &str, with_url: bool, users: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let token = |kind: &str| format!("{kind}_{id}_{}", uuid_like());
        let (as_token, hs_token) = (token("as"), token("hs"));
        let service = Service {
            hs_token: hs_token.clone(),
            recorded: Arc::default(),
            answer: Arc::new(Mutex::new(AppserviceAnswer::Accept)),
            creates: Arc::default(),
        };
        let app = axum::Router::new()
            .route(
                "/_matrix/app/v1/transactions/{txn_id}",
                axum::routing::put(transaction),
            )
            .route("/_matrix/app/v1/ping", axum::routing::post(ping))
            .route(
                "/_matrix/app/v1/users/{user_id}",
                axum::routing::get(user_query),
            )
            .route(
                "/_matrix/app/v1/rooms/{alias}",
                axum::routing::get(alias_query),
            )
            .route(
                "/_matrix/app/v1/thirdparty/protocol/{protocol}",
                axum::routing::get(protocol),
            )
            .route(
                "/_matrix/app/v1/thirdparty/user/{protocol}",
                axum::routing::get(third_party_users),
            )
            .with_state(service.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let url = format!("http://127.0.0.1:{port}");
        let sender_localpart = format!("{id}bot");
        let dir = tempfile::tempdir().expect("temporary directory");
        let registration = dir.path().join(format!("{id}.yaml"));
        let url_line = if with_url {
            format!("url: {url}/")
        } else {
            "url: null".to_owned()
        };
        let text = format!(
            "id: {id}\n{url_line}\nas_token: {as_token}\nhs_token: {hs_token}\n\
             sender_localpart: {sender_localpart}\nrate_limited: false\nnamespaces:\n  users:\n    \
             - regex: '{users}'\n      exclusive: true\n    - regex: '@bridged_{id}.*'\n      \
             exclusive: true\n  aliases:\n    - regex: '#bridged_{id}.*'\n      exclusive: true\n\
             {extra}"
        );
        std::fs::write(&registration, text).expect("write the registration");
        Self {
            url,
            id: id.to_owned(),
            as_token,
            hs_token,
            sender_localpart,
            registration,
            service,
            _dir: dir,
            task,
        }
    }

    pub fn answer(&self, answer: AppserviceAnswer) {
        *lock(&self.service.answer) = answer;
    }

    /// Transactions accepted so far, in arrival order.
    pub fn transactions(&self) -> Vec<ReceivedTransaction> {
        lock(&self.service.recorded).accepted.clone()
    }

    /// Every transaction request, accepted or not.
    pub fn attempts(&self) -> Vec<ReceivedTransaction> {
        lock(&self.service.recorded).attempts.clone()
    }

    pub fn pings(&self) -> Vec<Value> {
        lock(&self.service.recorded).pings.clone()
    }

    pub fn user_queries(&self) -> Vec<String> {
        lock(&self.service.recorded).user_queries.clone()
    }

    pub fn alias_queries(&self) -> Vec<String> {
        lock(&self.service.recorded).alias_queries.clone()
    }

    /// From now on, a query creates what it asks about on `homeserver` (a ghost, a portal
    /// room with the alias) before answering yes.
    pub fn create_on_query(&self, homeserver: &str) {
        *lock(&self.service.creates) = Some((homeserver.to_owned(), self.as_token.clone()));
    }

    /// Every event received in accepted transactions, in order.
    pub fn events(&self) -> Vec<Value> {
        self.transactions()
            .iter()
            .flat_map(|t| t.body["events"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Waits up to ten seconds for an accepted event that `matches`.
    pub async fn wait_for_event(&self, matches: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..200 {
            if let Some(event) = self.events().into_iter().find(|e| matches(e)) {
                return event;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the application service did not receive the event; it has {:#?}",
            self.events()
        );
    }

    /// Waits up to ten seconds for `count` transaction requests, accepted or not.
    pub async fn wait_for_attempts(&self, count: usize) -> Vec<ReceivedTransaction> {
        for _ in 0..200 {
            let attempts = self.attempts();
            if attempts.len() >= count {
                return attempts;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the application service got {} requests, not {count}",
            self.attempts().len()
        );
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
