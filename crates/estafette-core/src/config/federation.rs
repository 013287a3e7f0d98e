//! Federation: where it listens, which servers it talks to (and with which keys), how it
//! finds them and how it retries.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use ruma::ServerName;
use serde::Deserialize;

use super::{ConfigError, invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// Where the federation and key APIs listen (TLS); federation is off when unset.
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain and private key; a self-signed pair is generated into the data
    /// directory when these are unset.
    pub tls_certificate: Option<PathBuf>,
    pub tls_private_key: Option<PathBuf>,
    /// Do not verify other servers' certificates (tests only; logged as a warning).
    pub insecure_tls: bool,
    /// Servers this one federates with; empty means every server (open federation). Each
    /// is a name, or a name with the signing keys it must present (pinned).
    pub allowed_servers: Vec<AllowedServer>,
    /// Where other servers should send this server's federation traffic (`host[:port]`),
    /// served at `/.well-known/matrix/server`; nothing is served when unset.
    pub well_known_server: Option<String>,
    /// DNS servers (`IP:port`) for discovering other servers (SRV records and addresses);
    /// empty means the system's resolver configuration.
    pub nameservers: Vec<SocketAddr>,
    /// Notaries asked for a server's keys when that server cannot be reached directly;
    /// empty means keys are only ever fetched from their own server.
    pub trusted_key_servers: Vec<String>,
    /// The first wait before retrying a destination that failed; it doubles with every
    /// failure in a row, up to `retry_max_ms`.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// With several processes on one database, one of them delivers to each destination: it
    /// holds a lease this long, renewed before every transaction. A process that dies is
    /// replaced within this time and a half.
    pub lease_ms: u64,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            listen: None,
            tls_certificate: None,
            tls_private_key: None,
            insecure_tls: false,
            allowed_servers: Vec::new(),
            trusted_key_servers: Vec::new(),
            nameservers: Vec::new(),
            well_known_server: None,
            retry_initial_ms: 2_000,
            retry_max_ms: 600_000,
            lease_ms: 60_000,
        }
    }
}

/// One server of a closed federation: `"name"`, or `{ name = "…", keys = { "ed25519:…" =
/// "public key in unpadded base64" } }` to accept it only with those keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum AllowedServer {
    Name(String),
    Pinned(PinnedServer),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedServer {
    pub name: String,
    /// Key ID → public key; the server may present no other.
    pub keys: BTreeMap<String, String>,
}

impl AllowedServer {
    pub fn name(&self) -> &str {
        match self {
            Self::Name(name) => name,
            Self::Pinned(pinned) => &pinned.name,
        }
    }
}

impl From<String> for AllowedServer {
    fn from(name: String) -> Self {
        Self::Name(name)
    }
}

impl From<&str> for AllowedServer {
    fn from(name: &str) -> Self {
        Self::Name(name.to_owned())
    }
}

impl FederationConfig {
    /// Whether this server federates with `server`: every server in an open federation.
    pub fn allows(&self, server: &str) -> bool {
        self.allowed_servers.is_empty() || self.allowed_servers.iter().any(|s| s.name() == server)
    }

    /// The servers of a closed federation (none in an open one).
    pub fn allowed_names(&self) -> impl Iterator<Item = &str> {
        self.allowed_servers.iter().map(AllowedServer::name)
    }

    /// The only keys `server` may present, when they are pinned.
    pub fn pinned_keys(&self, server: &str) -> Option<&BTreeMap<String, String>> {
        self.allowed_servers.iter().find_map(|s| match s {
            AllowedServer::Pinned(pinned) if pinned.name == server => Some(&pinned.keys),
            _ => None,
        })
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.tls_certificate.is_some() != self.tls_private_key.is_some() {
            return Err(invalid(
                "federation.tls_certificate",
                "set both federation.tls_certificate and federation.tls_private_key, or neither",
            ));
        }
        if let Some(delegated) = &self.well_known_server {
            ServerName::parse(delegated).map_err(|e| {
                invalid(
                    "federation.well_known_server",
                    format!("'{delegated}' is not a server name: {e}"),
                )
            })?;
        }
        let server_lists = [
            ("federation.allowed_servers", self.allowed_names().collect()),
            (
                "federation.trusted_key_servers",
                self.trusted_key_servers
                    .iter()
                    .map(String::as_str)
                    .collect(),
            ),
        ];
        for (key, servers) in server_lists {
            let servers: Vec<&str> = servers;
            for server in servers {
                ServerName::parse(server)
                    .map_err(|e| invalid(key, format!("'{server}' is not a server name: {e}")))?;
            }
        }
        for server in &self.allowed_servers {
            if let AllowedServer::Pinned(pinned) = server {
                validate_pin(pinned)?;
            }
        }
        Ok(())
    }
}

fn validate_pin(pinned: &PinnedServer) -> Result<(), ConfigError> {
    let key = "federation.allowed_servers";
    let name = &pinned.name;
    if pinned.keys.is_empty() {
        return Err(invalid(key, format!("'{name}' pins no key")));
    }
    for (key_id, public_key) in &pinned.keys {
        ruma::OwnedServerSigningKeyId::try_from(key_id.as_str())
            .map_err(|e| invalid(key, format!("'{key_id}' of '{name}' is not a key ID: {e}")))?;
        let decoded =
            ruma::serde::Base64::<ruma::serde::base64::Standard, Vec<u8>>::parse(public_key)
                .map_err(|e| {
                    invalid(
                        key,
                        format!("the key {key_id} of '{name}' is not base64: {e}"),
                    )
                })?;
        if decoded.as_bytes().len() != 32 {
            return Err(invalid(
                key,
                format!("the key {key_id} of '{name}' is not an ed25519 public key (32 bytes)"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::Config;

    const KEY: &str = "l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ";

    #[test]
    fn allowed_servers_are_names_or_pinned_keys() {
        let config = Config::from_toml(&format!(
            "[federation]\nallowed_servers = [\"a.example\", \
             {{ name = \"b.example\", keys = {{ \"ed25519:b1\" = \"{KEY}\" }} }}]"
        ))
        .unwrap();
        let federation = &config.federation;
        assert!(federation.allows("a.example") && federation.allows("b.example"));
        assert!(!federation.allows("c.example"));
        assert_eq!(federation.pinned_keys("a.example"), None);
        let pinned = federation.pinned_keys("b.example").unwrap();
        assert_eq!(pinned.get("ed25519:b1").map(String::as_str), Some(KEY));
    }

    #[test]
    fn a_bad_pin_is_named() {
        let refused = |pin: &str| {
            Config::from_toml(&format!(
                "[federation]\nallowed_servers = [{{ name = \"b.example\", keys = {pin} }}]"
            ))
            .unwrap_err()
            .to_string()
        };
        assert!(refused("{}").contains("pins no key"));
        assert!(refused(&format!("{{ \"b1\" = \"{KEY}\" }}")).contains("not a key ID"));
        assert!(refused("{ \"ed25519:b1\" = \"not base64!\" }").contains("not base64"));
        assert!(refused("{ \"ed25519:b1\" = \"AAAA\" }").contains("32 bytes"));
    }
}
