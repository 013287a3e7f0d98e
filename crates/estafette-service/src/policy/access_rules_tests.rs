use serde_json::json;

use super::*;

const EXTERNALS: &[String] = &[];

fn externals() -> Vec<String> {
    vec!["externe.example".to_owned()]
}

fn event<'a>(kind: &'a str, state_key: &'a str, content: &'a JsonValue) -> EventFacts<'a> {
    EventFacts {
        kind,
        state_key: Some(state_key),
        sender: "@alice:finances.example",
        content,
    }
}

fn member(user: &str, membership: &str) -> (String, String) {
    (user.to_owned(), membership.to_owned())
}

fn room(rule: AccessRule) -> RoomFacts {
    RoomFacts {
        rule: Some(rule),
        join_rule: Some("invite".to_owned()),
        members: vec![member("@alice:finances.example", "join")],
        ..Default::default()
    }
}

#[test]
fn unknown_keys_are_tolerated_and_unknown_rules_refused() {
    let content = json!({"rule": "restricted", "visibility": "private"});
    assert_eq!(AccessRule::of(&content), Some(AccessRule::Restricted));
    let externals = externals();
    let bogus = json!({"rule": "everyone"});
    let refused = check(
        &RoomFacts::default(),
        &event(ACCESS_RULES_EVENT, "", &bogus),
        &Externals(&externals, &[]),
    );
    assert!(refused.is_err());
}

#[test]
fn the_rule_only_opens_once_and_never_when_published() {
    let externals = externals();
    let externals = Externals(&externals, &[]);
    let to = |rule: &str| json!({ "rule": rule });
    let (unrestricted, restricted, direct) = (to("unrestricted"), to("restricted"), to("direct"));
    let change = |content| event(ACCESS_RULES_EVENT, "", content);
    let mut facts = room(AccessRule::Restricted);
    assert!(check(&facts, &change(&unrestricted), &externals).is_ok());
    assert!(
        check(&facts, &change(&restricted), &externals).is_ok(),
        "unchanged"
    );
    assert!(check(&facts, &change(&direct), &externals).is_err());
    facts.published = true;
    assert!(check(&facts, &change(&unrestricted), &externals).is_err());
    let facts = room(AccessRule::Unrestricted);
    assert!(
        check(&facts, &change(&restricted), &externals).is_err(),
        "irreversible"
    );
    // A room without rules takes `direct` only with two people at most.
    let mut facts = RoomFacts {
        members: vec![member("@a:x", "join"), member("@b:x", "invite")],
        ..Default::default()
    };
    assert!(check(&facts, &change(&direct), &externals).is_ok());
    facts.pending_email_invites = 1;
    assert!(check(&facts, &change(&direct), &externals).is_err());
}

#[test]
fn externals_stay_out_of_restricted_rooms_and_join_others_only_when_invited() {
    let externals = externals();
    let externals = Externals(&externals, &[]);
    let guest = "@guest:externe.example";
    let (invite, join) = (
        json!({"membership": "invite"}),
        json!({"membership": "join"}),
    );
    let restricted = room(AccessRule::Restricted);
    assert!(
        check(
            &restricted,
            &event("m.room.member", guest, &invite),
            &externals
        )
        .is_err()
    );
    assert!(
        check(
            &restricted,
            &event("m.room.member", guest, &join),
            &externals
        )
        .is_err()
    );
    let agent = "@bob:interieur.example";
    assert!(
        check(
            &restricted,
            &event("m.room.member", agent, &invite),
            &externals
        )
        .is_ok()
    );
    let mut unrestricted = room(AccessRule::Unrestricted);
    assert!(
        check(
            &unrestricted,
            &event("m.room.member", guest, &join),
            &externals
        )
        .is_err()
    );
    assert!(
        check(
            &unrestricted,
            &event("m.room.member", guest, &invite),
            &externals
        )
        .is_ok()
    );
    unrestricted.members.push(member(guest, "invite"));
    assert!(
        check(
            &unrestricted,
            &event("m.room.member", guest, &join),
            &externals
        )
        .is_ok()
    );
    assert!(
        check(
            &room(AccessRule::Restricted),
            &event("m.room.member", guest, &join),
            &Externals(EXTERNALS, &[])
        )
        .is_ok()
    );
}

#[test]
fn a_direct_room_holds_two_people_and_no_name() {
    let externals = externals();
    let externals = Externals(&externals, &[]);
    let invite = json!({"membership": "invite"});
    let mut direct = room(AccessRule::Direct);
    let bob = "@bob:finances.example";
    assert!(check(&direct, &event("m.room.member", bob, &invite), &externals).is_ok());
    direct.members.push(member(bob, "invite"));
    let carol = "@carol:finances.example";
    assert!(check(&direct, &event("m.room.member", carol, &invite), &externals).is_err());
    let email = json!({"display_name": "car…@finances.example"});
    assert!(
        check(
            &direct,
            &event("m.room.third_party_invite", "t", &email),
            &externals
        )
        .is_err()
    );
    let leave = json!({"membership": "leave"});
    assert!(check(&direct, &event("m.room.member", bob, &leave), &externals).is_ok());
    for kind in ["m.room.name", "m.room.topic", "m.room.avatar"] {
        assert!(
            check(&direct, &event(kind, "", &json!({})), &externals).is_err(),
            "{kind}"
        );
    }
    let public = json!({"join_rule": "public"});
    assert!(
        check(
            &direct,
            &event("m.room.join_rules", "", &public),
            &externals
        )
        .is_err()
    );
}

#[test]
fn forums_stay_clear_and_public_rooms_close_only_once_encrypted() {
    let externals = externals();
    let externals = Externals(&externals, &[]);
    let mut forum = room(AccessRule::Restricted);
    forum.join_rule = Some("public".to_owned());
    let encryption = json!({"algorithm": "m.megolm.v1.aes-sha2"});
    assert!(
        check(
            &forum,
            &event("m.room.encryption", "", &encryption),
            &externals
        )
        .is_err()
    );
    let invite_only = json!({"join_rule": "invite"});
    assert!(
        check(
            &forum,
            &event("m.room.join_rules", "", &invite_only),
            &externals
        )
        .is_err()
    );
    forum.encrypted = true;
    assert!(
        check(
            &forum,
            &event("m.room.join_rules", "", &invite_only),
            &externals
        )
        .is_ok()
    );
    let private = room(AccessRule::Restricted);
    assert!(
        check(
            &private,
            &event("m.room.encryption", "", &encryption),
            &externals
        )
        .is_ok()
    );
}

#[test]
fn externals_hold_no_power_and_open_rooms_give_none_by_default() {
    let externals = externals();
    let externals = Externals(&externals, &[]);
    let levels = |users_default: i64, guest: i64| {
        json!({"users_default": users_default,
               "users": {"@alice:finances.example": 100, "@guest:externe.example": guest}})
    };
    let restricted = room(AccessRule::Restricted);
    let unrestricted = room(AccessRule::Unrestricted);
    fn power(content: &JsonValue) -> EventFacts<'_> {
        event("m.room.power_levels", "", content)
    }
    assert!(check(&unrestricted, &power(&levels(0, 0)), &externals).is_ok());
    assert!(check(&unrestricted, &power(&levels(0, 50)), &externals).is_err());
    assert!(check(&unrestricted, &power(&levels(10, 0)), &externals).is_err());
    assert!(check(&restricted, &power(&levels(10, 0)), &externals).is_ok());
    assert!(check(&restricted, &power(&levels(0, 1)), &externals).is_err());
}

#[test]
fn a_room_without_a_rule_is_restricted_until_opened() {
    let externals = externals();
    let externals = Externals(&externals, &[]);
    let invite = json!({"membership": "invite"});
    let guest_invited = event("m.room.member", "@guest:externe.example", &invite);
    let mut facts = RoomFacts {
        rule: None,
        ..room(AccessRule::Restricted)
    };
    assert!(check(&facts, &guest_invited, &externals).is_err());
    let open = json!({"rule": "unrestricted"});
    facts.published = true;
    assert!(check(&facts, &event(ACCESS_RULES_EVENT, "", &open), &externals).is_err());
    facts.published = false;
    assert!(check(&facts, &event(ACCESS_RULES_EVENT, "", &open), &externals).is_ok());
    facts.rule = Some(AccessRule::Unrestricted);
    assert!(check(&facts, &guest_invited, &externals).is_ok());
}
