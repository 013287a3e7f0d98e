//! `timestamp_to_event`: jumping to a date, from this server's history, and from another
//! server's when this one joined later (asked over federation, then fetched), with Estafette
//! and with Synapse on either side.

use std::time::Duration;

use estafette_tests::{RawClient, SynapseServer, TestServer};
use serde_json::json;

use crate::room_helpers::{create_room, eventually, send_text, user};

async fn jump(
    client: &RawClient,
    room_id: &str,
    ts: u64,
    dir: &str,
) -> estafette_tests::RawResponse {
    client
        .get(&format!(
            "/_matrix/client/v1/rooms/{room_id}/timestamp_to_event?ts={ts}&dir={dir}"
        ))
        .await
}

async fn timestamp_of(client: &RawClient, room_id: &str, event_id: &str) -> u64 {
    let event = client
        .get(&format!(
            "/_matrix/client/v3/rooms/{room_id}/event/{event_id}"
        ))
        .await;
    event.assert_ok();
    event.body["origin_server_ts"].as_u64().unwrap()
}

#[tokio::test]
async fn the_closest_event_in_either_direction() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (_, bob) = user(server.raw(), "bob").await;
    let room = create_room(&alice, json!({})).await;
    let mut sent = Vec::new();
    for (i, text) in ["lundi", "mardi", "mercredi"].iter().enumerate() {
        server.advance_clock(86_400_000);
        let event_id = send_text(&alice, &room, &format!("t{i}"), text).await;
        sent.push((
            event_id.clone(),
            timestamp_of(&alice, &room, &event_id).await,
        ));
    }
    let (monday, tuesday) = (&sent[0], &sent[1]);
    let noon_monday = monday.1 + 43_200_000;
    let forward = jump(&alice, &room, noon_monday, "f").await;
    forward.assert_ok();
    assert_eq!(forward.body["event_id"], tuesday.0.as_str());
    assert_eq!(forward.body["origin_server_ts"], tuesday.1);
    let backward = jump(&alice, &room, noon_monday, "b").await;
    assert_eq!(backward.body["event_id"], monday.0.as_str());
    // The exact time of an event finds it both ways.
    assert_eq!(
        jump(&alice, &room, tuesday.1, "f").await.body["event_id"],
        tuesday.0.as_str()
    );
    assert_eq!(
        jump(&alice, &room, tuesday.1, "b").await.body["event_id"],
        tuesday.0.as_str()
    );

    jump(&alice, &room, sent[2].1 + 1, "f")
        .await
        .assert_error(404, "M_NOT_FOUND");
    jump(&bob, &room, noon_monday, "f")
        .await
        .assert_error(403, "M_FORBIDDEN");
    alice
        .get(&format!(
            "/_matrix/client/v1/rooms/{room}/timestamp_to_event?ts=1&dir=sideways"
        ))
        .await
        .assert_error(400, "M_INVALID_PARAM");
}

/// `host` holds a room with history; `guest` joins afterwards and jumps back into it: its
/// server asks `host`'s, fetches the history, and the guest can read around the event.
async fn a_late_joiner_jumps_into_history(host: RawClient, host_name: &str, guest: RawClient) {
    let (_, alice) = user(host, "alice").await;
    let (_, bob) = user(guest, "bob").await;
    let room = create_room(
        &alice,
        json!({"preset": "public_chat", "initial_state": [{"type": "m.room.history_visibility",
               "state_key": "", "content": {"history_visibility": "shared"}}]}),
    )
    .await;
    let mut sent = Vec::new();
    for i in 0..4 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let event_id = send_text(&alice, &room, &format!("h{i}"), &format!("history {i}")).await;
        sent.push((
            event_id.clone(),
            timestamp_of(&alice, &room, &event_id).await,
        ));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    bob.post(
        &format!("/_matrix/client/v3/join/{room}?via={host_name}"),
        json!({}),
    )
    .await
    .assert_ok();
    let (target, ts) = &sent[1];
    let found = eventually("the guest's server to find the event", || async {
        let answer = jump(&bob, &room, ts - 5, "f").await;
        (answer.status == 200).then_some(answer)
    })
    .await;
    assert_eq!(found.body["event_id"], target.as_str());
    assert_eq!(found.body["origin_server_ts"], *ts);
    let context = bob
        .get(&format!(
            "/_matrix/client/v3/rooms/{room}/context/{target}?limit=2"
        ))
        .await;
    context.assert_ok();
    assert_eq!(context.body["event"]["content"]["body"], "history 1");
}

#[tokio::test]
async fn a_late_joiner_of_another_estafette_jumps_into_its_history() {
    let host = TestServer::builder().federation().start().await;
    let guest = TestServer::builder().federation().start().await;
    a_late_joiner_jumps_into_history(host.raw(), &host.server_name(), guest.raw()).await;
}

#[tokio::test]
async fn estafette_and_synapse_ask_each_other_for_history_by_date() {
    let synapse = SynapseServer::start().await;
    let estafette = TestServer::builder().federation().start().await;
    // An Estafette user jumps into a Synapse room's history.
    a_late_joiner_jumps_into_history(synapse.raw(), &synapse.server_name(), estafette.raw()).await;
    // A Synapse user jumps into an Estafette room's history.
    let second_host = TestServer::builder().federation().start().await;
    a_late_joiner_jumps_into_history(second_host.raw(), &second_host.server_name(), synapse.raw())
        .await;
}
