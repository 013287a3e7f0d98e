//! Managing devices.

use estafette_tests::TestServer;
use matrix_sdk::ruma::OwnedDeviceId;
use serde_json::json;

#[tokio::test]
async fn a_user_lists_renames_and_deletes_devices() {
    let server = TestServer::start().await;
    let alice = server.register_user("alice").await;
    let phone = server.login("alice", &alice.password).await;
    let phone_id: OwnedDeviceId = phone.device_id().unwrap().to_owned();

    let devices = alice.client.devices().await.unwrap().devices;
    let mut names: Vec<_> = devices
        .iter()
        .map(|d| d.display_name.clone().unwrap_or_default())
        .collect();
    names.sort();
    assert_eq!(names, vec!["alice's first device", "second device"]);
    assert!(
        devices.iter().all(|d| d.last_seen_ts.is_some()),
        "last seen is recorded: {devices:?}"
    );

    alice
        .client
        .rename_device(&phone_id, "Alice's phone")
        .await
        .unwrap();
    let renamed = server
        .raw()
        .clone_with(&alice.client.access_token().unwrap())
        .get(&format!("/_matrix/client/v3/devices/{phone_id}"))
        .await;
    renamed.assert_ok();
    assert_eq!(renamed.body["display_name"], "Alice's phone");

    alice
        .with_password_uia(|auth| {
            alice
                .client
                .delete_devices(std::slice::from_ref(&phone_id), auth)
        })
        .await
        .expect("the phone is deleted");
    let devices = alice.client.devices().await.unwrap().devices;
    assert_eq!(devices.len(), 1);
    assert_eq!(
        Some(devices[0].device_id.as_ref()),
        alice.client.device_id()
    );
    let phone_error = phone.whoami().await.unwrap_err();
    assert_eq!(
        phone_error
            .client_api_error_kind()
            .map(|k| k.errcode().to_string()),
        Some("M_UNKNOWN_TOKEN".into())
    );
}

#[tokio::test]
async fn deleting_one_device_needs_the_password() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, token, _) = raw.register("hal", "hal's password").await;
    let login = raw.login("hal", "hal's password").await;
    let other = login.body["device_id"].as_str().unwrap().to_owned();
    let raw = raw.with_token(token);
    let path = format!("/_matrix/client/v3/devices/{other}");
    let first = raw.delete(&path, json!({})).await;
    assert_eq!(first.status, 401);
    let session = first.body["session"].as_str().unwrap().to_owned();
    let auth = |password: &str| json!({"auth": {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "hal"}, "password": password, "session": session}});
    let wrong = raw.delete(&path, auth("wrong")).await;
    assert_eq!((wrong.status, wrong.errcode()), (401, "M_FORBIDDEN"));
    raw.get(&path).await.assert_ok();
    // A session opened for deleting devices cannot change the password.
    let mut misuse = auth("hal's password");
    misuse["new_password"] = json!("a new password here");
    raw.post("/_matrix/client/v3/account/password", misuse)
        .await
        .assert_error(403, "M_FORBIDDEN");
    raw.delete(&path, auth("hal's password")).await.assert_ok();
    raw.get(&path).await.assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn unknown_devices_are_not_found() {
    let server = TestServer::start().await;
    let raw = server.raw();
    let (_, token, _) = raw.register("ivy", "ivy's password").await;
    let raw = raw.with_token(token);
    raw.get("/_matrix/client/v3/devices/NOSUCHDEVICE")
        .await
        .assert_error(404, "M_NOT_FOUND");
    raw.put(
        "/_matrix/client/v3/devices/NOSUCHDEVICE",
        json!({"display_name": "x"}),
    )
    .await
    .assert_error(404, "M_NOT_FOUND");
    // Another user's device is invisible too.
    let (_, _, other_device) = server.raw().register("jay", "jay's password").await;
    raw.get(&format!("/_matrix/client/v3/devices/{other_device}"))
        .await
        .assert_error(404, "M_NOT_FOUND");
}
