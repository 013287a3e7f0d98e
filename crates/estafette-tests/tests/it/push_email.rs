//! Email notifications: a pusher of kind `email`, for an address of the account, gets some
//! time after the first notification one digest of what is still unread, through a real SMTP
//! server; a room read meanwhile is left out, and nothing is sent twice.

use std::time::Duration;

use estafette_tests::{RawClient, SmtpSink};
use serde_json::{Value, json};

use crate::email_addresses::register_agent;
use crate::registration_by_email::ministry_registering;
use crate::room_helpers::{create_room, send_text, user};

const MINUTE: u64 = 60_000;

fn email_pusher(address: &str) -> Value {
    json!({"kind": "email", "app_id": "m.email", "pushkey": address,
           "app_display_name": "Email notifications", "device_display_name": address,
           "lang": "fr", "data": {"brand": "Tchap"}})
}

/// A room of Alice's, named, that Bob joined.
async fn room_with(alice: &RawClient, bob: &RawClient, bob_id: &str, name: &str) -> String {
    let room = create_room(alice, json!({"preset": "private_chat", "name": name})).await;
    alice
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/invite"),
            json!({"user_id": bob_id}),
        )
        .await
        .assert_ok();
    bob.post(&format!("/_matrix/client/v3/join/{room}"), json!({}))
        .await
        .assert_ok();
    room
}

/// The digests `address` received after the first `already` emails.
fn digests(sink: &SmtpSink, address: &str, already: usize) -> Vec<estafette_tests::ReceivedEmail> {
    sink.received()
        .into_iter()
        .filter(|email| email.recipients.iter().any(|r| r == address))
        .skip(already)
        .collect()
}

#[tokio::test]
async fn what_is_still_unread_is_emailed_as_one_digest_after_the_delay() {
    let sink = SmtpSink::start().await;
    let (server, _rules) = ministry_registering(&sink, true).await;
    let client = server.raw();
    let email = "claire.dupont@finances.example";
    let (bob_id, token) = register_agent(&sink, &client, email).await;
    let bob = client.clone_with(&token);
    bob.post(
        "/_matrix/client/v3/pushers/set",
        email_pusher("someone.else@finances.example"),
    )
    .await
    .assert_error(400, "M_THREEPID_NOT_FOUND");
    let malformed = bob
        .post(
            "/_matrix/client/v3/pushers/set",
            email_pusher("not an address"),
        )
        .await;
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    bob.post("/_matrix/client/v3/pushers/set", email_pusher(email))
        .await
        .assert_ok();
    let pushers = bob.get("/_matrix/client/v3/pushers").await;
    assert_eq!(pushers.body["pushers"][0]["kind"], "email");

    let (_, alice_token) = register_agent(&sink, &client, "alice.martin@finances.example").await;
    let alice = client.clone_with(&alice_token);
    let crisis = room_with(&alice, &bob, &bob_id, "Cellule de crise").await;
    let budget = room_with(&alice, &bob, &bob_id, "Budget").await;
    let already = sink.count_to(email);
    send_text(&alice, &crisis, "c1", "Réunion à 15 h en salle 4").await;
    send_text(&alice, &crisis, "c2", "Apportez le rapport").await;
    let read = send_text(&alice, &budget, "b1", "Le budget est validé").await;
    // Bob reads the budget room on his computer before the digest is due.
    bob.post(
        &format!("/_matrix/client/v3/rooms/{budget}/receipt/m.read/{read}"),
        json!({}),
    )
    .await
    .assert_ok();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.advance_clock(9 * MINUTE);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        digests(&sink, email, already).is_empty(),
        "not before ten minutes"
    );

    server.advance_clock(MINUTE + 1_000);
    let digest = sink.wait_for_after(email, already).await;
    let subject = digest.header("subject").unwrap_or_default();
    assert_eq!(subject, "Tchap: 2 unread messages in Cellule de crise");
    assert!(
        digest
            .body
            .contains("Alice Martin [Finances]: Réunion à 15 h en salle 4"),
        "{}",
        digest.body
    );
    assert!(
        digest
            .body
            .contains("Alice Martin [Finances]: Apportez le rapport"),
        "{}",
        digest.body
    );
    assert!(
        digest
            .body
            .contains(&format!("https://matrix.to/#/{crisis}")),
        "{}",
        digest.body
    );
    assert!(
        !digest.body.contains("budget"),
        "read already: {}",
        digest.body
    );

    // Sent once, restart or not; a later message makes a digest of its own.
    let server = server.go_offline().await.start().await;
    server.advance_clock(30 * MINUTE);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(digests(&sink, email, already).len(), 1);
    send_text(&alice, &budget, "b2", "Finalement, non").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.advance_clock(10 * MINUTE + 1_000);
    let second = sink.wait_for_after(email, already + 1).await;
    assert_eq!(
        second.header("subject").unwrap_or_default(),
        "Tchap: 1 unread message in Budget"
    );
    assert!(second.body.contains("Finalement, non"), "{}", second.body);
    assert!(!second.body.contains("Réunion"), "{}", second.body);
}

#[tokio::test]
async fn a_server_without_email_refuses_email_pushers() {
    let server = estafette_tests::TestServer::start().await;
    let (_, bob) = user(server.raw(), "bob").await;
    let refused = bob
        .post(
            "/_matrix/client/v3/pushers/set",
            email_pusher("bob@example.org"),
        )
        .await;
    refused.assert_error(400, "M_INVALID_PARAM");
    assert!(
        bob.get("/_matrix/client/v3/pushers").await.body["pushers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
