//! History visibility: what a member who arrived late sees of the messages sent before, the
//! same through `/messages`, `/event`, `/context` and `/sync`.

use estafette_tests::{RawClient, TestServer};
use serde_json::json;

use crate::room_helpers::{create_room, messages, send_text, url_encode, user};

/// The message bodies `client` gets from an initial sync of `room_id`.
async fn synced_messages(client: &RawClient, room_id: &str) -> Vec<String> {
    let filter = json!({"room": {"timeline": {"limit": 50}}}).to_string();
    let sync = client
        .get(&format!(
            "/_matrix/client/v3/sync?timeout=0&filter={}",
            url_encode(&filter)
        ))
        .await;
    sync.body["rooms"]["join"][room_id]["timeline"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(ToOwned::to_owned))
        .collect()
}

#[tokio::test]
async fn a_late_member_sees_what_the_visibility_allows_everywhere() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    for (visibility, expected) in [
        (
            "shared",
            vec!["before the invite", "after the invite", "after the join"],
        ),
        ("invited", vec!["after the invite", "after the join"]),
        ("joined", vec!["after the join"]),
        (
            "world_readable",
            vec!["before the invite", "after the invite", "after the join"],
        ),
    ] {
        let (dave_id, dave) = user(server.raw(), &format!("dave_{visibility}")).await;
        let room = create_room(
            &alice,
            json!({"preset": "private_chat", "initial_state": [{"type": "m.room.history_visibility",
                   "state_key": "", "content": {"history_visibility": visibility}}]}),
        )
        .await;
        let before = send_text(&alice, &room, "t1", "before the invite").await;
        alice
            .post(
                &format!("/_matrix/client/v3/rooms/{room}/invite"),
                json!({"user_id": dave_id}),
            )
            .await
            .assert_ok();
        send_text(&alice, &room, "t2", "after the invite").await;
        dave.post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
            .await
            .assert_ok();
        send_text(&alice, &room, "t3", "after the join").await;

        assert_eq!(
            messages(&dave, &room).await,
            expected,
            "{visibility}: /messages"
        );
        assert_eq!(
            synced_messages(&dave, &room).await,
            expected,
            "{visibility}: /sync"
        );
        let event = dave
            .get(&format!("/_matrix/client/v3/rooms/{room}/event/{before}"))
            .await;
        let context = dave
            .get(&format!("/_matrix/client/v3/rooms/{room}/context/{before}"))
            .await;
        if expected.contains(&"before the invite") {
            event.assert_ok();
            context.assert_ok();
        } else {
            event.assert_error(404, "M_NOT_FOUND");
            context.assert_error(404, "M_NOT_FOUND");
        }
        // Alice, there from the start, sees everything.
        assert_eq!(
            messages(&alice, &room).await.len(),
            3,
            "{visibility}: Alice"
        );
    }
}
