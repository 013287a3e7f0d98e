//! Interoperability with a real Synapse: keys, signed requests, profile and alias queries both
//! ways.

use estafette_tests::{SynapseServer, TestServer};
use serde_json::json;

#[tokio::test]
async fn estafette_and_synapse_answer_each_others_queries() {
    let synapse = SynapseServer::start().await;
    let estafette = TestServer::builder().federation().start().await;

    let (bob_id, bob, _) = synapse.raw().register("bob", "bob's password").await;
    let bob = synapse.raw().clone_with(&bob);
    bob.put(
        &format!("/_matrix/client/v3/profile/{bob_id}/displayname"),
        json!({"displayname": "Bob on Synapse"}),
    )
    .await
    .assert_ok();
    let (alice_id, alice, _) = estafette.raw().register("alice", "alice's password").await;
    let alice = estafette.raw().clone_with(&alice);
    alice
        .put(
            &format!("/_matrix/client/v3/profile/{alice_id}/displayname"),
            json!({"displayname": "Alice on Estafette"}),
        )
        .await
        .assert_ok();

    // Estafette signs, Synapse fetches Estafette's keys and checks the signature.
    let from_estafette = alice
        .get(&format!("/_matrix/client/v3/profile/{bob_id}"))
        .await;
    from_estafette.assert_ok();
    assert_eq!(from_estafette.body["displayname"], "Bob on Synapse");

    // Synapse signs, Estafette fetches Synapse's keys and checks the signature.
    let from_synapse = bob
        .get(&format!("/_matrix/client/v3/profile/{alice_id}"))
        .await;
    from_synapse.assert_ok();
    assert_eq!(from_synapse.body["displayname"], "Alice on Estafette");

    // Each resolves the other's room alias by asking the other.
    let on_synapse = bob
        .post(
            "/_matrix/client/v3/createRoom",
            json!({"visibility": "public", "preset": "public_chat", "room_alias_name": "synapse-room"}),
        )
        .await;
    on_synapse.assert_ok();
    let on_estafette = alice
        .post(
            "/_matrix/client/v3/createRoom",
            json!({"visibility": "public", "preset": "public_chat", "room_alias_name": "estafette-room"}),
        )
        .await;
    on_estafette.assert_ok();
    let resolved = alice
        .get(&format!(
            "/_matrix/client/v3/directory/room/%23synapse-room:{}",
            synapse.server_name()
        ))
        .await;
    resolved.assert_ok();
    assert_eq!(resolved.body["room_id"], on_synapse.body["room_id"]);
    let resolved = bob
        .get(&format!(
            "/_matrix/client/v3/directory/room/%23estafette-room:{}",
            estafette.server_name()
        ))
        .await;
    resolved.assert_ok();
    assert_eq!(resolved.body["room_id"], on_estafette.body["room_id"]);
    assert_eq!(resolved.body["servers"], json!([estafette.server_name()]));
    alice
        .get(&format!(
            "/_matrix/client/v3/directory/room/%23nowhere:{}",
            synapse.server_name()
        ))
        .await
        .assert_error(404, "M_NOT_FOUND");

    // And each browses the other's public room directory.
    // Synapse fills its directory from room statistics it updates in the background.
    let mut listed = None;
    for _ in 0..50 {
        let page = alice
            .get(&format!(
                "/_matrix/client/v3/publicRooms?server={}",
                synapse.server_name()
            ))
            .await;
        page.assert_ok();
        if page.body["chunk"]
            .as_array()
            .is_some_and(|chunk| !chunk.is_empty())
        {
            listed = Some(page);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let listed = listed.expect("Synapse's directory lists its public room");
    assert_eq!(
        listed.body["chunk"][0]["room_id"],
        on_synapse.body["room_id"]
    );
    let listed = bob
        .post(
            &format!(
                "/_matrix/client/v3/publicRooms?server={}",
                estafette.server_name()
            ),
            json!({"filter": {"generic_search_term": "estafette"}}),
        )
        .await;
    listed.assert_ok();
    assert_eq!(
        listed.body["chunk"][0]["room_id"],
        on_estafette.body["room_id"]
    );
    assert_eq!(listed.body["chunk"].as_array().map(Vec::len), Some(1));

    // End-to-end keys: each queries and claims the keys of the other's SDK device.
    let bob_sdk = matrix_sdk::Client::builder()
        .homeserver_url(synapse.base_url())
        .build()
        .await
        .unwrap();
    bob_sdk
        .matrix_auth()
        .login_username("bob", "bob's password")
        .send()
        .await
        .unwrap();
    bob_sdk
        .sync_once(matrix_sdk::config::SyncSettings::default())
        .await
        .unwrap();
    let dora = estafette.register_user("dora").await;
    dora.client
        .sync_once(matrix_sdk::config::SyncSettings::default())
        .await
        .unwrap();
    for (asker, owner) in [(&alice, &bob_sdk), (&bob, &dora.client)] {
        let (owner_id, device) = (owner.user_id().unwrap(), owner.device_id().unwrap());
        let query = asker
            .post(
                "/_matrix/client/v3/keys/query",
                json!({"device_keys": {owner_id: []}}),
            )
            .await;
        query.assert_ok();
        let keys = &query.body["device_keys"][owner_id.as_str()][device.as_str()]["keys"];
        assert_eq!(
            keys[format!("ed25519:{device}")].as_str(),
            Some(owner.encryption().ed25519_key().await.unwrap().as_str()),
            "{query:?}"
        );
        let claim = asker
            .post(
                "/_matrix/client/v3/keys/claim",
                json!({"one_time_keys": {owner_id: {device: "signed_curve25519"}}}),
            )
            .await;
        claim.assert_ok();
        let claimed = &claim.body["one_time_keys"][owner_id.as_str()][device.as_str()];
        assert_eq!(
            claimed.as_object().map(|keys| keys.len()),
            Some(1),
            "{claim:?}"
        );
    }
}
