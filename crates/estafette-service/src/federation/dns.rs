//! DNS for server discovery: SRV records (`_matrix-fed._tcp`, then the deprecated
//! `_matrix._tcp`) and the addresses HTTP connections go to, through the configured
//! nameservers or the system's. A name found through SRV is connected to at its target while
//! TLS and the `Host` header keep the server's own name, as the spec requires.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

/// Resolves names for the federation HTTP client.
#[derive(Clone)]
pub(crate) struct Dns {
    resolver: TokioResolver,
    /// Host names whose connections go to an SRV target instead: name → target host.
    srv_targets: Arc<Mutex<HashMap<String, String>>>,
}

impl Dns {
    pub(crate) fn new(nameservers: &[SocketAddr]) -> Result<Self, String> {
        let resolver = if nameservers.is_empty() {
            TokioResolver::builder_tokio()
                .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?
                .build()
        } else {
            let servers = nameservers
                .iter()
                .map(|addr| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = addr.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = addr.port();
                    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
            .build()
        }
        .map_err(|e| format!("cannot build the DNS resolver: {e}"))?;
        Ok(Self {
            resolver,
            srv_targets: Arc::default(),
        })
    }

    /// The SRV target (host, port) of a server name, if it has one.
    pub(crate) async fn srv(&self, hostname: &str) -> Option<(String, u16)> {
        for service in ["_matrix-fed._tcp", "_matrix._tcp"] {
            let Ok(answer) = self
                .resolver
                .srv_lookup(format!("{service}.{hostname}."))
                .await
            else {
                continue;
            };
            let mut records: Vec<_> = answer
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    hickory_resolver::proto::rr::RData::SRV(srv) => Some(srv.clone()),
                    _ => None,
                })
                .collect();
            // Lowest priority first; among equals, the heaviest (no random spread needed here).
            records.sort_by_key(|srv| (srv.priority, std::cmp::Reverse(srv.weight)));
            if let Some(srv) = records.first() {
                let target = srv.target.to_utf8();
                let target = target.trim_end_matches('.').to_owned();
                self.srv_targets
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(hostname.to_owned(), target.clone());
                return Some((target, srv.port));
            }
        }
        None
    }
}

impl reqwest::dns::Resolve for Dns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let dns = self.clone();
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let host = dns
                .srv_targets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&name)
                .cloned()
                .unwrap_or(name);
            let found = dns.resolver.lookup_ip(host.as_str()).await?;
            let addrs: Vec<SocketAddr> = found.iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
