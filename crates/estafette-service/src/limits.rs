//! Bounds on what clients may ask the server to search or match, so that a request's cost
//! stays proportional to what it asks for (and inside what the database accepts: SQLite
//! refuses LIKE patterns over 50,000 bytes).

use crate::{ServiceError, ServiceResult};

/// Longest search term (user directory, room directory, message search).
pub(crate) const MAX_SEARCH_TERM_BYTES: usize = 1_000;
/// Longest glob pattern (push rules, filters' event types).
pub(crate) const MAX_PATTERN_BYTES: usize = 1_000;
/// Largest filter definition, as JSON.
pub(crate) const MAX_FILTER_BYTES: usize = 64 * 1024;
/// Largest push rule, as JSON (its patterns and conditions).
pub(crate) const MAX_PUSH_RULE_BYTES: usize = 8 * 1024;
/// Most push rules of one user, the defaults included.
pub(crate) const MAX_PUSH_RULES: usize = 1_000;
/// Most entries in one list of a filter (event types, senders, rooms).
pub(crate) const MAX_FILTER_ENTRIES: usize = 1_000;

/// Refuses `value` when it is longer than `max` bytes.
pub(crate) fn bounded<'a>(what: &str, value: &'a str, max: usize) -> ServiceResult<&'a str> {
    if value.len() > max {
        return Err(ServiceError::InvalidParam(format!(
            "{what} is {} bytes long; at most {max} are accepted",
            value.len()
        )));
    }
    Ok(value)
}

/// Matches `value` against a filter's `pattern`, where `*` stands for any characters.
/// Linear backtracking to the last `*` only: a pattern of many stars costs O(n·m), never
/// an exponential search.
pub(crate) fn glob(pattern: &str, value: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let value: Vec<char> = value.chars().collect();
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        if p < pattern.len() && pattern[p] != '*' && pattern[p] == value[v] {
            p += 1;
            v += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, v));
            p += 1;
        } else if let Some((star_p, star_v)) = star {
            p = star_p + 1;
            v = star_v + 1;
            star = Some((star_p, star_v + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_the_spec_says() {
        assert!(glob("m.*", "m.room.message"));
        assert!(glob("*.message", "m.room.message"));
        assert!(glob("m.*.member", "m.room.member"));
        assert!(glob("m.room.message", "m.room.message"));
        assert!(!glob("m.room.member", "m.room.message"));
        assert!(glob("*", ""));
        assert!(!glob("org.*", "m.room.message"));
        assert!(!glob("m.room", "m.room.message"));
    }

    #[test]
    fn many_stars_stay_cheap() {
        let pattern = format!("{}b", "*a".repeat(400));
        let value = "a".repeat(5_000);
        assert!(!glob(&pattern, &value));
    }

    #[test]
    fn long_values_are_refused_with_their_length() {
        assert!(bounded("search_term", "short", 10).is_ok());
        let long = "x".repeat(11);
        let refused = bounded("search_term", &long, 10);
        assert!(matches!(refused, Err(ServiceError::InvalidParam(m)) if m.contains("11 bytes")));
    }
}
