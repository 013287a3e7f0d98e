//! Who the user directory leaves out (TCHAP.md §7): users who asked to be hidden
//! (`im.vector.hide_profile`), whose account expired, who deactivated it.

use estafette_tests::{RawClient, TestServer};
use serde_json::json;

use crate::room_helpers::{create_room, user};

async fn found(client: &RawClient, term: &str) -> Vec<String> {
    let response = client
        .post(
            "/_matrix/client/v3/user_directory/search",
            json!({"search_term": term}),
        )
        .await;
    response.assert_ok();
    let mut users: Vec<String> = response.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|user| user["user_id"].as_str().map(ToOwned::to_owned))
        .collect();
    users.sort();
    users
}

#[tokio::test]
async fn hidden_expired_and_deactivated_users_are_not_found() {
    let server = TestServer::builder()
        .configure(|config| config.account_validity.enabled = true)
        .start()
        .await;
    let (_, alice) = user(server.raw(), "alice").await;
    let mut members = Vec::new();
    for name in [
        "colleague-bob",
        "colleague-carol",
        "colleague-dave",
        "colleague-erin",
    ] {
        members.push(user(server.raw(), name).await);
    }
    let ids: Vec<String> = members.iter().map(|(id, _)| id.clone()).collect();
    let room = create_room(&alice, json!({"invite": ids})).await;
    for (_, client) in &members {
        client
            .post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
            .await
            .assert_ok();
    }
    assert_eq!(found(&alice, "colleague").await, ids);

    let [(bob_id, bob), (carol_id, _), (dave_id, dave), (erin_id, _)] = &members[..] else {
        unreachable!()
    };
    bob.put(
        &format!("/_matrix/client/v3/user/{bob_id}/account_data/im.vector.hide_profile"),
        json!({"hide_profile": true}),
    )
    .await
    .assert_ok();
    let storage = &server.services().context.storage;
    storage
        .account_validity
        .set(&ruma::UserId::parse(carol_id.as_str()).unwrap(), 1, true)
        .await
        .unwrap();
    dave.post(
        "/_matrix/client/v3/account/deactivate",
        json!({"auth": {"type": "m.login.password", "password": "colleague-dave's password",
                        "identifier": {"type": "m.id.user", "user": dave_id}}}),
    )
    .await
    .assert_ok();
    assert_eq!(found(&alice, "colleague").await, vec![erin_id.clone()]);
}
