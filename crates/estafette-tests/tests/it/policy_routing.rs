//! Email routing (TCHAP.md §1) across a closed federation of three Estafettes, two ministries
//! and the externals' server: every server answers the public `info` lookup alike and the
//! signed `internal-info` only to the federation's servers; the rules file is read again when
//! it changes.

use std::path::Path;
use std::time::Duration;

use estafette_tests::{RawClient, RawResponse, TestServer};
use serde_json::{Value, json};

/// The rules: the finance ministry's addresses, its chief (an exact address) on the interior
/// ministry's server, the interior ministry's addresses, and everything else external.
fn write_rules(path: &Path, finances: &str, interieur: &str, externe: &str) {
    let rules = format!(
        r#"
[[rule]]
pattern = "[^@]+@finances\\.example"
hs = "{finances}"
shadow_hs = "intranet.finances.example"

[[rule]]
address = "chef@finances.example"
hs = "{interieur}"

[[rule]]
pattern = "[^@]+@interieur\\.example"
hs = "{interieur}"

[[rule]]
pattern = ".*"
hs = "{externe}"
requires_invite = true
"#
    );
    std::fs::write(path, rules).unwrap();
}

fn info_path(address: &str) -> String {
    let address: String = url::form_urlencoded::byte_serialize(address.as_bytes()).collect();
    format!("/_matrix/identity/api/v1/info?medium=email&address={address}")
}

fn internal_path(address: &str) -> String {
    let address: String = url::form_urlencoded::byte_serialize(address.as_bytes()).collect();
    format!("/_matrix/identity/api/v1/internal-info?medium=email&address={address}")
}

/// `asker`'s signed `internal-info` request to `target`.
async fn internal_info(asker: &TestServer, target: &TestServer, address: &str) -> RawResponse {
    let path = internal_path(address);
    asker
        .federation_request(target, reqwest::Method::GET, &path, None)
        .await
}

async fn info(client: &RawClient, address: &str) -> Value {
    let response = client.get(&info_path(address)).await;
    response.assert_ok();
    response.body
}

/// What every server answers for each address under `write_rules`' rules.
fn expected_routes(names: &[String]) -> Vec<(&'static str, Value)> {
    let finances_route = json!({"hs": names[0], "shadow_hs": "intranet.finances.example"});
    vec![
        ("jean.martin@finances.example", finances_route.clone()),
        ("Jean.Martin@FINANCES.example", finances_route),
        ("chef@finances.example", json!({"hs": names[1]})),
        ("agent@interieur.example", json!({"hs": names[1]})),
        ("partner@company.example", json!({"hs": names[2]})),
        // Anchored patterns: a longer domain is not the ministry's.
        (
            "jean@finances.example.evil.example",
            json!({"hs": names[2]}),
        ),
        // Anything that is not a plain address goes to the externals' server.
        (
            "jean@evil.example@finances.example",
            json!({"hs": names[2]}),
        ),
        ("\"jean\"@finances.example", json!({"hs": names[2]})),
        ("jéan@finances.example", json!({"hs": names[2]})),
    ]
}

#[tokio::test]
async fn every_server_of_the_federation_routes_addresses_alike() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("routing.toml");
    std::fs::write(&rules, "").unwrap();
    let start = || {
        let rules = rules.clone();
        TestServer::builder()
            .federation()
            .configure(move |config| config.policy.routing_file = Some(rules))
            .start()
    };
    let (finances, interieur, externe) = (start().await, start().await, start().await);
    let names: Vec<String> = [&finances, &interieur, &externe]
        .iter()
        .map(|server| server.server_name().to_owned())
        .collect();
    write_rules(&rules, &names[0], &names[1], &names[2]);
    // The same configuration everywhere: a closed federation of three.
    let mut servers = Vec::new();
    for server in [finances, interieur, externe] {
        let (federation, externals) = (names.clone(), vec![names[2].clone()]);
        let stopped = server.go_offline().await;
        let restart = stopped.configure(move |config| {
            config.federation.allowed_servers = federation.into_iter().map(Into::into).collect();
            config.policy.external_servers = externals;
        });
        let server = restart.start().await;
        servers.push(server);
    }

    let expected = expected_routes(&names);
    for server in &servers {
        for (address, route) in &expected {
            assert_eq!(&info(&server.raw(), address).await, route, "{address}");
        }
    }
    let response = servers[0].raw().get(&info_path("a@b.example")).await;
    let origin = response.headers.get("access-control-allow-origin");
    assert_eq!(origin.and_then(|v| v.to_str().ok()), Some("*"), "CORS");
    let client = servers[0].raw();
    client
        .get("/_matrix/identity/api/v1/info?medium=email")
        .await
        .assert_error(400, "M_MISSING_PARAM");
    client
        .get("/_matrix/identity/api/v1/info?medium=msisdn&address=33600000000")
        .await
        .assert_error(400, "M_INVALID_PARAM");

    // The federation learns more, on signed requests only.
    let answer = internal_info(&servers[1], &servers[0], "x@company.example").await;
    assert_eq!(
        answer.body,
        json!({"hs": names[2], "requires_invite": true, "invited": false})
    );
    let answer = internal_info(&servers[2], &servers[0], "jean@finances.example").await;
    assert_eq!(answer.body["requires_invite"], false);
    assert_eq!(answer.body["hs"], names[0].as_str());
    let federation = servers[0].federation_url().unwrap();
    let unsigned = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .get(format!(
            "{federation}{}",
            internal_path("x@company.example")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        unsigned.status(),
        401,
        "not for callers outside the federation"
    );
    let outsider = TestServer::builder().federation().start().await;
    let refused = internal_info(&outsider, &servers[0], "x@company.example").await;
    refused.assert_error(403, "M_FORBIDDEN");
    let public = servers[0]
        .raw()
        .get(&internal_path("x@company.example"))
        .await;
    assert_eq!(public.status, 404, "not served to clients at all");

    // A changed file is read again; a broken one keeps the rules in force.
    std::fs::write(
        &rules,
        format!("[[rule]]\npattern = \".*\"\nhs = \"{}\"\n", names[1]),
    )
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while info(&servers[0].raw(), "jean@finances.example").await["hs"] != names[1].as_str() {
        assert!(tokio::time::Instant::now() < deadline, "never reloaded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::fs::write(&rules, "[[rule]]\npattern = \"(\"\nhs = \"x.example\"\n").unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(
        info(&servers[0].raw(), "jean@finances.example").await["hs"],
        names[1].as_str(),
        "the previous rules stay"
    );
}

#[tokio::test]
async fn a_broken_rules_file_stops_the_server_and_no_file_means_no_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("routing.toml");
    std::fs::write(
        &rules,
        "[[rule]]\naddress = \"a@b.example\"\nhs = \"b.example\"\n\n[[rule]]\npattern = \"(\"\nhs = \"c.example\"\n",
    )
    .unwrap();
    let mut config = estafette::core::Config::default();
    config.server_name = "ministere.example".to_owned();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.data_dir = dir.path().join("data");
    config.policy.routing_file = Some(rules);
    let refused = estafette::RunningServer::start(config, estafette::Runtime::default()).await;
    let error = refused
        .err()
        .expect("a broken rules file stops the server")
        .to_string();
    assert!(
        error.contains("routing.toml") && error.contains("line 5"),
        "{error}"
    );

    let server = TestServer::start().await;
    server
        .raw()
        .get(&info_path("jean@finances.example"))
        .await
        .assert_error(404, "M_UNRECOGNIZED");
}

/// An address bound to an account: its owner logs in with it (an unknown or malformed address
/// fails exactly as a wrong password does), sees it among their addresses, and the lookup
/// names the server holding the account, the rules' server as `new_hs`.
#[tokio::test]
async fn a_bound_address_logs_in_and_is_looked_up_where_its_account_lives() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("routing.toml");
    std::fs::write(
        &rules,
        "[[rule]]\npattern = \"[^@]+@finances\\\\.example\"\nhs = \"agent.finances.example\"\n",
    )
    .unwrap();
    let server = TestServer::builder()
        .configure(move |config| config.policy.routing_file = Some(rules))
        .start()
        .await;
    let (alice_id, token, _) = server.raw().register("alice", "Alice's password 1").await;
    let alice = ruma::UserId::parse(&alice_id).unwrap();
    let threepid = estafette::storage::Threepid {
        medium: "email".to_owned(),
        address: "alice@finances.example".to_owned(),
        validated_ts: 1_000,
        added_ts: 1_000,
    };
    let threepids = &server.services().context.storage.threepids;
    assert!(threepids.bind(&alice, &threepid).await.unwrap());

    assert_eq!(
        info(&server.raw(), "alice@finances.example").await,
        json!({"hs": server.server_name(), "new_hs": "agent.finances.example"})
    );
    assert_eq!(
        info(&server.raw(), "bob@finances.example").await,
        json!({"hs": "agent.finances.example"})
    );

    let login = |address: &str, password: &str| {
        json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": address},
            "password": password,
        })
    };
    let raw = server.raw();
    let logged_in = raw
        .post(
            "/_matrix/client/v3/login",
            login("Alice@Finances.example", "Alice's password 1"),
        )
        .await;
    logged_in.assert_ok();
    assert_eq!(logged_in.body["user_id"], alice_id.as_str());
    let wrong = raw
        .post(
            "/_matrix/client/v3/login",
            login("alice@finances.example", "not it"),
        )
        .await;
    wrong.assert_error(403, "M_FORBIDDEN");
    for unknown in [
        "nobody@finances.example",
        "alice@finances.example@evil.example",
        "",
    ] {
        let refused = raw
            .post(
                "/_matrix/client/v3/login",
                login(unknown, "Alice's password 1"),
            )
            .await;
        assert_eq!(
            (refused.status, &refused.body),
            (wrong.status, &wrong.body),
            "{unknown:?} is told what a wrong password is told"
        );
    }

    let listed = raw
        .clone_with(&token)
        .get("/_matrix/client/v3/account/3pid")
        .await;
    listed.assert_ok();
    assert_eq!(
        listed.body["threepids"],
        json!([{"medium": "email", "address": "alice@finances.example",
                "validated_at": 1_000, "added_at": 1_000}])
    );
}
