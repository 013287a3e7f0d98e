//! Room upgrades and space hierarchies.

use estafette_tests::TestServer;
use serde_json::json;

#[tokio::test]
async fn upgrading_a_room_carries_state_and_aliases_and_mutes_the_old_room() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, alice, _) = raw.register("alice", "alice's password").await;
    let (_, bob, _) = raw.register("bob", "bob's password").await;
    let (alice, bob) = (raw.clone_with(&alice), raw.clone_with(&bob));
    let old = alice
        .post(
            "/_matrix/client/v3/createRoom",
            json!({"room_version": "10", "preset": "public_chat", "name": "Council", "topic": "Decisions",
                   "room_alias_name": "council", "visibility": "public"}),
        )
        .await;
    let old = old.body["room_id"].as_str().unwrap().to_owned();
    bob.post(&format!("/_matrix/client/v3/rooms/{old}/join"), json!({}))
        .await
        .assert_ok();
    bob.post(
        &format!("/_matrix/client/v3/rooms/{old}/upgrade"),
        json!({"new_version": "12"}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");

    let upgraded = alice
        .post(
            &format!("/_matrix/client/v3/rooms/{old}/upgrade"),
            json!({"new_version": "12"}),
        )
        .await;
    upgraded.assert_ok();
    let new = upgraded.body["replacement_room"]
        .as_str()
        .unwrap()
        .to_owned();
    let state = |room: &str, kind: &str| format!("/_matrix/client/v3/rooms/{room}/state/{kind}/");
    assert_eq!(
        alice.get(&state(&new, "m.room.create")).await.body["predecessor"]["room_id"],
        old
    );
    assert_eq!(
        alice.get(&state(&new, "m.room.create")).await.body["room_version"],
        "12"
    );
    assert_eq!(
        alice.get(&state(&new, "m.room.name")).await.body["name"],
        "Council"
    );
    assert_eq!(
        alice.get(&state(&new, "m.room.topic")).await.body["topic"],
        "Decisions"
    );
    assert_eq!(
        alice.get(&state(&old, "m.room.tombstone")).await.body["replacement_room"],
        new
    );
    let alias = format!("%23council:{}", server.server_name());
    assert_eq!(
        raw.get(&format!("/_matrix/client/v3/directory/room/{alias}"))
            .await
            .body["room_id"],
        new
    );
    // Bob can follow to the new room but no longer talk in the old one.
    bob.post(&format!("/_matrix/client/v3/rooms/{new}/join"), json!({}))
        .await
        .assert_ok();
    bob.put(
        &format!("/_matrix/client/v3/rooms/{old}/send/m.room.message/1"),
        json!({"msgtype": "m.text", "body": "x"}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");
    let public = raw.get("/_matrix/client/v3/publicRooms").await;
    let listed: Vec<&str> = public.body["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![new.as_str()]);
}

#[tokio::test]
async fn a_space_hierarchy_lists_children_breadth_first() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, alice, _) = raw.register("alice", "alice's password").await;
    let alice = raw.clone_with(&alice);
    let create = |body: serde_json::Value| {
        let alice = alice.clone_with(alice.token_for_tests());
        async move {
            alice.post("/_matrix/client/v3/createRoom", body).await.body["room_id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let space = create(json!({"name": "Ministry", "preset": "public_chat", "creation_content": {"type": "m.space"}})).await;
    let team = create(json!({"name": "Team", "preset": "public_chat"})).await;
    let hidden = create(json!({"name": "Hidden", "preset": "public_chat"})).await;
    let server_name = server.server_name();
    alice
        .put(
            &format!("/_matrix/client/v3/rooms/{space}/state/m.space.child/{team}"),
            json!({"via": [server_name], "suggested": true}),
        )
        .await
        .assert_ok();
    alice
        .put(
            &format!("/_matrix/client/v3/rooms/{space}/state/m.space.child/{hidden}"),
            json!({"via": [server_name]}),
        )
        .await
        .assert_ok();
    let hierarchy = alice
        .get(&format!("/_matrix/client/v1/rooms/{space}/hierarchy"))
        .await;
    hierarchy.assert_ok();
    let rooms = hierarchy.body["rooms"].as_array().unwrap();
    assert_eq!(rooms[0]["room_id"], space);
    assert_eq!(rooms[0]["room_type"], "m.space");
    assert_eq!(rooms[0]["children_state"].as_array().unwrap().len(), 2);
    assert_eq!(rooms.len(), 3);
    let suggested = alice
        .get(&format!(
            "/_matrix/client/v1/rooms/{space}/hierarchy?suggested_only=true"
        ))
        .await;
    assert_eq!(suggested.body["rooms"].as_array().unwrap().len(), 2);
    let paged = alice
        .get(&format!(
            "/_matrix/client/v1/rooms/{space}/hierarchy?limit=1"
        ))
        .await;
    assert!(paged.body["next_batch"].is_string());
}
