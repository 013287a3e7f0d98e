//! Room tags (`/user/{userId}/rooms/{roomId}/tags`), kept as the room's `m.tag` account data
//! and delivered through `/sync`.

use estafette_tests::TestServer;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::room::create_room;
use matrix_sdk::ruma::events::tag::{TagInfo, TagName};
use serde_json::json;

use crate::room_helpers::create_room as raw_create_room;

#[tokio::test]
async fn tags_set_by_one_device_reach_another_through_sync() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let room = alice
        .client
        .create_room(create_room::v3::Request::new())
        .await
        .unwrap();
    let mut favourite = TagInfo::new();
    favourite.order = Some(0.25);
    room.set_tag(TagName::Favorite, favourite).await.unwrap();
    room.set_tag(TagName::User("u.work".parse().unwrap()), TagInfo::new())
        .await
        .unwrap();

    // Alice's other device learns the tags from its first sync.
    let second = server.login("alice", &alice.password).await;
    second.sync_once(SyncSettings::default()).await.unwrap();
    let seen = second.get_room(room.room_id()).expect("the room");
    let tags = seen.tags().await.unwrap().expect("tags");
    assert_eq!(tags.len(), 2);
    assert_eq!(tags[&TagName::Favorite].order, Some(0.25));

    // A removal reaches it too, on an incremental sync.
    room.remove_tag(TagName::Favorite).await.unwrap();
    second.sync_once(SyncSettings::default()).await.unwrap();
    let tags = seen.tags().await.unwrap().expect("tags");
    assert_eq!(
        tags.keys().map(|t| t.to_string()).collect::<Vec<_>>(),
        ["u.work"]
    );
}

#[tokio::test]
async fn tags_are_the_owners_and_bad_tags_change_nothing() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (alice_id, token, _) = raw.register("alice", "alice's password").await;
    let (_, bob_token, _) = raw.register("bob", "bob's password").await;
    let alice = raw.clone_with(&token);
    let bob = raw.clone_with(&bob_token);
    let room_id = raw_create_room(&alice, json!({})).await;
    let tags = format!("/_matrix/client/v3/user/{alice_id}/rooms/{room_id}/tags");

    alice
        .put(&format!("{tags}/m.lowpriority"), json!({"order": 0.5}))
        .await
        .assert_ok();
    let listed = alice.get(&tags).await;
    listed.assert_ok();
    assert_eq!(
        listed.body,
        json!({"tags": {"m.lowpriority": {"order": 0.5}}})
    );

    bob.get(&tags).await.assert_error(403, "M_FORBIDDEN");
    bob.put(&format!("{tags}/m.favourite"), json!({}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    bob.delete(&format!("{tags}/m.lowpriority"), json!({}))
        .await
        .assert_error(403, "M_FORBIDDEN");
    let long = format!("u.{}", "x".repeat(300));
    alice
        .put(&format!("{tags}/{long}"), json!({}))
        .await
        .assert_error(400, "M_INVALID_PARAM");
    alice
        .put(&format!("{tags}/m.favourite"), json!({"order": "first"}))
        .await
        .assert_error(400, "M_BAD_JSON");
    assert_eq!(alice.get(&tags).await.body, listed.body, "nothing changed");

    // Removing a tag that is not there is not an error.
    alice
        .delete(&format!("{tags}/m.favourite"), json!({}))
        .await
        .assert_ok();
    alice
        .delete(&format!("{tags}/m.lowpriority"), json!({}))
        .await
        .assert_ok();
    assert_eq!(alice.get(&tags).await.body, json!({"tags": {}}));
}
