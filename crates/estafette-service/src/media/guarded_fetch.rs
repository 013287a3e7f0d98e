//! HTTP fetches made for users (link previews), which must never reach this server's own
//! network: every address is checked after DNS resolution, for the first request and for each
//! redirect, and the connection goes only to the addresses checked (no second lookup for an
//! attacker's DNS to answer differently, no proxy resolving names elsewhere).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use estafette_core::UrlPreviewConfig;
use ipnet::IpNet;
use url::{Host, Url};

use crate::{ServiceError, ServiceResult};

/// Never reached unless allow-listed: loopback, private, shared (CGNAT), link-local,
/// multicast, documentation, benchmarking and reserved ranges, and the IPv6 forms that lead
/// back into IPv4 (NAT64, 6to4 relays, Teredo).
const DENIED: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/32",
    "2001:db8::/32",
    "2002::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
];

/// Which addresses fetches may reach.
#[derive(Debug)]
pub(crate) struct AddressPolicy {
    denied: Vec<IpNet>,
    allowed: Vec<IpNet>,
}

impl AddressPolicy {
    pub(crate) fn new(config: &UrlPreviewConfig) -> ServiceResult<Self> {
        let parse = |ranges: &mut dyn Iterator<Item = &str>, key: &str| {
            ranges
                .map(|range| {
                    range.parse::<IpNet>().map_err(|e| {
                        ServiceError::Internal(format!(
                            "url_preview.{key}: {range:?} is not an IP range ({e})"
                        ))
                    })
                })
                .collect::<ServiceResult<Vec<_>>>()
        };
        let mut denied = DENIED
            .iter()
            .copied()
            .chain(config.denied_ip_ranges.iter().map(String::as_str));
        let mut allowed = config.allowed_ip_ranges.iter().map(String::as_str);
        Ok(Self {
            denied: parse(&mut denied, "denied_ip_ranges")?,
            allowed: parse(&mut allowed, "allowed_ip_ranges")?,
        })
    }

    pub(crate) fn permits(&self, address: IpAddr) -> bool {
        // An IPv4 address written as IPv6 is the IPv4 address.
        let address = match address {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        self.allowed.iter().any(|range| range.contains(&address))
            || !self.denied.iter().any(|range| range.contains(&address))
    }
}

/// Why a fetch was refused before any connection: the link leads where fetches may not go.
#[derive(Debug, thiserror::Error)]
#[error("{host} is {address}, an address link previews may not reach")]
struct DeniedAddress {
    host: String,
    address: IpAddr,
}

/// A link (the first, or a redirect) fetches may not follow: scheme, literal address, count.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

/// Resolves names as the system does, and refuses a name if any of its addresses is denied
/// (an attacker controls which one would be tried).
struct GuardedResolver(Arc<AddressPolicy>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(denied) = addresses.iter().find(|a| !policy.permits(a.ip())) {
                let address = denied.ip();
                return Err(Box::new(DeniedAddress { host, address }) as _);
            }
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// What a fetch brought back.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// Where the content was found, after redirects.
    pub url: Url,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// An HTTP client confined to the addresses its policy permits.
#[derive(Clone)]
pub(crate) struct GuardedFetcher {
    http: reqwest::Client,
    policy: Arc<AddressPolicy>,
    max_bytes: usize,
}

impl GuardedFetcher {
    pub(crate) fn new(config: &UrlPreviewConfig) -> ServiceResult<Self> {
        let policy = Arc::new(AddressPolicy::new(config)?);
        let redirects = policy.clone();
        let max_redirects = config.max_redirects;
        let http = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(policy.clone())))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > max_redirects {
                    let refused = format!("more than {max_redirects} redirects");
                    return attempt.error(Refused(refused));
                }
                match check_url(&redirects, attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(refused) => attempt.error(refused),
                }
            }))
            .timeout(Duration::from_secs(config.timeout_secs))
            .user_agent(concat!(
                "Estafette/",
                env!("CARGO_PKG_VERSION"),
                " (link preview bot)"
            ))
            .build()
            .map_err(|e| {
                ServiceError::Internal(format!("cannot build the link preview client: {e}"))
            })?;
        Ok(Self {
            http,
            policy,
            max_bytes: config.max_bytes,
        })
    }

    /// GETs `url`, reading at most the configured bytes of its body.
    pub(crate) async fn get(&self, url: &Url) -> ServiceResult<Fetched> {
        check_url(&self.policy, url).map_err(|e| ServiceError::Forbidden(e.to_string()))?;
        let mut response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| refusal(url, &e))?;
        if !response.status().is_success() {
            return Err(ServiceError::Unavailable(format!(
                "{url} answered {}",
                response.status()
            )));
        }
        let too_large = || {
            ServiceError::Unavailable(format!(
                "{url} is larger than the {} bytes previews read",
                self.max_bytes
            ))
        };
        if response
            .content_length()
            .is_some_and(|length| length > self.max_bytes as u64)
        {
            return Err(too_large());
        }
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(ToOwned::to_owned);
        let final_url = response.url().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| refusal(url, &e))? {
            if bytes.len() + chunk.len() > self.max_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            url: final_url,
            content_type,
            bytes,
        })
    }
}

/// Only web pages, and never an address literal the policy denies (names are checked when
/// they are resolved).
fn check_url(policy: &AddressPolicy, url: &Url) -> Result<(), Refused> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refused(format!(
            "{url}: only http and https links are previewed"
        )));
    }
    let address = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(Host::Domain(_)) => return Ok(()),
        None => return Err(Refused(format!("{url} names no host"))),
    };
    if policy.permits(address) {
        Ok(())
    } else {
        let host = url.host_str().unwrap_or_default().to_owned();
        Err(Refused(DeniedAddress { host, address }.to_string()))
    }
}

/// A failed fetch: forbidden when the policy stopped it, a bad gateway otherwise.
fn refusal(url: &Url, error: &reqwest::Error) -> ServiceError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.is::<DeniedAddress>() || cause.is::<Refused>() {
            return ServiceError::Forbidden(cause.to_string());
        }
        source = cause.source();
    }
    if error.is_timeout() {
        return ServiceError::Unavailable(format!("{url} took too long to answer"));
    }
    ServiceError::Unavailable(format!("cannot fetch {url}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(denied: &[&str], allowed: &[&str]) -> AddressPolicy {
        let owned = |ranges: &[&str]| ranges.iter().map(|r| (*r).to_owned()).collect();
        AddressPolicy::new(&UrlPreviewConfig {
            denied_ip_ranges: owned(denied),
            allowed_ip_ranges: owned(allowed),
            ..UrlPreviewConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn internal_addresses_are_denied_in_every_spelling() {
        let policy = policy(&[], &[]);
        for denied in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.251",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
        ] {
            let address: IpAddr = denied.parse().unwrap();
            assert!(!policy.permits(address), "{denied} must be denied");
        }
        for permitted in ["93.184.215.14", "2606:4700::1111", "::ffff:93.184.215.14"] {
            assert!(policy.permits(permitted.parse().unwrap()), "{permitted}");
        }
    }

    #[test]
    fn the_operator_denies_more_and_allows_exceptions() {
        let policy = policy(&["93.184.0.0/16"], &["10.20.0.0/16"]);
        assert!(!policy.permits("93.184.215.14".parse().unwrap()));
        assert!(policy.permits("10.20.1.1".parse().unwrap()));
        assert!(!policy.permits("10.21.1.1".parse().unwrap()));
        assert!(
            AddressPolicy::new(&UrlPreviewConfig {
                allowed_ip_ranges: vec!["not a range".to_owned()],
                ..UrlPreviewConfig::default()
            })
            .is_err()
        );
    }

    #[test]
    fn only_web_links_to_permitted_literals_pass() {
        let policy = policy(&[], &[]);
        for refused in [
            "http://127.0.0.1:8008/",
            "http://[::1]/",
            "http://[::ffff:7f00:1]/",
            "https://10.0.0.1/",
            "file:///etc/passwd",
            "ftp://example.org/",
            "gopher://example.org/",
        ] {
            let url = Url::parse(refused).unwrap();
            assert!(check_url(&policy, &url).is_err(), "{refused}");
        }
        for passed in ["https://example.org/", "http://93.184.215.14/"] {
            assert!(check_url(&policy, &Url::parse(passed).unwrap()).is_ok());
        }
    }
}
