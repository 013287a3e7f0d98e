//! End-to-end keys of another server's users: queried and claimed through their server.

use estafette_tests::TestServer;
use matrix_sdk::config::SyncSettings;
use serde_json::json;

#[tokio::test]
async fn a_user_queries_and_claims_keys_of_another_servers_devices() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let (_, alice, _) = home.raw().register("alice", "alice's password").await;
    let alice = home.raw().clone_with(&alice);
    // Bob's SDK uploads his device and one-time keys to his own server.
    let bob = remote.register_user("bob").await;
    bob.client.sync_once(SyncSettings::default()).await.unwrap();
    let bob_id = bob.client.user_id().unwrap().to_string();
    let device_id = bob.client.device_id().unwrap().to_string();
    let bob_raw = remote.raw().with_token(bob.client.access_token().unwrap());
    let own_view = bob_raw
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {&bob_id: []}}),
        )
        .await;
    let bob_keys = &own_view.body["device_keys"][&bob_id][&device_id];
    assert!(bob_keys["keys"].is_object(), "{own_view:?}");
    let available = bob_raw
        .post("/_matrix/client/v3/keys/upload", json!({}))
        .await
        .body["one_time_key_counts"]["signed_curve25519"]
        .as_u64()
        .unwrap();
    assert!(available > 0);

    // Alice sees exactly the keys Bob's server holds; a server that cannot be reached is
    // reported as a failure, not an error.
    let unreachable = "@carol:localhost:1";
    let query = alice
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {&bob_id: [], unreachable: []}}),
        )
        .await;
    query.assert_ok();
    let seen = &query.body["device_keys"][&bob_id][&device_id];
    assert_eq!(seen["keys"], bob_keys["keys"]);
    assert_eq!(seen["signatures"], bob_keys["signatures"]);
    assert!(
        query.body["failures"]["localhost:1"].is_object(),
        "{query:?}"
    );

    // A claimed one-time key is gone from Bob's server.
    let claim = alice
        .post(
            "/_matrix/client/v3/keys/claim",
            json!({"one_time_keys": {&bob_id: {&device_id: "signed_curve25519"}}}),
        )
        .await;
    claim.assert_ok();
    let claimed = claim.body["one_time_keys"][&bob_id][&device_id]
        .as_object()
        .expect("a key for Bob's device");
    let (key_id, key) = claimed.iter().next().unwrap();
    assert!(key_id.starts_with("signed_curve25519:"), "{claim:?}");
    assert!(key["signatures"][&bob_id].is_object());
    let left = bob_raw
        .post("/_matrix/client/v3/keys/upload", json!({}))
        .await
        .body["one_time_key_counts"]["signed_curve25519"]
        .as_u64();
    assert_eq!(left, Some(available - 1));
}

#[tokio::test]
async fn a_server_reads_another_servers_user_device_list() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let bob = remote.register_user("bob").await;
    bob.client.sync_once(SyncSettings::default()).await.unwrap();
    let bob_id = bob.client.user_id().unwrap().to_owned();
    let device_id = bob.client.device_id().unwrap().to_owned();

    // The home server signs the request with its own key, as it would to track Bob's devices.
    use ruma::api::federation::device::get_devices;
    let destination = ruma::ServerName::parse(remote.server_name()).unwrap();
    let bob_id = ruma::UserId::parse(bob_id.as_str()).unwrap();
    let list = home
        .services()
        .federation
        .send(&destination, get_devices::v1::Request::new(bob_id.clone()))
        .await
        .expect("Bob's server answers");
    assert_eq!(list.user_id, bob_id);
    assert_eq!(list.devices.len(), 1);
    let device = &list.devices[0];
    assert_eq!(device.device_id.as_str(), device_id.as_str());
    assert_eq!(
        device.device_display_name.as_deref(),
        Some("bob's first device")
    );
    let keys: serde_json::Value = serde_json::from_str(device.keys.json().get()).unwrap();
    assert_eq!(
        keys["keys"][format!("ed25519:{device_id}")].as_str(),
        Some(
            bob.client
                .encryption()
                .ed25519_key()
                .await
                .unwrap()
                .as_str()
        )
    );

    let nobody = ruma::UserId::parse(format!("@nobody:{}", remote.server_name())).unwrap();
    assert!(
        home.services()
            .federation
            .send(&destination, get_devices::v1::Request::new(nobody))
            .await
            .is_err(),
        "unknown users have no device list"
    );

    // A server answers only for its own users, whatever it is asked.
    use ruma::api::federation::keys::get_keys;
    let alice = home.register_user("alice").await;
    alice
        .client
        .sync_once(SyncSettings::default())
        .await
        .unwrap();
    let alice_id = ruma::UserId::parse(alice.client.user_id().unwrap().as_str()).unwrap();
    let wanted = std::collections::BTreeMap::from([
        (bob_id.clone(), Vec::new()),
        (alice_id.clone(), Vec::new()),
    ]);
    let keys = home
        .services()
        .federation
        .send(&destination, get_keys::v1::Request::new(wanted))
        .await
        .expect("Bob's server answers");
    assert!(keys.device_keys.contains_key(&bob_id));
    assert!(!keys.device_keys.contains_key(&alice_id), "{keys:?}");
}
