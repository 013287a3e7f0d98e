//! The measurements: send throughput, fan-out latency to long-polling members, federation
//! delivery latency between two servers, and the initial sync of a user in many rooms. Every
//! loop is bounded in count and time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{BenchResult, Session, message_bodies};
use crate::stats::Summary;

/// Where users come from: one prefix per run so runs never collide.
pub struct Users {
    pub http: reqwest::Client,
    /// The server's client API, or several processes of one server: user `i` talks to
    /// process `i mod n` throughout, as behind a load balancer that keeps a client on one.
    pub bases: Vec<String>,
    pub prefix: String,
}

impl Users {
    pub async fn register(&self, name: &str, count: usize) -> BenchResult<Vec<Session>> {
        let mut sessions = Vec::with_capacity(count);
        // Registration hashes passwords; a few at a time keeps the server responsive.
        for chunk in (0..count).collect::<Vec<_>>().chunks(8) {
            let tasks: Vec<_> = chunk
                .iter()
                .map(|i| {
                    let base = self.bases[*i % self.bases.len()].clone();
                    let http = self.http.clone();
                    let username = format!("{}{name}{i}", self.prefix);
                    tokio::spawn(async move { Session::register(&http, &base, &username).await })
                })
                .collect();
            for task in tasks {
                sessions.push(task.await.map_err(|e| e.to_string())??);
            }
        }
        Ok(sessions)
    }
}

/// `senders` users send `per_sender` messages each, concurrently, into `rooms` rooms (sender
/// *s* into room *s* mod `rooms`; every sender is a member of every room).
pub async fn send_throughput(
    users: &Users,
    senders: usize,
    per_sender: usize,
    rooms: usize,
) -> BenchResult<Value> {
    let sessions = users.register("send", senders).await?;
    let mut room_ids = Vec::new();
    for _ in 0..rooms.max(1) {
        let room = sessions[0].create_room("public_chat").await?;
        for session in &sessions[1..] {
            session.join(&room).await?;
        }
        room_ids.push(room);
    }
    let started = Instant::now();
    let tasks: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(s, session)| {
            let room = room_ids[s % room_ids.len()].clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_sender);
                for i in 0..per_sender {
                    let sent = Instant::now();
                    session
                        .send_text(&room, &format!("t{s}-{i}"), &format!("message {s}-{i}"))
                        .await?;
                    latencies.push(sent.elapsed());
                }
                Ok::<_, String>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed();
    let total = latencies.len();
    let summary = Summary::of(latencies);
    let rate = total as f64 / elapsed.as_secs_f64();
    println!(
        "send throughput, {senders} senders, {} rooms: {rate:.0} messages/s; latency {}",
        room_ids.len(),
        summary.line()
    );
    Ok(
        json!({"senders": senders, "rooms": room_ids.len(), "messages": total, "seconds": elapsed.as_secs_f64(), "messages_per_second": rate,
              "latency": summary.to_json()}),
    )
}

/// One member sends `messages` messages into a room of `members`, one every `interval` (start to
/// start); every other member waits in a long-poll `/sync`. Latency runs from the start of the
/// send to each member's sync return.
pub async fn fan_out(
    users: &Users,
    members: usize,
    messages: usize,
    interval: Duration,
) -> BenchResult<Value> {
    let sessions = users.register(&format!("fan{members}x"), members).await?;
    let room = sessions[0].create_room("public_chat").await?;
    for session in &sessions[1..] {
        session.join(&room).await?;
    }
    let latencies = deliveries(
        &sessions[0],
        &room,
        &sessions[1..],
        messages,
        interval,
        &format!("fan-out {members}"),
    )
    .await?;
    let expected = messages * (members - 1);
    let received = latencies.len();
    let summary = Summary::of(latencies);
    println!(
        "fan-out to {members:>3} members: {received}/{expected} deliveries; {}",
        summary.line()
    );
    Ok(
        json!({"members": members, "messages": messages, "expected_deliveries": expected, "deliveries": received,
              "latency": summary.to_json()}),
    )
}

/// A user of one server sends `messages` messages to a user of another server, then the
/// other way: delivery latency across federation, from the start of the send to the
/// receiver's long-poll `/sync` returning it.
pub async fn federation(home: &Users, peer: &Users, messages: usize) -> BenchResult<Value> {
    let alice = home.register("fedhome", 1).await?.remove(0);
    let bob = peer.register("fedpeer", 1).await?.remove(0);
    let room = alice.create_room("public_chat").await?;
    bob.join_via(&room, alice.server_name()).await?;
    let mut figures = Vec::new();
    for (sender, receiver, label) in [
        (&alice, &bob, "home to peer"),
        (&bob, &alice, "peer to home"),
    ] {
        let latencies = deliveries(
            sender,
            &room,
            std::slice::from_ref(receiver),
            messages,
            Duration::from_millis(100),
            label,
        )
        .await?;
        let received = latencies.len();
        let summary = Summary::of(latencies);
        println!(
            "federation, {label}: {received}/{messages} delivered; {}",
            summary.line()
        );
        figures.push(
            json!({"direction": label, "messages": messages, "deliveries": received,
                            "latency": summary.to_json()}),
        );
    }
    Ok(Value::Array(figures))
}

/// `sender` sends `messages` messages, one every `interval` from the start of one send to the
/// start of the next, while each receiver long-polls `/sync`; the latency of every delivery,
/// from the start of its send.
async fn deliveries(
    sender: &Session,
    room: &str,
    receivers: &[Session],
    messages: usize,
    interval: Duration,
    label: &str,
) -> BenchResult<Vec<Duration>> {
    let sent_at: SentAt = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(60 + messages as u64);
    let mut tasks = Vec::new();
    for session in receivers.iter().cloned() {
        let since = session.sync(None, Duration::ZERO).await?["next_batch"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let sent_at = sent_at.clone();
        tasks.push(tokio::spawn(async move {
            let (latencies, _) =
                poll_deliveries(&session, since, messages, deadline, &sent_at).await?;
            Ok::<_, String>(latencies)
        }));
    }
    // Let every long-poll reach the server before the first message.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first = tokio::time::Instant::now();
    for i in 0..messages {
        tokio::time::sleep_until(first + interval * u32::try_from(i).unwrap_or(u32::MAX)).await;
        let body = format!("{label} #{i}");
        sent_at
            .lock()
            .map_err(|e| e.to_string())?
            .insert(body.clone(), Instant::now());
        sender
            .send_text(room, &format!("{}-{i}", label.replace(' ', "-")), &body)
            .await?;
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.map_err(|e| e.to_string())??);
    }
    Ok(latencies)
}

/// Times sent by message body.
pub type SentAt = Arc<Mutex<HashMap<String, Instant>>>;

/// Long-polls `/sync` from `since` until `expected` of the messages in `sent_at` arrived (or
/// the deadline passed); the latency of each, from the start of its send, and the token to
/// go on from.
pub async fn poll_deliveries(
    session: &Session,
    mut since: String,
    expected: usize,
    deadline: Instant,
    sent_at: &SentAt,
) -> BenchResult<(Vec<Duration>, String)> {
    let mut latencies = Vec::with_capacity(expected);
    while latencies.len() < expected && Instant::now() < deadline {
        let sync = session.sync(Some(&since), Duration::from_secs(30)).await?;
        let arrived = Instant::now();
        for body in message_bodies(&sync) {
            if let Some(sent) = sent_at.lock().map_err(|e| e.to_string())?.get(&body) {
                latencies.push(arrived.duration_since(*sent));
            }
        }
        since = sync["next_batch"].as_str().unwrap_or_default().to_owned();
    }
    Ok((latencies, since))
}

/// A user in `rooms` rooms of `messages` messages each: its initial syncs, the first apart
/// (nothing of it cached yet), with full member state and with lazy-loaded members.
pub async fn initial_sync(
    users: &Users,
    rooms: usize,
    messages: usize,
    runs: usize,
) -> BenchResult<Value> {
    let sessions = users.register("initial", 1).await?;
    let user = &sessions[0];
    for r in 0..rooms {
        let room = user.create_room("private_chat").await?;
        for m in 0..messages {
            user.send_text(
                &room,
                &format!("i{r}-{m}"),
                &format!("room {r} message {m}"),
            )
            .await?;
        }
    }
    const LAZY: &str = r#"{"room":{"state":{"lazy_load_members":true}}}"#;
    let mut figures = serde_json::Map::new();
    let mut joined = 0;
    for (name, filter) in [("full", None), ("lazy", Some(LAZY))] {
        let mut durations = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            let sync = user.sync_with(None, Duration::ZERO, filter).await?;
            durations.push(started.elapsed());
            joined = sync["rooms"]["join"]
                .as_object()
                .map_or(0, |rooms| rooms.len());
        }
        let first = durations.first().copied().unwrap_or_default();
        let summary = Summary::of(durations);
        println!(
            "initial sync ({name}), {rooms} rooms of {messages} messages ({joined} returned): first={:>8.2} ms {}",
            first.as_secs_f64() * 1000.0,
            summary.line()
        );
        let mut entry = summary.to_json();
        entry["first_ms"] = json!((first.as_secs_f64() * 100_000.0).round() / 100.0);
        figures.insert(name.to_owned(), entry);
    }
    // The same user's incremental sync after a message in one of its rooms: what a woken
    // long-poll of a user in many rooms costs.
    let mut since = user.sync(None, Duration::ZERO).await?["next_batch"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let room = user.create_room("private_chat").await?;
    let mut incremental = Vec::with_capacity(runs * 4);
    for run in 0..runs * 4 {
        user.send_text(&room, &format!("inc{run}"), "one room changed")
            .await?;
        let started = Instant::now();
        let sync = user.sync(Some(&since), Duration::ZERO).await?;
        incremental.push(started.elapsed());
        since = sync["next_batch"].as_str().unwrap_or_default().to_owned();
    }
    let incremental = Summary::of(incremental);
    println!(
        "incremental sync, 1 of {} rooms changed: {}",
        rooms + 1,
        incremental.line()
    );
    Ok(
        json!({"rooms": rooms, "messages_per_room": messages, "rooms_returned": joined,
              "duration": figures["full"], "lazy": figures["lazy"],
              "incremental": incremental.to_json()}),
    )
}

/// Backward pagination: a room of `messages` messages read from the newest to the creation,
/// three times in pages of 50 events and three times in pages of 100; each page's latency.
pub async fn pagination(users: &Users, messages: usize) -> BenchResult<Value> {
    let sessions = users.register("pager", 1).await?;
    let user = &sessions[0];
    let room = user.create_room("private_chat").await?;
    for m in 0..messages {
        user.send_text(&room, &format!("p{m}"), &format!("history {m}"))
            .await?;
    }
    let mut figures = json!({"messages": messages});
    for (page, key) in [(50, "page"), (100, "page_100")] {
        let mut durations = Vec::new();
        let mut read = 0;
        for _ in 0..3 {
            let (mut from, mut events) = (None, 0);
            // Bounded: a server that never ends the history stops the run here.
            for _ in 0..(messages / page + 10) {
                let started = Instant::now();
                let (count, end) = user.messages_back(&room, from.as_deref(), page).await?;
                durations.push(started.elapsed());
                events += count;
                match end {
                    Some(end) if count > 0 => from = Some(end),
                    _ => break,
                }
            }
            read = events;
        }
        let summary = Summary::of(durations);
        println!(
            "pagination, {messages} messages back in pages of {page} ({read} events read): {}",
            summary.line()
        );
        figures["events_read"] = json!(read);
        figures[key] = summary.to_json();
    }
    Ok(figures)
}
