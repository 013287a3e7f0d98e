//! Calls: TURN credentials for one-to-one calls (coturn's shared-secret scheme, checked here
//! the way coturn checks them) and the LiveKit service of MatrixRTC group calls, as matrix-sdk,
//! matrix-js-sdk and the well-known document give them to clients.

use base64::Engine;
use estafette_tests::{TestServer, run_js_sdk};
use hmac::{Hmac, Mac};
use matrix_sdk::ruma::api::client::rtc::transports;
use matrix_sdk::ruma::api::client::voip::get_turn_server_info;
use serde_json::json;

const SECRET: &str = "coturn static-auth-secret";
const LIVEKIT: &str = "https://livekit-jwt.interieur.example";
const TURN: &str = "turn:turn.interieur.example:3478?transport=udp";

async fn with_calls() -> TestServer {
    TestServer::builder()
        .configure(|config| {
            config.calls.turn_uris = vec![
                TURN.to_owned(),
                "turns:turn.interieur.example:5349".to_owned(),
            ];
            config.calls.turn_shared_secret = Some(SECRET.to_owned());
            config.calls.turn_user_lifetime_secs = 3_600;
            config.calls.livekit_service_url = Some(LIVEKIT.to_owned());
        })
        .start()
        .await
}

/// The password coturn expects for `username` under the shared secret.
fn coturn_password(username: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn clients_get_turn_credentials_coturn_accepts_and_the_livekit_service() {
    let server = with_calls().await;
    let alice = server.register_user("alice").await;
    let user_id = alice.client.user_id().unwrap().to_string();

    // matrix-sdk: credentials for an hour from now, named after the user.
    let turn = alice
        .client
        .send(get_turn_server_info::v3::Request::new())
        .await
        .expect("TURN credentials");
    let (expiry, who) = turn.username.split_once(':').expect("expiry:user");
    assert_eq!(who, user_id);
    let now_secs = server.services().context.now() / 1000;
    assert_eq!(expiry.parse::<u64>().unwrap(), now_secs + 3_600);
    assert_eq!(turn.password, coturn_password(&turn.username));
    assert_eq!(turn.uris.len(), 2);
    assert_eq!(turn.ttl.as_secs(), 3_600);

    // Credentials expire: an hour later, new ones.
    server.advance_clock(3_600_000);
    let later = alice
        .client
        .send(get_turn_server_info::v3::Request::new())
        .await
        .expect("TURN credentials");
    assert_ne!(later.username, turn.username);
    assert_eq!(later.password, coturn_password(&later.username));

    // MatrixRTC: the LiveKit service, at /rtc/transports and in the well-known document.
    let transports = alice
        .client
        .send(transports::v1::Request::new())
        .await
        .expect("RTC transports");
    let listed = serde_json::to_value(&transports.rtc_transports).unwrap();
    assert_eq!(
        listed,
        json!([{"type": "livekit", "livekit_service_url": LIVEKIT}])
    );
    let raw = server.raw();
    let well_known = raw.get("/.well-known/matrix/client").await;
    assert_eq!(well_known.body["org.matrix.msc4143.rtc_foci"], listed);
    let versions = raw.get("/_matrix/client/versions").await;
    assert_eq!(
        versions.body["unstable_features"]["org.matrix.msc4143"],
        true
    );
    raw.anonymous()
        .get("/_matrix/client/v1/rtc/transports")
        .await
        .assert_error(401, "M_MISSING_TOKEN");

    // matrix-js-sdk, as Element Web before a call.
    let js = run_js_sdk(
        "calls",
        json!({"baseUrl": server.base_url(), "user": "alice", "password": alice.password}),
    )
    .await;
    assert_eq!(js["fetched"], true, "{js}");
    let servers = &js["servers"][0];
    let username = servers["username"].as_str().unwrap_or_default();
    assert!(username.ends_with(&format!(":{user_id}")), "{js}");
    assert_eq!(servers["credential"], coturn_password(username));
    assert_eq!(servers["urls"][0], TURN);
    let expires_in = js["expiresIn"].as_i64().unwrap_or_default();
    assert!((3_500_000..=3_600_000).contains(&expires_in), "{js}");
}

#[tokio::test]
async fn without_turn_or_livekit_clients_are_told_there_is_none() {
    let server = TestServer::start().await;
    let (_, token, _) = server.raw().register("alice", "alice's password").await;
    let alice = server.raw().clone_with(&token);
    let turn = alice.get("/_matrix/client/v3/voip/turnServer").await;
    turn.assert_ok();
    assert_eq!(turn.body, json!({}));
    let transports = alice.get("/_matrix/client/v1/rtc/transports").await;
    transports.assert_ok();
    assert_eq!(transports.body, json!({"rtc_transports": []}));
    let well_known = server.raw().get("/.well-known/matrix/client").await;
    assert!(
        well_known.body.get("org.matrix.msc4143.rtc_foci").is_none(),
        "{}",
        well_known.body
    );
    alice
        .anonymous()
        .get("/_matrix/client/v3/voip/turnServer")
        .await
        .assert_error(401, "M_MISSING_TOKEN");
}

#[tokio::test]
async fn fixed_turn_credentials_are_handed_out_as_configured() {
    let server = TestServer::builder()
        .configure(|config| {
            config.calls.turn_uris = vec![TURN.to_owned()];
            config.calls.turn_username = Some("estafette".to_owned());
            config.calls.turn_password = Some("mot de passe".to_owned());
        })
        .start()
        .await;
    let (_, token, _) = server.raw().register("alice", "alice's password").await;
    let turn = server
        .raw()
        .clone_with(&token)
        .get("/_matrix/client/v3/voip/turnServer")
        .await;
    turn.assert_ok();
    assert_eq!(
        (
            &turn.body["username"],
            &turn.body["password"],
            &turn.body["uris"]
        ),
        (&json!("estafette"), &json!("mot de passe"), &json!([TURN]))
    );
    assert_eq!(turn.body["ttl"], 86_400);
}
