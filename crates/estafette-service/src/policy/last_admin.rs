//! A room never loses its last administrator (TCHAP.md §4): when the last member with power
//! 100 leaves, the highest members above the default are promoted (never externals); if there
//! are none, everyone becomes one (`users_default: 100`), or, in a room open to externals,
//! every member who is not an external.

use serde_json::{Value as JsonValue, json};

use super::access_rules::{AccessRule, Externals};

const ADMIN: i64 = 100;

/// The power levels to send before `leaving` leaves, when they are the last admin among the
/// `members` (joined, `leaving` included); `creators` (room v12) are admins for good.
pub fn promotion(
    levels: &JsonValue,
    creators: &[String],
    members: &[String],
    leaving: &str,
    rule: AccessRule,
    externals: &Externals<'_>,
) -> Option<JsonValue> {
    let level_of = |value: &JsonValue| value.as_i64().or_else(|| value.as_str()?.parse().ok());
    let default = levels.get("users_default").and_then(level_of).unwrap_or(0);
    let explicit = |user: &str| levels.get("users")?.get(user).and_then(level_of);
    let level = |user: &str| {
        if creators.iter().any(|creator| creator == user) {
            i64::MAX
        } else {
            explicit(user).unwrap_or(default)
        }
    };
    let others: Vec<&str> = members
        .iter()
        .map(String::as_str)
        .filter(|member| *member != leaving)
        .collect();
    if level(leaving) < ADMIN || others.is_empty() || others.iter().any(|m| level(m) >= ADMIN) {
        return None;
    }
    let agents: Vec<&str> = others
        .iter()
        .copied()
        .filter(|member| !externals.contains(member))
        .collect();
    let highest = agents
        .iter()
        .filter_map(|member| explicit(member).filter(|level| *level > default))
        .max();
    let mut levels = levels.clone();
    let promoted: Vec<&str> = match (highest, rule) {
        (Some(highest), _) => agents
            .iter()
            .copied()
            .filter(|member| explicit(member) == Some(highest))
            .collect(),
        (None, AccessRule::Unrestricted) => agents,
        (None, _) => {
            levels["users_default"] = json!(ADMIN);
            Vec::new()
        }
    };
    if !promoted.is_empty() {
        if !levels["users"].is_object() {
            levels["users"] = json!({});
        }
        for member in promoted {
            levels["users"][member] = json!(ADMIN);
        }
    }
    Some(levels)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "@alice:finances.example";
    const BOB: &str = "@bob:finances.example";
    const CAROL: &str = "@carol:interieur.example";
    const GUEST: &str = "@guest:externe.example";

    fn members() -> Vec<String> {
        [ALICE, BOB, CAROL, GUEST].map(str::to_owned).to_vec()
    }

    fn promote(levels: JsonValue, rule: AccessRule) -> Option<JsonValue> {
        let externals = vec!["externe.example".to_owned()];
        promotion(
            &levels,
            &[],
            &members(),
            ALICE,
            rule,
            &Externals(&externals, &[]),
        )
    }

    #[test]
    fn the_highest_members_above_the_default_are_promoted_never_externals() {
        let levels = json!({"users": {ALICE: 100, BOB: 50, CAROL: 50, GUEST: 75}});
        let promoted = promote(levels, AccessRule::Unrestricted).unwrap();
        assert_eq!(promoted["users"][BOB], 100);
        assert_eq!(promoted["users"][CAROL], 100);
        assert_eq!(promoted["users"][GUEST], 75);
        let levels = json!({"users": {ALICE: 100, BOB: 50, CAROL: 20}});
        let promoted = promote(levels, AccessRule::Restricted).unwrap();
        assert_eq!(
            (
                promoted["users"][BOB].clone(),
                promoted["users"][CAROL].clone()
            ),
            (json!(100), json!(20))
        );
    }

    #[test]
    fn without_such_members_everyone_or_every_agent_becomes_admin() {
        let levels = json!({"users": {ALICE: 100}, "users_default": 0});
        let private = promote(levels.clone(), AccessRule::Restricted).unwrap();
        assert_eq!(private["users_default"], 100);
        let open = promote(levels, AccessRule::Unrestricted).unwrap();
        assert_eq!(open["users_default"], 0);
        assert_eq!(open["users"][BOB], 100);
        assert_eq!(open["users"][CAROL], 100);
        assert!(open["users"].get(GUEST).is_none());
    }

    #[test]
    fn nothing_changes_while_another_admin_stays_or_for_a_member_leaving() {
        let levels = json!({"users": {ALICE: 100, BOB: 100}});
        assert!(promote(levels, AccessRule::Restricted).is_none());
        let levels = json!({"users": {ALICE: 50, BOB: 100}});
        assert!(promote(levels, AccessRule::Restricted).is_none());
        let externals = vec![];
        let creators = [BOB.to_owned()];
        let levels = json!({"users": {ALICE: 100}});
        let with_creator = promotion(
            &levels,
            &creators,
            &members(),
            ALICE,
            AccessRule::Restricted,
            &Externals(&externals, &[]),
        );
        assert!(with_creator.is_none(), "a v12 creator stays admin");
    }
}
