//! Every route of both listeners, swept with malformed input: bodies of the wrong JSON types,
//! missing fields, huge strings, deep nesting, invalid identifiers in the path, garbage query
//! parameters. Each answer must be a Matrix error (or a success), never a 5xx nor a dropped
//! connection, and the server must still serve afterwards.

use estafette::api::Route;
use estafette_tests::{RawResponse, TestServer};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::malformed_seeds::{SeedIds, mutations, seed};
use crate::room_helpers::{create_room, send_text, url_encode};

/// Field names that Matrix request bodies use, given the wrong types all at once.
const FIELDS: &[&str] = &[
    "type",
    "user",
    "user_id",
    "room_id",
    "event_id",
    "body",
    "msgtype",
    "content",
    "auth",
    "session",
    "identifier",
    "password",
    "new_password",
    "device_id",
    "device_ids",
    "initial_device_display_name",
    "display_name",
    "username",
    "refresh_token",
    "token",
    "visibility",
    "room_alias_name",
    "name",
    "topic",
    "invite",
    "invite_3pid",
    "room_version",
    "creation_content",
    "initial_state",
    "preset",
    "is_direct",
    "power_level_content_override",
    "reason",
    "displayname",
    "avatar_url",
    "presence",
    "status_msg",
    "typing",
    "timeout",
    "m.fully_read",
    "m.read",
    "m.read.private",
    "thread_id",
    "search_term",
    "limit",
    "filter",
    "since",
    "server",
    "messages",
    "device_keys",
    "one_time_keys",
    "fallback_keys",
    "master_key",
    "self_signing_key",
    "user_signing_key",
    "algorithm",
    "auth_data",
    "version",
    "rooms",
    "sessions",
    "new_version",
    "third_party_signed",
    "pushkey",
    "kind",
    "app_id",
    "app_display_name",
    "device_display_name",
    "lang",
    "data",
    "append",
    "actions",
    "conditions",
    "pattern",
    "enabled",
    "tags",
    "order",
    "search_categories",
    "keys",
    "event_fields",
    "event_format",
    "account_data",
    "room",
    "include_third_party_networks",
    "third_party_instance_id",
    "nonce",
    "mac",
    "admin",
    "origin",
    "origin_server_ts",
    "pdus",
    "edus",
    "earliest_events",
    "latest_events",
    "min_depth",
    "event",
    "invite_room_state",
    "room_alias",
    "alias",
    "via",
    "dir",
    "from",
    "to",
    "ts",
];

/// The bodies every route receives, whatever it expects.
fn bodies() -> Vec<(&'static str, Option<Vec<u8>>)> {
    let all = |value: Value| {
        let object: Map<String, Value> = FIELDS
            .iter()
            .map(|f| ((*f).to_owned(), value.clone()))
            .collect();
        Some(Value::Object(object).to_string().into_bytes())
    };
    let deep = format!("{{\"content\":{}1{}}}", "[".repeat(5000), "]".repeat(5000));
    vec![
        ("no body", None),
        ("not JSON", Some(b"{\"type\": ".to_vec())),
        ("an array", Some(b"[1, 2]".to_vec())),
        ("a string", Some(b"\"text\"".to_vec())),
        ("an empty object", Some(b"{}".to_vec())),
        ("numbers", all(json!(12345))),
        ("negative and huge numbers", all(json!(-1e300))),
        ("booleans", all(json!(true))),
        ("nulls", all(Value::Null)),
        ("arrays", all(json!([1, "x", null]))),
        ("objects", all(json!({"a": {"b": [1]}}))),
        ("invalid identifiers", all(json!("@:!#$%^&*"))),
        ("long strings", all(json!("ä".repeat(2_000)))),
        ("deep nesting", Some(deep.into_bytes())),
    ]
}

/// What `{name}` in a path becomes when it is valid for the sweep's user.
struct Known {
    user_id: String,
    device_id: String,
    room_id: String,
    event_id: String,
    media_id: String,
    server_name: String,
    remote_user: String,
}

impl Known {
    fn value(&self, name: &str, counter: usize) -> String {
        match name {
            "room_id" | "room_id_or_alias" => self.room_id.clone(),
            "event_id" => self.event_id.clone(),
            "user_id" => self.user_id.clone(),
            "device_id" => self.device_id.clone(),
            "media_id" => self.media_id.clone(),
            "server_name" => self.server_name.clone(),
            "room_alias" => format!("#sweep{counter}:{}", self.server_name),
            "event_type" => "org.example.sweep".to_owned(),
            "state_key" => "sweep".to_owned(),
            "txn_id" | "transaction_id" => format!("sweep-{counter}"),
            "field" => "displayname".to_owned(),
            "filename" => "file.png".to_owned(),
            "filter_id" => "0".to_owned(),
            "kind" => "override".to_owned(),
            "rule_id" => "sweep".to_owned(),
            "receipt_type" => "m.read".to_owned(),
            "rel_type" => "m.annotation".to_owned(),
            "session_id" => "session".to_owned(),
            "version" => "1".to_owned(),
            other => other.to_owned(),
        }
    }
}

/// Path parameter values no identifier accepts, percent-encoded as sent.
const BAD_SEGMENTS: &[&str] = &["%00", "!", "@:", "%F0%9F%92%A9", "..%2F..", "%23%3A"];

fn params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(ToOwned::to_owned)
        .collect()
}

fn fill(path: &str, value: impl Fn(&str) -> String) -> String {
    path.split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => value(name),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

const GARBAGE_QUERY: &str = "?limit=-5&from=%00garbage&to=zz&dir=q&filter=%7B%22room%22%3A5&\
timeout=abc&since=s-1_x&search_term=%00&via=%40%40&server_name=%3A%3A&ts=-1&\
access_token=&method=crop&width=-1&height=99999999999999999999&user_id=%00&\
minimum_valid_until_ts=x&allow_remote=maybe&set_presence=asleep&full_state=2";

/// Every request of the sweep for one route: the route with good parameters and each body,
/// each parameter bad in turn, and garbage in the query string.
fn requests(route: &Route, known: &Known, counter: &mut usize) -> Vec<(String, Option<Vec<u8>>)> {
    let path = route.paths.last().expect("a route has a path");
    let mut next = || {
        *counter += 1;
        *counter
    };
    let mut out = Vec::new();
    let with_body = matches!(route.method, Method::POST | Method::PUT | Method::DELETE);
    for (_, body) in bodies().into_iter().filter(|_| with_body) {
        let n = next();
        out.push((fill(path, |name| url_encode(&known.value(name, n))), body));
    }
    let ids = SeedIds {
        user_id: &known.user_id,
        room_id: &known.room_id,
        event_id: &known.event_id,
        server_name: &known.server_name,
    };
    let seed = seed(route.method.as_str(), path, &ids);
    let needs_seed =
        matches!(route.method, Method::POST | Method::PUT) && !path.starts_with("/_matrix/media/");
    assert!(
        seed.is_some() || !needs_seed,
        "{} {path} needs a seed body in malformed_seeds.rs",
        route.method
    );
    for body in seed.iter().flat_map(mutations) {
        let n = next();
        let filled = fill(path, |name| url_encode(&known.value(name, n)));
        out.push((filled, Some(body.to_string().into_bytes())));
    }
    for param in params(path) {
        for bad in BAD_SEGMENTS
            .iter()
            .map(|b| (*b).to_owned())
            .chain([url_encode(&"x".repeat(3000))])
        {
            let n = next();
            let filled = fill(path, |name| {
                if name == param {
                    bad.clone()
                } else {
                    url_encode(&known.value(name, n))
                }
            });
            out.push((filled, with_body.then(|| b"{}".to_vec())));
        }
    }
    let n = next();
    let filled = fill(path, |name| url_encode(&known.value(name, n)));
    out.push((format!("{filled}{GARBAGE_QUERY}"), None));
    out
}

/// A Matrix answer: a success, or an error with an `errcode` and a message (or the
/// user-interactive authentication flows; or, from the content scanner, a `reason` and an
/// `info`). Returns what is wrong otherwise.
fn check(method: &Method, path: &str, response: &RawResponse) -> Option<String> {
    let shown: String = path.chars().take(200).collect();
    let body: String = response.body.to_string().chars().take(300).collect();
    if response.status >= 500 {
        return Some(format!(
            "{method} {shown} answered {}: {body}",
            response.status
        ));
    }
    let errcode = response.body["errcode"].as_str().unwrap_or_default();
    let uia = response.status == 401 && response.body["flows"].is_array();
    let matrix_error = errcode.starts_with("M_")
        && response.body["error"]
            .as_str()
            .is_some_and(|m| !m.is_empty());
    let reason = response.body["reason"].as_str().unwrap_or_default();
    let scanner_error = path.starts_with("/_matrix/media_proxy/")
        && (reason.starts_with("M_") || reason.starts_with("MCS_"))
        && response.body["info"]
            .as_str()
            .is_some_and(|m| !m.is_empty());
    // The OAuth endpoints answer as RFC 6749 says, and the sign-in and account pages in HTML.
    let oauth_error = (path.starts_with("/oauth2/") || path.starts_with("/account"))
        && (response.body["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
            && response.body["error_description"].is_string()
            || response
                .headers
                .get("content-type")
                .is_some_and(|t| t.to_str().is_ok_and(|t| t.starts_with("text/html"))));
    // A webhook answers its senders in their dialect: hookshot's JSON or Slack's strings.
    let hook_error = path.starts_with("/_estafette/hooks/v1")
        && !path.contains("/rooms/")
        && !path.ends_with("/rotate")
        && (response.body["ok"] == false
            && response.body["error"]
                .as_str()
                .is_some_and(|e| !e.is_empty())
            || response.body.is_null() && response.status != 500);
    let matrix_error = matrix_error || scanner_error || oauth_error || hook_error;
    (response.status >= 400 && !uia && !matrix_error).then(|| {
        format!(
            "{method} {shown} answered {} without a Matrix error: {body}",
            response.status
        )
    })
}

/// Routes whose success ends the session or the membership go last, so that the others are
/// swept with everything in place.
fn ordered(mut routes: Vec<Route>) -> Vec<Route> {
    let disruptive = |route: &Route| {
        let path = route.paths.last().map(String::as_str).unwrap_or_default();
        [
            "logout",
            "leave",
            "forget",
            "kick",
            "ban",
            "upgrade",
            "deactivate",
            "delete",
        ]
        .iter()
        .any(|word| path.contains(word))
            || route.method == Method::DELETE
    };
    routes.sort_by_key(disruptive);
    routes
}

#[tokio::test]
async fn every_route_answers_malformed_input_with_a_matrix_error() {
    // Scanning, so that the content scanner's routes read what they are sent.
    let clamd = estafette_tests::Clamd::start().await;
    let server = crate::antivirus::scanning_server(&clamd, true).await;
    let peer = TestServer::builder().federation().start().await;
    let raw = server.raw();
    let password = "sweeper's password";
    let (user_id, token, device_id) = raw.register("sweeper", password).await;
    let mut client = raw.clone_with(&token);
    let room_id = create_room(&client, json!({"preset": "public_chat"})).await;
    let event_id = send_text(&client, &room_id, "t0", "Bonjour").await;
    let upload = client.upload("image/png", "a.png", tiny_png()).await;
    let media_id = upload.body["content_uri"]
        .as_str()
        .and_then(|uri| uri.rsplit('/').next())
        .expect("an uploaded file")
        .to_owned();
    let known = Known {
        user_id,
        device_id,
        room_id,
        event_id,
        media_id,
        server_name: server.server_name(),
        remote_user: format!("@sweeper:{}", peer.server_name()),
    };

    let mut counter = 0;
    let mut swept = 0;
    let mut failures = Vec::new();
    for route in ordered(estafette::api::client_routes()) {
        for (path, body) in requests(&route, &known, &mut counter) {
            let mut response = client.send(route.method.clone(), &path, body.clone()).await;
            if response.status == 401 && response.errcode() == "M_UNKNOWN_TOKEN" {
                // A logout succeeded: log in again and go on.
                let login = raw.login("sweeper", password).await;
                client = raw.clone_with(login.body["access_token"].as_str().unwrap());
                response = client.send(route.method.clone(), &path, body).await;
            }
            failures.extend(check(&route.method, &path, &response));
            swept += 1;
        }
    }

    let federation_known = Known {
        user_id: known.remote_user.clone(),
        ..known
    };
    for route in estafette::api::federation_routes() {
        for (path, body) in requests(&route, &federation_known, &mut counter) {
            let response = peer
                .federation_request(&server, route.method.clone(), &path, body)
                .await;
            failures.extend(check(&route.method, &path, &response));
            swept += 1;
        }
    }
    assert!(swept > 2_000, "only {swept} requests were swept");
    assert!(
        failures.is_empty(),
        "{} of {swept} answers were not Matrix answers:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The server still serves, and the sweep's room is still there.
    let login = raw.login("sweeper", password).await;
    let client = raw.clone_with(login.body["access_token"].as_str().unwrap());
    client
        .get("/_matrix/client/v3/account/whoami")
        .await
        .assert_ok();
    client
        .get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b",
            federation_known.room_id
        ))
        .await
        .assert_ok();
}

fn tiny_png() -> Vec<u8> {
    let image = image::RgbImage::from_pixel(4, 4, image::Rgb([200, 30, 30]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .expect("a PNG");
    bytes.into_inner()
}
