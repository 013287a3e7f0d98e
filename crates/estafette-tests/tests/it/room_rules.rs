//! Power levels and membership rules, each refusal checked: 403 M_FORBIDDEN and nothing changes.

use estafette_tests::{RawClient, TestServer};
use serde_json::json;

struct Room {
    id: String,
}

impl Room {
    fn path(&self, rest: &str) -> String {
        format!("/_matrix/client/v3/rooms/{}/{rest}", self.id)
    }
}

async fn setup(
    server: &TestServer,
    preset: &str,
) -> (RawClient, (String, RawClient), (String, RawClient), Room) {
    let raw = server.raw();
    let (_, alice, _) = raw.register("alice", "alice's password").await;
    let (bob_id, bob, _) = raw.register("bob", "bob's password").await;
    let (carol_id, carol, _) = raw.register("carol", "carol's password").await;
    let alice = raw.clone_with(&alice);
    let room = alice
        .post(
            "/_matrix/client/v3/createRoom",
            json!({"preset": preset, "name": "Original"}),
        )
        .await;
    let room = Room {
        id: room.body["room_id"].as_str().unwrap().to_owned(),
    };
    (
        alice,
        (bob_id, raw.clone_with(&bob)),
        (carol_id, raw.clone_with(&carol)),
        room,
    )
}

#[tokio::test]
async fn a_member_without_power_cannot_change_what_needs_it() {
    let server = TestServer::start().await;
    let (alice, (bob_id, bob), _, room) = setup(&server, "public_chat").await;
    bob.post(&room.path("join"), json!({})).await.assert_ok();
    bob.put(
        &room.path("state/m.room.name/"),
        json!({"name": "Hijacked"}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");
    assert_eq!(
        alice.get(&room.path("state/m.room.name/")).await.body["name"],
        "Original"
    );
    bob.put(
        &room.path("state/m.room.power_levels/"),
        json!({"users": {bob_id.clone(): 100}}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");
    let alice_id = format!("@alice:{}", server.server_name());
    bob.post(&room.path("kick"), json!({"user_id": alice_id}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    bob.post(&room.path("ban"), json!({"user_id": alice_id}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    // Messages need no special power.
    bob.put(
        &room.path("send/m.room.message/1"),
        json!({"msgtype": "m.text", "body": "hi"}),
    )
    .await
    .assert_ok();
    // Once promoted, bob may rename the room.
    alice
        .put(
            &room.path("state/m.room.power_levels/"),
            json!({"users": {bob_id: 50}, "state_default": 50}),
        )
        .await
        .assert_ok();
    bob.put(&room.path("state/m.room.name/"), json!({"name": "Renamed"}))
        .await
        .assert_ok();
}

#[tokio::test]
async fn invite_only_rooms_refuse_uninvited_joins_and_outsiders() {
    let server = TestServer::start().await;
    let (alice, (bob_id, bob), (_, carol), room) = setup(&server, "private_chat").await;
    carol
        .post(&room.path("join"), json!({}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    carol
        .put(
            &room.path("send/m.room.message/1"),
            json!({"msgtype": "m.text", "body": "x"}),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
    carol
        .get(&room.path("messages?dir=b"))
        .await
        .assert_error(403, "M_FORBIDDEN");
    carol
        .get(&room.path("state"))
        .await
        .assert_error(403, "M_FORBIDDEN");
    alice
        .post(&room.path("invite"), json!({"user_id": bob_id}))
        .await
        .assert_ok();
    bob.post(&room.path("join"), json!({})).await.assert_ok();
    let joined = bob.get("/_matrix/client/v3/joined_rooms").await;
    assert_eq!(joined.body["joined_rooms"], json!([room.id]));
    let unknown = format!("@nobody:{}", server.server_name());
    alice
        .post(&room.path("invite"), json!({"user_id": unknown}))
        .await
        .assert_error(404, "M_NOT_FOUND");
    alice
        .post(
            "/_matrix/client/v3/rooms/!nowhere:example.org/join",
            json!({}),
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn kicked_users_leave_and_banned_users_stay_out_until_unbanned() {
    let server = TestServer::start().await;
    let (alice, (bob_id, bob), (carol_id, carol), room) = setup(&server, "public_chat").await;
    bob.post(&room.path("join"), json!({})).await.assert_ok();
    carol.post(&room.path("join"), json!({})).await.assert_ok();

    alice
        .post(
            &room.path("kick"),
            json!({"user_id": bob_id, "reason": "noise"}),
        )
        .await
        .assert_ok();
    let member = alice
        .get(&room.path(&format!("state/m.room.member/{bob_id}")))
        .await;
    assert_eq!(member.body["membership"], "leave");
    assert_eq!(member.body["reason"], "noise");
    bob.put(
        &room.path("send/m.room.message/1"),
        json!({"msgtype": "m.text", "body": "x"}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");
    bob.post(&room.path("join"), json!({})).await.assert_ok();

    alice
        .post(&room.path("ban"), json!({"user_id": carol_id}))
        .await
        .assert_ok();
    carol
        .post(&room.path("join"), json!({}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    alice
        .post(&room.path("unban"), json!({"user_id": bob_id}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    alice
        .post(&room.path("unban"), json!({"user_id": carol_id}))
        .await
        .assert_ok();
    carol.post(&room.path("join"), json!({})).await.assert_ok();

    // A user who left sees the room in the leave section of their next sync.
    let since = bob.get("/_matrix/client/v3/sync").await.body["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    bob.post(&room.path("leave"), json!({})).await.assert_ok();
    let sync = bob
        .get(&format!("/_matrix/client/v3/sync?since={since}"))
        .await;
    assert!(
        sync.body["rooms"]["leave"].get(&room.id).is_some(),
        "{sync:?}"
    );
    bob.post(&room.path("leave"), json!({}))
        .await
        .assert_error(403, "M_FORBIDDEN");
}

#[tokio::test]
async fn knocking_asks_and_an_invite_answers() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, alice, _) = raw.register("alice", "alice's password").await;
    let (bob_id, bob, _) = raw.register("bob", "bob's password").await;
    let (alice, bob) = (raw.clone_with(&alice), raw.clone_with(&bob));
    let room = alice
        .post(
            "/_matrix/client/v3/createRoom",
            json!({"initial_state": [{"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "knock"}}]}),
        )
        .await;
    let room = Room {
        id: room.body["room_id"].as_str().unwrap().to_owned(),
    };
    bob.post(&room.path("join"), json!({}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    bob.post(
        &format!("/_matrix/client/v3/knock/{}", room.id),
        json!({"reason": "Please"}),
    )
    .await
    .assert_ok();
    let bob_sync = bob.get("/_matrix/client/v3/sync").await;
    assert!(
        bob_sync.body["rooms"]["knock"].get(&room.id).is_some(),
        "{bob_sync:?}"
    );
    let member = alice
        .get(&room.path(&format!("state/m.room.member/{bob_id}")))
        .await;
    assert_eq!(member.body["membership"], "knock");
    alice
        .post(&room.path("invite"), json!({"user_id": bob_id}))
        .await
        .assert_ok();
    bob.post(&room.path("join"), json!({})).await.assert_ok();
}

#[tokio::test]
async fn a_forgotten_room_leaves_the_users_view() {
    let server = TestServer::start().await;
    let (alice, (_, bob), _, room) = setup(&server, "public_chat").await;
    bob.post(&room.path("join"), json!({})).await.assert_ok();
    bob.post(&room.path("forget"), json!({}))
        .await
        .assert_error(400, "M_UNKNOWN");
    let since = bob.get("/_matrix/client/v3/sync").await.body["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    bob.post(&room.path("leave"), json!({})).await.assert_ok();
    bob.post(&room.path("forget"), json!({})).await.assert_ok();
    let sync = bob
        .get(&format!("/_matrix/client/v3/sync?since={since}"))
        .await;
    assert!(
        sync.body["rooms"]["leave"].get(&room.id).is_none(),
        "{sync:?}"
    );
    alice
        .put(
            &room.path("send/m.room.message/x"),
            json!({"msgtype": "m.text", "body": "still here"}),
        )
        .await
        .assert_ok();
}

#[tokio::test]
async fn the_user_directory_finds_room_mates_and_public_room_members() {
    let server = TestServer::start().await;
    let (alice, (bob_id, bob), (carol_id, carol), room) = setup(&server, "private_chat").await;
    alice
        .post(&room.path("invite"), json!({"user_id": bob_id}))
        .await
        .assert_ok();
    bob.post(&room.path("join"), json!({})).await.assert_ok();
    let bob_profile = format!("/_matrix/client/v3/profile/{bob_id}/displayname");
    bob.put(&bob_profile, json!({"displayname": "Robert Minister"}))
        .await
        .assert_ok();
    let search = |client: &RawClient, term: &str| {
        let body = json!({"search_term": term, "limit": 10});
        let client = client.clone_with(client.token_for_tests());
        async move {
            client
                .post("/_matrix/client/v3/user_directory/search", body)
                .await
        }
    };
    let found = search(&alice, "minister").await;
    assert_eq!(found.body["results"][0]["user_id"], bob_id, "{found:?}");
    assert_eq!(found.body["limited"], false);
    let nothing = search(&carol, "minister").await;
    assert_eq!(
        nothing.body["results"],
        json!([]),
        "carol shares no room with bob"
    );
    // Members of published rooms are visible to everyone.
    carol
        .post(
            "/_matrix/client/v3/createRoom",
            json!({"visibility": "public", "preset": "public_chat"}),
        )
        .await
        .assert_ok();
    let by_id = search(&alice, "carol").await;
    assert_eq!(by_id.body["results"][0]["user_id"], carol_id);
}

#[tokio::test]
async fn inviting_and_sensitive_state_need_their_power_levels() {
    let server = TestServer::start().await;
    let (alice, (_, bob), (carol_id, _), room) = setup(&server, "public_chat").await;
    bob.post(&room.path("join"), json!({})).await.assert_ok();
    alice
        .put(
            &room.path("state/m.room.power_levels/"),
            json!({"invite": 50, "state_default": 50,
             "events": {"m.room.history_visibility": 100}}),
        )
        .await
        .assert_ok();
    bob.post(&room.path("invite"), json!({"user_id": carol_id}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    bob.put(
        &room.path("state/m.room.history_visibility/"),
        json!({"history_visibility": "joined"}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");
    alice
        .post(&room.path("invite"), json!({"user_id": carol_id}))
        .await
        .assert_ok();
}

#[tokio::test]
async fn members_can_be_read_as_they_were_at_a_sync_token() {
    let server = TestServer::start().await;
    let (alice, (bob_id, bob), _, room) = setup(&server, "public_chat").await;
    let before = alice.get("/_matrix/client/v3/sync").await.body["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    bob.post(&room.path("join"), json!({})).await.assert_ok();
    let now = alice.get(&room.path("members")).await;
    assert_eq!(now.body["chunk"].as_array().unwrap().len(), 2);
    let then = alice.get(&room.path(&format!("members?at={before}"))).await;
    let then: Vec<&str> = then.body["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["state_key"].as_str().unwrap())
        .collect();
    assert!(
        !then.contains(&bob_id.as_str()),
        "bob had not joined yet: {then:?}"
    );
    let joined_only = alice
        .get(&room.path("members?membership=join&not_membership=leave"))
        .await;
    assert_eq!(joined_only.body["chunk"].as_array().unwrap().len(), 2);
}
