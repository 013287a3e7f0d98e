//! Several servers in one process, and Synapse-compatible shared-secret registration.

use estafette_tests::{Cluster, TestServer};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha1::Sha1;

#[tokio::test]
async fn servers_in_one_process_are_independent() {
    let cluster = Cluster::start(2).await;
    let (first, second) = (&cluster.servers[0], &cluster.servers[1]);
    assert_ne!(first.server_name(), second.server_name());
    let alice_one = first.register_user("alice").await;
    let alice_two = second.register_user("alice").await;
    assert_ne!(alice_one.client.user_id(), alice_two.client.user_id());
    let token = alice_one.client.access_token().unwrap();
    second
        .raw()
        .clone_with(&token)
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    for server in cluster.servers {
        server.stop().await;
    }
}

pub(crate) fn mac(secret: &str, nonce: &str, user: &str, password: &str, admin: bool) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    let admin = if admin { "admin" } else { "notadmin" };
    mac.update(format!("{nonce}\0{user}\0{password}\0{admin}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn shared_secret_registration_works_like_synapse() {
    let server = TestServer::builder()
        .configure(|config| {
            config.registration.open = false;
            config.registration.shared_secret = "provisioning-secret".into();
        })
        .start()
        .await;
    let raw = server.raw();
    let nonce = raw.get("/_synapse/admin/v1/register").await.body["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = |nonce: &str, mac: String| json!({"nonce": nonce, "username": "root", "password": "the root password", "admin": true, "mac": mac});
    raw.post(
        "/_synapse/admin/v1/register",
        body(
            &nonce,
            mac("wrong secret", &nonce, "root", "the root password", true),
        ),
    )
    .await
    .assert_error(403, "M_FORBIDDEN");
    let nonce = raw.get("/_synapse/admin/v1/register").await.body["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let good = mac(
        "provisioning-secret",
        &nonce,
        "root",
        "the root password",
        true,
    );
    let created = raw
        .post("/_synapse/admin/v1/register", body(&nonce, good.clone()))
        .await;
    created.assert_ok();
    assert_eq!(
        created.body["user_id"],
        format!("@root:{}", server.server_name())
    );
    assert_eq!(created.body["home_server"], server.server_name());
    let token = created.body["access_token"].as_str().unwrap();
    raw.clone_with(token)
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_ok();
    raw.post("/_synapse/admin/v1/register", body(&nonce, good))
        .await
        .assert_error(400, "M_UNKNOWN");
    server.login("root", "the root password").await;
}

#[tokio::test]
async fn shared_secret_registration_is_off_without_a_secret() {
    let server = TestServer::start().await;
    server
        .raw()
        .get("/_synapse/admin/v1/register")
        .await
        .assert_error(400, "M_BAD_JSON");
}
