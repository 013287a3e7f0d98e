//! Interoperability with a real Synapse: keys, signed requests and profile queries both ways.

use estafette_tests::{SynapseServer, TestServer};
use serde_json::json;

#[tokio::test]
async fn estafette_and_synapse_read_each_others_profiles() {
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
}
