//! The Synapse-compatible admin API as operators' tools call it (SYNAPSE_ADMIN.md), each
//! scenario run against Estafette and against a real Synapse 1.163.2: a shape that passes on
//! one and not on the other is wrong. Accounts (list v2/v3, one account, its devices), rooms
//! (details, members, state), the server's version, and who may call.

use estafette_tests::{RawClient, SHARED_SECRET, SynapseServer, TestServer};
use serde_json::{Value, json};

use crate::room_helpers::create_room;
use crate::servers::mac;

/// A server under test: its client API and its name.
struct Target {
    raw: RawClient,
    server_name: String,
    label: &'static str,
}

/// Registers `username` through shared-secret registration (an administrator when `admin`),
/// as `register_new_matrix_user` does; their access token.
async fn provision(raw: &RawClient, username: &str, admin: bool) -> String {
    let nonce = raw.get("/_synapse/admin/v1/register").await.body["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let password = format!("{username}-Passw0rd-long");
    let registered = raw
        .post(
            "/_synapse/admin/v1/register",
            json!({"nonce": nonce, "username": username, "password": password, "admin": admin,
                   "mac": mac(SHARED_SECRET, &nonce, username, &password, admin)}),
        )
        .await;
    registered.assert_ok();
    registered.body["access_token"].as_str().unwrap().to_owned()
}

async fn scenario(target: &Target) {
    let label = target.label;
    let raw = &target.raw;
    let user = |name: &str| format!("@{name}:{}", target.server_name);
    let version = raw.get("/_synapse/admin/v1/server_version").await;
    version.assert_ok();
    assert!(version.body["server_version"].is_string(), "{label}");

    let admin = raw.clone_with(&provision(raw, "root", true).await);
    let alice = raw.clone_with(&provision(raw, "alice", false).await);
    provision(raw, "bob", false).await;
    alice
        .put(
            &format!("/_matrix/client/v3/profile/{}/displayname", user("alice")),
            json!({"displayname": "Alice Martin"}),
        )
        .await
        .assert_ok();

    // Who may call: an administrator only; no token at all is 401.
    alice
        .get("/_synapse/admin/v2/users")
        .await
        .assert_error(403, "M_FORBIDDEN");
    raw.get("/_synapse/admin/v2/users")
        .await
        .assert_error(401, "M_MISSING_TOKEN");

    // The list, as the UIs page it and the Tchap bot reads it.
    let page = admin
        .get("/_synapse/admin/v2/users?from=0&limit=2&guests=false&order_by=name&dir=f")
        .await;
    page.assert_ok();
    assert_eq!(page.body["total"], 3, "{label}: {}", page.body);
    let names: Vec<&Value> = page.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| &u["name"])
        .collect();
    assert_eq!(
        names,
        [&json!(user("alice")), &json!(user("bob"))],
        "{label}"
    );
    assert_eq!(page.body["next_token"], "2", "{label}");
    let first = &page.body["users"][0];
    assert_eq!(first["displayname"], "Alice Martin", "{label}");
    assert_eq!(first["admin"], false, "{label}");
    assert_eq!(first["deactivated"], false, "{label}");
    assert_eq!(first["is_guest"], false, "{label}");
    let created = first["creation_ts"].as_u64().unwrap();
    assert!(
        created > 10_000_000_000,
        "{label}: milliseconds in the list: {created}"
    );
    let last = admin.get("/_synapse/admin/v2/users?from=2&limit=2").await;
    assert!(
        last.body.get("next_token").is_none(),
        "{label}: {}",
        last.body
    );
    let by_name = admin.get("/_synapse/admin/v3/users?name=MARTIN").await;
    assert_eq!(by_name.body["total"], 1, "{label}: {}", by_name.body);
    let admins = admin.get("/_synapse/admin/v2/users?admins=true").await;
    assert_eq!(admins.body["users"][0]["name"], user("root"), "{label}");
    admin
        .get("/_synapse/admin/v2/users?admins=yes")
        .await
        .assert_error(400, "M_INVALID_PARAM");
    admin
        .get("/_synapse/admin/v2/users?order_by=height")
        .await
        .assert_error(400, "M_INVALID_PARAM");

    // One account: creation in seconds there; its devices.
    let one = admin
        .get(&format!("/_synapse/admin/v2/users/{}", user("alice")))
        .await;
    one.assert_ok();
    let seconds = one.body["creation_ts"].as_u64().unwrap();
    assert!(
        seconds < 10_000_000_000,
        "{label}: seconds in the detail: {seconds}"
    );
    assert!(one.body.get("last_seen_ts").is_some(), "{label}");
    assert_eq!(one.body["threepids"], json!([]), "{label}");
    admin
        .get(&format!("/_synapse/admin/v2/users/{}", user("nobody")))
        .await
        .assert_error(404, "M_NOT_FOUND");
    let devices = admin
        .get(&format!(
            "/_synapse/admin/v2/users/{}/devices?from=0&limit=10&order_by=id",
            user("alice").replace('@', "%40").replace(':', "%3A")
        ))
        .await;
    devices.assert_ok();
    assert_eq!(devices.body["total"], 1, "{label}: {}", devices.body);
    assert_eq!(
        devices.body["devices"][0]["user_id"],
        user("alice"),
        "{label}"
    );

    // A room: details, joined members, state.
    let room = create_room(
        &alice,
        json!({"preset": "public_chat", "name": "Cellule de crise", "topic": "Astreinte"}),
    )
    .await;
    let details = admin.get(&format!("/_synapse/admin/v1/rooms/{room}")).await;
    details.assert_ok();
    let d = &details.body;
    assert_eq!(d["room_id"], room.as_str(), "{label}");
    assert_eq!(d["name"], "Cellule de crise", "{label}");
    assert_eq!(d["topic"], "Astreinte", "{label}");
    assert_eq!(d["joined_members"], 1, "{label}");
    assert_eq!(d["joined_local_members"], 1, "{label}");
    assert_eq!(d["creator"], user("alice"), "{label}");
    assert_eq!(d["join_rules"], "public", "{label}");
    assert_eq!(d["federatable"], true, "{label}");
    assert_eq!(d["encryption"], Value::Null, "{label}");
    assert!(d["version"].is_string(), "{label}");
    assert!(d["state_events"].as_u64().unwrap() >= 5, "{label}");
    let members = admin
        .get(&format!("/_synapse/admin/v1/rooms/{room}/members"))
        .await;
    assert_eq!(members.body["members"], json!([user("alice")]), "{label}");
    assert_eq!(members.body["total"], 1, "{label}");
    let state = admin
        .get(&format!("/_synapse/admin/v1/rooms/{room}/state"))
        .await;
    let kinds: Vec<&str> = state.body["state"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(
        kinds.contains(&"m.room.create") && kinds.contains(&"m.room.topic"),
        "{label}"
    );
    let unknown = format!("!unknown:{}", target.server_name);
    admin
        .get(&format!("/_synapse/admin/v1/rooms/{unknown}"))
        .await
        .assert_error(404, "M_NOT_FOUND");
    support_requests(target, &admin, &alice, &room).await;
}

/// What Tchap's admin bot does for support requests (SYNAPSE_ADMIN.md §4): a user's rooms,
/// memberships, pushers and connections; a new password that signs them out; one device
/// signed out; an account deactivated.
async fn support_requests(target: &Target, admin: &RawClient, alice: &RawClient, room: &str) {
    let label = target.label;
    let raw = &target.raw;
    let user = |name: &str| format!("@{name}:{}", target.server_name);
    let alice_id = user("alice");
    let joined = admin
        .get(&format!("/_synapse/admin/v1/users/{alice_id}/joined_rooms"))
        .await;
    assert_eq!(
        joined.body,
        json!({"joined_rooms": [room], "total": 1}),
        "{label}"
    );
    let memberships = admin
        .get(&format!("/_synapse/admin/v1/users/{alice_id}/memberships"))
        .await;
    assert_eq!(memberships.body["memberships"][room], "join", "{label}");
    alice
        .post(
            "/_matrix/client/v3/pushers/set",
            json!({"kind": "http", "app_id": "fr.gouv.tchap", "pushkey": "alice-phone",
                   "app_display_name": "Tchap", "device_display_name": "Téléphone",
                   "lang": "fr", "data": {"url": "https://push.example/_matrix/push/v1/notify",
                                           "format": "event_id_only"}}),
        )
        .await
        .assert_ok();
    let pushers = admin
        .get(&format!("/_synapse/admin/v1/users/{alice_id}/pushers"))
        .await;
    assert_eq!(pushers.body["total"], 1, "{label}: {}", pushers.body);
    assert_eq!(
        pushers.body["pushers"][0]["pushkey"], "alice-phone",
        "{label}"
    );
    assert_eq!(
        pushers.body["pushers"][0]["data"]["format"], "event_id_only",
        "{label}"
    );

    // Connections: an administrator, or Alice about herself; not Bob.
    let whois = admin
        .get(&format!("/_synapse/admin/v1/whois/{alice_id}"))
        .await;
    whois.assert_ok();
    assert_eq!(whois.body["user_id"], alice_id.as_str(), "{label}");
    // Synapse keeps every connection under one empty device key; the UIs read it so.
    let connections = &whois.body["devices"][""]["sessions"][0]["connections"];
    assert!(connections.is_array(), "{label}: {}", whois.body);
    assert_eq!(
        whois.body["devices"].as_object().map(|d| d.len()),
        Some(1),
        "{label}"
    );
    alice
        .get(&format!("/_synapse/admin/v1/whois/{alice_id}"))
        .await
        .assert_ok();
    let bob = raw.clone_with(&login(raw, "bob").await);
    bob.get(&format!("/_synapse/admin/v1/whois/{alice_id}"))
        .await
        .assert_error(403, "M_FORBIDDEN");

    // A new password, sent as the bot sends it (text/plain), signs Alice out.
    admin
        .post(
            &format!("/_synapse/admin/v1/reset_password/{alice_id}"),
            json!({}),
        )
        .await
        .assert_error(400, "M_MISSING_PARAM");
    let reset = reqwest::Client::new()
        .post(format!(
            "{}/_synapse/admin/v1/reset_password/{alice_id}",
            raw.base_url()
        ))
        .bearer_auth(admin.token_for_tests())
        .header("content-type", "text/plain")
        .body(
            json!({"new_password": "q7x0k2m9v4b8n1c6z3l5h0j2g7f4d9s1", "logout_devices": true})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200, "{label}");
    alice
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    let logged_in = raw
        .post(
            "/_matrix/client/v3/login",
            json!({"type": "m.login.password", "password": "q7x0k2m9v4b8n1c6z3l5h0j2g7f4d9s1",
                   "identifier": {"type": "m.id.user", "user": "alice"}}),
        )
        .await;
    logged_in.assert_ok();
    let alice = raw.clone_with(logged_in.body["access_token"].as_str().unwrap());
    let device = logged_in.body["device_id"].as_str().unwrap().to_owned();

    // One device signed out.
    let deleted = admin
        .delete(
            &format!("/_synapse/admin/v2/users/{alice_id}/devices/{device}"),
            json!({}),
        )
        .await;
    deleted.assert_ok();
    alice
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    let devices = admin
        .get(&format!("/_synapse/admin/v2/users/{alice_id}/devices"))
        .await;
    assert_eq!(devices.body["total"], 0, "{label}: {}", devices.body);

    // Bob's account deactivated: gone from the v2 list unless asked for.
    let bob_id = user("bob");
    admin
        .post(
            &format!("/_synapse/admin/v1/deactivate/{bob_id}"),
            json!({"erase": "yes"}),
        )
        .await
        .assert_error(400, "M_BAD_JSON");
    let deactivated = admin
        .post(
            &format!("/_synapse/admin/v1/deactivate/{bob_id}"),
            json!({"erase": false}),
        )
        .await;
    deactivated.assert_ok();
    assert_eq!(
        deactivated.body["id_server_unbind_result"], "success",
        "{label}"
    );
    bob.get("/_matrix/client/v3/account/whoami")
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
    let active = admin.get("/_synapse/admin/v2/users").await;
    assert_eq!(active.body["total"], 2, "{label}: {}", active.body);
    let all = admin.get("/_synapse/admin/v2/users?deactivated=true").await;
    assert_eq!(all.body["total"], 3, "{label}");
    let only = admin.get("/_synapse/admin/v3/users?deactivated=true").await;
    assert_eq!(only.body["users"][0]["name"], bob_id.as_str(), "{label}");
    assert_eq!(only.body["users"][0]["deactivated"], true, "{label}");
}

/// Logs `username` in with the password [`provision`] gave them.
async fn login(raw: &RawClient, username: &str) -> String {
    let response = raw
        .post(
            "/_matrix/client/v3/login",
            json!({"type": "m.login.password", "password": format!("{username}-Passw0rd-long"),
                   "identifier": {"type": "m.id.user", "user": username}}),
        )
        .await;
    response.assert_ok();
    response.body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn operators_tools_read_accounts_and_rooms_alike_on_estafette_and_synapse() {
    let estafette = TestServer::builder()
        .configure(|config| config.registration.shared_secret = SHARED_SECRET.into())
        .start()
        .await;
    scenario(&Target {
        raw: estafette.raw(),
        server_name: estafette.server_name().to_string(),
        label: "Estafette",
    })
    .await;
    let synapse = SynapseServer::start().await;
    scenario(&Target {
        raw: synapse.raw(),
        server_name: synapse.server_name(),
        label: "Synapse",
    })
    .await;
}
