//! Interactive emoji (SAS) verification between two matrix-sdk clients, relayed by the server
//! through to-device messages, key queries and signature uploads.

use estafette_tests::TestServer;
use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::encryption::verification::Verification;

/// One short sync per client: verification steps arrive as to-device messages.
async fn sync(clients: &[&Client]) {
    for client in clients {
        let settings = SyncSettings::default().timeout(std::time::Duration::from_millis(200));
        client.sync_once(settings).await.unwrap();
    }
}

#[tokio::test]
async fn bob_verifies_alice_with_emoji_and_trusts_her_identity_and_devices() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let bob = server.register_user("bob").await;
    let (a, b) = (&alice.client, &bob.client);
    // Sharing an encrypted room makes each track the other's devices.
    let mut request = matrix_sdk::ruma::api::client::room::create_room::v3::Request::new();
    request.invite = vec![b.user_id().unwrap().to_owned()];
    request.initial_state = vec![
        matrix_sdk::ruma::events::InitialStateEvent::with_empty_state_key(
            matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent::with_recommended_defaults(),
        )
        .to_raw_any(),
    ];
    let room = a.create_room(request).await.unwrap();
    sync(&[a, b]).await;
    b.join_room_by_id(room.room_id()).await.unwrap();
    for client in [a, b] {
        client
            .encryption()
            .bootstrap_cross_signing(None)
            .await
            .unwrap();
    }
    sync(&[a, b, a, b]).await;

    let alice_id = a.user_id().unwrap().to_owned();
    let alice_device = b
        .encryption()
        .get_device(&alice_id, a.device_id().unwrap())
        .await
        .unwrap()
        .expect("bob knows alice's device");
    assert!(!alice_device.is_verified());
    let bob_request = alice_device.request_verification().await.unwrap();
    let flow_id = bob_request.flow_id().to_owned();

    sync(&[a]).await;
    let alice_request = a
        .encryption()
        .get_verification_request(b.user_id().unwrap(), &flow_id)
        .await
        .expect("alice receives the request");
    alice_request.accept().await.unwrap();
    sync(&[b]).await;
    assert!(bob_request.is_ready());
    let bob_sas = bob_request
        .start_sas()
        .await
        .unwrap()
        .expect("bob starts SAS");
    sync(&[a]).await;
    let Some(Verification::SasV1(alice_sas)) = a
        .encryption()
        .get_verification(b.user_id().unwrap(), &flow_id)
        .await
    else {
        panic!("alice sees the SAS verification");
    };
    alice_sas.accept().await.unwrap();
    for _ in 0..5 {
        sync(&[b, a]).await;
        if alice_sas.emoji().is_some() && bob_sas.emoji().is_some() {
            break;
        }
    }
    let describe = |emoji: [matrix_sdk::encryption::verification::Emoji; 7]| {
        emoji.map(|e| e.description).to_vec()
    };
    let alice_emoji = describe(alice_sas.emoji().expect("alice shows emoji"));
    assert_eq!(
        alice_emoji,
        describe(bob_sas.emoji().expect("bob shows emoji")),
        "both see the same emoji"
    );
    bob_sas.confirm().await.unwrap();
    alice_sas.confirm().await.unwrap();
    for _ in 0..5 {
        sync(&[a, b]).await;
        if alice_sas.is_done() && bob_sas.is_done() {
            break;
        }
    }
    assert!(bob_sas.is_done() && alice_sas.is_done());

    sync(&[b, a, b]).await;
    let identity = b
        .encryption()
        .get_user_identity(&alice_id)
        .await
        .unwrap()
        .expect("alice's identity");
    assert!(identity.is_verified(), "bob trusts alice's identity");
    let device = b
        .encryption()
        .get_device(&alice_id, a.device_id().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(device.is_verified(), "and her device");
}
