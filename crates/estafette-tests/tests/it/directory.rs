//! Room aliases, joining by alias, and the public room directory.

use estafette_tests::TestServer;
use serde_json::json;

/// Aliases start with `#`, which must be escaped in a URL path.
fn encode(alias: &str) -> String {
    alias.replace('#', "%23")
}

#[tokio::test]
async fn aliases_resolve_join_and_delete() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let raw = server
        .raw()
        .with_token(alice.client.access_token().unwrap());
    let name = server.server_name();
    let created = raw
        .post(
            "/_matrix/client/v3/createRoom",
            json!({"preset": "public_chat", "room_alias_name": "cabinet"}),
        )
        .await;
    created.assert_ok();
    let room_id = created.body["room_id"].as_str().unwrap().to_owned();
    let alias = format!("#cabinet:{name}");
    let resolved = raw
        .get(&format!(
            "/_matrix/client/v3/directory/room/{}",
            encode(&alias)
        ))
        .await;
    assert_eq!(resolved.body["room_id"], room_id);
    assert_eq!(resolved.body["servers"], json!([name]));
    let canonical = raw
        .get(&format!(
            "/_matrix/client/v3/rooms/{room_id}/state/m.room.canonical_alias/"
        ))
        .await;
    assert_eq!(canonical.body["alias"], alias);
    raw.post(
        "/_matrix/client/v3/createRoom",
        json!({"room_alias_name": "cabinet"}),
    )
    .await
    .assert_error(400, "M_ROOM_IN_USE");

    // Bob joins through the alias with the SDK.
    let bob = server.register_user("bob").await;
    let target = matrix_sdk::ruma::RoomOrAliasId::parse(&alias).unwrap();
    let joined = bob
        .client
        .join_room_by_id_or_alias(&target, &[])
        .await
        .unwrap();
    assert_eq!(joined.room_id().as_str(), room_id);

    let extra = format!("#ministry:{name}");
    raw.put(
        &format!("/_matrix/client/v3/directory/room/{}", encode(&extra)),
        json!({"room_id": room_id}),
    )
    .await
    .assert_ok();
    raw.put(
        &format!("/_matrix/client/v3/directory/room/{}", encode(&extra)),
        json!({"room_id": room_id}),
    )
    .await
    .assert_error(409, "M_UNKNOWN");
    raw.put(
        "/_matrix/client/v3/directory/room/%23x:elsewhere.org",
        json!({"room_id": room_id}),
    )
    .await
    .assert_error(400, "M_INVALID_PARAM");
    let aliases = raw
        .get(&format!("/_matrix/client/v3/rooms/{room_id}/aliases"))
        .await;
    assert_eq!(aliases.body["aliases"], json!([alias, extra]));

    // A canonical alias must point to the room.
    let stray = format!("#stray:{name}");
    raw.put(
        &format!("/_matrix/client/v3/rooms/{room_id}/state/m.room.canonical_alias/"),
        json!({"alias": stray}),
    )
    .await
    .assert_error(400, "M_BAD_ALIAS");

    let bob_raw = server.raw().with_token(bob.client.access_token().unwrap());
    bob_raw
        .delete(
            &format!("/_matrix/client/v3/directory/room/{}", encode(&extra)),
            json!({}),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
    raw.delete(
        &format!("/_matrix/client/v3/directory/room/{}", encode(&extra)),
        json!({}),
    )
    .await
    .assert_ok();
    raw.get(&format!(
        "/_matrix/client/v3/directory/room/{}",
        encode(&extra)
    ))
    .await
    .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn the_public_directory_lists_searches_and_pages() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, token, _) = raw.register("alice", "alice's password").await;
    let alice = raw.clone_with(&token);
    let mut rooms = Vec::new();
    for (name, topic) in [
        ("Budget", "Finance talk"),
        ("Defence", "Secure"),
        ("Health", "Hospitals"),
    ] {
        let room = alice
            .post("/_matrix/client/v3/createRoom", json!({"visibility": "public", "preset": "public_chat", "name": name, "topic": topic}))
            .await;
        rooms.push(room.body["room_id"].as_str().unwrap().to_owned());
    }
    alice
        .post("/_matrix/client/v3/createRoom", json!({"name": "Private"}))
        .await
        .assert_ok();
    let (_, bob_token, _) = raw.register("bob", "bob's password").await;
    raw.clone_with(&bob_token)
        .post(
            &format!("/_matrix/client/v3/rooms/{}/join", rooms[1]),
            json!({}),
        )
        .await
        .assert_ok();

    let all = raw.get("/_matrix/client/v3/publicRooms").await;
    all.assert_ok();
    // Without the access rules, anyone may look, signed in or not.
    let anonymous = raw.anonymous().get("/_matrix/client/v3/publicRooms").await;
    assert_eq!(anonymous.body["chunk"], all.body["chunk"]);
    let names: Vec<&str> = all.body["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "Defence", "most members first: {names:?}");
    assert_eq!(names.len(), 3, "the private room is not listed");
    assert_eq!(all.body["chunk"][0]["num_joined_members"], 2);
    // `public` is the default join rule, which may be left out.
    assert!(matches!(
        all.body["chunk"][0]["join_rule"].as_str(),
        None | Some("public")
    ));

    let search = alice
        .post(
            "/_matrix/client/v3/publicRooms",
            json!({"filter": {"generic_search_term": "hospital"}}),
        )
        .await;
    assert_eq!(search.body["chunk"].as_array().unwrap().len(), 1);
    assert_eq!(search.body["chunk"][0]["name"], "Health");

    let first = alice
        .post("/_matrix/client/v3/publicRooms", json!({"limit": 2}))
        .await;
    assert_eq!(first.body["chunk"].as_array().unwrap().len(), 2);
    let next = first.body["next_batch"].as_str().unwrap();
    let second = alice
        .post(
            "/_matrix/client/v3/publicRooms",
            json!({"limit": 2, "since": next}),
        )
        .await;
    assert_eq!(second.body["chunk"].as_array().unwrap().len(), 1);
    assert!(second.body.get("next_batch").is_none());
    let spaces = alice
        .post(
            "/_matrix/client/v3/publicRooms",
            json!({"filter": {"room_types": ["m.space"]}}),
        )
        .await;
    assert_eq!(spaces.body["chunk"], json!([]));

    // Unpublishing needs power in the room; Bob has none.
    let path = format!("/_matrix/client/v3/directory/list/room/{}", rooms[0]);
    raw.clone_with(&bob_token)
        .put(&path, json!({"visibility": "private"}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    alice
        .put(&path, json!({"visibility": "private"}))
        .await
        .assert_ok();
    assert_eq!(raw.get(&path).await.body["visibility"], "private");
    let after = raw.get("/_matrix/client/v3/publicRooms").await;
    assert_eq!(after.body["chunk"].as_array().unwrap().len(), 2);
}
