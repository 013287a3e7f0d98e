//! The federation listener: TLS, server version, and the self-signed key document.

use std::collections::BTreeMap;

use estafette_tests::TestServer;
use ruma::canonical_json::CanonicalJsonObject;
use serde_json::Value;

fn insecure_client() -> reqwest::Client {
    // The test server's certificate is self-signed, as a fresh install's is.
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_key_document_is_served_over_tls_and_signed_by_the_server() {
    let server = TestServer::builder().federation().start().await;
    let federation = server.federation_url().expect("a federation listener");
    let http = insecure_client();
    let version: Value = http
        .get(format!("{federation}/_matrix/federation/v1/version"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(version["server"]["name"], "Estafette");

    let document: Value = http
        .get(format!("{federation}/_matrix/key/v2/server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["server_name"], server.server_name());
    let verify_keys = document["verify_keys"].as_object().unwrap();
    assert_eq!(verify_keys.len(), 1);
    let (key_id, key) = verify_keys.iter().next().unwrap();
    assert!(key_id.starts_with("ed25519:"));
    let key_bytes =
        ruma::serde::Base64::<ruma::serde::base64::Standard>::parse(key["key"].as_str().unwrap())
            .unwrap();
    let mut keys = ruma::signatures::PublicKeyMap::new();
    keys.insert(
        server.server_name(),
        BTreeMap::from([(key_id.clone(), key_bytes)]),
    );
    let object: CanonicalJsonObject = serde_json::from_value(document.clone()).unwrap();
    ruma::signatures::verify_json(&keys, &object).expect("the document verifies with its own key");
    let mut tampered = document.clone();
    tampered["valid_until_ts"] = serde_json::json!(1);
    let tampered: CanonicalJsonObject = serde_json::from_value(tampered).unwrap();
    assert!(
        ruma::signatures::verify_json(&keys, &tampered).is_err(),
        "a changed document does not verify"
    );

    // The federation API is not on the client listener, and plain HTTP is refused by the TLS one.
    server
        .raw()
        .get("/_matrix/key/v2/server")
        .await
        .assert_error(404, "M_UNRECOGNIZED");
    let plain = federation.replace("https://", "http://");
    assert!(
        reqwest::get(format!("{plain}/_matrix/federation/v1/version"))
            .await
            .is_err()
    );
}
