//! Push: how soon a message rings the recipient's phone, from the start of the send to the
//! push gateway's receipt of its notification; while the gateway is up, and after it was down
//! for a while (the notifications it missed, and the messages sent once it is back). The
//! gateway is the load generator's own, on loopback, answering as Sygnal does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::client::{BenchResult, Session};
use crate::scenarios::Users;
use crate::stats::Summary;

/// What to measure.
pub struct PushSetup {
    /// Messages sent while the gateway is up, before and again after the outage.
    pub messages: usize,
    pub interval: Duration,
    /// How long the gateway is down; a few messages are sent meanwhile.
    pub outage: Duration,
    /// The gateway's port (0: any free one).
    pub port: u16,
}

/// When each event's notification first reached the gateway, and how many came twice.
#[derive(Clone, Default)]
struct Received {
    at: Arc<Mutex<HashMap<String, Instant>>>,
    repeated: Arc<AtomicUsize>,
}

impl Received {
    fn get(&self, event_id: &str) -> Option<Instant> {
        self.at.lock().ok().and_then(|at| at.get(event_id).copied())
    }
}

async fn notify(State(received): State<Received>, Json(body): Json<Value>) -> Json<Value> {
    let now = Instant::now();
    // Badge-only updates name no event.
    if let Some(event_id) = body["notification"]["event_id"]
        .as_str()
        .filter(|id| !id.is_empty())
        && let Ok(mut at) = received.at.lock()
        && at.insert(event_id.to_owned(), now).is_some()
    {
        received.repeated.fetch_add(1, Ordering::Relaxed);
    }
    Json(json!({"rejected": []}))
}

/// The gateway, listening until stopped.
struct Gateway {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Gateway {
    async fn start(port: u16, received: &Received) -> BenchResult<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| format!("push gateway on port {port}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let app = Router::new()
            .route("/_matrix/push/v1/notify", post(notify))
            .with_state(received.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async {
                stopped.await.ok();
            });
            if let Err(err) = serving.await {
                eprintln!("push gateway: {err}");
            }
        });
        Ok(Self { addr, stop, task })
    }

    /// Stops listening: the server's requests are refused until it starts again.
    async fn shut(self) {
        self.stop.send(()).ok();
        self.task.await.ok();
    }
}

/// Sends `count` messages `interval` apart; each event ID with the start of its send.
async fn send(
    sender: &Session,
    room_id: &str,
    label: &str,
    count: usize,
    interval: Duration,
) -> BenchResult<Vec<(String, Instant)>> {
    let mut sent = Vec::with_capacity(count);
    for i in 0..count {
        let start = Instant::now();
        let event_id = sender
            .send_text(
                room_id,
                &format!("{label}-{i}"),
                &format!("push {label} {i}"),
            )
            .await?;
        sent.push((event_id, start));
        tokio::time::sleep(interval.saturating_sub(start.elapsed())).await;
    }
    Ok(sent)
}

/// Waits (at most `limit`) until every sent event reached the gateway.
async fn all_received(received: &Received, sent: &[(String, Instant)], limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && sent.iter().any(|(id, _)| received.get(id).is_none()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// From `from` (each send's start, or one moment) to the gateway's receipt; and how many
/// never arrived.
fn latencies(
    received: &Received,
    sent: &[(String, Instant)],
    from: Option<Instant>,
) -> (Summary, usize) {
    let mut samples = Vec::new();
    let mut missing = 0;
    for (event_id, start) in sent {
        match received.get(event_id) {
            Some(at) => samples.push(at.saturating_duration_since(from.unwrap_or(*start))),
            None => missing += 1,
        }
    }
    (Summary::of(samples), missing)
}

pub async fn push(users: &Users, setup: &PushSetup) -> BenchResult<Value> {
    let received = Received::default();
    let gateway = Gateway::start(setup.port, &received).await?;
    let port = gateway.addr.port();
    let url = format!("http://127.0.0.1:{port}/_matrix/push/v1/notify");
    let mut pair = users.register("push", 2).await?;
    let (alice, bob) = (pair.remove(0), pair.remove(0));
    bob.set_pusher(&url, &format!("{}-pushkey", users.prefix))
        .await?;
    // A direct chat: the default rules ring (notify, with sound) for every message.
    let room = alice.create_room("trusted_private_chat").await?;
    alice.invite(&room, &bob.user_id).await?;
    bob.join(&room).await?;
    let wait = Duration::from_secs(30);

    let steady = send(&alice, &room, "up", setup.messages, setup.interval).await?;
    all_received(&received, &steady, wait).await;

    gateway.shut().await;
    let down_at = Instant::now();
    let missed = send(&alice, &room, "down", 5, setup.outage / 5).await?;
    tokio::time::sleep(setup.outage.saturating_sub(down_at.elapsed())).await;
    let gateway = Gateway::start(port, &received).await?;
    let up_at = Instant::now();
    let after = send(&alice, &room, "back", setup.messages, setup.interval).await?;
    all_received(&received, &missed, wait).await;
    all_received(&received, &after, wait).await;
    gateway.shut().await;

    let (steady_summary, steady_missing) = latencies(&received, &steady, None);
    let (after_summary, after_missing) = latencies(&received, &after, None);
    let (missed_summary, missed_missing) = latencies(&received, &missed, Some(up_at));
    let first_after = after
        .first()
        .and_then(|(id, start)| Some(received.get(id)?.saturating_duration_since(*start)));
    println!("push, gateway up:            {}", steady_summary.line());
    println!("push, after the outage:      {}", after_summary.line());
    println!("push, missed, from recovery: {}", missed_summary.line());
    let ms = |d: Duration| (d.as_secs_f64() * 100_000.0).round() / 100.0;
    Ok(json!({
        "gateway_up": steady_summary.to_json(),
        "gateway_up_missing": steady_missing,
        "outage_ms": setup.outage.as_millis() as u64,
        "after_outage": after_summary.to_json(),
        "after_outage_first_ms": first_after.map(ms),
        "after_outage_missing": after_missing,
        "missed_from_recovery": missed_summary.to_json(),
        "missed_missing": missed_missing,
        "repeated": received.repeated.load(Ordering::Relaxed),
    }))
}
