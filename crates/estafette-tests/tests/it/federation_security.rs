//! What a server refuses from another: events it did not sign for its own users, events the
//! room's rules do not allow, and PDUs over the spec's size limit. None of them changes state.

use estafette_tests::TestServer;
use ruma::api::federation::transactions::send_transaction_message::v1 as send_transaction;
use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use ruma::{MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedServerName};
use serde_json::{Value, json};

use crate::room_helpers::shared_room;

/// A PDU in `room_id` signed by `signer`'s key, pointing at the given events.
pub(crate) fn signed_pdu(
    signer: &TestServer,
    room_id: &str,
    sender: &str,
    kind: &str,
    state_key: Option<&str>,
    content: Value,
    prev: &str,
    auth: &[String],
) -> (OwnedEventId, Box<serde_json::value::RawValue>) {
    let rules = ruma::RoomVersionId::V12.rules().unwrap();
    let mut event = json!({
        "room_id": room_id, "sender": sender, "type": kind, "content": content,
        "origin_server_ts": MilliSecondsSinceUnixEpoch::now(), "depth": 100,
        "prev_events": [prev], "auth_events": auth,
    });
    if let Some(key) = state_key {
        event["state_key"] = json!(key);
    }
    let mut object: CanonicalJsonObject = serde_json::from_value(event).unwrap();
    let context = &signer.services().context;
    ruma::signatures::hash_and_sign_event(
        context.server_name.as_str(),
        &context.server_key.key_pair,
        &mut object,
        &rules.redaction,
    )
    .unwrap();
    let hash = ruma::signatures::reference_hash(&object, &rules).unwrap();
    let json = CanonicalJsonValue::Object(object).to_string();
    (
        OwnedEventId::try_from(format!("${hash}")).unwrap(),
        serde_json::value::RawValue::from_string(json).unwrap(),
    )
}

#[tokio::test]
async fn forged_unauthorised_or_oversized_events_are_refused_and_change_nothing() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let (room_id, (alice_id, alice), (bob_id, _bob)) = shared_room(&home, &remote).await;
    let state = alice
        .get(&format!("/_matrix/client/v3/rooms/{room_id}/state"))
        .await;
    let id_of = |kind: &str, key: &str| -> String {
        state
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == kind && e["state_key"] == key)
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let (power, bob_member, alice_member) = (
        id_of("m.room.power_levels", ""),
        id_of("m.room.member", &bob_id),
        id_of("m.room.member", &alice_id),
    );
    let latest = bob_member.clone();

    // Bob's server signs an event that claims to be Alice's.
    let forged = signed_pdu(
        &remote,
        &room_id,
        &alice_id,
        "m.room.name",
        Some(""),
        json!({"name": "Forged"}),
        &latest,
        &[power.clone(), alice_member.clone()],
    );
    // Bob (power 0) gives himself power 100.
    let unauthorised = signed_pdu(
        &remote,
        &room_id,
        &bob_id,
        "m.room.power_levels",
        Some(""),
        json!({"users": {bob_id.clone(): 100}}),
        &latest,
        &[power.clone(), bob_member.clone()],
    );
    // A message far over the 64 KiB PDU limit (ruma will not sign one, so it grows after).
    let small = signed_pdu(
        &remote,
        &room_id,
        &bob_id,
        "m.room.message",
        None,
        json!({"msgtype": "m.text", "body": "x"}),
        &latest,
        &[power.clone(), bob_member.clone()],
    );
    let mut grown: Value = serde_json::from_str(small.1.get()).unwrap();
    grown["content"]["body"] = json!("x".repeat(70_000));
    let oversized = (small.0, serde_json::value::to_raw_value(&grown).unwrap());
    let mut request = send_transaction::Request::new(
        "forgeries".into(),
        remote.server_name().try_into().unwrap(),
        MilliSecondsSinceUnixEpoch::now(),
    );
    request.pdus = vec![forged.1, unauthorised.1, oversized.1];
    let home_name: OwnedServerName = home.server_name().try_into().unwrap();
    let response = remote
        .services()
        .federation
        .send(&home_name, request)
        .await
        .expect("the transaction itself is accepted");
    for (event_id, what) in [(&forged.0, "forged"), (&unauthorised.0, "unauthorised")] {
        assert!(
            matches!(response.pdus.get(event_id), Some(Err(_))),
            "the {what} event is refused: {:?}",
            response.pdus
        );
    }
    assert!(
        !response.pdus.contains_key(&oversized.0) || response.pdus[&oversized.0].is_err(),
        "the oversized event is refused"
    );
    let after = alice
        .get(&format!("/_matrix/client/v3/rooms/{room_id}/state"))
        .await;
    assert_eq!(after.body, state.body, "the room's state did not change");
    for event_id in [&forged.0, &unauthorised.0, &oversized.0] {
        alice
            .get(&format!(
                "/_matrix/client/v3/rooms/{room_id}/event/{event_id}"
            ))
            .await
            .assert_error(404, "M_NOT_FOUND");
    }

    // More than 50 PDUs in one transaction is refused whole.
    let mut request = send_transaction::Request::new(
        "too-many".into(),
        remote.server_name().try_into().unwrap(),
        MilliSecondsSinceUnixEpoch::now(),
    );
    request.pdus = (0..51)
        .map(|i| {
            signed_pdu(
                &remote,
                &room_id,
                &bob_id,
                "m.room.message",
                None,
                json!({"msgtype": "m.text", "body": format!("spam {i}")}),
                &latest,
                &[power.clone(), bob_member.clone()],
            )
            .1
        })
        .collect();
    let refused = remote.services().federation.send(&home_name, request).await;
    assert!(refused.is_err(), "51 PDUs are too many");
}
