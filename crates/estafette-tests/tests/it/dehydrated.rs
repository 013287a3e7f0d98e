//! Dehydrated devices (MSC3814): a device parked on the server receives to-device messages.

use base64::Engine;
use estafette::service::ServerKey;
use estafette_tests::TestServer;
use ruma::canonical_json::CanonicalJsonObject;
use serde_json::{Value, json};

const PATH: &str = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device";

/// Identity keys for `device_id`, signed by a fresh ed25519 key as a client would.
pub(crate) fn signed_device_keys(user_id: &str, device_id: &str, seed: u8) -> Value {
    let key = ServerKey::from_seed(&[seed; 32], device_id).unwrap();
    let public = base64::engine::general_purpose::STANDARD_NO_PAD.encode(key.key_pair.public_key());
    let keys = json!({
        "user_id": user_id, "device_id": device_id,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {format!("ed25519:{device_id}"): public, format!("curve25519:{device_id}"): "Y3VydmUyNTUxOWtleQ"},
    });
    let mut object: CanonicalJsonObject = serde_json::from_value(keys).unwrap();
    ruma::signatures::sign_json(user_id, &key.key_pair, &mut object).unwrap();
    serde_json::to_value(object).unwrap()
}

#[tokio::test]
async fn a_dehydrated_device_collects_messages_until_rehydrated() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (alice_id, alice, alice_device) = raw.register("alice", "alice's password").await;
    let (_, bob, _) = raw.register("bob", "bob's password").await;
    let (alice, bob) = (raw.clone_with(&alice), raw.clone_with(&bob));
    let device = "DEHYDRATED1";
    let data = json!({"algorithm": "m.dehydration.v1.olm", "device_pickle": "opaque"});
    let put = |device_keys: Value, device_id: &str| json!({"device_id": device_id, "device_data": data, "device_keys": device_keys, "initial_device_display_name": "Dehydrated"});

    let mut forged = signed_device_keys(&alice_id, device, 1);
    forged["keys"][format!("curve25519:{device}")] = json!("c3dhcHBlZA");
    alice
        .put(PATH, put(forged, device))
        .await
        .assert_error(400, "M_INVALID_SIGNATURE");
    alice
        .put(
            PATH,
            put(
                signed_device_keys(&alice_id, &alice_device, 2),
                &alice_device,
            ),
        )
        .await
        .assert_error(400, "M_INVALID_PARAM");
    alice.get(PATH).await.assert_error(404, "M_NOT_FOUND");

    let stored = alice
        .put(PATH, put(signed_device_keys(&alice_id, device, 1), device))
        .await;
    stored.assert_ok();
    assert_eq!(stored.body["device_id"], device);
    let fetched = alice.get(PATH).await;
    assert_eq!(fetched.body["device_data"], data);
    let query = bob
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {&alice_id: []}}),
        )
        .await;
    assert!(
        query.body["device_keys"][&alice_id][device].is_object(),
        "others can send keys to it: {query:?}"
    );

    bob.put(
        "/_matrix/client/v3/sendToDevice/m.room.encrypted/1",
        json!({"messages": {&alice_id: {device: {"ciphertext": "k"}}}}),
    )
    .await
    .assert_ok();
    let events = alice
        .post(&format!("{PATH}/{device}/events"), json!({}))
        .await;
    assert_eq!(
        events.body["events"].as_array().unwrap().len(),
        1,
        "{events:?}"
    );
    assert_eq!(events.body["events"][0]["content"]["ciphertext"], "k");
    let next = events.body["next_batch"].as_str().unwrap().to_owned();
    let drained = alice
        .post(
            &format!("{PATH}/{device}/events"),
            json!({"next_batch": next}),
        )
        .await;
    assert_eq!(drained.body["events"], json!([]));
    bob.post(&format!("{PATH}/{device}/events"), json!({}))
        .await
        .assert_error(404, "M_NOT_FOUND");

    assert_eq!(
        alice.delete(PATH, json!({})).await.body["device_id"],
        device
    );
    alice.get(PATH).await.assert_error(404, "M_NOT_FOUND");
    let query = bob
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {&alice_id: []}}),
        )
        .await;
    assert!(query.body["device_keys"][&alice_id].get(device).is_none());
}
