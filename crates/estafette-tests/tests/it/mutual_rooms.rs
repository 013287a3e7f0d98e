//! The rooms two users share (`/_matrix/client/v1/mutual_rooms` and the unstable path Element
//! calls), paged.

use estafette_tests::TestServer;
use serde_json::json;

use crate::room_helpers::{create_room, user};

#[tokio::test]
async fn the_rooms_two_users_share_are_listed_a_page_at_a_time() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (bob_id, bob) = user(server.raw(), "bob").await;
    let (carol_id, _) = user(server.raw(), "carol").await;
    let mut shared = Vec::new();
    for _ in 0..105 {
        let room = create_room(&alice, json!({"preset": "public_chat"})).await;
        bob.post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
            .await
            .assert_ok();
        shared.push(room);
    }
    create_room(&alice, json!({})).await;
    let left = create_room(&alice, json!({"preset": "public_chat"})).await;
    bob.post(&format!("/_matrix/client/v3/join/{left}"), json!({}))
        .await
        .assert_ok();
    bob.post(&format!("/_matrix/client/v3/rooms/{left}/leave"), json!({}))
        .await
        .assert_ok();
    shared.sort();

    let mut listed = Vec::new();
    let mut from = String::new();
    loop {
        let page = alice
            .get(&format!(
                "/_matrix/client/v1/mutual_rooms?user_id={bob_id}{from}"
            ))
            .await;
        page.assert_ok();
        assert_eq!(page.body["count"], 105);
        listed.extend(
            page.body["joined"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_owned()),
        );
        match page.body["next_batch"].as_str() {
            Some(token) => from = format!("&from={}", crate::room_helpers::url_encode(token)),
            None => break,
        }
    }
    assert_eq!(listed, shared, "every shared room once, and only those");

    let unstable = alice
        .get(&format!(
            "/_matrix/client/unstable/uk.half-shot.msc2666/user/mutual_rooms?user_id={bob_id}"
        ))
        .await;
    unstable.assert_ok();
    assert_eq!(unstable.body["joined"].as_array().unwrap().len(), 100);

    let none = alice
        .get(&format!(
            "/_matrix/client/v1/mutual_rooms?user_id={carol_id}"
        ))
        .await;
    assert_eq!(none.body["joined"], json!([]));
    let unknown = alice
        .get("/_matrix/client/v1/mutual_rooms?user_id=@nobody:elsewhere.example")
        .await;
    assert_eq!(unknown.body["joined"], json!([]));
    let whoami = alice.get("/_matrix/client/v3/account/whoami").await;
    let me = whoami.body["user_id"].as_str().unwrap();
    alice
        .get(&format!("/_matrix/client/v1/mutual_rooms?user_id={me}"))
        .await
        .assert_error(400, "M_INVALID_PARAM");
    alice
        .get("/_matrix/client/v1/mutual_rooms?user_id=not-a-user")
        .await
        .assert_error(400, "M_INVALID_PARAM");
    alice
        .get(&format!(
            "/_matrix/client/v1/mutual_rooms?user_id={bob_id}&from=garbage"
        ))
        .await
        .assert_error(400, "M_INVALID_PARAM");
}
