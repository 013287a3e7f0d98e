//! End-to-end encryption across servers with real matrix-sdk clients: device keys queried and
//! one-time keys claimed over federation, room keys sent to-device through the other server,
//! and a device added later reaching the other side through a device-list update.

use estafette_tests::TestServer;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::OwnedServerName;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;

use crate::encryption::{decrypted_bodies, sync_until};
use crate::room_helpers::eventually;

/// A sync that returns within half a second when nothing is new.
fn quick() -> SyncSettings {
    SyncSettings::default().timeout(std::time::Duration::from_millis(500))
}

#[tokio::test]
async fn users_of_two_servers_decrypt_each_other_including_a_later_device() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let alice = home.register_user("alice").await;
    let bob = remote.register_user("bob").await;
    for client in [&alice.client, &bob.client] {
        client.sync_once(quick()).await.unwrap();
    }

    let room = crate::encryption::create_encrypted_room(&alice.client, &bob.client).await;
    bob.client.sync_once(quick()).await.unwrap();
    let via: OwnedServerName = home.server_name().try_into().unwrap();
    bob.client
        .join_room_by_id_or_alias(room.room_id().into(), &[via])
        .await
        .unwrap();
    let alice_seen = decrypted_bodies(&alice.client);
    let bob_seen = decrypted_bodies(&bob.client);
    // Alice's server learns of Bob's join through federation.
    let alice_raw = home.raw().with_token(alice.client.access_token().unwrap());
    let path = format!("/_matrix/client/v3/rooms/{}/joined_members", room.room_id());
    eventually("Alice's server to see Bob's join", || async {
        let joined = alice_raw.get(&path).await;
        (joined.body["joined"].as_object().map(|j| j.len()) == Some(2)).then_some(())
    })
    .await;
    alice.client.sync_once(quick()).await.unwrap();

    room.send(RoomMessageEventContent::text_plain(
        "chiffré depuis l'Intérieur",
    ))
    .await
    .unwrap();
    sync_until(&bob.client, &bob_seen, &["chiffré depuis l'Intérieur"]).await;
    let bob_room = bob.client.get_room(room.room_id()).unwrap();
    bob_room
        .send(RoomMessageEventContent::text_plain(
            "reçu, depuis les Armées",
        ))
        .await
        .unwrap();
    sync_until(&alice.client, &alice_seen, &["reçu, depuis les Armées"]).await;

    // Bob signs in on a second device: Alice's client hears of it and encrypts to it too.
    let bob_laptop = remote.login("bob", &bob.password).await;
    bob_laptop.sync_once(quick()).await.unwrap();
    let laptop_seen = decrypted_bodies(&bob_laptop);
    for _ in 0..3 {
        alice.client.sync_once(quick()).await.unwrap();
    }
    room.send(RoomMessageEventContent::text_plain(
        "pour tous les appareils",
    ))
    .await
    .unwrap();
    sync_until(&bob_laptop, &laptop_seen, &["pour tous les appareils"]).await;

    // Neither server stored the plaintext.
    for (server, client) in [(&home, &alice.client), (&remote, &bob.client)] {
        let history = server
            .raw()
            .with_token(client.access_token().unwrap())
            .get(&format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=b",
                room.room_id()
            ))
            .await;
        let text = history.body.to_string();
        assert!(
            text.contains("m.room.encrypted") && !text.contains("Intérieur"),
            "{text}"
        );
    }
}
