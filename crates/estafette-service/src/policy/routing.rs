//! Which homeserver an email address belongs to (TCHAP.md §1): the operator's ordered rules
//! file, exact addresses first, then anchored patterns, first match wins. The file is read
//! again when it changes; a broken file at start-up stops the server naming the line at
//! fault, a broken file later keeps the previous rules and logs why.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use regex::Regex;
use serde::Deserialize;

use crate::lock;

/// How often the file is looked at for changes, at most.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// Where an address belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The server the address's owner registers on.
    pub hs: String,
    /// The same server's twin on the other network (intranet or internet).
    pub shadow_hs: Option<String>,
    /// The owner registers only once invited (the externals' catch-all).
    pub requires_invite: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<toml::Spanned<RawRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    address: Option<String>,
    pattern: Option<String>,
    hs: String,
    shadow_hs: Option<String>,
    #[serde(default)]
    requires_invite: bool,
}

/// The rules of one version of the file.
#[derive(Debug, Default)]
pub struct RoutingRules {
    exact: HashMap<String, Route>,
    patterns: Vec<(Regex, Route)>,
}

impl RoutingRules {
    /// Reads a rules file; the error names the line at fault.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: RulesFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut rules = Self::default();
        for spanned in file.rule {
            let line = text[..spanned.span().start].matches('\n').count() + 1;
            let at_line = |why: String| format!("the rule at line {line}: {why}");
            let rule = spanned.into_inner();
            for server in std::iter::once(&rule.hs).chain(&rule.shadow_hs) {
                ruma::ServerName::parse(server)
                    .map_err(|e| at_line(format!("{server:?} is not a server name: {e}")))?;
            }
            let route = Route {
                hs: rule.hs,
                shadow_hs: rule.shadow_hs,
                requires_invite: rule.requires_invite,
            };
            match (rule.address, rule.pattern) {
                (Some(address), None) => {
                    let address =
                        super::EmailAddress::parse(&address).map_err(|e| at_line(e.to_string()))?;
                    rules.exact.entry(address.to_string()).or_insert(route);
                }
                (None, Some(pattern)) => {
                    // Anchored whatever the operator wrote: a pattern matches whole addresses.
                    let regex = Regex::new(&format!("^(?:{pattern})$"))
                        .map_err(|e| at_line(format!("{pattern:?} is not a regex: {e}")))?;
                    rules.patterns.push((regex, route));
                }
                _ => return Err(at_line("give either address or pattern".to_owned())),
            }
        }
        Ok(rules)
    }

    /// Every server an address is routed to (shadow servers are the same servers' other
    /// names, not other servers of the federation).
    pub fn servers(&self) -> impl Iterator<Item = &str> {
        let routes = self
            .exact
            .values()
            .chain(self.patterns.iter().map(|(_, route)| route));
        routes.map(|route| route.hs.as_str())
    }

    /// The first rule for `address` (lowercase), exact addresses before patterns.
    pub fn route(&self, address: &str) -> Option<&Route> {
        self.exact.get(address).or_else(|| {
            self.patterns
                .iter()
                .find(|(regex, _)| regex.is_match(address))
                .map(|(_, route)| route)
        })
    }
}

/// What the file looked like when it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    modified: Option<SystemTime>,
    len: u64,
}

struct Loaded {
    rules: Arc<RoutingRules>,
    version: Version,
    checked: Instant,
}

/// The rules file and its latest good version.
pub struct RoutingTable {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

impl RoutingTable {
    /// Reads the file for the first time: any error stops the server.
    pub fn load(path: &Path) -> Result<Self, String> {
        let (rules, version) = read(path)?;
        Ok(Self {
            path: path.to_owned(),
            loaded: Mutex::new(Loaded {
                rules: Arc::new(rules),
                version,
                checked: Instant::now(),
            }),
        })
    }

    /// The rules now in force, read again first if the file changed since.
    pub fn current(&self) -> Arc<RoutingRules> {
        let mut loaded = lock(&self.loaded);
        if loaded.checked.elapsed() >= RELOAD_CHECK {
            loaded.checked = Instant::now();
            let now = version(&self.path).ok();
            if now.is_some_and(|now| now != loaded.version) {
                match read(&self.path) {
                    Ok((rules, version)) => {
                        tracing::info!(path = %self.path.display(), "email routing rules reloaded");
                        loaded.rules = Arc::new(rules);
                        loaded.version = version;
                    }
                    Err(e) => {
                        tracing::warn!(
                            path = %self.path.display(),
                            "email routing rules not reloaded, the previous ones stay: {e}"
                        );
                        // Not tried again until the file changes once more.
                        if let Some(now) = now {
                            loaded.version = now;
                        }
                    }
                }
            }
        }
        loaded.rules.clone()
    }
}

fn version(path: &Path) -> std::io::Result<Version> {
    let metadata = std::fs::metadata(path)?;
    Ok(Version {
        modified: metadata.modified().ok(),
        len: metadata.len(),
    })
}

fn read(path: &Path) -> Result<(RoutingRules, Version), String> {
    let shown = path.display();
    let version = version(path).map_err(|e| format!("{shown}: {e}"))?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    let rules = RoutingRules::parse(&text).map_err(|e| format!("{shown}: {e}"))?;
    Ok((rules, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"
[[rule]]
pattern = "[^@]+@finances\\.example"
hs = "agent.finances.example"
shadow_hs = "agent.finances.intranet.example"

[[rule]]
address = "Chef@Finances.example"
hs = "agent.interieur.example"

[[rule]]
pattern = "^.*$"
hs = "agent.externe.example"
requires_invite = true
"#;

    #[test]
    fn exact_addresses_come_before_patterns_and_the_first_match_wins() {
        let rules = RoutingRules::parse(RULES).unwrap();
        let hs = |address: &str| rules.route(address).map(|r| r.hs.as_str());
        assert_eq!(hs("chef@finances.example"), Some("agent.interieur.example"));
        assert_eq!(hs("jean@finances.example"), Some("agent.finances.example"));
        let finances = rules.route("jean@finances.example").unwrap();
        assert_eq!(
            finances.shadow_hs.as_deref(),
            Some("agent.finances.intranet.example")
        );
        assert!(!finances.requires_invite);
        // Anchored: a pattern never matches inside a longer address.
        let external = rules.route("jean@finances.example.evil.org").unwrap();
        assert_eq!(external.hs, "agent.externe.example");
        assert!(external.requires_invite);
    }

    #[test]
    fn broken_rules_name_their_line() {
        for (broken, line) in [
            ("[[rule]]\npattern = \"(\"\nhs = \"a.example\"\n", "line 1"),
            (
                "[[rule]]\naddress = \"a@b.example\"\nhs = \"a.example\"\n\n[[rule]]\nhs = \"b.example\"\n",
                "line 5",
            ),
            (
                "[[rule]]\naddress = \"a@b.example\"\npattern = \".*\"\nhs = \"a.example\"\n",
                "line 1",
            ),
            (
                "[[rule]]\naddress = \"a@b.example\"\nhs = \"not a name\"\n",
                "line 1",
            ),
            (
                "[[rule]]\naddress = \"a@b@c.example\"\nhs = \"a.example\"\n",
                "line 1",
            ),
            ("[[rule]]\naddress = \"a@b.example\"\n", "line"),
            (
                "[[rule]]\naddress = \"a@b.example\"\nhs = \"a.example\"\ncolour = 1\n",
                "line",
            ),
        ] {
            let error = RoutingRules::parse(broken).expect_err(broken);
            assert!(error.contains(line), "{broken:?}: {error}");
        }
    }

    #[test]
    fn a_changed_file_is_read_again_and_a_broken_one_keeps_the_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routing.toml");
        std::fs::write(&path, RULES).unwrap();
        let table = RoutingTable::load(&path).unwrap();
        let hs = |table: &RoutingTable| table.current().route("x@y.example").map(|r| r.hs.clone());
        assert_eq!(hs(&table).as_deref(), Some("agent.externe.example"));

        std::fs::write(
            &path,
            "[[rule]]\npattern = \".*\"\nhs = \"catch.all.example\"\n",
        )
        .unwrap();
        lock(&table.loaded).checked -= RELOAD_CHECK;
        assert_eq!(hs(&table).as_deref(), Some("catch.all.example"));

        std::fs::write(&path, "[[rule]]\npattern = \"(\"\nhs = \"x.example\"\n").unwrap();
        lock(&table.loaded).checked -= RELOAD_CHECK;
        assert_eq!(hs(&table).as_deref(), Some("catch.all.example"), "kept");

        std::fs::write(&path, "[[rule\n").unwrap();
        assert!(RoutingTable::load(&path).is_err(), "refused at start-up");
    }
}
