//! Simplified sliding sync as Element X uses it, for a user in many rooms: the first
//! response (the top 20 rooms), loading the whole list by pages of 100 as the SDK does, and
//! an incremental response after a message in one room.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{BenchResult, Session};
use crate::scenarios::Users;
use crate::stats::Summary;

/// The `all_rooms` list of matrix-sdk's room list service over `[0, end]`.
fn room_list(end: usize) -> Value {
    json!({
        "conn_id": "room-list",
        "lists": {"all_rooms": {
            "ranges": [[0, end]],
            "timeline_limit": 1,
            "required_state": [
                ["m.room.name", ""], ["m.room.encryption", ""], ["m.room.member", "$LAZY"],
                ["m.room.member", "$ME"], ["m.room.topic", ""], ["m.room.avatar", ""],
                ["m.room.canonical_alias", ""], ["m.room.power_levels", ""],
                ["m.room.join_rules", ""], ["m.room.tombstone", ""], ["m.room.create", ""],
                ["m.room.history_visibility", ""], ["io.element.functional_members", ""],
                ["org.matrix.msc3401.call.member", "*"], ["m.space.parent", "*"],
                ["m.space.child", "*"]
            ]
        }},
        "extensions": {"account_data": {"enabled": true}, "typing": {"enabled": true},
                       "receipts": {"enabled": true, "rooms": ["*"]}}
    })
}

fn pos_of(response: &Value) -> BenchResult<String> {
    Ok(response["pos"].as_str().ok_or("no pos")?.to_owned())
}

fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 100_000.0).round() / 100.0
}

/// Creates `rooms` rooms with a message each, eight at a time.
async fn fill(user: &Session, rooms: usize) -> BenchResult<Vec<String>> {
    let mut created = Vec::with_capacity(rooms);
    for chunk in (0..rooms).collect::<Vec<_>>().chunks(8) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|r| {
                let user = user.clone();
                let r = *r;
                tokio::spawn(async move {
                    let room = user.create_room("private_chat").await?;
                    user.send_text(&room, &format!("s{r}"), &format!("room {r}"))
                        .await?;
                    Ok::<_, String>(room)
                })
            })
            .collect();
        for task in tasks {
            created.push(task.await.map_err(|e| e.to_string())??);
        }
    }
    Ok(created)
}

pub async fn sliding_sync(users: &Users, rooms: usize, runs: usize) -> BenchResult<Value> {
    let sessions = users.register("sliding", 1).await?;
    let user = &sessions[0];
    let setup = Instant::now();
    let created = fill(user, rooms).await?;
    println!(
        "sliding sync: {rooms} rooms created in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let mut firsts = Vec::with_capacity(runs);
    let mut full_loads = Vec::with_capacity(runs);
    let mut pos = String::new();
    for _ in 0..runs {
        // A new connection each run, as after the app's 30 minutes idle.
        let started = Instant::now();
        let first = user.sliding_sync(None, &room_list(19)).await?;
        firsts.push(started.elapsed());
        let count = first["lists"]["all_rooms"]["count"].as_u64().unwrap_or(0) as usize;
        if count != rooms {
            return Err(format!("the list counts {count} rooms, not {rooms}"));
        }
        pos = pos_of(&first)?;
        let mut end = 19;
        while end + 1 < count {
            end = (end + 100).min(count - 1);
            pos = pos_of(&user.sliding_sync(Some(&pos), &room_list(end)).await?)?;
        }
        full_loads.push(started.elapsed());
    }
    let mut incremental = Vec::with_capacity(runs * 4);
    let body = room_list(rooms.saturating_sub(1));
    for run in 0..runs * 4 {
        let room = &created[(run * 37) % created.len()];
        user.send_text(room, &format!("inc{run}"), "one room changed")
            .await?;
        let started = Instant::now();
        let response = user.sliding_sync(Some(&pos), &body).await?;
        incremental.push(started.elapsed());
        if response["rooms"].get(room.as_str()).is_none() {
            return Err(format!("the changed room is missing: {response}"));
        }
        pos = pos_of(&response)?;
    }
    let first = Summary::of(firsts.clone());
    let full = Summary::of(full_loads.clone());
    let incremental = Summary::of(incremental);
    println!(
        "sliding sync, {rooms} rooms: first response (top 20) first={:.2} ms {}",
        ms(firsts[0]),
        first.line()
    );
    println!(
        "sliding sync, {rooms} rooms: whole list by pages of 100 first={:.2} ms {}",
        ms(full_loads[0]),
        full.line()
    );
    println!(
        "sliding sync, 1 of {rooms} rooms changed: {}",
        incremental.line()
    );
    let mut first_json = first.to_json();
    first_json["first_ms"] = json!(ms(firsts[0]));
    let mut full_json = full.to_json();
    full_json["first_ms"] = json!(ms(full_loads[0]));
    Ok(
        json!({"rooms": rooms, "first_response": first_json, "whole_list": full_json,
              "incremental": incremental.to_json()}),
    )
}
