//! Application service registrations (spec "Application Service API", BRIDGES.md §1): one
//! YAML file per service, read once at start-up. A file that is wrong stops the server, named
//! with the key at fault, rather than leaving a bridge half-working.

use std::path::{Path, PathBuf};

use ruma::{OwnedUserId, ServerName, UserId};
use serde::Deserialize;

use super::ConfigError;

/// Where the registrations are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppservicesConfig {
    /// The registration files, one application service each (Synapse's
    /// `app_service_config_files`).
    pub files: Vec<PathBuf>,
    /// IDs of services whose users the room access rules treat as externals (TCHAP.md §3):
    /// a bridge to people outside the administration. Otherwise bridged users are local
    /// users, agents like any other.
    pub externals: Vec<String>,
}

/// One namespace entry: a regex matched from the start of the whole identifier (Python's
/// `re.match`, as Synapse does) and whether the service owns what it matches alone.
#[derive(Debug, Clone)]
pub struct Namespace {
    pub regex: regex::Regex,
    pub exclusive: bool,
}

impl Namespace {
    pub fn matches(&self, id: &str) -> bool {
        self.regex.is_match(id)
    }
}

/// A loaded registration.
#[derive(Clone)]
pub struct Registration {
    pub id: String,
    /// Where the service listens, without a trailing `/`; `None` (an explicit `null`): no
    /// traffic at all.
    pub url: Option<String>,
    pub as_token: String,
    pub hs_token: String,
    /// The service's own user.
    pub sender: OwnedUserId,
    pub users: Vec<Namespace>,
    pub aliases: Vec<Namespace>,
    pub rooms: Vec<Namespace>,
    pub rate_limited: bool,
    pub protocols: Vec<String>,
    /// Ephemeral events under the stable key `ephemeral` (MSC2409 merged).
    pub receive_ephemeral: bool,
    /// Ephemeral events under `de.sorunome.msc2409.ephemeral`, the key bot-sdk reads.
    pub push_ephemeral_unstable: bool,
    /// Device lists and one-time key counts in transactions (MSC3202).
    pub device_extensions: bool,
    /// The service manages its users' devices itself and never logs them in (MSC4190).
    pub device_management: bool,
    /// The addresses its token is accepted from (Synapse's `ip_range_whitelist`); any
    /// when empty.
    pub ip_ranges: Vec<ipnet::IpNet>,
    /// Its users are externals under the room access rules.
    pub external: bool,
    /// The file it came from, for messages.
    pub source: PathBuf,
}

impl std::fmt::Debug for Registration {
    // The tokens are secrets: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("sender", &self.sender)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Registration {
    /// Whether the user is the service's own or in its users namespace (exclusive or not).
    pub fn is_user_of(&self, user_id: &UserId) -> bool {
        user_id == self.sender || self.users.iter().any(|ns| ns.matches(user_id.as_str()))
    }

    pub fn owns_user_exclusively(&self, user_id: &UserId) -> bool {
        self.users
            .iter()
            .any(|ns| ns.exclusive && ns.matches(user_id.as_str()))
    }

    pub fn owns_alias_exclusively(&self, alias: &str) -> bool {
        self.aliases
            .iter()
            .any(|ns| ns.exclusive && ns.matches(alias))
    }

    pub fn matches_alias(&self, alias: &str) -> bool {
        self.aliases.iter().any(|ns| ns.matches(alias))
    }

    pub fn matches_room(&self, room_id: &str) -> bool {
        self.rooms.iter().any(|ns| ns.matches(room_id))
    }

    pub fn matches_user(&self, user_id: &str) -> bool {
        self.users.iter().any(|ns| ns.matches(user_id))
    }

    /// Whether the service's token is accepted from `ip` (the connection's address).
    pub fn accepts_from(&self, ip: Option<std::net::IpAddr>) -> bool {
        self.ip_ranges.is_empty()
            || ip.is_some_and(|ip| self.ip_ranges.iter().any(|range| range.contains(&ip)))
    }

    /// Whether the service asked for ephemeral events under either key (which also brings
    /// it to-device messages).
    pub fn wants_ephemeral(&self) -> bool {
        self.receive_ephemeral || self.push_ephemeral_unstable
    }
}

/// The file as written. Unknown keys are ignored: real files carry keys of other servers.
#[derive(Deserialize)]
struct RawRegistration {
    id: String,
    /// `Some(None)` is an explicit `null`; a missing key is refused.
    #[serde(default, deserialize_with = "present")]
    url: Option<Option<String>>,
    as_token: String,
    hs_token: String,
    sender_localpart: String,
    namespaces: RawNamespaces,
    #[serde(default = "yes")]
    rate_limited: bool,
    #[serde(default)]
    protocols: Option<Vec<String>>,
    #[serde(default)]
    receive_ephemeral: bool,
    #[serde(default, rename = "de.sorunome.msc2409.push_ephemeral")]
    push_ephemeral: bool,
    #[serde(default, rename = "org.matrix.msc3202")]
    msc3202: bool,
    #[serde(default, rename = "io.element.msc4190")]
    msc4190: bool,
    #[serde(default)]
    ip_range_whitelist: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
struct RawNamespaces {
    #[serde(default)]
    users: Option<Vec<RawNamespace>>,
    #[serde(default)]
    aliases: Option<Vec<RawNamespace>>,
    #[serde(default)]
    rooms: Option<Vec<RawNamespace>>,
}

#[derive(Deserialize)]
struct RawNamespace {
    regex: String,
    exclusive: bool,
}

fn yes() -> bool {
    true
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl AppservicesConfig {
    /// Reads and checks every registration file: each on its own, then that no two share an
    /// `id`, an `as_token` or a sender.
    pub fn load(&self, server_name: &ServerName) -> Result<Vec<Registration>, ConfigError> {
        let mut loaded: Vec<Registration> = Vec::new();
        for path in &self.files {
            let mut registration = load_file(path, server_name)?;
            registration.external = self.externals.contains(&registration.id);
            for other in &loaded {
                let clash = if other.id == registration.id {
                    Some("id")
                } else if other.as_token == registration.as_token {
                    Some("as_token")
                } else if other.sender == registration.sender {
                    Some("sender_localpart")
                } else {
                    None
                };
                if let Some(key) = clash {
                    return Err(file_error(
                        path,
                        format!(
                            "`{key}` is already used by the registration in {}",
                            other.source.display()
                        ),
                    ));
                }
            }
            loaded.push(registration);
        }
        if let Some(unknown) = self
            .externals
            .iter()
            .find(|id| !loaded.iter().any(|r| &r.id == *id))
        {
            return Err(ConfigError::Invalid {
                key: "appservices.externals",
                reason: format!("`{unknown}` is the `id` of no registration file"),
            });
        }
        Ok(loaded)
    }
}

fn file_error(path: &Path, message: String) -> ConfigError {
    ConfigError::Parse {
        path: path.to_owned(),
        message,
    }
}

fn load_file(path: &Path, server_name: &ServerName) -> Result<Registration, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let raw: RawRegistration =
        serde_yaml::from_str(&text).map_err(|e| file_error(path, e.to_string()))?;
    let fail = |message: String| file_error(path, message);
    if raw.id.is_empty() || raw.id.contains('|') {
        return Err(fail(
            "`id` must be non-empty and must not contain `|`".into(),
        ));
    }
    let url = match raw.url {
        None => {
            return Err(fail(
                "missing field `url` (write `url: null` for a service that receives nothing)"
                    .into(),
            ));
        }
        Some(None) => None,
        Some(Some(url)) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(fail(format!(
                    "`url` must start with http:// or https://, not `{url}`"
                )));
            }
            Some(url.trim_end_matches('/').to_owned())
        }
    };
    if raw.as_token.is_empty() || raw.hs_token.is_empty() {
        return Err(fail("`as_token` and `hs_token` must not be empty".into()));
    }
    let needs_encoding = |c: char| !(c.is_ascii_alphanumeric() || "-._=/+".contains(c));
    if raw.sender_localpart.is_empty() || raw.sender_localpart.chars().any(needs_encoding) {
        return Err(fail(format!(
            "`sender_localpart` `{}` must be a plain user ID localpart",
            raw.sender_localpart
        )));
    }
    let sender = UserId::parse(format!("@{}:{server_name}", raw.sender_localpart))
        .map_err(|e| fail(format!("`sender_localpart`: {e}")))?;
    let compile = |kind: &str, entries: Option<Vec<RawNamespace>>| {
        entries
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(index, entry)| {
                // Anchored at the start only, like Python's `re.match`.
                regex::Regex::new(&format!("^(?:{})", entry.regex))
                    .map(|regex| Namespace {
                        regex,
                        exclusive: entry.exclusive,
                    })
                    .map_err(|e| {
                        fail(format!(
                            "`namespaces.{kind}[{index}].regex` `{}` does not compile \
                             (Python-only syntax such as look-around is not supported): {e}",
                            entry.regex
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let ip_ranges = raw
        .ip_range_whitelist
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(index, range)| {
            // A bare address is a range of one, as Synapse reads it.
            range
                .parse::<ipnet::IpNet>()
                .or_else(|_| range.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    fail(format!(
                        "`ip_range_whitelist[{index}]` `{range}` is neither a CIDR range nor an address"
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Registration {
        users: compile("users", raw.namespaces.users)?,
        aliases: compile("aliases", raw.namespaces.aliases)?,
        rooms: compile("rooms", raw.namespaces.rooms)?,
        id: raw.id,
        url,
        as_token: raw.as_token,
        hs_token: raw.hs_token,
        sender,
        rate_limited: raw.rate_limited,
        protocols: raw.protocols.unwrap_or_default(),
        receive_ephemeral: raw.receive_ephemeral,
        push_ephemeral_unstable: raw.push_ephemeral,
        device_extensions: raw.msc3202,
        device_management: raw.msc4190,
        ip_ranges,
        external: false,
        source: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    const BASE: &str = "id: bridge\nurl: http://127.0.0.1:9000/\nas_token: a1\nhs_token: h1\n\
        sender_localpart: bot\nnamespaces:\n  users:\n    - regex: '@_br_.*:example\\.org'\n      \
        exclusive: true\n  aliases: []\ngroup_id: '+legacy:example.org'\n";

    fn load(files: Vec<PathBuf>) -> Result<Vec<Registration>, ConfigError> {
        let server: &ServerName = "example.org".try_into().unwrap();
        AppservicesConfig {
            files,
            externals: Vec::new(),
        }
        .load(server)
    }

    #[test]
    fn a_synapse_style_file_loads_with_start_anchored_regexes() {
        let dir = std::env::temp_dir().join(format!("as-ok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let loaded = load(vec![write(&dir, "a.yaml", BASE)]).unwrap();
        let reg = &loaded[0];
        assert_eq!(reg.url.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(reg.rate_limited);
        let user = |id: &str| UserId::parse(id).unwrap();
        assert!(reg.owns_user_exclusively(&user("@_br_alice:example.org")));
        // Python's re.match: anchored at the start, not the end.
        assert!(!reg.owns_user_exclusively(&user("@x_br_alice:example.org")));
        assert!(reg.is_user_of(&user("@bot:example.org")));
        assert!(!format!("{reg:?}").contains("a1"));
    }

    #[test]
    fn a_wrong_file_names_itself_and_the_key_at_fault() {
        let dir = std::env::temp_dir().join(format!("as-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            (BASE.replace("url: http://127.0.0.1:9000/\n", ""), "url"),
            (BASE.replace("      exclusive: true\n", "\n"), "exclusive"),
            (
                BASE.replace("@_br_.*", "(?<=x)@_br_.*"),
                "namespaces.users[0].regex",
            ),
            (
                BASE.replace("sender_localpart: bot", "sender_localpart: 'b t'"),
                "sender_localpart",
            ),
            (
                format!("{BASE}ip_range_whitelist: ['10.0.0.0/8', 'intranet']\n"),
                "ip_range_whitelist[1]",
            ),
        ];
        for (text, key) in cases {
            let path = write(&dir, "bad.yaml", &text);
            let err = load(vec![path]).unwrap_err().to_string();
            assert!(err.contains("bad.yaml") && err.contains(key), "{err}");
        }
        let null_url = load(vec![write(
            &dir,
            "null.yaml",
            &BASE.replace("http://127.0.0.1:9000/", "null"),
        )]);
        assert!(null_url.unwrap()[0].url.is_none());
        let ranged = write(
            &dir,
            "ranged.yaml",
            &format!("{BASE}ip_range_whitelist: ['10.0.0.0/8', '192.0.2.7']\n"),
        );
        let ranged = &load(vec![ranged]).unwrap()[0];
        assert!(ranged.accepts_from(Some("10.1.2.3".parse().unwrap())));
        assert!(ranged.accepts_from(Some("192.0.2.7".parse().unwrap())));
        assert!(!ranged.accepts_from(Some("192.0.2.8".parse().unwrap())));
        assert!(!ranged.accepts_from(None));
        let unknown = AppservicesConfig {
            files: vec![write(&dir, "a.yaml", BASE)],
            externals: vec!["whatsapp".to_owned()],
        }
        .load("example.org".try_into().unwrap())
        .unwrap_err()
        .to_string();
        assert!(
            unknown.contains("appservices.externals") && unknown.contains("whatsapp"),
            "{unknown}"
        );
        let first = write(&dir, "one.yaml", BASE);
        let second = write(&dir, "two.yaml", &BASE.replace("id: bridge", "id: other"));
        let err = load(vec![first, second]).unwrap_err().to_string();
        assert!(
            err.contains("two.yaml") && err.contains("as_token"),
            "{err}"
        );
    }
}
