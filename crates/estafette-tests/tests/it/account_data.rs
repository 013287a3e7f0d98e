//! Account data and filters.

use estafette_tests::TestServer;
use matrix_sdk::ruma::api::client::filter::{FilterDefinition, create_filter, get_filter};
use matrix_sdk::ruma::events::GlobalAccountDataEventType;
use matrix_sdk::ruma::serde::Raw;
use serde_json::json;

#[tokio::test]
async fn global_account_data_round_trips_through_the_sdk() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let event_type = GlobalAccountDataEventType::from("org.example.settings");
    let content = Raw::new(&json!({"theme": "dark", "count": 3}))
        .unwrap()
        .cast_unchecked();
    alice
        .client
        .account()
        .set_account_data_raw(event_type.clone(), content)
        .await
        .unwrap();
    let stored = alice
        .client
        .account()
        .fetch_account_data(event_type.clone())
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        stored
            .deserialize_as_unchecked::<serde_json::Value>()
            .unwrap(),
        json!({"theme": "dark", "count": 3})
    );
    let replaced = Raw::new(&json!({"theme": "light"}))
        .unwrap()
        .cast_unchecked();
    alice
        .client
        .account()
        .set_account_data_raw(event_type.clone(), replaced)
        .await
        .unwrap();
    let stored = alice
        .client
        .account()
        .fetch_account_data(event_type)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        stored
            .deserialize_as_unchecked::<serde_json::Value>()
            .unwrap(),
        json!({"theme": "light"})
    );
}

#[tokio::test]
async fn room_account_data_is_separate_from_global() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (user_id, token, _) = raw.register("nia", "nia's password").await;
    let raw = raw.with_token(token);
    let room = "!room:example.org";
    let room_path =
        format!("/_matrix/client/v3/user/{user_id}/rooms/{room}/account_data/m.tag.like");
    let global_path = format!("/_matrix/client/v3/user/{user_id}/account_data/m.tag.like");
    raw.put(&room_path, json!({"in": "room"})).await.assert_ok();
    assert_eq!(raw.get(&room_path).await.body, json!({"in": "room"}));
    raw.get(&global_path).await.assert_error(404, "M_NOT_FOUND");
    raw.put(
        &format!("/_matrix/client/v3/user/{user_id}/rooms/not-a-room/account_data/x"),
        json!({}),
    )
    .await
    .assert_error(400, "M_INVALID_PARAM");
}

#[tokio::test]
async fn account_data_refusals() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (user_id, token, _) = raw.register("oli", "oli's password").await;
    let (other_id, _, _) = raw.register("pam", "pam's password").await;
    let raw = raw.with_token(token);
    raw.put(
        &format!("/_matrix/client/v3/user/{other_id}/account_data/x.y"),
        json!({"a": 1}),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");
    raw.get(&format!(
        "/_matrix/client/v3/user/{other_id}/account_data/x.y"
    ))
    .await
    .assert_error(403, "M_FORBIDDEN");
    raw.put(
        &format!("/_matrix/client/v3/user/{user_id}/account_data/m.push_rules"),
        json!({}),
    )
    .await
    .assert_error(405, "M_BAD_JSON");
    raw.put(
        &format!(
            "/_matrix/client/v3/user/{user_id}/rooms/!r:example.org/account_data/m.fully_read"
        ),
        json!({"event_id": "$x"}),
    )
    .await
    .assert_error(405, "M_BAD_JSON");
    raw.put(
        &format!("/_matrix/client/v3/user/{user_id}/account_data/x.y"),
        json!([1, 2]),
    )
    .await
    .assert_error(400, "M_BAD_JSON");
    raw.get(&format!(
        "/_matrix/client/v3/user/{user_id}/account_data/x.y"
    ))
    .await
    .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn filters_are_stored_and_private() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let user_id = alice.client.user_id().unwrap().to_owned();
    let mut filter = FilterDefinition::default();
    filter.room.timeline.limit = Some(10u32.into());
    let created = alice
        .client
        .send(create_filter::v3::Request::new(user_id.clone(), filter))
        .await
        .unwrap();
    let fetched = alice
        .client
        .send(get_filter::v3::Request::new(
            user_id.clone(),
            created.filter_id.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(fetched.filter.room.timeline.limit, Some(10u32.into()));

    let raw = server.raw();
    let (_, bob_token, _) = raw.register("bob", "bob's password").await;
    let bob = raw.clone_with(&bob_token);
    bob.get(&format!(
        "/_matrix/client/v3/user/{user_id}/filter/{}",
        created.filter_id
    ))
    .await
    .assert_error(403, "M_FORBIDDEN");
    let alice_raw = raw.clone_with(&alice.client.access_token().unwrap());
    alice_raw
        .get(&format!("/_matrix/client/v3/user/{user_id}/filter/999999"))
        .await
        .assert_error(404, "M_NOT_FOUND");
    alice_raw
        .post(
            &format!("/_matrix/client/v3/user/{user_id}/filter"),
            json!({"room": {"timeline": {"limit": "ten"}}}),
        )
        .await
        .assert_error(400, "M_BAD_JSON");
}
