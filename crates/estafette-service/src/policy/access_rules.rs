//! Room access rules (TCHAP.md §4): the `im.vector.room.access_rules` state event says whether
//! externals may be in a room (`restricted`: never, `unrestricted`: when invited) or whether
//! it is a one-to-one conversation (`direct`). These are the rules every event of such a room
//! must also pass, on every server of the federation, so that all agree on the room's state.
//! A room without the event is under the spec's rules only.

use std::sync::Arc;

use estafette_core::Registration;
use ruma::UserId;
use serde_json::Value as JsonValue;

/// The state event's type.
pub const ACCESS_RULES_EVENT: &str = "im.vector.room.access_rules";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessRule {
    Restricted,
    Unrestricted,
    Direct,
}

impl AccessRule {
    /// The rule of an event's content (unknown keys, such as `visibility`, tolerated).
    pub fn of(content: &JsonValue) -> Option<Self> {
        match content.get("rule")?.as_str()? {
            "restricted" => Some(Self::Restricted),
            "unrestricted" => Some(Self::Unrestricted),
            "direct" => Some(Self::Direct),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restricted => "restricted",
            Self::Unrestricted => "unrestricted",
            Self::Direct => "direct",
        }
    }
}

/// What the rules need to know of a room, before the event.
#[derive(Debug, Default)]
pub struct RoomFacts {
    /// `None`: the room has no access rules event.
    pub rule: Option<AccessRule>,
    pub join_rule: Option<String>,
    pub encrypted: bool,
    /// Published in this server's room directory.
    pub published: bool,
    /// Joined and invited members with their membership: all of them in a direct room or
    /// for a change of rule, otherwise the event's target only.
    pub members: Vec<(String, String)>,
    /// Email invitations (`m.room.third_party_invite` with content) still pending, counted
    /// where `members` lists everyone.
    pub pending_email_invites: usize,
}

impl RoomFacts {
    /// Whether the rules need every member (and email invitation) to judge `event`.
    pub fn needs_everyone(rule: Option<AccessRule>, event: &EventFacts<'_>) -> bool {
        rule == Some(AccessRule::Direct) || event.kind == ACCESS_RULES_EVENT
    }
}

/// The event to check.
#[derive(Debug)]
pub struct EventFacts<'a> {
    pub kind: &'a str,
    pub state_key: Option<&'a str>,
    pub sender: &'a str,
    pub content: &'a JsonValue,
}

/// Who the externals are: the users of the externals' servers, and those of the application
/// services the configuration treats as bridges to outside people (`appservices.externals`).
pub struct Externals<'a>(pub &'a [String], pub &'a [Arc<Registration>]);

impl Externals<'_> {
    pub fn contains(&self, user_id: &str) -> bool {
        let server = user_id.split_once(':').map(|(_, server)| server);
        server.is_some_and(|server| self.0.iter().any(|external| external == server))
            || (self.1.iter().any(|service| service.external)
                && UserId::parse(user_id).is_ok_and(|user_id| {
                    self.1
                        .iter()
                        .any(|service| service.external && service.is_user_of(&user_id))
                }))
    }
}

/// Whether `user_id` is an external the room access rules hold to (TCHAP.md §3): the rules
/// are on and the user is of an externals' server or of a bridge to outside people.
pub fn is_external_under_rules(context: &crate::Context, user_id: &str) -> bool {
    let policy = &context.config.policy;
    policy.room_access_rules
        && Externals(&policy.external_servers, context.appservices.all()).contains(user_id)
}

/// Whether the room's access rules let `event` in; the refusal says which rule.
pub fn check(
    room: &RoomFacts,
    event: &EventFacts<'_>,
    externals: &Externals<'_>,
) -> Result<(), String> {
    if event.kind == ACCESS_RULES_EVENT && event.state_key == Some("") {
        return check_rule_change(room, event);
    }
    // A room without the event (made before the rules, or elsewhere) is restricted.
    let rule = room.rule.unwrap_or(AccessRule::Restricted);
    match (event.kind, event.state_key) {
        ("m.room.member", Some(target)) => check_membership(room, rule, target, event, externals),
        ("m.room.third_party_invite", Some(_)) if rule == AccessRule::Direct => {
            let invited = !event.content.as_object().is_none_or(|c| c.is_empty());
            if invited && room.members.len() + room.pending_email_invites >= 2 {
                return Err("a direct room holds two people: no more invitations".to_owned());
            }
            Ok(())
        }
        ("m.room.power_levels", Some("")) => check_power_levels(rule, event.content, externals),
        ("m.room.join_rules", Some("")) => {
            let new = event.content.get("join_rule").and_then(JsonValue::as_str);
            if new == Some("public") && rule == AccessRule::Direct {
                return Err("a direct room cannot be public".to_owned());
            }
            if room.join_rule.as_deref() == Some("public")
                && new != Some("public")
                && !room.encrypted
            {
                return Err("a public room stays public unless it is encrypted".to_owned());
            }
            Ok(())
        }
        ("m.room.name" | "m.room.topic" | "m.room.avatar", Some(""))
            if rule == AccessRule::Direct =>
        {
            Err(format!(
                "a direct room has no {}",
                &event.kind["m.room.".len()..]
            ))
        }
        ("m.room.guest_access", Some(""))
            if event
                .content
                .get("guest_access")
                .and_then(JsonValue::as_str)
                == Some("can_join") =>
        {
            Err("guests are never let in".to_owned())
        }
        ("m.room.encryption", Some("")) if room.join_rule.as_deref() == Some("public") => {
            Err("a public room (a forum) is not encrypted".to_owned())
        }
        _ => Ok(()),
    }
}

fn check_rule_change(room: &RoomFacts, event: &EventFacts<'_>) -> Result<(), String> {
    let Some(new) = AccessRule::of(event.content) else {
        return Err("the access rule is restricted, unrestricted or direct".to_owned());
    };
    match (room.rule, new) {
        (Some(current), new) if current == new => Ok(()),
        (None | Some(AccessRule::Restricted), AccessRule::Unrestricted) if room.published => {
            Err("a room published in the directory stays restricted".to_owned())
        }
        (None | Some(AccessRule::Restricted), AccessRule::Unrestricted) => Ok(()),
        (Some(current), new) => Err(format!(
            "the access rule cannot change from {} to {}",
            current.as_str(),
            new.as_str()
        )),
        (None, AccessRule::Direct)
            if room.members.len() > 2
                || room.pending_email_invites > 1
                || room.members.len() + room.pending_email_invites > 2 =>
        {
            Err("a direct room holds two people at most".to_owned())
        }
        (None, AccessRule::Direct) if room.join_rule.as_deref() == Some("public") => {
            Err("a direct room cannot be public".to_owned())
        }
        (None, _) => Ok(()),
    }
}

fn check_membership(
    room: &RoomFacts,
    rule: AccessRule,
    target: &str,
    event: &EventFacts<'_>,
    externals: &Externals<'_>,
) -> Result<(), String> {
    let membership = event.content.get("membership").and_then(JsonValue::as_str);
    let current = room
        .members
        .iter()
        .find(|(user, _)| user == target)
        .map(|(_, membership)| membership.as_str());
    let entering = matches!(membership, Some("join" | "invite" | "knock"));
    match rule {
        AccessRule::Restricted if entering && externals.contains(target) => Err(format!(
            "{target} is an external: this room is restricted to the State's agents"
        )),
        AccessRule::Unrestricted
            if membership == Some("join")
                && externals.contains(target)
                && current != Some("invite")
                && current != Some("join") =>
        {
            Err(format!(
                "{target} is an external: they join only once invited"
            ))
        }
        AccessRule::Direct => {
            let is_member = current.is_some();
            if entering && !is_member && room.members.len() + room.pending_email_invites >= 2 {
                return Err("a direct room holds two people at most".to_owned());
            }
            if room.members.len() >= 2 && !is_member {
                return Err("only the two people of a direct room are its members".to_owned());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_power_levels(
    rule: AccessRule,
    content: &JsonValue,
    externals: &Externals<'_>,
) -> Result<(), String> {
    let level = |value: &JsonValue| value.as_i64().or_else(|| value.as_str()?.parse().ok());
    if rule == AccessRule::Unrestricted
        && content.get("users_default").and_then(level).unwrap_or(0) != 0
    {
        return Err("where externals may be, users_default stays 0".to_owned());
    }
    let users = content.get("users").and_then(JsonValue::as_object);
    for (user, value) in users.into_iter().flatten() {
        if externals.contains(user) && level(value).unwrap_or(0) != 0 {
            return Err(format!("{user} is an external and holds no power"));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "access_rules_tests.rs"]
mod tests;
