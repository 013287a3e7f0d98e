//! A push gateway that answers as Sygnal does (Sygnal itself is not installable here, and
//! needs real APNs/FCM credentials): `POST /_matrix/push/v1/notify` on a loopback port,
//! checking the body the way Sygnal does, keeping every notification it accepts, and
//! answering what the test sets — accepted, a pushkey rejected, or a failure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// What the gateway answers next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayAnswer {
    Accept,
    /// 200 with these pushkeys in `rejected` (an app uninstalled).
    Reject(Vec<String>),
    /// An upstream failure (Sygnal: 502) or a bug (500).
    Fail(u16),
}

#[derive(Default)]
struct Recorded {
    accepted: Vec<Value>,
    attempts: usize,
}

#[derive(Clone)]
struct Gateway {
    recorded: Arc<Mutex<Recorded>>,
    answer: Arc<Mutex<GatewayAnswer>>,
}

pub struct PushGateway {
    /// The URL a pusher's `data.url` names.
    pub url: String,
    gateway: Gateway,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PushGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A lock whose poisoning (a panicked test task) is ignored: what it guards is a record.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn refuse(reason: &str) -> Response {
    (StatusCode::BAD_REQUEST, reason.to_owned()).into_response()
}

async fn notify(State(gateway): State<Gateway>, body: axum::body::Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return refuse("Expected JSON request body");
    };
    let notification = &body["notification"];
    if !notification.is_object() {
        return refuse("Invalid notification: expecting object in 'notification' key");
    }
    let Some(devices) = notification["devices"].as_array().filter(|d| !d.is_empty()) else {
        return refuse("Invalid notification: expecting list in 'notification.devices'");
    };
    for device in devices {
        if !device["app_id"].is_string() || !device["pushkey"].is_string() {
            return refuse("Invalid device: app_id and pushkey must be strings");
        }
        if !device.get("pushkey_ts").is_none_or(Value::is_u64) {
            return refuse("Invalid device: pushkey_ts must be an integer");
        }
    }
    let answer = lock(&gateway.answer).clone();
    let mut recorded = lock(&gateway.recorded);
    recorded.attempts += 1;
    match answer {
        GatewayAnswer::Fail(status) => StatusCode::from_u16(status)
            .unwrap_or(StatusCode::BAD_GATEWAY)
            .into_response(),
        GatewayAnswer::Accept => {
            recorded.accepted.push(body);
            Json(json!({"rejected": []})).into_response()
        }
        GatewayAnswer::Reject(keys) => {
            recorded.accepted.push(body);
            Json(json!({ "rejected": keys })).into_response()
        }
    }
}

impl PushGateway {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let gateway = Gateway {
            recorded: Arc::default(),
            answer: Arc::new(Mutex::new(GatewayAnswer::Accept)),
        };
        let app = axum::Router::new()
            .route("/_matrix/push/v1/notify", axum::routing::post(notify))
            .with_state(gateway.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://127.0.0.1:{port}/_matrix/push/v1/notify"),
            gateway,
            task,
        }
    }

    pub fn answer(&self, answer: GatewayAnswer) {
        *lock(&self.gateway.answer) = answer;
    }

    /// The notifications accepted so far (request bodies), in arrival order.
    pub fn received(&self) -> Vec<Value> {
        lock(&self.gateway.recorded).accepted.clone()
    }

    /// Requests received, accepted or not.
    pub fn attempts(&self) -> usize {
        lock(&self.gateway.recorded).attempts
    }

    /// Waits up to ten seconds for `count` accepted notifications.
    pub async fn wait_for(&self, count: usize) -> Vec<Value> {
        for _ in 0..200 {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the gateway received {} notifications, not {count}",
            self.received().len()
        );
    }
}
