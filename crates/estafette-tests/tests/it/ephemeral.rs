//! Typing notifications and read receipts between two matrix-sdk clients.

use estafette_tests::{TestServer, User};
use matrix_sdk::Room;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::receipt::create_receipt::v3::ReceiptType as SendReceiptType;
use matrix_sdk::ruma::api::client::room::create_room;
use matrix_sdk::ruma::events::receipt::{ReceiptThread, ReceiptType};
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use serde_json::json;

/// Alice creates a public room and Bob joins it; both clients have synced.
async fn two_members(server: &TestServer) -> (User, Room, User, Room) {
    let alice = server.register_user("alice").await;
    let bob = server.register_user("bob").await;
    let mut request = create_room::v3::Request::new();
    request.preset = Some(create_room::v3::RoomPreset::PublicChat);
    let alice_room = alice.client.create_room(request).await.unwrap();
    let bob_room = bob
        .client
        .join_room_by_id(alice_room.room_id())
        .await
        .unwrap();
    alice
        .client
        .sync_once(SyncSettings::default())
        .await
        .unwrap();
    bob.client.sync_once(SyncSettings::default()).await.unwrap();
    (alice, alice_room, bob, bob_room)
}

#[tokio::test]
async fn typing_reaches_the_other_member_and_stops() {
    let server = TestServer::start().await;
    let (alice, alice_room, bob, bob_room) = two_members(&server).await;
    let (_guard, mut typing) = bob_room.subscribe_to_typing_notifications();
    alice_room.typing_notice(true).await.unwrap();
    bob.client.sync_once(SyncSettings::default()).await.unwrap();
    let alice_id = alice.client.user_id().unwrap().to_owned();
    assert_eq!(typing.try_recv().unwrap(), vec![alice_id]);

    alice_room.typing_notice(false).await.unwrap();
    bob.client.sync_once(SyncSettings::default()).await.unwrap();
    assert_eq!(
        typing.try_recv().unwrap(),
        Vec::<matrix_sdk::ruma::OwnedUserId>::new()
    );

    let raw = server.raw().with_token(bob.client.access_token().unwrap());
    let path = format!(
        "/_matrix/client/v3/rooms/{}/typing/{}",
        bob_room.room_id(),
        alice.client.user_id().unwrap()
    );
    raw.put(&path, json!({"typing": true, "timeout": 1000}))
        .await
        .assert_error(403, "M_FORBIDDEN");
}

#[tokio::test]
async fn read_receipts_are_shared_and_private_ones_are_not() {
    let server = TestServer::start().await;
    let (alice, alice_room, bob, bob_room) = two_members(&server).await;
    let sent = alice_room
        .send(RoomMessageEventContent::text_plain("read me"))
        .await
        .unwrap()
        .response
        .event_id;
    bob.client.sync_once(SyncSettings::default()).await.unwrap();
    bob_room
        .send_single_receipt(
            SendReceiptType::Read,
            ReceiptThread::Unthreaded,
            sent.clone(),
        )
        .await
        .unwrap();
    let since = alice
        .client
        .sync_once(SyncSettings::default())
        .await
        .unwrap()
        .next_batch;
    let bob_id = bob.client.user_id().unwrap();
    let receipt = alice_room
        .load_user_receipt(ReceiptType::Read, ReceiptThread::Unthreaded, bob_id)
        .await
        .unwrap();
    assert_eq!(receipt.map(|(event_id, _)| event_id), Some(sent.clone()));

    bob_room
        .send_single_receipt(
            SendReceiptType::ReadPrivate,
            ReceiptThread::Unthreaded,
            sent.clone(),
        )
        .await
        .unwrap();
    let raw = server
        .raw()
        .with_token(alice.client.access_token().unwrap());
    let sync = raw
        .get(&format!("/_matrix/client/v3/sync?since={since}"))
        .await;
    let room = &sync.body["rooms"]["join"][alice_room.room_id().as_str()];
    assert!(
        room.is_null() || !room.to_string().contains("m.read.private"),
        "alice must not see it: {sync:?}"
    );

    // The fully-read marker lands in Bob's room account data.
    let bob_raw = server.raw().with_token(bob.client.access_token().unwrap());
    bob_raw
        .post(
            &format!(
                "/_matrix/client/v3/rooms/{}/read_markers",
                bob_room.room_id()
            ),
            json!({"m.fully_read": sent}),
        )
        .await
        .assert_ok();
    let marker = bob_raw
        .get(&format!(
            "/_matrix/client/v3/user/{bob_id}/rooms/{}/account_data/m.fully_read",
            bob_room.room_id()
        ))
        .await;
    assert_eq!(marker.body["event_id"], sent.as_str());
    bob_raw
        .post(
            &format!(
                "/_matrix/client/v3/rooms/{}/receipt/m.read/$unknown",
                bob_room.room_id()
            ),
            json!({}),
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
}
