//! Application services (BRIDGES.md §1–§3) against a fake service on loopback: registration
//! files, registering ghosts past closed registration, masquerading as them and their
//! devices, exclusive namespaces both ways, the questions the server asks the service
//! (unknown ghosts and aliases, third-party networks) and what bridged users may do that
//! people may not. Transactions are in `appservice_delivery`.

use estafette_tests::{FakeAppservice, RawClient, TestServer};
use serde_json::{Value, json};

use crate::appservice_delivery::join_as;
use crate::room_helpers::{create_room, user};

/// A server with the service registered; registration for people open or not.
pub(crate) async fn server_with(service: &FakeAppservice, open: bool) -> TestServer {
    let registration = service.registration.clone();
    TestServer::builder()
        .configure(move |config| {
            config.registration.open = open;
            config.appservices.files = vec![registration];
        })
        .start()
        .await
}

/// The service's client: its token, acting as `user_id` when given.
pub(crate) fn as_client(server: &TestServer, service: &FakeAppservice) -> RawClient {
    server.raw().with_token(service.as_token.clone())
}

pub(crate) fn user_id(server: &TestServer, localpart: &str) -> String {
    format!("@{localpart}:{}", server.server_name())
}

pub(crate) async fn register_ghost(bridge: &RawClient, localpart: &str) -> Value {
    bridge
        .post(
            "/_matrix/client/v3/register",
            json!({"type": "m.login.application_service", "username": localpart,
                   "inhibit_login": true}),
        )
        .await
        .body
}

#[tokio::test]
async fn ghosts_register_past_closed_registration_and_are_the_service_s_alone() {
    let service = FakeAppservice::start("bridge", "").await;
    let server = server_with(&service, false).await;
    let bridge = as_client(&server, &service);
    let ghost = user_id(&server, "_test_alice");
    assert_eq!(
        register_ghost(&bridge, "_test_alice").await["user_id"],
        ghost
    );
    // Again: taken, which every library counts as registered.
    bridge
        .post(
            "/_matrix/client/v3/register",
            json!({"type": "m.login.application_service", "username": "_test_alice",
                   "inhibit_login": true}),
        )
        .await
        .assert_error(400, "M_USER_IN_USE");
    // Outside its namespace.
    bridge
        .post(
            "/_matrix/client/v3/register",
            json!({"type": "m.login.application_service", "username": "someone",
                   "inhibit_login": true}),
        )
        .await
        .assert_error(400, "M_EXCLUSIVE");
    // Without the service's token, and with a wrong one.
    let anonymous = server.raw();
    anonymous
        .post(
            "/_matrix/client/v3/register",
            json!({"type": "m.login.application_service", "username": "_test_bob"}),
        )
        .await
        .assert_error(401, "M_MISSING_TOKEN");
    server
        .raw()
        .with_token("not-a-token")
        .post(
            "/_matrix/client/v3/register",
            json!({"type": "m.login.application_service", "username": "_test_bob"}),
        )
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    // Without inhibit_login: a session, as older bridges ask.
    let session = bridge
        .post(
            "/_matrix/client/v3/register",
            json!({"type": "m.login.application_service", "username": "_test_carol"}),
        )
        .await;
    session.assert_ok();
    let carol = server
        .raw()
        .with_token(session.body["access_token"].as_str().unwrap());
    let whoami = carol.get("/_matrix/client/v3/account/whoami").await;
    assert_eq!(whoami.body["user_id"], user_id(&server, "_test_carol"));

    // People cannot take a name or an alias of the exclusive namespaces.
    let open = server_with(&service, true).await;
    open.raw()
        .post(
            "/_matrix/client/v3/register",
            json!({"username": "bridged_bridge_mallory", "password": "a long password",
                   "auth": {"type": "m.login.dummy"}}),
        )
        .await
        .assert_error(400, "M_EXCLUSIVE");
    open.raw()
        .get("/_matrix/client/v3/register/available?username=bridged_bridge_mallory")
        .await
        .assert_error(400, "M_EXCLUSIVE");
    let (_, alice) = user(open.raw(), "alice").await;
    let room = create_room(&alice, json!({})).await;
    let alias = format!("#bridged_bridge_room:{}", open.server_name());
    alice
        .put(
            &format!("/_matrix/client/v3/directory/room/{}", urlencode(&alias)),
            json!({"room_id": room}),
        )
        .await
        .assert_error(400, "M_EXCLUSIVE");
    let plain = format!("#plain:{}", open.server_name());
    alice
        .put(
            &format!("/_matrix/client/v3/directory/room/{}", urlencode(&plain)),
            json!({"room_id": room}),
        )
        .await
        .assert_ok();
}

#[tokio::test]
async fn the_service_masquerades_only_as_its_registered_users_and_their_devices() {
    let service = FakeAppservice::start("bridge", "").await;
    let server = server_with(&service, true).await;
    let bridge = as_client(&server, &service);
    // The sender exists from the start: whoami without user_id answers it, device-less.
    let whoami = bridge.get("/_matrix/client/v3/account/whoami").await;
    whoami.assert_ok();
    assert_eq!(
        whoami.body["user_id"],
        user_id(&server, &service.sender_localpart)
    );
    assert!(whoami.body.get("device_id").is_none(), "{whoami:?}");
    let ghost = user_id(&server, "_test_dave");
    let as_ghost = |path: &str| format!("{path}?user_id={}", urlencode(&ghost));
    // Not registered yet: 403, which makes mautrix-go register it.
    bridge
        .get(&as_ghost("/_matrix/client/versions"))
        .await
        .assert_error(403, "M_FORBIDDEN");
    bridge
        .get(&as_ghost("/_matrix/client/v3/account/whoami"))
        .await
        .assert_error(403, "M_FORBIDDEN");
    register_ghost(&bridge, "_test_dave").await;
    let whoami = bridge
        .get(&as_ghost("/_matrix/client/v3/account/whoami"))
        .await;
    assert_eq!(whoami.body["user_id"], ghost);
    // A user outside the namespace, even one that exists.
    let (alice_id, _alice) = user(server.raw(), "alice").await;
    bridge
        .get(&format!(
            "/_matrix/client/v3/account/whoami?user_id={}",
            urlencode(&alice_id)
        ))
        .await
        .assert_error(403, "M_FORBIDDEN");
    // Devices (MSC4190): unknown, then created (201), then there (200).
    let with_device = |device: &str, key: &str| {
        format!(
            "/_matrix/client/v3/account/whoami?user_id={}&{key}={device}",
            urlencode(&ghost)
        )
    };
    bridge
        .get(&with_device("BRIDGEDEV", "device_id"))
        .await
        .assert_error(400, "M_UNKNOWN_DEVICE");
    let created = bridge
        .put(
            &as_ghost("/_matrix/client/v3/devices/BRIDGEDEV"),
            json!({"display_name": "Bridge"}),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let again = bridge
        .put(&as_ghost("/_matrix/client/v3/devices/BRIDGEDEV"), json!({}))
        .await;
    assert_eq!(again.status, 200, "{again:?}");
    // bot-sdk names the device with the unstable parameter only.
    for key in ["device_id", "org.matrix.msc3202.device_id"] {
        let whoami = bridge.get(&with_device("BRIDGEDEV", key)).await;
        assert_eq!(whoami.body["device_id"], "BRIDGEDEV", "{whoami:?}");
    }
    // Deleting it needs no second authentication from the service.
    bridge
        .delete(&as_ghost("/_matrix/client/v3/devices/BRIDGEDEV"), json!({}))
        .await
        .assert_ok();
    bridge
        .get(&with_device("BRIDGEDEV", "device_id"))
        .await
        .assert_error(400, "M_UNKNOWN_DEVICE");
    // Keys belong to a device: none is named, none is written.
    bridge
        .post(
            &as_ghost("/_matrix/client/v3/keys/upload"),
            json!({"one_time_keys": {"signed_curve25519:AAAA": {"key": "k"}}}),
        )
        .await
        .assert_error(400, "M_MISSING_PARAM");
    // The service's login type is offered, and logs a ghost in.
    let flows = server.raw().get("/_matrix/client/v3/login").await;
    assert!(
        flows.body["flows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["type"] == "m.login.application_service"),
        "{flows:?}"
    );
    let login = bridge
        .post(
            "/_matrix/client/v3/login",
            json!({"type": "m.login.application_service",
                   "identifier": {"type": "m.id.user", "user": "_test_dave"}}),
        )
        .await;
    login.assert_ok();
    assert_eq!(login.body["user_id"], ghost);
    bridge
        .post(
            "/_matrix/client/v3/login",
            json!({"type": "m.login.application_service",
                   "identifier": {"type": "m.id.user", "user": "alice"}}),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
}

pub(crate) fn urlencode(value: &str) -> String {
    value
        .replace('@', "%40")
        .replace(':', "%3A")
        .replace('#', "%23")
}

#[tokio::test]
async fn a_wrong_registration_file_stops_the_server_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken-bridge.yaml");
    std::fs::write(
        &path,
        "id: broken\nas_token: a\nhs_token: h\nsender_localpart: bot\nnamespaces: {}\n",
    )
    .unwrap();
    let mut config = estafette::core::Config::default();
    config.data_dir = dir.path().join("data");
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.appservices.files = vec![path];
    let err = estafette::RunningServer::start(config, estafette::Runtime::default())
        .await
        .err()
        .expect("the server must refuse to start")
        .to_string();
    assert!(
        err.contains("broken-bridge.yaml") && err.contains("url"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_ghosts_and_aliases_are_asked_of_the_service_that_may_create_them() {
    let service = FakeAppservice::start("bridge", "").await;
    let server = server_with(&service, true).await;
    let (_, alice) = user(server.raw(), "alice").await;
    let room = create_room(&alice, json!({})).await;
    let ghost = user_id(&server, "_test_joan");
    let alias = format!("#bridged_bridge_portal:{}", server.server_name());
    // The service does not know them: the invite and the join fail, after asking it.
    alice
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/invite"),
            json!({"user_id": ghost}),
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
    assert_eq!(service.user_queries(), vec![ghost.clone()]);
    alice
        .post(
            &format!("/_matrix/client/v3/join/{}", urlencode(&alias)),
            json!({}),
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
    assert_eq!(service.alias_queries(), vec![alias.clone()]);
    // A user outside every namespace is not asked about.
    let outsider = user_id(&server, "nobody");
    alice
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/invite"),
            json!({"user_id": outsider}),
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
    assert_eq!(service.user_queries().len(), 1);
    // Now it creates them when asked: the invite reaches the new ghost, the join the portal.
    service.create_on_query(&server.base_url());
    alice
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/invite"),
            json!({"user_id": ghost}),
        )
        .await
        .assert_ok();
    service
        .wait_for_event(|e| {
            e["state_key"] == ghost.as_str() && e["content"]["membership"] == "invite"
        })
        .await;
    let joined = alice
        .post(
            &format!("/_matrix/client/v3/join/{}", urlencode(&alias)),
            json!({}),
        )
        .await;
    joined.assert_ok();
    let resolved = alice
        .get(&format!(
            "/_matrix/client/v3/directory/room/{}",
            urlencode(&alias)
        ))
        .await;
    assert_eq!(resolved.body["room_id"], joined.body["room_id"]);
}

#[tokio::test]
async fn bridged_users_keep_their_names_and_the_service_sees_rooms_its_users_are_in() {
    let service = FakeAppservice::start("bridge", "").await;
    let registration = service.registration.clone();
    let server = TestServer::builder()
        .configure(move |config| {
            config.appservices.files = vec![registration];
            config.policy.lock_displayname = true;
        })
        .start()
        .await;
    let bridge = as_client(&server, &service);
    let ghost = user_id(&server, "_test_kim");
    register_ghost(&bridge, "_test_kim").await;
    let as_ghost = format!("user_id={}", urlencode(&ghost));
    // Tchap's name lock is for people; a bridged user's name comes from the other network.
    bridge
        .put(
            &format!(
                "/_matrix/client/v3/profile/{}/displayname?{as_ghost}",
                urlencode(&ghost)
            ),
            json!({"displayname": "Kim (Signal)"}),
        )
        .await
        .assert_ok();
    let (alice_id, alice) = user(server.raw(), "alice").await;
    alice
        .put(
            &format!(
                "/_matrix/client/v3/profile/{}/displayname",
                urlencode(&alice_id)
            ),
            json!({"displayname": "Not Alice"}),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
    // The service's own user is in no room, yet sees the members of one its ghost is in.
    let room = create_room(&alice, json!({"preset": "public_chat"})).await;
    let members_path = format!("/_matrix/client/v3/rooms/{room}/joined_members");
    bridge
        .get(&members_path)
        .await
        .assert_error(403, "M_FORBIDDEN");
    bridge
        .post(
            &format!("/_matrix/client/v3/join/{room}?{as_ghost}"),
            json!({}),
        )
        .await
        .assert_ok();
    let members = bridge.get(&members_path).await;
    members.assert_ok();
    assert_eq!(
        members.body["joined"][ghost.as_str()]["display_name"],
        "Kim (Signal)"
    );
    assert!(members.body["joined"][alice_id.as_str()].is_object());
}

#[tokio::test]
async fn the_networks_services_bridge_are_listed_and_searched_through_them() {
    let irc = FakeAppservice::start("irc", "protocols: [irc]\n").await;
    let other = FakeAppservice::start_with_users("other", "@_node_.*").await;
    let files = vec![irc.registration.clone(), other.registration.clone()];
    let server = TestServer::builder()
        .configure(move |config| config.appservices.files = files)
        .start()
        .await;
    let (_, alice) = user(server.raw(), "alice").await;
    let protocols = alice.get("/_matrix/client/v3/thirdparty/protocols").await;
    protocols.assert_ok();
    let irc_protocol = &protocols.body["irc"];
    assert_eq!(irc_protocol["instances"][0]["desc"], "Libera.Chat");
    assert_eq!(irc_protocol["instances"][0]["instance_id"], "irc|libera");
    assert_eq!(
        protocols.body.as_object().unwrap().len(),
        1,
        "{protocols:?}"
    );
    let one = alice
        .get("/_matrix/client/v3/thirdparty/protocol/irc")
        .await;
    assert_eq!(one.body["user_fields"], json!(["network", "nickname"]));
    alice
        .get("/_matrix/client/v3/thirdparty/protocol/xmpp")
        .await
        .assert_error(404, "M_NOT_FOUND");
    let users = alice
        .get("/_matrix/client/v3/thirdparty/user/irc?network=libera&nickname=bob")
        .await;
    users.assert_ok();
    let found = users.body.as_array().unwrap();
    assert_eq!(
        found.len(),
        1,
        "the item without userid is dropped: {found:?}"
    );
    assert_eq!(found[0]["fields"]["nickname"], "bob");
    // Only for signed-in users.
    server
        .raw()
        .get("/_matrix/client/v3/thirdparty/protocols")
        .await
        .assert_error(401, "M_MISSING_TOKEN");
}

#[tokio::test]
async fn the_token_is_accepted_only_from_the_registration_s_addresses() {
    for (ranges, accepted) in [
        ("['10.0.0.0/8', '192.0.2.7']", false),
        ("['10.0.0.0/8', '127.0.0.1']", true),
        ("['127.0.0.0/8']", true),
    ] {
        let extra = format!("ip_range_whitelist: {ranges}\n");
        let service = FakeAppservice::start("ranged", &extra).await;
        let server = server_with(&service, false).await;
        let whoami = as_client(&server, &service)
            .get("/_matrix/client/v3/account/whoami")
            .await;
        if accepted {
            whoami.assert_ok();
        } else {
            whoami.assert_error(401, "M_UNKNOWN_TOKEN");
        }
    }
}

/// A ministry under the room access rules, with the service registered; its users are
/// externals when `externals`.
async fn ministry_with(service: &FakeAppservice, externals: bool) -> TestServer {
    let (registration, id) = (service.registration.clone(), service.id.clone());
    TestServer::builder()
        .configure(move |config| {
            config.policy.room_access_rules = true;
            config.policy.external_servers = vec!["externe.example".to_owned()];
            config.appservices.files = vec![registration];
            if externals {
                config.appservices.externals = vec![id];
            }
        })
        .start()
        .await
}

#[tokio::test]
async fn a_bridge_s_users_are_externals_only_when_the_operator_says_so() {
    for externals in [false, true] {
        let service = FakeAppservice::start("outside", "").await;
        let server = ministry_with(&service, externals).await;
        let bridge = as_client(&server, &service);
        let ghost = user_id(&server, "_test_paul");
        register_ghost(&bridge, "_test_paul").await;
        let (_, alice) = user(server.raw(), "alice").await;
        let room_ruled = |rule: &str| {
            json!({"preset": "private_chat", "initial_state": [
                {"type": "im.vector.room.access_rules", "state_key": "", "content": {"rule": rule}}]})
        };
        let restricted = create_room(&alice, room_ruled("restricted")).await;
        let invited = alice
            .post(
                &format!("/_matrix/client/v3/rooms/{restricted}/invite"),
                json!({"user_id": ghost}),
            )
            .await;
        let unrestricted = create_room(&alice, room_ruled("unrestricted")).await;
        alice
            .post(
                &format!("/_matrix/client/v3/rooms/{unrestricted}/invite"),
                json!({"user_id": ghost}),
            )
            .await
            .assert_ok();
        join_as(&bridge, &unrestricted, &ghost).await;
        let created = bridge
            .post(
                &format!(
                    "/_matrix/client/v3/createRoom?user_id={}",
                    urlencode(&ghost)
                ),
                json!({"preset": "private_chat"}),
            )
            .await;
        if externals {
            invited.assert_error(403, "M_FORBIDDEN");
            let why = invited.body["error"].as_str().unwrap_or_default();
            assert!(why.contains("access rules"), "{why}");
            created.assert_error(403, "M_FORBIDDEN");
        } else {
            invited.assert_ok();
            created.assert_ok();
        }
    }
}

#[tokio::test]
async fn a_bridge_creating_users_and_devices_meets_its_own_high_limit_even_unlimited() {
    let service = FakeAppservice::start("burst", "").await;
    let registration = service.registration.clone();
    let server = TestServer::builder()
        .configure(move |config| {
            config.appservices.files = vec![registration];
            config.rate_limit.enabled = true;
            config.rate_limit.appservice_per_second = 0.01;
            config.rate_limit.appservice_burst = 3;
        })
        .start()
        .await;
    let bridge = as_client(&server, &service);
    for n in 0..2 {
        let registered = register_ghost(&bridge, &format!("_test_g{n}")).await;
        assert!(registered["user_id"].is_string(), "{registered}");
    }
    let ghost = user_id(&server, "_test_g0");
    let device = bridge
        .put(
            &format!(
                "/_matrix/client/v3/devices/GDEV?user_id={}",
                urlencode(&ghost)
            ),
            json!({}),
        )
        .await;
    assert_eq!(device.status, 201, "{}", device.body);
    let refused = bridge
        .post(
            "/_matrix/client/v3/register",
            json!({"type": "m.login.application_service", "username": "_test_g9",
                   "inhibit_login": true}),
        )
        .await;
    refused.assert_error(429, "M_LIMIT_EXCEEDED");
    assert!(
        refused.body["retry_after_ms"].as_u64().is_some(),
        "{}",
        refused.body
    );
    // Messages are still not limited (`rate_limited: false`).
    let (_, alice) = user(server.raw(), "alice").await;
    let room = create_room(&alice, json!({"preset": "public_chat"})).await;
    join_as(&bridge, &room, &ghost).await;
    for n in 0..20 {
        bridge
            .put(
                &format!(
                    "/_matrix/client/v3/rooms/{room}/send/m.room.message/t{n}?user_id={}",
                    urlencode(&ghost)
                ),
                json!({"msgtype": "m.text", "body": "relayed"}),
            )
            .await
            .assert_ok();
    }
}
