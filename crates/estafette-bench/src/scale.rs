//! Measurements at scale: a room filling up to a thousand members one join at a time, and
//! thousands of concurrent long-polls of which each message wakes only a few.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::BenchResult;
use crate::scenarios::{SentAt, Users, poll_deliveries};
use crate::stats::Summary;

/// How many joins each end of the join measurement summarises.
const JOINS_SUMMARISED: usize = 100;

/// `members` users join one public room in turn; the latency of each join, summarised for the
/// first and the last joins (the cost of a join as the room fills).
pub async fn join_growth(users: &Users, members: usize) -> BenchResult<Value> {
    let sessions = users.register(&format!("join{members}x"), members).await?;
    let room = sessions[0].create_room("public_chat").await?;
    let mut durations = Vec::with_capacity(members);
    for session in &sessions[1..] {
        let started = Instant::now();
        session.join(&room).await?;
        durations.push(started.elapsed());
    }
    let summarised = JOINS_SUMMARISED.min(durations.len());
    let first = Summary::of(durations[..summarised].to_vec());
    let last = Summary::of(durations[durations.len() - summarised..].to_vec());
    println!(
        "joins into a room of {members}, first {summarised}: {}",
        first.line()
    );
    println!(
        "joins into a room of {members}, last {summarised}: {}",
        last.line()
    );
    Ok(json!({"members": members, "first": first.to_json(), "last": last.to_json()}))
}

/// What the long-poll measurement sets up.
pub struct LongPolls {
    /// Long-polls waiting at once, in all.
    pub polls: usize,
    /// Long-polls each user keeps open (one access token, as several tabs of one session).
    pub per_user: usize,
    /// Members of each room; the users are spread over as many rooms as that makes.
    pub room_size: usize,
    /// Messages sent, one room after the other.
    pub messages: usize,
    pub interval: Duration,
}

/// `polls` long-polls wait on the server at once, spread over rooms of `room_size` members;
/// one message every `interval` goes to the next room in turn and wakes only that room's
/// polls. Latency from the start of each send to each woken poll's return: what the many
/// idle polls cost the few woken ones.
pub async fn long_polls(users: &Users, setup: &LongPolls) -> BenchResult<Value> {
    let per_user = setup.per_user.max(1);
    let room_size = setup.room_size.max(2);
    let user_count = (setup.polls / per_user).max(room_size);
    let sessions = users.register("poll", user_count).await?;
    let mut rooms = Vec::new();
    for members in sessions.chunks(room_size) {
        let room = members[0].create_room("public_chat").await?;
        for member in &members[1..] {
            member.join(&room).await?;
        }
        rooms.push(room);
    }
    // Room `r` receives messages r, r + rooms, r + 2 × rooms…
    let expected_in = |r: usize| (setup.messages + rooms.len() - 1 - r) / rooms.len();
    let sent_at: SentAt = Arc::default();
    let arrived: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(120 + setup.messages as u64);
    let mut tasks = Vec::new();
    for (i, session) in sessions.iter().enumerate() {
        let expected = expected_in(i / room_size);
        let since = session.sync(None, Duration::ZERO).await?["next_batch"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for _ in 0..per_user {
            let (session, sent_at, arrived) = (session.clone(), sent_at.clone(), arrived.clone());
            let since = since.clone();
            tasks.push(tokio::spawn(async move {
                let (latencies, mut since) =
                    poll_deliveries(&session, since, expected, deadline, &sent_at).await?;
                arrived.lock().map_err(|e| e.to_string())?.extend(latencies);
                // Still waiting, like every other poll, until the measurement ends.
                while Instant::now() < deadline {
                    let sync = session.sync(Some(&since), Duration::from_secs(30)).await?;
                    since = sync["next_batch"].as_str().unwrap_or_default().to_owned();
                }
                Ok::<(), String>(())
            }));
        }
    }
    // Every long-poll reaches the server before the first message.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let first = tokio::time::Instant::now();
    for i in 0..setup.messages {
        let at = first + setup.interval * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(at).await;
        let r = i % rooms.len();
        let body = format!("poll #{i}");
        sent_at
            .lock()
            .map_err(|e| e.to_string())?
            .insert(body.clone(), Instant::now());
        sessions[r * room_size]
            .send_text(&rooms[r], &format!("poll-{i}"), &body)
            .await?;
    }
    let expected: usize = (0..sessions.len())
        .map(|i| expected_in(i / room_size) * per_user)
        .sum();
    // Bounded: deliveries that never come end the measurement at the deadline.
    while Instant::now() < deadline && arrived.lock().map_err(|e| e.to_string())?.len() < expected {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        if let Ok(Err(err)) = task.await {
            return Err(err);
        }
    }
    let latencies = std::mem::take(&mut *arrived.lock().map_err(|e| e.to_string())?);
    let polls = sessions.len() * per_user;
    let received = latencies.len();
    let summary = Summary::of(latencies);
    println!(
        "{polls} long-polls over {} rooms of {room_size}: {received}/{expected} deliveries; {}",
        rooms.len(),
        summary.line()
    );
    Ok(
        json!({"polls": polls, "rooms": rooms.len(), "room_size": room_size,
              "messages": setup.messages, "expected_deliveries": expected,
              "deliveries": received, "latency": summary.to_json()}),
    )
}
