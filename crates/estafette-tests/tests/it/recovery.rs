//! Cross-signing, server-side key backup and recovery, driven by matrix-sdk.

use std::time::Duration;

use estafette_tests::TestServer;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::room::create_room;
use matrix_sdk::ruma::events::InitialStateEvent;
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use serde_json::json;

#[tokio::test]
async fn a_new_login_with_the_recovery_key_reads_old_messages() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    alice
        .client
        .sync_once(SyncSettings::default())
        .await
        .unwrap();
    alice
        .client
        .encryption()
        .bootstrap_cross_signing(None)
        .await
        .expect("cross-signing bootstraps");
    let status = alice
        .client
        .encryption()
        .cross_signing_status()
        .await
        .unwrap();
    assert!(
        status.has_master && status.has_self_signing && status.has_user_signing,
        "{status:?}"
    );

    // Replacing cross-signing keys now needs the password.
    let raw = server
        .raw()
        .with_token(alice.client.access_token().unwrap());
    let user_id = alice.client.user_id().unwrap().to_string();
    let query = raw
        .post(
            "/_matrix/client/v3/keys/query",
            json!({"device_keys": {&user_id: []}}),
        )
        .await;
    let device_id = alice.client.device_id().unwrap().to_string();
    assert!(query.body["master_keys"][&user_id]["keys"].is_object());
    assert!(
        query.body["user_signing_keys"][&user_id]["keys"].is_object(),
        "own user-signing key is visible"
    );
    let device_signatures =
        &query.body["device_keys"][&user_id][&device_id]["signatures"][&user_id];
    assert_eq!(
        device_signatures.as_object().unwrap().len(),
        2,
        "the device is signed by itself and the self-signing key"
    );

    let new_master = json!({"user_id": user_id, "usage": ["master"], "keys": {"ed25519:bm90LWEta2V5": "bm90LWEta2V5"}});
    let replace = raw
        .post(
            "/_matrix/client/v3/keys/device_signing/upload",
            json!({"master_key": new_master}),
        )
        .await;
    assert_eq!(
        replace.status, 401,
        "replacing the master key asks for the password: {replace:?}"
    );
    assert_eq!(
        replace.body["flows"],
        json!([{"stages": ["m.login.password"]}, {"stages": ["m.oauth"]}])
    );
    let forged = json!({"user_id": user_id, "usage": ["self_signing"], "keys": {"ed25519:Zm9yZ2Vk": "Zm9yZ2Vk"}});
    raw.post(
        "/_matrix/client/v3/keys/device_signing/upload",
        json!({"self_signing_key": forged}),
    )
    .await
    .assert_error(400, "M_INVALID_SIGNATURE");

    let recovery_key = alice
        .client
        .encryption()
        .recovery()
        .enable()
        .await
        .expect("recovery enables");
    let mut request = create_room::v3::Request::new();
    request.initial_state = vec![
        InitialStateEvent::with_empty_state_key(
            RoomEncryptionEventContent::with_recommended_defaults(),
        )
        .to_raw_any(),
    ];
    let room = alice.client.create_room(request).await.unwrap();
    alice
        .client
        .sync_once(SyncSettings::default())
        .await
        .unwrap();
    let sent = room
        .send(RoomMessageEventContent::text_plain(
            "minutes of the cabinet",
        ))
        .await
        .unwrap()
        .response
        .event_id;
    alice
        .client
        .encryption()
        .backups()
        .wait_for_steady_state()
        .await
        .expect("the room key is backed up");
    let backup = raw.get("/_matrix/client/v3/room_keys/version").await;
    assert!(backup.body["count"].as_u64().unwrap() >= 1, "{backup:?}");

    let laptop = server.login("alice", &alice.password).await;
    laptop.sync_once(SyncSettings::default()).await.unwrap();
    laptop
        .encryption()
        .recovery()
        .recover(&recovery_key)
        .await
        .expect("the recovery key opens secret storage");
    laptop
        .encryption()
        .backups()
        .download_room_keys_for_room(room.room_id())
        .await
        .unwrap();
    let laptop_room = laptop.get_room(room.room_id()).unwrap();
    let mut decrypted = None;
    for _ in 0..10 {
        let event = laptop_room.event(&sent, None).await.unwrap();
        if let Ok(Some(content)) = event.raw().get_field::<serde_json::Value>("content") {
            if content.get("body").is_some() {
                decrypted = Some(content["body"].clone());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(decrypted, Some(json!("minutes of the cabinet")));
}

#[tokio::test]
async fn key_backup_keeps_the_best_copy_and_refuses_stale_versions() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, token, _) = raw.register("alice", "alice's password").await;
    let raw = raw.with_token(token);
    let algorithm = json!({"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": {"public_key": "abc", "signatures": {}}});
    let first = raw
        .post("/_matrix/client/v3/room_keys/version", algorithm.clone())
        .await
        .body["version"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = raw
        .post("/_matrix/client/v3/room_keys/version", algorithm.clone())
        .await
        .body["version"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = |index: u64, verified: bool, marker: &str| json!({"first_message_index": index, "forwarded_count": 0, "is_verified": verified, "session_data": {"ciphertext": marker}});
    let path = |version: &str| {
        format!("/_matrix/client/v3/room_keys/keys/!room:example.org/session1?version={version}")
    };
    let stale = raw.put(&path(&first), session(0, false, "a")).await;
    stale.assert_error(403, "M_WRONG_ROOM_KEYS_VERSION");
    assert_eq!(stale.body["current_version"], second);

    let stored = raw.put(&path(&second), session(5, false, "index 5")).await;
    assert_eq!(stored.body["count"], 1);
    let etag = stored.body["etag"].clone();
    raw.put(&path(&second), session(9, false, "index 9"))
        .await
        .assert_ok();
    assert_eq!(
        raw.get(&path(&second)).await.body["session_data"]["ciphertext"],
        "index 5",
        "a later index loses"
    );
    let unchanged = raw.get("/_matrix/client/v3/room_keys/version").await;
    assert_eq!(
        unchanged.body["etag"], etag,
        "nothing changed, nor did the etag"
    );
    raw.put(&path(&second), session(9, true, "verified"))
        .await
        .assert_ok();
    assert_eq!(
        raw.get(&path(&second)).await.body["session_data"]["ciphertext"],
        "verified",
        "verified wins"
    );
    assert_ne!(
        raw.get("/_matrix/client/v3/room_keys/version").await.body["etag"],
        etag
    );

    let all = raw
        .get(&format!(
            "/_matrix/client/v3/room_keys/keys?version={second}"
        ))
        .await;
    assert!(all.body["rooms"]["!room:example.org"]["sessions"]["session1"].is_object());
    raw.put(
        &format!("/_matrix/client/v3/room_keys/version/{second}"),
        json!({"algorithm": "other", "auth_data": {}}),
    )
    .await
    .assert_error(400, "M_INVALID_PARAM");
    raw.delete(
        &format!("/_matrix/client/v3/room_keys/keys?version={second}"),
        json!({}),
    )
    .await
    .assert_ok();
    raw.get(&path(&second))
        .await
        .assert_error(404, "M_NOT_FOUND");
    raw.delete(
        &format!("/_matrix/client/v3/room_keys/version/{second}"),
        json!({}),
    )
    .await
    .assert_ok();
    assert_eq!(
        raw.get("/_matrix/client/v3/room_keys/version").await.body["version"],
        first
    );
    raw.get("/_matrix/client/v3/room_keys/version/99")
        .await
        .assert_error(404, "M_NOT_FOUND");
}
