//! Thread subscriptions (MSC4306) and their sliding sync extension (MSC4308): which threads a
//! user follows, set by hand or by their client, reaching their other devices through sync.

use std::time::Duration;

use estafette_tests::{RawClient, TestServer};
use matrix_sdk::Client;
use matrix_sdk::ThreadingSupport;
use matrix_sdk::ruma::OwnedEventId;
use matrix_sdk::sliding_sync::VersionBuilder;
use matrix_sdk_ui::sync_service::SyncService;
use serde_json::{Value, json};

use crate::room_helpers::{create_room, eventually, send_text, user};

const SLIDING: &str = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";
const EXTENSION: &str = "io.element.msc4308.thread_subscriptions";
const CHANGES: &str = "/_matrix/client/unstable/io.element.msc4308/thread_subscriptions";

fn subscription(room: &str, root: &str) -> String {
    format!("/_matrix/client/unstable/io.element.msc4306/rooms/{room}/thread/{root}/subscription")
}

async fn reply(client: &RawClient, room: &str, root: &str, txn: &str) -> String {
    let sent = client
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}"),
            json!({"msgtype": "m.text", "body": txn,
                   "m.relates_to": {"rel_type": "m.thread", "event_id": root}}),
        )
        .await;
    sent.assert_ok();
    sent.body["event_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn subscriptions_by_hand_win_over_automatic_ones_and_later_unsubscriptions_stand() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let (_, eve) = user(server.raw(), "eve").await;
    let room = create_room(&alice, json!({"preset": "private_chat"})).await;
    let root = send_text(&alice, &room, "r", "a question").await;
    let first = reply(&alice, &room, &root, "first answer").await;
    let elsewhere = send_text(&alice, &room, "o", "another topic").await;
    let path = subscription(&room, &root);
    let versions = alice.get("/_matrix/client/versions").await;
    assert_eq!(
        versions.body["unstable_features"]["org.matrix.msc4306"],
        true
    );

    alice
        .put(&path, json!({"automatic": first}))
        .await
        .assert_ok();
    assert_eq!(alice.get(&path).await.body, json!({"automatic": true}));
    alice.put(&path, json!({})).await.assert_ok();
    assert_eq!(alice.get(&path).await.body, json!({"automatic": false}));
    alice
        .put(&path, json!({"automatic": first}))
        .await
        .assert_ok();
    assert_eq!(
        alice.get(&path).await.body,
        json!({"automatic": false}),
        "the client does not undo the user's choice"
    );
    alice.delete(&path, json!({})).await.assert_ok();
    alice.get(&path).await.assert_error(404, "M_NOT_FOUND");
    alice
        .delete(&path, json!({}))
        .await
        .assert_error(404, "M_NOT_FOUND");
    alice
        .put(&path, json!({"automatic": first}))
        .await
        .assert_error(409, "IO.ELEMENT.MSC4306.M_CONFLICTING_UNSUBSCRIPTION");
    alice.get(&path).await.assert_error(404, "M_NOT_FOUND");
    let later = reply(&alice, &room, &root, "a later answer").await;
    alice
        .put(&path, json!({"automatic": elsewhere}))
        .await
        .assert_error(400, "IO.ELEMENT.MSC4306.M_NOT_IN_THREAD");
    alice
        .put(&path, json!({"automatic": later}))
        .await
        .assert_ok();
    assert_eq!(alice.get(&path).await.body, json!({"automatic": true}));

    // Nobody subscribes to what they cannot see.
    eve.put(&path, json!({}))
        .await
        .assert_error(404, "M_NOT_FOUND");
    alice
        .put(&subscription(&room, "$unknown"), json!({}))
        .await
        .assert_error(404, "M_NOT_FOUND");
}

async fn sliding(client: &RawClient, pos: Option<&str>, limit: u64, timeout: u64) -> Value {
    let mut path = format!("{SLIDING}?timeout={timeout}");
    if let Some(pos) = pos {
        path.push_str(&format!("&pos={pos}"));
    }
    let response = client
        .post(
            &path,
            json!({"conn_id": "threads",
                   "extensions": {EXTENSION: {"enabled": true, "limit": limit}}}),
        )
        .await;
    response.assert_ok();
    response.body
}

#[tokio::test]
async fn sliding_sync_sends_the_latest_changes_and_pages_back_to_the_rest() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let room = create_room(&alice, json!({})).await;
    let mut roots = Vec::new();
    for n in 0..3 {
        let root = send_text(&alice, &room, &format!("r{n}"), &format!("thread {n}")).await;
        alice
            .put(&subscription(&room, &root), json!({}))
            .await
            .assert_ok();
        roots.push(root);
    }

    let first = sliding(&alice, None, 2, 0).await;
    let section = &first["extensions"][EXTENSION];
    let sent = section["subscribed"][&room]
        .as_object()
        .expect("subscriptions");
    assert_eq!(sent.len(), 2, "{section}");
    assert!(sent.contains_key(&roots[2]) && sent.contains_key(&roots[1]));
    assert_eq!(sent[&roots[2]]["automatic"], false);
    assert!(sent[&roots[2]]["bump_stamp"].as_u64() > sent[&roots[1]]["bump_stamp"].as_u64());
    let prev_batch = section["prev_batch"].as_str().expect("older changes left");
    let older = alice
        .get(&format!("{CHANGES}?dir=b&from={prev_batch}&limit=5"))
        .await;
    older.assert_ok();
    let rest = older.body["subscribed"][&room].as_object().unwrap();
    assert_eq!(rest.keys().collect::<Vec<_>>(), [&roots[0]]);
    assert!(
        older.body.get("end").is_none(),
        "nothing more: {}",
        older.body
    );
    alice
        .get(&format!("{CHANGES}?dir=b&from=garbage"))
        .await
        .assert_error(400, "M_INVALID_PARAM");

    // The long-poll wakes for a change made elsewhere, and sends only it.
    let pos = first["pos"].as_str().unwrap().to_owned();
    let waiting = {
        let alice = alice.clone();
        tokio::spawn(async move { sliding(&alice, Some(&pos), 10, 10_000).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    alice
        .delete(&subscription(&room, &roots[1]), json!({}))
        .await
        .assert_ok();
    let next = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("woken at once")
        .unwrap();
    let section = &next["extensions"][EXTENSION];
    assert_eq!(
        section["unsubscribed"][&room]
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>()),
        Some(vec![roots[1].clone()]),
        "{section}"
    );
    assert!(section.get("subscribed").is_none(), "{section}");
}

#[tokio::test]
async fn element_x_learns_subscriptions_made_on_another_device_through_sync() {
    let server = TestServer::start().await;
    let (_, alice) = user(server.raw(), "alice").await;
    let room = create_room(&alice, json!({"name": "Projet"})).await;
    let root = send_text(&alice, &room, "r", "which date?").await;
    let root = OwnedEventId::try_from(root).unwrap();

    let phone = Client::builder()
        .homeserver_url(server.base_url())
        .sliding_sync_version_builder(VersionBuilder::DiscoverNative)
        .with_threading_support(ThreadingSupport::Enabled {
            with_subscriptions: true,
        })
        .build()
        .await
        .unwrap();
    phone
        .matrix_auth()
        .login_username("alice", "alice's password")
        .send()
        .await
        .unwrap();
    assert!(phone.enabled_thread_subscriptions().await.unwrap());
    let sync = SyncService::builder(phone.clone()).build().await.unwrap();
    sync.start().await;

    // The laptop (raw) follows the thread; the phone's store learns it from sliding sync.
    alice
        .put(&subscription(&room, root.as_str()), json!({}))
        .await
        .assert_ok();
    let room_id = matrix_sdk::ruma::OwnedRoomId::try_from(room.as_str()).unwrap();
    let stored = eventually("the subscription in the phone's store", || {
        let phone = phone.clone();
        let (room_id, root) = (room_id.clone(), root.clone());
        async move {
            phone
                .state_store()
                .load_thread_subscription(&room_id, &root)
                .await
                .unwrap()
        }
    })
    .await;
    assert!(
        stored.bump_stamp.is_some(),
        "from sync, not fetched: {stored:?}"
    );
    // And the phone leaves it with the SDK's own call.
    let phone_room = phone.get_room(&room_id).expect("the room is synced");
    phone_room.unsubscribe_thread(root.clone()).await.unwrap();
    alice
        .get(&subscription(&room, root.as_str()))
        .await
        .assert_error(404, "M_NOT_FOUND");
    sync.stop().await;
}
