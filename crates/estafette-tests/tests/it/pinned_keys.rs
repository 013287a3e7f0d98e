//! A closed federation that pins its servers' signing keys (TCHAP.md §7): a server with its
//! pinned key federates as before; one presenting any other key is refused in both
//! directions, whatever this server kept of it before or a notary vouches for.

use estafette_core::{AllowedServer, PinnedServer};
use estafette_tests::{RawClient, RawResponse, SynapseServer, TestServer};
use serde_json::json;

use crate::room_helpers::{
    create_room, eventually, invite, join_once_invited, joined_members, membership_of, messages,
    send_text, sorted, user,
};

/// The key a server serves at `/_matrix/key/v2/server` (its federation address given):
/// `(key ID, public key)`.
async fn served_key(federation_url: &str) -> (String, String) {
    let url = format!("{federation_url}/_matrix/key/v2/server");
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let document: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
    let (id, key) = document["verify_keys"]
        .as_object()
        .and_then(|keys| keys.iter().next())
        .expect("a verify key");
    (id.clone(), key["key"].as_str().unwrap().to_owned())
}

async fn served_key_of(server: &TestServer) -> (String, String) {
    served_key(&server.federation_url().expect("federation")).await
}

fn pin(name: String, (id, key): &(String, String)) -> AllowedServer {
    AllowedServer::Pinned(PinnedServer {
        name,
        keys: [(id.clone(), key.clone())].into(),
    })
}

/// A room of `inviter`'s with `invitee` joined, where `speaker` (one of them) says `text` and
/// `listener` (the other) hears it; its ID.
async fn room_with_a_word(
    (inviter, invitee_id, invitee): (&RawClient, &str, &RawClient),
    (speaker, listener): (&RawClient, &RawClient),
    text: &str,
) -> String {
    let room_id = create_room(inviter, json!({"preset": "private_chat"})).await;
    invite(inviter, &room_id, invitee_id).await;
    join_once_invited(invitee, &room_id).await;
    send_text(speaker, &room_id, "a-word", text).await;
    eventually("the word to be heard", || async {
        messages(listener, &room_id)
            .await
            .contains(&text.to_owned())
            .then_some(())
    })
    .await;
    room_id
}

/// A refusal because the other server does not present its pinned key.
fn refused_as_unpinned(refused: &RawResponse) {
    refused.assert_error(403, "M_FORBIDDEN");
    let message = refused.body["error"].as_str().unwrap_or_default();
    assert!(message.contains("not the key pinned"), "{message}");
}

#[tokio::test]
async fn a_pinned_key_is_required_both_ways_and_nothing_overrides_it() {
    let start = || TestServer::builder().federation().start();
    let (home, partner, impostor) = (start().await, start().await, start().await);
    let (alice_id, alice) = user(home.raw(), "alice").await;
    let (bob_id, bob) = user(partner.raw(), "bob").await;
    let (carol_id, carol) = user(impostor.raw(), "carol").await;
    // Before the pins, the home server learns the impostor's real key from it.
    carol
        .get(&format!("/_matrix/client/v3/profile/{alice_id}"))
        .await
        .assert_ok();

    let partner_key = served_key_of(&partner).await;
    let (impostor_key_id, _) = served_key_of(&impostor).await;
    // The impostor's key ID, pinned to a key it does not hold.
    let wrong = (impostor_key_id, partner_key.1.clone());
    let pins = vec![
        pin(partner.server_name(), &partner_key),
        pin(impostor.server_name(), &wrong),
    ];
    // A notary that would vouch for the impostor's real key.
    let notary = partner.server_name();
    let home = home
        .go_offline()
        .await
        .configure(move |config| {
            config.federation.allowed_servers = pins;
            config.federation.trusted_key_servers = vec![notary];
        })
        .start()
        .await;
    let alice = home.raw().clone_with(alice.token_for_tests());

    // The partner presents its pinned key: a room is shared and messages cross both ways.
    let room_id = room_with_a_word(
        (&alice, &bob_id, &bob),
        (&bob, &alice),
        "Bonjour du partenaire",
    )
    .await;

    // Home → impostor: refused before anything is sent, even with its key document kept.
    let refused = alice
        .post(
            &format!("/_matrix/client/v3/rooms/{room_id}/invite"),
            json!({"user_id": carol_id}),
        )
        .await;
    refused_as_unpinned(&refused);
    let refused = alice
        .get(&format!("/_matrix/client/v3/profile/{carol_id}"))
        .await;
    refused_as_unpinned(&refused);

    // Impostor → home: its signed requests are refused, and its users see the refusal.
    let direct = impostor
        .federation_request(
            &home,
            reqwest::Method::GET,
            &format!("/_matrix/federation/v1/query/profile?user_id={alice_id}"),
            None,
        )
        .await;
    direct.assert_error(401, "M_UNAUTHORIZED");
    let seen = carol
        .get(&format!("/_matrix/client/v3/profile/{alice_id}"))
        .await;
    assert_ne!(seen.status, 200, "{}", seen.body);

    // The room holds the partner and nobody of the impostor's.
    assert_eq!(
        joined_members(&alice, &room_id).await,
        sorted([&alice_id, &bob_id])
    );
}

/// Synapse pinned: with its key it shares a room as before; pinned to another key, nothing
/// passes either way.
#[tokio::test]
async fn synapse_is_known_by_its_pinned_key() {
    let synapse = SynapseServer::start().await;
    let estafette = TestServer::builder().federation().start().await;
    let synapse_key = served_key(&format!("https://{}", synapse.server_name())).await;
    let with_pin = |key: (String, String)| {
        let pins = vec![pin(synapse.server_name(), &key)];
        move |config: &mut estafette_core::Config| config.federation.allowed_servers = pins
    };
    let estafette = estafette
        .go_offline()
        .await
        .configure(with_pin(synapse_key.clone()))
        .start()
        .await;
    let (alice_id, alice) = user(estafette.raw(), "alice").await;
    let (bob_id, bob) = user(synapse.raw(), "bob").await;
    room_with_a_word((&bob, &alice_id, &alice), (&alice, &bob), "Clé vérifiée").await;

    // Pinned to a key Synapse does not hold.
    let (_, other_key) = served_key_of(&estafette).await;
    let estafette = estafette
        .go_offline()
        .await
        .configure(with_pin((synapse_key.0, other_key)))
        .start()
        .await;
    let alice = estafette.raw().clone_with(alice.token_for_tests());
    let refused = alice
        .get(&format!("/_matrix/client/v3/profile/{bob_id}"))
        .await;
    refused_as_unpinned(&refused);
    let second = create_room(&bob, json!({"preset": "private_chat"})).await;
    let invited = bob
        .post(
            &format!("/_matrix/client/v3/rooms/{second}/invite"),
            json!({"user_id": alice_id}),
        )
        .await;
    assert_ne!(invited.status, 200, "{}", invited.body);
    assert_eq!(membership_of(&bob, &second, &alice_id).await, None);
}
