//! The membership matrix over federation: invite, join, decline, leave, kick, ban, unban,
//! knock and its acceptance, each done to a user of another server, once while that server
//! has no one else in the room and once while another of its users is already there. The
//! same scenario runs between two Estafettes and with Synapse on either side.

use estafette_tests::{RawClient, SynapseServer, TestServer};
use serde_json::{Value, json};

use crate::room_helpers::{
    create_room, eventually, joined_members, membership_of, url_encode, user,
};

/// A server taking part in a scenario: its client API and its name.
struct Side {
    raw: RawClient,
    name: String,
    /// Whether its users can join as soon as an invite shows. Synapse, already in the room,
    /// cannot until the inviting server's `/send` brought the invite into the room: its
    /// join then names both the invite and the earlier membership as auth events and fails.
    joins_at_once: bool,
}

impl Side {
    fn estafette(server: &TestServer) -> Self {
        Self {
            raw: server.raw(),
            name: server.server_name(),
            joins_at_once: true,
        }
    }

    fn synapse(server: &SynapseServer) -> Self {
        Self {
            raw: server.raw(),
            name: server.server_name(),
            joins_at_once: false,
        }
    }
}

/// The rooms a user's server lists under `section` (`join`, `invite`, `leave`, `knock`).
async fn rooms_in(client: &RawClient, section: &str) -> Vec<String> {
    let filter = json!({"room": {"include_leave": true}}).to_string();
    let sync = client
        .get(&format!(
            "/_matrix/client/v3/sync?timeout=0&filter={}",
            url_encode(&filter)
        ))
        .await;
    sync.body["rooms"][section]
        .as_object()
        .map(|rooms| rooms.keys().cloned().collect())
        .unwrap_or_default()
}

/// Waits until `client`'s server lists the room under `section` of its sync.
async fn sees_room_in(client: &RawClient, room_id: &str, section: &str, what: &str) {
    eventually(what, || async {
        rooms_in(client, section)
            .await
            .iter()
            .any(|r| r == room_id)
            .then_some(())
    })
    .await;
}

/// Waits until `client`'s server says `user_id`'s membership is `membership`.
async fn sees_membership(
    client: &RawClient,
    room_id: &str,
    user_id: &str,
    membership: &str,
    what: &str,
) {
    eventually(what, || async {
        (membership_of(client, room_id, user_id).await.as_deref() == Some(membership)).then_some(())
    })
    .await;
}

async fn post_ok(client: &RawClient, path: &str, body: Value) {
    let response = client.post(path, body.clone()).await;
    assert_eq!(response.status, 200, "POST {path} {body}: {response:?}");
}

/// One room of the matrix: its host admin, and who must see each change.
struct Scene {
    tag: &'static str,
    room_id: String,
    alice: RawClient,
    /// The host and, when there is one, the guest's resident user.
    watchers: Vec<RawClient>,
    guest_joins_at_once: bool,
}

impl Scene {
    fn path(&self, action: &str) -> String {
        format!("/_matrix/client/v3/rooms/{}/{action}", self.room_id)
    }

    async fn all_see(&self, user_id: &str, membership: &str) {
        let what = format!("{}: {user_id} to be seen as {membership}", self.tag);
        for watcher in &self.watchers {
            sees_membership(watcher, &self.room_id, user_id, membership, &what).await;
        }
    }

    async fn invite(&self, user_id: &str, invitee: &RawClient) {
        post_ok(
            &self.alice,
            &self.path("invite"),
            json!({"user_id": user_id}),
        )
        .await;
        let what = format!("{}: {user_id} to see the invite", self.tag);
        sees_room_in(invitee, &self.room_id, "invite", &what).await;
        if !self.guest_joins_at_once {
            self.all_see(user_id, "invite").await;
        }
    }

    async fn join(&self, user_id: &str, member: &RawClient) {
        let path = format!("/_matrix/client/v3/join/{}", self.room_id);
        post_ok(member, &path, json!({})).await;
        self.all_see(user_id, "join").await;
    }

    /// Alice acts on a member (`kick`, `ban`, `unban`); everyone sees the result.
    async fn moderate(&self, action: &str, user_id: &str, membership: &str) {
        post_ok(&self.alice, &self.path(action), json!({"user_id": user_id})).await;
        self.all_see(user_id, membership).await;
    }

    async fn shows_in(&self, client: &RawClient, section: &str, what: &str) {
        let what = format!("{}: {what}", self.tag);
        sees_room_in(client, &self.room_id, section, &what).await;
    }
}

/// Every membership change of the matrix, done by a host user to users of `guest`.
async fn membership_matrix(host: Side, guest: Side) {
    let (alice_id, alice) = user(host.raw.clone(), "alice").await;
    for guest_present in [false, true] {
        let tag = if guest_present { "with" } else { "alone" };
        let room_id = create_room(&alice, json!({"preset": "private_chat"})).await;
        let mut scene = Scene {
            tag,
            room_id: room_id.clone(),
            alice: alice.clone(),
            watchers: vec![alice.clone()],
            guest_joins_at_once: guest.joins_at_once,
        };
        let guest_user = |name: &str| {
            let (raw, name) = (guest.raw.clone(), format!("{name}_{tag}"));
            async move { user(raw, &name).await }
        };
        if guest_present {
            // Bob, of the guest server, is in the room before anything else happens.
            let (bob_id, bob) = guest_user("bob").await;
            scene.invite(&bob_id, &bob).await;
            scene.join(&bob_id, &bob).await;
            scene.watchers.push(bob);
        }

        // Invite, then join; leave.
        let (dave_id, dave) = guest_user("dave").await;
        scene.invite(&dave_id, &dave).await;
        scene.all_see(&dave_id, "invite").await;
        scene.join(&dave_id, &dave).await;
        assert!(joined_members(&dave, &room_id).await.contains(&alice_id));
        post_ok(&dave, &scene.path("leave"), json!({})).await;
        scene.all_see(&dave_id, "leave").await;
        scene.shows_in(&dave, "leave", "Dave's leave").await;

        // Invite, then decline.
        let (erin_id, erin) = guest_user("erin").await;
        scene.invite(&erin_id, &erin).await;
        post_ok(&erin, &scene.path("leave"), json!({})).await;
        scene.all_see(&erin_id, "leave").await;
        assert!(
            !rooms_in(&erin, "invite").await.contains(&room_id),
            "{tag}: Erin's declined invite is gone"
        );

        // Kick: Dave comes back and is shown out.
        scene.invite(&dave_id, &dave).await;
        scene.join(&dave_id, &dave).await;
        scene.moderate("kick", &dave_id, "leave").await;
        scene.shows_in(&dave, "leave", "Dave sees the kick").await;

        // Ban a joined member: he is out and cannot come back, even invited.
        scene.invite(&dave_id, &dave).await;
        scene.join(&dave_id, &dave).await;
        scene.moderate("ban", &dave_id, "ban").await;
        scene.shows_in(&dave, "leave", "Dave sees the ban").await;
        let refused = alice
            .post(&scene.path("invite"), json!({"user_id": dave_id}))
            .await;
        // Synapse says M_BAD_STATE, Estafette the auth rule's M_FORBIDDEN.
        assert_eq!(
            refused.status, 403,
            "{tag}: a banned user cannot be invited"
        );
        let refused = dave
            .post(&format!("/_matrix/client/v3/join/{room_id}"), json!({}))
            .await;
        assert_ne!(refused.status, 200, "{tag}: a banned user cannot join");

        // Ban someone never in the room, then unban both; an unbanned user can be invited.
        let (frank_id, frank) = guest_user("frank").await;
        scene.moderate("ban", &frank_id, "ban").await;
        scene.moderate("unban", &frank_id, "leave").await;
        scene.moderate("unban", &dave_id, "leave").await;
        scene.invite(&frank_id, &frank).await;
        scene.join(&frank_id, &frank).await;
        post_ok(&frank, &scene.path("leave"), json!({})).await;
        scene.all_see(&frank_id, "leave").await;

        // Knock, accepted by an invite; and a knock refused by a kick.
        alice
            .put(
                &scene.path("state/m.room.join_rules/"),
                json!({"join_rule": "knock"}),
            )
            .await
            .assert_ok();
        let knock = format!("/_matrix/client/v3/knock/{room_id}?via={}", host.name);
        let (gina_id, gina) = guest_user("gina").await;
        eventually(&format!("{tag}: Gina's knock"), || async {
            // The guest server may still be catching up with the new join rule.
            let response = gina.post(&knock, json!({"reason": "Bonjour"})).await;
            (response.status == 200).then_some(())
        })
        .await;
        scene.all_see(&gina_id, "knock").await;
        scene.shows_in(&gina, "knock", "Gina's knock").await;
        scene.invite(&gina_id, &gina).await;
        scene.join(&gina_id, &gina).await;

        let (hugo_id, hugo) = guest_user("hugo").await;
        post_ok(&hugo, &knock, json!({})).await;
        scene.all_see(&hugo_id, "knock").await;
        scene.moderate("kick", &hugo_id, "leave").await;
        scene
            .shows_in(&hugo, "leave", "Hugo sees the refusal")
            .await;
    }
}

#[tokio::test]
async fn the_membership_matrix_between_two_estafettes() {
    let host = TestServer::builder().federation().start().await;
    let guest = TestServer::builder().federation().start().await;
    membership_matrix(Side::estafette(&host), Side::estafette(&guest)).await;
}

#[tokio::test]
async fn the_membership_matrix_with_synapse_as_the_guest() {
    let host = TestServer::builder().federation().start().await;
    let guest = SynapseServer::start().await;
    membership_matrix(Side::estafette(&host), Side::synapse(&guest)).await;
}

#[tokio::test]
async fn the_membership_matrix_with_synapse_as_the_host() {
    let host = SynapseServer::start().await;
    let guest = TestServer::builder().federation().start().await;
    membership_matrix(Side::synapse(&host), Side::estafette(&guest)).await;
}
