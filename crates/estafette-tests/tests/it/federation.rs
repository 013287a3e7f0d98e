//! The federation listener: TLS, server version, and the self-signed key document.

use std::collections::BTreeMap;

use estafette_tests::TestServer;
use ruma::canonical_json::CanonicalJsonObject;
use serde_json::Value;

/// GETs a URL and reads the JSON answer.
async fn get_json(http: &reqwest::Client, url: impl reqwest::IntoUrl) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

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
    let version: Value =
        get_json(&http, format!("{federation}/_matrix/federation/v1/version")).await;
    assert_eq!(version["server"]["name"], "Estafette");

    let document: Value = get_json(&http, format!("{federation}/_matrix/key/v2/server")).await;
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

#[tokio::test]
async fn a_user_reads_a_remote_profile_over_signed_federation() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let raw = home.raw();
    let (_, alice, _) = raw.register("alice", "alice's password").await;
    let alice = raw.clone_with(&alice);
    let (bob_id, bob, _) = remote.raw().register("bob", "bob's password").await;
    remote
        .raw()
        .clone_with(&bob)
        .put(
            &format!("/_matrix/client/v3/profile/{bob_id}/displayname"),
            serde_json::json!({"displayname": "Bob of the Ministry"}),
        )
        .await
        .assert_ok();

    // Alice's server asks Bob's, signing the request; Bob's server checks it with keys it
    // fetches from Alice's server.
    let profile = alice
        .get(&format!("/_matrix/client/v3/profile/{bob_id}"))
        .await;
    profile.assert_ok();
    assert_eq!(profile.body["displayname"], "Bob of the Ministry");
    let field = alice
        .get(&format!("/_matrix/client/v3/profile/{bob_id}/displayname"))
        .await;
    assert_eq!(field.body["displayname"], "Bob of the Ministry");
    let nobody = format!("@nobody:{}", remote.server_name());
    alice
        .get(&format!("/_matrix/client/v3/profile/{nobody}"))
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn unsigned_or_forged_federation_requests_are_refused() {
    let server = TestServer::builder().federation().start().await;
    let other = TestServer::builder().federation().start().await;
    let federation = server.federation_url().unwrap();
    let http = insecure_client();
    let user = format!("@someone:{}", server.server_name());
    let url = format!("{federation}/_matrix/federation/v1/query/profile?user_id={user}");
    let unsigned = http.get(&url).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    let body: Value = unsigned.json().await.unwrap();
    assert_eq!(body["errcode"], "M_UNAUTHORIZED");
    // A real server's name with a signature it never made.
    let forged = format!(
        "X-Matrix origin=\"{}\",destination=\"{}\",key=\"ed25519:a_AAAA\",sig=\"{}\"",
        other.server_name(),
        server.server_name(),
        "bm90IGEgc2lnbmF0dXJlIGF0IGFsbA"
    );
    let response = http
        .get(&url)
        .header("Authorization", forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_closed_federation_refuses_other_servers_both_ways() {
    let home = TestServer::builder()
        .federation()
        .configure(|config| config.federation.allowed_servers = vec!["partner.example".into()])
        .start()
        .await;
    let outsider = TestServer::builder().federation().start().await;
    let (_, alice, _) = home.raw().register("alice", "alice's password").await;
    let (bob_id, _, _) = outsider.raw().register("bob", "bob's password").await;
    let refused = home
        .raw()
        .clone_with(&alice)
        .get(&format!("/_matrix/client/v3/profile/{bob_id}"))
        .await;
    refused.assert_error(403, "M_FORBIDDEN");
    assert!(
        refused.body["error"]
            .as_str()
            .unwrap()
            .contains("not allowed")
    );
    // And the outsider's users cannot read the closed server's profiles either: the closed
    // server's refusal reaches them.
    let (_, bob, _) = outsider.raw().register("carol", "carol's password").await;
    let alice_id = format!("@alice:{}", home.server_name());
    let refused = outsider
        .raw()
        .clone_with(&bob)
        .get(&format!("/_matrix/client/v3/profile/{alice_id}"))
        .await;
    refused.assert_error(403, "M_FORBIDDEN");
    assert!(
        refused.body["error"]
            .as_str()
            .unwrap()
            .contains("not allowed")
    );
}

#[tokio::test]
async fn a_remote_alias_resolves_through_its_server() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let (_, alice, _) = home.raw().register("alice", "alice's password").await;
    let alice = home.raw().clone_with(&alice);
    let (_, bob, _) = remote.raw().register("bob", "bob's password").await;
    let created = remote
        .raw()
        .clone_with(&bob)
        .post(
            "/_matrix/client/v3/createRoom",
            serde_json::json!({"preset": "public_chat", "room_alias_name": "ministry"}),
        )
        .await;
    created.assert_ok();

    let alias = format!("%23ministry:{}", remote.server_name());
    let resolved = alice
        .get(&format!("/_matrix/client/v3/directory/room/{alias}"))
        .await;
    resolved.assert_ok();
    assert_eq!(resolved.body["room_id"], created.body["room_id"]);
    assert_eq!(
        resolved.body["servers"],
        serde_json::json!([remote.server_name()])
    );
    let unknown = format!("%23nowhere:{}", remote.server_name());
    alice
        .get(&format!("/_matrix/client/v3/directory/room/{unknown}"))
        .await
        .assert_error(404, "M_NOT_FOUND");

    // A server does not answer for another server's aliases.
    use ruma::api::federation::query::get_room_information;
    let destination = ruma::ServerName::parse(remote.server_name()).unwrap();
    let foreign = ruma::RoomAliasId::parse(format!("#ministry:{}", home.server_name())).unwrap();
    assert!(
        home.services()
            .federation
            .send(
                &destination,
                get_room_information::v1::Request::new(foreign)
            )
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_user_browses_another_servers_room_directory() {
    let home = TestServer::builder().federation().start().await;
    let remote = TestServer::builder().federation().start().await;
    let (_, alice, _) = home.raw().register("alice", "alice's password").await;
    let alice = home.raw().clone_with(&alice);
    let (_, bob, _) = remote.raw().register("bob", "bob's password").await;
    let bob = remote.raw().clone_with(&bob);
    for name in ["Interior", "Defence"] {
        bob.post(
            "/_matrix/client/v3/createRoom",
            serde_json::json!({"visibility": "public", "preset": "public_chat", "name": name}),
        )
        .await
        .assert_ok();
    }
    bob.post(
        "/_matrix/client/v3/createRoom",
        serde_json::json!({"name": "Not published"}),
    )
    .await
    .assert_ok();

    let names = |body: &serde_json::Value| -> Vec<String> {
        let mut names: Vec<String> = body["chunk"]
            .as_array()
            .expect("a chunk")
            .iter()
            .map(|room| room["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        names.sort();
        names
    };
    let server = remote.server_name();
    let listed = alice
        .get(&format!("/_matrix/client/v3/publicRooms?server={server}"))
        .await;
    listed.assert_ok();
    assert_eq!(names(&listed.body), ["Defence", "Interior"]);
    assert_eq!(listed.body["total_room_count_estimate"], 2);
    let searched = alice
        .post(
            &format!("/_matrix/client/v3/publicRooms?server={server}"),
            serde_json::json!({"filter": {"generic_search_term": "defen"}, "limit": 5}),
        )
        .await;
    searched.assert_ok();
    assert_eq!(names(&searched.body), ["Defence"]);
    // Alice's own directory is empty: the remote rooms were not copied.
    let own = alice.get("/_matrix/client/v3/publicRooms").await;
    assert_eq!(names(&own.body), Vec::<String>::new());
}

#[tokio::test]
async fn a_third_party_learns_who_holds_an_openid_token() {
    let server = TestServer::builder().federation().start().await;
    let (alice_id, alice, _) = server.raw().register("alice", "alice's password").await;
    let alice = server.raw().clone_with(&alice);
    let issued = alice
        .post(
            &format!("/_matrix/client/v3/user/{alice_id}/openid/request_token"),
            serde_json::json!({}),
        )
        .await;
    issued.assert_ok();
    assert_eq!(issued.body["token_type"], "Bearer");
    assert_eq!(issued.body["matrix_server_name"], server.server_name());
    assert_eq!(issued.body["expires_in"], 3600);
    let token = issued.body["access_token"].as_str().unwrap().to_owned();

    // A widget or call service asks the federation listener, without signing.
    let federation = server.federation_url().unwrap();
    let user_info = |token: String| {
        // Tokens are alphanumeric: nothing to escape.
        let url =
            format!("{federation}/_matrix/federation/v1/openid/userinfo?access_token={token}");
        async move {
            let response = insecure_client().get(url).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = user_info(token.clone()).await;
    assert_eq!(
        (status, body["sub"].as_str()),
        (200, Some(alice_id.as_str()))
    );
    let (status, body) = user_info("eot_forged".into()).await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (401, Some("M_UNKNOWN_TOKEN"))
    );

    // Only for oneself, and only for an hour.
    let bob_id = format!("@bob:{}", server.server_name());
    alice
        .post(
            &format!("/_matrix/client/v3/user/{bob_id}/openid/request_token"),
            serde_json::json!({}),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");
    server.advance_clock(3_600_001);
    let (status, _) = user_info(token).await;
    assert_eq!(status, 401);
}

/// Checks a key document's signatures by every one of `signers` (and by nobody else), with
/// the keys each publishes.
async fn signed_by(http: &reqwest::Client, document: &Value, signers: &[&TestServer]) {
    let mut keys = ruma::signatures::PublicKeyMap::new();
    for signer in signers {
        let federation = signer.federation_url().unwrap();
        let own: Value = get_json(http, format!("{federation}/_matrix/key/v2/server")).await;
        let (key_id, key) = own["verify_keys"]
            .as_object()
            .unwrap()
            .iter()
            .next()
            .unwrap();
        let key = ruma::serde::Base64::<ruma::serde::base64::Standard>::parse(
            key["key"].as_str().unwrap(),
        )
        .unwrap();
        keys.insert(
            signer.server_name(),
            BTreeMap::from([(key_id.clone(), key)]),
        );
    }
    assert_eq!(
        document["signatures"].as_object().map(|s| s.len()),
        Some(signers.len())
    );
    let object: CanonicalJsonObject = serde_json::from_value(document.clone()).unwrap();
    ruma::signatures::verify_json(&keys, &object).expect("every signature verifies");
}

#[tokio::test]
async fn a_notary_vouches_for_other_servers_keys() {
    let notary = TestServer::builder().federation().start().await;
    let other = TestServer::builder().federation().start().await;
    let http = insecure_client();
    let federation = notary.federation_url().unwrap();
    let answer: Value = get_json(
        &http,
        format!("{federation}/_matrix/key/v2/query/{}", other.server_name()),
    )
    .await;
    let document = &answer["server_keys"][0];
    assert_eq!(document["server_name"], other.server_name());
    signed_by(&http, document, &[&other, &notary]).await;

    let answer: Value = http
        .post(format!("{federation}/_matrix/key/v2/query"))
        .json(&serde_json::json!({"server_keys": {notary.server_name(): {}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["server_keys"][0]["server_name"],
        notary.server_name()
    );
    signed_by(&http, &answer["server_keys"][0], &[&notary]).await;
}

#[tokio::test]
async fn keys_of_an_unreachable_server_come_from_a_trusted_notary_only_when_configured() {
    use ruma::api::federation::query::get_profile_information::v1 as profile;

    let notary = TestServer::builder().federation().start().await;
    let notary_name = notary.server_name();
    let trusting = TestServer::builder()
        .federation()
        .configure(move |config| config.federation.trusted_key_servers = vec![notary_name])
        .start()
        .await;
    let distrustful = TestServer::builder().federation().start().await;
    let sender = TestServer::builder().federation().start().await;
    // The notary learns the sender's keys while the sender is up.
    let http = insecure_client();
    let answer: Value = get_json(
        &http,
        format!(
            "{}/_matrix/key/v2/query/{}",
            notary.federation_url().unwrap(),
            sender.server_name()
        ),
    )
    .await;
    assert_eq!(
        answer["server_keys"][0]["server_name"],
        sender.server_name()
    );

    // The sender's listener goes down, but it can still sign and send requests.
    let services = sender.services().clone();
    let _offline = sender.go_offline().await;
    let (alice_id, _, _) = trusting.raw().register("alice", "alice's password").await;
    let (carol_id, _, _) = distrustful
        .raw()
        .register("carol", "carol's password")
        .await;
    let ask = |server: &TestServer, user: &str| {
        let destination: ruma::OwnedServerName = server.server_name().try_into().unwrap();
        let request = profile::Request::new(user.try_into().unwrap());
        let services = services.clone();
        async move { services.federation.send(&destination, request).await }
    };
    ask(&trusting, &alice_id)
        .await
        .expect("the trusting server got the sender's keys from the notary");
    assert!(
        ask(&distrustful, &carol_id).await.is_err(),
        "without a notary, a server whose keys cannot be fetched is not believed"
    );
}

#[tokio::test]
async fn a_server_name_without_a_port_is_found_through_its_srv_record() {
    // A ministry's server named without a port; DNS says where its federation API is.
    let remote = TestServer::builder()
        .federation()
        .configure(|config| config.server_name = "ministere.estafette.test".to_owned())
        .start()
        .await;
    let port = remote
        .federation_url()
        .and_then(|url| url.rsplit(':').next().map(str::to_owned))
        .and_then(|port| port.parse().ok())
        .unwrap();
    let dns = estafette_tests::TestDns::start(vec![estafette_tests::SrvRecord {
        name: "_matrix-fed._tcp.ministere.estafette.test.".to_owned(),
        target: "localhost.".to_owned(),
        port,
    }])
    .await;
    let dns_addr = dns.addr;
    let home = TestServer::builder()
        .federation()
        .configure(move |config| config.federation.nameservers = vec![dns_addr])
        .start()
        .await;
    let (alice_id, alice) = crate::room_helpers::user(home.raw(), "alice").await;
    let (bob_id, bob) = crate::room_helpers::user(remote.raw(), "bob").await;
    assert_eq!(bob_id, "@bob:ministere.estafette.test");

    // Alice's server finds Bob's through SRV for a query…
    let profile = alice
        .get(&format!("/_matrix/client/v3/profile/{bob_id}"))
        .await;
    profile.assert_ok();
    // …and to check Bob's server's signatures and send it events.
    let room_id =
        crate::room_helpers::create_room(&alice, serde_json::json!({"preset": "public_chat"}))
            .await;
    bob.post(
        &format!(
            "/_matrix/client/v3/join/{room_id}?via={}",
            home.server_name()
        ),
        serde_json::json!({}),
    )
    .await
    .assert_ok();
    crate::room_helpers::send_text(&alice, &room_id, "s1", "found by SRV").await;
    crate::room_helpers::eventually("Bob's server to receive the message", || async {
        (crate::room_helpers::messages(&bob, &room_id).await == ["found by SRV"]).then_some(())
    })
    .await;
    let members = crate::room_helpers::joined_members(&alice, &room_id).await;
    assert_eq!(members, crate::room_helpers::sorted([&alice_id, &bob_id]));
}

#[tokio::test]
async fn the_delegation_is_served_at_the_well_known_address_when_configured() {
    let delegating = TestServer::builder()
        .configure(|config| {
            config.federation.well_known_server = Some("matrix.ministere.test:8448".to_owned())
        })
        .start()
        .await;
    let answer = delegating.raw().get("/.well-known/matrix/server").await;
    answer.assert_ok();
    assert_eq!(answer.body["m.server"], "matrix.ministere.test:8448");
    TestServer::start()
        .await
        .raw()
        .get("/.well-known/matrix/server")
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn a_server_delegating_through_its_well_known_file_is_followed() {
    // The ministry's server runs on another host and port; its name's HTTPS (port 443, here
    // on 127.0.0.3) says where, in /.well-known/matrix/server.
    let ministry = TestServer::builder()
        .federation()
        .configure(|config| config.server_name = "delegating.estafette.test".to_owned())
        .start()
        .await;
    let delegated = ministry
        .federation_url()
        .map(|url| url.replace("https://127.0.0.1", "localhost"))
        .unwrap();
    let _web = TestServer::builder()
        .federation()
        .configure(move |config| {
            config.federation.listen = Some(std::net::SocketAddr::from(([127, 0, 0, 3], 443)));
            config.federation.well_known_server = Some(delegated);
        })
        .start()
        .await;
    let dns = estafette_tests::TestDns::start_with(
        Vec::new(),
        vec![estafette_tests::AddressRecord {
            name: "delegating.estafette.test.".to_owned(),
            ip: std::net::Ipv4Addr::new(127, 0, 0, 3),
        }],
    )
    .await;
    let dns_addr = dns.addr;
    let home = TestServer::builder()
        .federation()
        .configure(move |config| config.federation.nameservers = vec![dns_addr])
        .start()
        .await;
    let (_, alice) = crate::room_helpers::user(home.raw(), "alice").await;
    let (bob_id, bob) = crate::room_helpers::user(ministry.raw(), "bob").await;
    bob.put(
        &format!("/_matrix/client/v3/profile/{bob_id}/displayname"),
        serde_json::json!({"displayname": "Bob, délégué"}),
    )
    .await
    .assert_ok();
    let profile = alice
        .get(&format!("/_matrix/client/v3/profile/{bob_id}"))
        .await;
    profile.assert_ok();
    assert_eq!(profile.body["displayname"], "Bob, délégué");
}
