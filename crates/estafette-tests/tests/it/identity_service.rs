//! Each server is its users' identity server (`/_matrix/identity/v2`): a client (Element's
//! library, which hashes addresses itself) gets an identity token with an OpenID token, finds
//! the accounts of bound addresses, and refuses are clear: no token, a stale pepper, an OpenID
//! token that is not this server's.

use estafette_tests::{RawClient, TestServer, run_js_sdk};
use serde_json::json;

const PASSWORD: &str = "a password of Alice";

/// Binds `address` to `user_id` as a validated address would be.
async fn bind(server: &TestServer, user_id: &str, address: &str) {
    let threepid = estafette::storage::Threepid {
        medium: "email".to_owned(),
        address: address.to_owned(),
        validated_ts: 1,
        added_ts: 1,
    };
    let user_id = ruma::UserId::parse(user_id).unwrap();
    let threepids = &server.services().context.storage.threepids;
    assert!(threepids.bind(&user_id, &threepid).await.unwrap());
}

/// An identity service token for the user of `client`, as the spec's flow gets one.
pub(crate) async fn identity_token(client: &RawClient, user_id: &str, server_name: &str) -> String {
    let openid = client
        .post(
            &format!("/_matrix/client/v3/user/{user_id}/openid/request_token"),
            json!({}),
        )
        .await;
    openid.assert_ok();
    let registered = client
        .anonymous()
        .post(
            "/_matrix/identity/v2/account/register",
            json!({"access_token": openid.body["access_token"], "token_type": "Bearer",
                   "matrix_server_name": server_name, "expires_in": 3600}),
        )
        .await;
    registered.assert_ok();
    registered.body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn element_web_s_library_finds_colleagues_by_hashed_address() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (alice_id, _, _) = raw.register("alice", PASSWORD).await;
    let (bob_id, _, _) = raw.register("bob", "a password of Bob").await;
    let (carol_id, carol_token, _) = raw.register("carol", "a password of Carol").await;
    bind(&server, &bob_id, "bob@finances.example").await;
    bind(&server, &carol_id, "carol@finances.example").await;
    raw.clone_with(&carol_token)
        .post(
            "/_matrix/client/v3/account/deactivate",
            json!({"auth": {"type": "m.login.password", "password": "a password of Carol",
                            "identifier": {"type": "m.id.user", "user": carol_id}}}),
        )
        .await
        .assert_ok();
    let _ = alice_id;

    let out = run_js_sdk(
        "identity",
        json!({"baseUrl": server.base_url(), "user": "alice", "password": PASSWORD,
               "addresses": ["Bob@finances.example", "carol@finances.example",
                             "nobody@finances.example"]}),
    )
    .await;
    assert_eq!(out["account"], format!("@alice:{}", server.server_name()));
    assert_eq!(out["policies"], json!({}));
    // Found by its hash, whatever its case; not the deactivated account, nor nobody.
    assert_eq!(
        out["found"],
        json!([{"address": "Bob@finances.example", "mxid": bob_id}])
    );
    assert_eq!(out["single"]["mxid"], bob_id.as_str());
}

#[tokio::test]
async fn identity_requests_without_a_valid_token_or_pepper_are_refused() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (alice_id, alice_token, _) = raw.register("alice", PASSWORD).await;
    let alice = raw.clone_with(&alice_token);
    bind(&server, &alice_id, "alice@finances.example").await;
    let anonymous = raw.anonymous();
    let lookup = |client: &RawClient, pepper: &str, algorithm: &str| {
        let body = json!({"algorithm": algorithm, "pepper": pepper,
                          "addresses": ["alice@finances.example email"]});
        let client = client.clone();
        async move { client.post("/_matrix/identity/v2/lookup", body).await }
    };

    // No token, a homeserver token, a made-up one.
    for client in [&anonymous, &alice, &raw.clone_with("eis_made_up")] {
        lookup(client, "p", "none")
            .await
            .assert_error(401, "M_UNAUTHORIZED");
        client
            .get("/_matrix/identity/v2/hash_details")
            .await
            .assert_error(401, "M_UNAUTHORIZED");
    }
    // OpenID tokens: made up, or said to be another server's.
    let register = |token: &str, server_name: &str| {
        anonymous.post(
            "/_matrix/identity/v2/account/register",
            json!({"access_token": token, "token_type": "Bearer",
                   "matrix_server_name": server_name, "expires_in": 3600}),
        )
    };
    register("made-up", &server.server_name())
        .await
        .assert_error(401, "M_UNAUTHORIZED");
    let openid = alice
        .post(
            &format!("/_matrix/client/v3/user/{alice_id}/openid/request_token"),
            json!({}),
        )
        .await;
    let openid_token = openid.body["access_token"].as_str().unwrap();
    register(openid_token, "elsewhere.example")
        .await
        .assert_error(401, "M_UNAUTHORIZED");

    let token = identity_token(&alice, &alice_id, &server.server_name()).await;
    let identity = raw.clone_with(&token);
    let account = identity.get("/_matrix/identity/v2/account").await;
    assert_eq!(account.body["user_id"], alice_id.as_str());
    let details = identity.get("/_matrix/identity/v2/hash_details").await;
    let pepper = details.body["lookup_pepper"].as_str().unwrap().to_owned();
    assert_eq!(details.body["algorithms"], json!(["sha256", "none"]));
    let found = lookup(&identity, &pepper, "none").await;
    assert_eq!(
        found.body["mappings"],
        json!({"alice@finances.example email": alice_id})
    );
    lookup(&identity, "stale-pepper", "none")
        .await
        .assert_error(400, "M_INVALID_PEPPER");
    lookup(&identity, &pepper, "md5")
        .await
        .assert_error(400, "M_INVALID_PARAM");
    identity
        .post("/_matrix/identity/v2/terms", json!({"user_accepts": []}))
        .await
        .assert_ok();

    // Signed out: the token is gone.
    identity
        .post("/_matrix/identity/v2/account/logout", json!({}))
        .await
        .assert_ok();
    lookup(&identity, &pepper, "none")
        .await
        .assert_error(401, "M_UNAUTHORIZED");
}

#[tokio::test]
async fn the_identity_key_is_the_server_s_signing_key() {
    let server = TestServer::start().await;
    let raw = server.raw();
    anonymous_ok(&raw, "/_matrix/identity/v2").await;
    let versions = raw.get("/_matrix/identity/versions").await;
    assert!(
        versions.body["versions"]
            .as_array()
            .is_some_and(|v| !v.is_empty())
    );
    let key = raw.get("/_matrix/identity/v2/pubkey/ed25519:0").await;
    key.assert_ok();
    let public_key = key.body["public_key"].as_str().unwrap().to_owned();
    // The key other servers verify this server's signatures with.
    let own = &server.services().context.server_key;
    use base64::Engine;
    let signing_key =
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(own.key_pair.public_key());
    assert_eq!(public_key, signing_key);
    let by_own_id = raw
        .get(&format!("/_matrix/identity/v2/pubkey/{}", own.key_id()))
        .await;
    assert_eq!(by_own_id.body["public_key"], public_key.as_str());
    let valid = |key: &str| {
        let path = format!(
            "/_matrix/identity/v2/pubkey/isvalid?public_key={}",
            url::form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>()
        );
        let raw = raw.clone();
        async move { raw.get(&path).await }
    };
    assert_eq!(valid(&public_key).await.body["valid"], true);
    let other = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_eq!(valid(other).await.body["valid"], false);
    raw.get("/_matrix/identity/v2/pubkey/ed25519:other")
        .await
        .assert_error(404, "M_NOT_FOUND");
}

/// Element's Discovery settings: the identity service emails a link, the address is bound for
/// discovery (found by lookups, an address of the account), then unbound.
#[tokio::test]
async fn element_web_s_library_binds_an_address_for_discovery_and_unbinds_it() {
    let sink = estafette_tests::SmtpSink::start().await;
    let (server, _rules) = crate::registration_by_email::ministry(&sink).await;
    let raw = server.raw();
    let (alice_id, alice_token, _) = raw.register("alice", "Alice's Passw0rd!").await;
    let email = "alice@finances.example";
    let input = |step: &str| {
        json!({"baseUrl": server.base_url(), "user": "alice", "password": "Alice's Passw0rd!",
               "addresses": [email], "secret": "discovery", "step": step})
    };
    let asked = run_js_sdk("identity", input("requestBind")).await;
    let link = sink.wait_for(email).await.first_link().expect("a link");
    assert_eq!(reqwest::get(&link).await.unwrap().status(), 200);
    let mut bind = input("bind");
    bind["sid"] = asked["sid"].clone();
    bind["token"] = asked["token"].clone();
    let out = run_js_sdk("identity", bind).await;
    assert_eq!(out["bound"], json!([{"address": email, "mxid": alice_id}]));
    assert_eq!(out["unbound"], "success", "{out}");
    assert_eq!(out["after"], json!([]), "{out}");
    let addresses = raw
        .clone_with(&alice_token)
        .get("/_matrix/client/v3/account/3pid")
        .await;
    let threepids = addresses.body["threepids"].as_array();
    assert!(threepids.is_none_or(Vec::is_empty), "{:?}", addresses.body);

    // A validation serves once; an address bound elsewhere, or another user's token, is refused.
    let identity = raw.clone_with(asked["token"].as_str().unwrap());
    let again = identity
        .post(
            "/_matrix/identity/v2/3pid/bind",
            json!({"sid": asked["sid"], "client_secret": "discovery", "mxid": alice_id}),
        )
        .await;
    again.assert_error(401, "M_UNAUTHORIZED");
    let (bob_id, _, _) = raw.register("bob", "Bob's Passw0rd!!").await;
    identity
        .post(
            "/_matrix/identity/v2/3pid/bind",
            json!({"sid": asked["sid"], "client_secret": "discovery", "mxid": bob_id}),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
    raw.clone_with(&alice_token)
        .post(
            "/_matrix/client/v3/account/3pid/bind",
            json!({"sid": "x", "client_secret": "discovery", "id_server": "vector.im",
                   "id_access_token": asked["token"]}),
        )
        .await
        .assert_error(403, "M_THREEPID_DENIED");
    identity
        .post(
            "/_matrix/identity/v2/validate/email/requestToken",
            json!({"client_secret": "c", "email": "alice@company.example", "send_attempt": 1}),
        )
        .await
        .assert_error(403, "M_THREEPID_DENIED");

    // Straight through the identity service, as a homeserver binds: a signed association.
    let asked = identity
        .post(
            "/_matrix/identity/v2/validate/email/requestToken",
            json!({"client_secret": "direct", "email": email, "send_attempt": "1"}),
        )
        .await;
    asked.assert_ok();
    let sid = asked.body["sid"].clone();
    let link = sink.wait_for_after(email, 1).await.first_link().unwrap();
    assert_eq!(reqwest::get(&link).await.unwrap().status(), 200);
    let validated = identity
        .get(&format!(
            "/_matrix/identity/v2/3pid/getValidated3pid?sid={}&client_secret=direct",
            sid.as_str().unwrap()
        ))
        .await;
    assert_eq!(validated.body["address"], email);
    let bound = identity
        .post(
            "/_matrix/identity/v2/3pid/bind",
            json!({"sid": sid, "client_secret": "direct", "mxid": alice_id}),
        )
        .await;
    bound.assert_ok();
    assert_eq!(
        (&bound.body["address"], &bound.body["mxid"]),
        (&json!(email), &json!(alice_id))
    );
    let signatures = bound.body["signatures"][server.server_name()]
        .as_object()
        .unwrap();
    let (key_id, _) = signatures.iter().next().unwrap();
    let key = raw
        .get(&format!("/_matrix/identity/v2/pubkey/{key_id}"))
        .await;
    let key = ruma::serde::Base64::<ruma::serde::base64::Standard>::parse(
        key.body["public_key"].as_str().unwrap(),
    )
    .unwrap();
    let mut keys = ruma::signatures::PublicKeyMap::new();
    keys.insert(
        server.server_name(),
        std::collections::BTreeMap::from([(key_id.clone(), key)]),
    );
    let association: ruma::CanonicalJsonObject =
        serde_json::from_value(bound.body.clone()).unwrap();
    ruma::signatures::verify_json(&keys, &association).expect("signed by the server's key");
    identity
        .post(
            "/_matrix/identity/v2/3pid/unbind",
            json!({"mxid": alice_id, "threepid": {"medium": "email", "address": email}}),
        )
        .await
        .assert_ok();
}

async fn anonymous_ok(raw: &RawClient, path: &str) {
    let response = raw.get(path).await;
    response.assert_ok();
    assert_eq!(response.body, json!({}));
}

/// The homeserver names itself as the identity service in its well-known document, and
/// Element Web's library accepts both after checking them.
#[tokio::test]
async fn element_web_discovers_the_homeserver_as_its_identity_service() {
    let server = TestServer::start().await;
    let out = run_js_sdk("discovery", json!({"baseUrl": server.base_url()})).await;
    assert_eq!(out["homeserver"]["state"], "SUCCESS", "{out}");
    assert_eq!(out["identityServer"]["state"], "SUCCESS", "{out}");
    assert_eq!(
        out["identityServer"]["base_url"],
        server.base_url(),
        "{out}"
    );
}
