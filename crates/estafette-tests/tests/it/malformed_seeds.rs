//! A well-formed body for every endpoint that takes one: the malformed-input sweep breaks
//! each of its fields in turn (wrong type, missing, huge, invalid identifier), so that each
//! field reaches the code that uses it rather than failing on its neighbour.

use serde_json::{Value, json};

/// The identifiers a seed may name.
pub(crate) struct SeedIds<'a> {
    pub user_id: &'a str,
    pub room_id: &'a str,
    pub event_id: &'a str,
    pub server_name: &'a str,
}

/// The seed body of `METHOD template`, or `None` for an endpoint without a JSON body.
pub(crate) fn seed(method: &str, template: &str, ids: &SeedIds<'_>) -> Option<Value> {
    let SeedIds {
        user_id,
        room_id,
        event_id,
        server_name,
    } = *ids;
    let remote = format!("@someone:{server_name}");
    let auth = json!({"type": "m.login.password", "session": "none",
        "identifier": {"type": "m.id.user", "user": user_id}, "password": "wrong"});
    let member_event = json!({"type": "m.room.member", "room_id": room_id, "sender": remote,
        "state_key": remote, "content": {"membership": "join"}, "origin_server_ts": 1,
        "depth": 5, "prev_events": [event_id], "auth_events": [event_id]});
    let key = json!({"user_id": user_id, "usage": ["master"], "keys": {"ed25519:K": "K"}});
    let signed_invite = json!({"mxid": user_id, "sender": user_id, "token": "sweep",
        "signatures": {server_name: {"ed25519:0": "c2lnbmF0dXJl"}}});
    let path = template
        .trim_start_matches("/_matrix/client/v3")
        .trim_start_matches("/_matrix/client/v1")
        .trim_start_matches("/_matrix/client/unstable/org.matrix.msc3814.v1");
    let body = match (method, path) {
        (
            "POST",
            "/_matrix/media_proxy/unstable/download_encrypted"
            | "/_matrix/media_proxy/unstable/scan_encrypted",
        ) => json!({"file": {"v": "v2", "url": format!("mxc://{server_name}/sweep"),
            "key": {"kty": "oct", "alg": "A256CTR", "ext": true, "key_ops": ["encrypt", "decrypt"],
                "k": "qcHVMSgYg-71CauWBezXI5qkaRb0LuIy-Wx5kIaHMIA"},
            "iv": "X85+XgHN+HEAAAAAAAAAAA",
            "hashes": {"sha256": "5qG4fFnbbVdlAB1Q72JDKwCagV6Dbkx9uds4rSak37c"}}}),
        ("POST", "/login") => json!({"type": "m.login.password", "password": "wrong",
            "identifier": {"type": "m.id.user", "user": user_id}, "device_id": "DEV",
            "initial_device_display_name": "Sweep"}),
        ("POST", "/refresh") => json!({"refresh_token": "ert_unknown"}),
        ("POST", "/login/get_token") => json!({"auth": auth.clone()}),
        ("POST", "/rooms/{room_id}/report/{event_id}") => json!({"reason": "spam", "score": -100}),
        ("POST", "/rooms/{room_id}/report" | "/users/{user_id}/report") => {
            json!({"reason": "spam"})
        }
        (
            "PUT",
            "/_matrix/client/unstable/org.matrix.msc4140/rooms/{room_id}/delayed_event/{event_type}/{txn_id}",
        ) => json!({"delay": 60_000, "content": {"msgtype": "m.text", "body": "later"}}),
        ("POST", "/_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delay_id}") => {
            json!({"action": "cancel"})
        }
        (
            "POST",
            "/_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delay_id}/{action}",
        ) => json!({}),
        ("POST", "/_matrix/client/unstable/io.element.msc4388/rendezvous") => {
            json!({"data": "sweep"})
        }
        ("PUT", "/_matrix/client/unstable/io.element.msc4388/rendezvous/{id}") => {
            json!({"sequence_token": "t", "data": "sweep"})
        }
        // Its payloads are text/plain: a JSON body is itself malformed input for them.
        (
            "POST" | "PUT",
            "/_matrix/client/unstable/org.matrix.msc4108/rendezvous"
            | "/_matrix/client/unstable/org.matrix.msc4108/rendezvous/{id}",
        ) => json!({"data": "sweep"}),
        ("POST", "/oauth2/registration") => json!({"client_uri": "https://app.example.org/",
            "redirect_uris": ["http://127.0.0.1/cb"], "application_type": "native",
            "client_name": "Sweep", "grant_types": ["authorization_code", "refresh_token"]}),
        // Form-encoded endpoints: a JSON body is itself malformed input for them.
        ("POST", "/oauth2/token") => json!({"grant_type": "authorization_code", "code": "c"}),
        ("POST", "/oauth2/revoke") => json!({"token": "t"}),
        ("POST", "/oauth2/device_authorization") => json!({"client_id": "c", "scope": "s"}),
        ("POST", "/oauth2/device") => json!({"user_code": "BCDF-GHJK", "action": "deny"}),
        (
            "PUT",
            "/_matrix/client/unstable/io.element.msc4306/rooms/{room_id}/thread/{thread_root}/subscription",
        ) => json!({"automatic": event_id}),
        ("POST", "/account") => json!({"do": "device_delete", "device_id": "D", "csrf": "c"}),
        ("POST", "/oauth2/authorize") => json!({"grant": "g", "action": "sign_in"}),
        ("POST", "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync") => json!({
            "conn_id": "sweep",
            "lists": {"all": {"ranges": [[0, 9]], "timeline_limit": 1,
                "required_state": [["m.room.member", "$LAZY"]], "filters": {"is_invite": false}}},
            "room_subscriptions": {room_id: {"timeline_limit": 5,
                "required_state": [["*", "*"]]}},
            "extensions": {"to_device": {"enabled": true, "since": "0"},
                "e2ee": {"enabled": true}, "account_data": {"enabled": true},
                "receipts": {"enabled": true, "rooms": ["*"]}, "typing": {"enabled": true}}}),
        (
            "POST",
            "/register/email/requestToken"
            | "/account/password/email/requestToken"
            | "/account/3pid/email/requestToken",
        ) => {
            json!({"client_secret": "sweep-secret", "email": "sweep@example.org", "send_attempt": 1})
        }
        ("POST", "/_matrix/client/unstable/estafette/email/submit_token") => {
            json!({"sid": "sid", "client_secret": "sweep-secret", "token": "token"})
        }
        ("POST", "/logout" | "/logout/all") => json!({}),
        ("POST", "/register") => json!({"username": "newcomer", "password": "a password",
            "device_id": "DEV", "auth": {"type": "m.login.dummy", "session": "none"}}),
        ("POST", "/account/password") => json!({"new_password": "another", "auth": auth}),
        ("POST", "/_synapse/client/email_account_validity/send_mail") => json!({}),
        ("POST", "/_matrix/identity/v2/account/register") => {
            json!({"access_token": "sweep", "token_type": "Bearer",
                "matrix_server_name": server_name, "expires_in": 3600})
        }
        ("POST", "/_matrix/identity/v2/lookup") => {
            json!({"algorithm": "sha256", "pepper": "sweep", "addresses": ["sweep"]})
        }
        ("POST", "/_matrix/identity/v2/terms") => json!({"user_accepts": []}),
        ("POST", "/account/3pid/bind") => {
            json!({"client_secret": "sweep-secret", "sid": "sid", "id_server": "sweep.example",
                "id_access_token": "sweep"})
        }
        ("POST", "/account/3pid/unbind") => {
            json!({"medium": "email", "address": "sweep@example.org", "id_server": "sweep.example"})
        }
        ("POST", "/_matrix/identity/v2/validate/email/requestToken") => {
            json!({"client_secret": "sweep-secret", "email": "sweep@example.org", "send_attempt": 1})
        }
        ("POST", "/_matrix/identity/v2/validate/email/submitToken") => {
            json!({"sid": "sid", "client_secret": "sweep-secret", "token": "token"})
        }
        ("POST", "/_matrix/identity/v2/3pid/bind") => {
            json!({"sid": "sid", "client_secret": "sweep-secret", "mxid": user_id})
        }
        ("POST", "/_matrix/identity/v2/3pid/unbind") => {
            json!({"mxid": user_id, "threepid": {"medium": "email", "address": "sweep@example.org"}})
        }
        ("POST", "/_matrix/identity/v2/account/logout") => json!({}),
        ("POST", "/_matrix/identity/v2/store-invite") => json!({"medium": "email",
            "address": "sweep@example.org", "room_id": room_id, "sender": user_id}),
        ("PUT", "/_matrix/federation/v1/3pid/onbind") => json!({"medium": "email",
            "address": "sweep@example.org", "mxid": user_id, "invites": [{"medium": "email",
            "address": "sweep@example.org", "mxid": user_id, "room_id": room_id,
            "sender": user_id, "signed": signed_invite}]}),
        ("PUT", "/_matrix/federation/v1/exchange_third_party_invite/{room_id}") => {
            json!({"type": "m.room.member", "sender": user_id, "state_key": user_id,
                "content": {"membership": "invite",
                    "third_party_invite": {"display_name": "sweep", "signed": signed_invite}}})
        }
        ("POST", "/_matrix/identity/unstable/estafette/bound") => {
            json!({"medium": "email", "address": "sweep@example.org", "mxid": user_id})
        }
        ("POST", "/_synapse/client/email_account_validity/admin") => {
            json!({"user_id": user_id, "expiration_ts": 1, "enable_renewal_emails": true})
        }
        ("POST", "/account/3pid/add") => {
            json!({"client_secret": "sweep-secret", "sid": "sid", "auth": auth})
        }
        ("POST", "/account/3pid/delete") => {
            json!({"medium": "email", "address": "sweep@example.org"})
        }
        ("POST", "/account/deactivate") => json!({"auth": auth, "erase": false}),
        ("POST", "/user/{user_id}/openid/request_token") => json!({}),
        ("PUT", "/devices/{device_id}") => json!({"display_name": "Sweep"}),
        ("DELETE", "/devices/{device_id}") => json!({"auth": auth}),
        ("POST", "/delete_devices") => json!({"devices": ["DEV"], "auth": auth}),
        ("PUT", "/profile/{user_id}/{field}" | "/profile/{user_id}/displayname") => {
            json!({"displayname": "Sweep"})
        }
        ("PUT", "/profile/{user_id}/avatar_url") => json!({"avatar_url": "mxc://a/b"}),
        ("DELETE", "/profile/{user_id}/{field}") => json!({}),
        ("PUT", "/user/{user_id}/account_data/{event_type}")
        | ("PUT", "/user/{user_id}/rooms/{room_id}/account_data/{event_type}") => {
            json!({"a": [1, {"b": "c"}]})
        }
        ("PUT", "/user/{user_id}/rooms/{room_id}/tags/{tag}") => json!({"order": 0.5}),
        ("DELETE", "/user/{user_id}/rooms/{room_id}/tags/{tag}") => json!({}),
        ("POST", "/user/{user_id}/filter") => json!({"event_fields": ["content.body"],
            "room": {"rooms": [room_id], "timeline": {"limit": 10, "types": ["m.*"],
            "not_senders": [remote], "lazy_load_members": true}, "include_leave": true},
            "presence": {"not_types": ["*"]}}),
        ("POST", "/createRoom") => json!({"name": "Sweep", "topic": "t", "preset": "private_chat",
            "room_alias_name": "sweepalias", "invite": [remote], "room_version": "12",
            "initial_state": [{"type": "m.room.topic", "state_key": "", "content": {"topic": "x"}}],
            "creation_content": {"m.federate": true}, "visibility": "private",
            "power_level_content_override": {"users_default": 0}, "is_direct": false}),
        (
            "POST",
            "/rooms/{room_id}/join" | "/join/{room_id_or_alias}" | "/knock/{room_id_or_alias}",
        ) => {
            json!({"reason": "hello"})
        }
        ("POST", "/rooms/{room_id}/leave" | "/rooms/{room_id}/forget") => json!({"reason": "bye"}),
        (
            "POST",
            "/rooms/{room_id}/invite"
            | "/rooms/{room_id}/kick"
            | "/rooms/{room_id}/ban"
            | "/rooms/{room_id}/unban",
        ) => {
            json!({"user_id": remote, "reason": "sweep"})
        }
        ("PUT", "/rooms/{room_id}/send/{event_type}/{txn_id}") => {
            json!({"msgtype": "m.text", "body": "x", "m.relates_to": {"rel_type": "m.thread", "event_id": event_id}})
        }
        ("PUT", "/rooms/{room_id}/state/{event_type}/{state_key}") => json!({"topic": "x"}),
        ("PUT", "/rooms/{room_id}/typing/{user_id}") => json!({"typing": true, "timeout": 1000}),
        ("POST", "/_estafette/hooks/v1/rooms/{room_id}") => {
            json!({"name": "sweep", "format": "generic", "msgtype": "m.notice"})
        }
        ("POST", "/_estafette/hooks/v1/{hook_id}/rotate") => json!({}),
        ("POST" | "PUT", "/_estafette/hooks/v1/{hook}" | "/_estafette/hooks/v1") => {
            json!({"text": "sweep", "username": "sweep", "blocks": [], "attachments": []})
        }
        ("POST", "/appservice/{appservice_id}/ping")
        | ("POST", "/_matrix/client/unstable/fi.mau.msc2659/appservice/{appservice_id}/ping") => {
            json!({"transaction_id": "sweep"})
        }
        ("POST", "/rooms/{room_id}/receipt/{receipt_type}/{event_id}") => {
            json!({"thread_id": "main"})
        }
        ("POST", "/rooms/{room_id}/read_markers") => {
            json!({"m.fully_read": event_id, "m.read": event_id, "m.read.private": event_id})
        }
        ("PUT", "/rooms/{room_id}/redact/{event_id}/{txn_id}") => json!({"reason": "x"}),
        ("PUT", "/directory/room/{room_alias}") => json!({"room_id": room_id}),
        ("PUT", "/directory/list/room/{room_id}") => json!({"visibility": "private"}),
        ("POST", "/publicRooms") | ("POST", "/_matrix/federation/v1/publicRooms") => {
            json!({"limit": 10, "since": "x", "server": server_name,
            "filter": {"generic_search_term": "x", "room_types": [null, "m.space"]}})
        }
        ("PUT", "/pushrules/global/{kind}/{rule_id}") => json!({"pattern": "x*",
            "actions": ["notify", {"set_tweak": "highlight"}],
            "conditions": [{"kind": "event_match", "key": "content.body", "pattern": "x"}]}),
        ("PUT", "/pushrules/global/{kind}/{rule_id}/enabled") => json!({"enabled": true}),
        ("PUT", "/pushrules/global/{kind}/{rule_id}/actions") => json!({"actions": ["notify"]}),
        ("POST", "/pushers/set") => json!({"pushkey": "k", "kind": "http", "app_id": "a",
            "app_display_name": "A", "device_display_name": "D", "lang": "fr",
            "data": {"url": "https://push.invalid/_matrix/push/v1/notify"}}),
        ("PUT", "/presence/{user_id}/status") => json!({"presence": "online", "status_msg": "x"}),
        ("POST", "/user_directory/search") => json!({"search_term": "sweep", "limit": 10}),
        ("POST", "/search") => json!({"search_categories": {"room_events": {"search_term": "x",
            "keys": ["content.body"], "order_by": "rank", "filter": {"limit": 5, "rooms": [room_id]},
            "event_context": {"before_limit": 1, "after_limit": 1, "include_profile": true},
            "groupings": {"group_by": [{"key": "room_id"}]}}}}),
        ("POST", "/rooms/{room_id}/upgrade") => json!({"new_version": "12"}),
        ("PUT", "/sendToDevice/{event_type}/{txn_id}") => {
            json!({"messages": {user_id: {"DEV": {"a": 1}}, remote.as_str(): {"*": {}}}})
        }
        ("POST", "/keys/upload") => json!({"device_keys": {"user_id": user_id,
            "device_id": "DEV", "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
            "keys": {"ed25519:DEV": "K"}, "signatures": {}},
            "one_time_keys": {"signed_curve25519:AAA": {"key": "K", "signatures": {}}},
            "fallback_keys": {"signed_curve25519:BBB": {"key": "K", "fallback": true}}}),
        ("POST", "/keys/query") | ("POST", "/_matrix/federation/v1/user/keys/query") => {
            json!({"device_keys": {user_id: [], remote.as_str(): ["DEV"]}, "timeout": 1000})
        }
        ("POST", "/keys/claim") | ("POST", "/_matrix/federation/v1/user/keys/claim") => {
            json!({"one_time_keys": {user_id: {"DEV": "signed_curve25519"}}, "timeout": 1000})
        }
        ("POST", "/keys/device_signing/upload") => json!({"master_key": key,
            "self_signing_key": key, "user_signing_key": key, "auth": auth}),
        ("POST", "/keys/signatures/upload") => {
            json!({user_id: {"DEV": {"user_id": user_id, "device_id": "DEV", "signatures": {}}}})
        }
        ("POST", "/room_keys/version") | ("PUT", "/room_keys/version/{version}") => {
            json!({"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
            "auth_data": {"public_key": "K", "signatures": {}}, "version": "1"})
        }
        ("DELETE", "/room_keys/version/{version}") => json!({}),
        ("PUT", "/room_keys/keys") | ("DELETE", "/room_keys/keys") => json!({"rooms": {room_id:
            {"sessions": {"S": {"first_message_index": 1, "forwarded_count": 0,
            "is_verified": true, "session_data": {"ciphertext": "c"}}}}}}),
        ("PUT", "/room_keys/keys/{room_id}") | ("DELETE", "/room_keys/keys/{room_id}") => {
            json!({"sessions": {"S": {"first_message_index": 1, "forwarded_count": 0,
            "is_verified": true, "session_data": {"ciphertext": "c"}}}})
        }
        ("PUT", "/room_keys/keys/{room_id}/{session_id}")
        | ("DELETE", "/room_keys/keys/{room_id}/{session_id}") => json!({"first_message_index": 1,
            "forwarded_count": 0, "is_verified": true, "session_data": {"ciphertext": "c"}}),
        ("PUT", "/dehydrated_device") => json!({"device_id": "DEHYDRATED",
            "initial_device_display_name": "d", "device_data": {"algorithm": "a"},
            "device_keys": {"user_id": user_id, "device_id": "DEHYDRATED",
            "algorithms": [], "keys": {}, "signatures": {}}}),
        ("DELETE", "/dehydrated_device") => json!({}),
        ("POST", "/dehydrated_device/{device_id}/events") => json!({"next_batch": "x"}),
        ("POST", "/_synapse/admin/v1/register") => json!({"nonce": "n", "username": "u",
            "password": "p", "mac": "00", "admin": false, "displayname": "D"}),
        ("POST", "/_synapse/admin/v1/reset_password/{user_id}") => {
            json!({"new_password": "p", "logout_devices": false})
        }
        ("POST", "/_synapse/admin/v1/deactivate/{user_id}") => json!({"erase": false}),
        ("DELETE", "/_synapse/admin/v2/users/{user_id}/devices/{device_id}") => json!({}),
        ("POST", "/_matrix/key/v2/query") => {
            json!({"server_keys": {server_name: {"ed25519:K": {"minimum_valid_until_ts": 1}}}})
        }
        ("POST", "/_matrix/federation/v1/get_missing_events/{room_id}") => {
            json!({"earliest_events": [event_id], "latest_events": [event_id],
            "limit": 10, "min_depth": 0})
        }
        ("PUT", "/_matrix/federation/v2/send_join/{room_id}/{event_id}")
        | ("PUT", "/_matrix/federation/v2/send_leave/{room_id}/{event_id}")
        | ("PUT", "/_matrix/federation/v1/send_knock/{room_id}/{event_id}") => member_event,
        ("PUT", "/_matrix/federation/v2/invite/{room_id}/{event_id}") => {
            json!({"event": member_event, "room_version": "12", "invite_room_state": [member_event]})
        }
        ("PUT", "/_matrix/federation/v1/send/{transaction_id}") => json!({"origin": server_name,
            "origin_server_ts": 1, "pdus": [member_event],
            "edus": [{"edu_type": "m.typing", "content": {"room_id": room_id,
            "user_id": remote, "typing": true}}]}),
        _ => return None,
    };
    Some(body)
}

/// Every way the sweep breaks one part of a body: each node (but the root) replaced by each
/// bad value in turn, and each object key removed.
pub(crate) fn mutations(seed: &Value) -> Vec<Value> {
    // Past SQLite's 50,000-byte LIKE limit, the smallest bound met so far.
    let huge = Value::String("é".repeat(50_000));
    let bad = [
        json!(5),
        json!(-1.5e300),
        json!("x"),
        json!([]),
        json!({}),
        Value::Null,
        json!("@:!#$"),
        huge,
    ];
    let mut out = Vec::new();
    let mut paths = Vec::new();
    collect_paths(seed, &mut Vec::new(), &mut paths);
    for path in paths {
        for value in &bad {
            let mut body = seed.clone();
            if let Some(node) = node_at(&mut body, &path) {
                *node = value.clone();
                out.push(body);
            }
        }
        if let Some((last, parent)) = path.split_last() {
            let mut body = seed.clone();
            if let Some(Value::Object(object)) = node_at(&mut body, parent) {
                object.remove(last.as_str());
                out.push(body);
            }
        }
    }
    out
}

fn collect_paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(object) => object.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => Vec::new(),
    };
    for (key, child) in children {
        prefix.push(key);
        out.push(prefix.clone());
        collect_paths(child, prefix, out);
        prefix.pop();
    }
}

fn node_at<'a>(value: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |node, key| match node {
        Value::Object(object) => object.get_mut(key.as_str()),
        Value::Array(items) => items.get_mut(key.parse::<usize>().ok()?),
        _ => None,
    })
}
