//! The signing keys of external token issuers — attestation authorities named by key release policies, and
//! issuers of federated credentials that name no key file: found by OpenID discovery
//! (`{issuer}/.well-known/openid-configuration`, then its `jwks_uri`), over HTTPS only, and cached. A key id
//! the cache does not know refetches, at most once a minute per issuer, so that an issuer's key rotation is
//! picked up without letting assertions with made-up key ids hammer it.
//!
//! The issuer's URL comes from a tenant (a Crypto Officer's release policy, an application's federated
//! credential), so fetching is held in: each issuer is fetched by one request at a time while the others wait
//! for its answer (and only its own), a failure is remembered briefly, a fetch has a deadline and an answer a
//! size cap, redirects stay on the same host, and no fetch reaches a private, loopback or link-local address
//! unless the operator allows it (`allowed_private_authorities`): names are resolved, every address is
//! checked, and the connection goes to the checked addresses only.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use strongroom_core::assertion::IssuerKey;

use crate::config::AllowedAuthorities;

/// How long fetched keys are used without asking again.
const FRESH_FOR: Duration = Duration::from_secs(3600);
/// The shortest time between two fetches for one issuer.
const REFETCH_AFTER: Duration = Duration::from_secs(60);
/// How long a failed fetch is answered from memory.
const FAILURE_KEPT_FOR: Duration = Duration::from_secs(10);
/// How long one discovery (document and key set) may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest discovery document or key set read.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Redirects followed, on the same host.
const MAX_REDIRECTS: usize = 3;
/// Issuers remembered; past this, the ones no request is using are forgotten (and fetched again when needed),
/// so that made-up issuer URLs cannot grow the cache without end.
const MAX_ISSUERS: usize = 4096;

/// What is known of one issuer.
enum Known {
    Keys { keys: Vec<IssuerKey>, fetched: Instant },
    Failed { error: String, at: Instant },
}

/// Discovered issuer keys.
pub struct IssuerKeys {
    http: Option<reqwest::Client>,
    allowed: Arc<AllowedAuthorities>,
    /// One slot per issuer; a slot's lock is held across that issuer's fetch only, so that concurrent requests
    /// for one issuer wait for one fetch and requests for other issuers do not wait at all.
    issuers: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Known>>>>>,
}

impl IssuerKeys {
    /// A cache whose fetches trust the system's roots and `extra_root_pem` (this installation's own CA, so
    /// that one Strongroom tenant can be the issuer for another's federated credentials), and reach private
    /// addresses only as `allowed` says.
    pub fn new(extra_root_pem: Option<&[u8]>, allowed: AllowedAuthorities) -> Self {
        let allowed = Arc::new(allowed);
        let mut builder = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .https_only(true)
            .no_proxy()
            .redirect(same_host_redirects())
            .dns_resolver(CheckedResolver(Arc::clone(&allowed)));
        if let Some(pem) = extra_root_pem
            && let Ok(roots) = reqwest::Certificate::from_pem_bundle(pem)
        {
            builder = builder.tls_certs_merge(roots);
        }
        let http = builder.build().map_err(|e| tracing::warn!("no HTTPS client for OpenID discovery: {e}")).ok();
        Self { http, allowed, issuers: Mutex::default() }
    }

    /// The keys of `issuer`, able to verify a token whose header names `kid`.
    pub async fn keys(&self, issuer: &str, kid: Option<&str>) -> Result<Vec<IssuerKey>, String> {
        let slot = {
            let mut issuers = self.issuers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if issuers.len() >= MAX_ISSUERS && !issuers.contains_key(issuer) {
                issuers.retain(|_, slot| Arc::strong_count(slot) > 1);
            }
            Arc::clone(issuers.entry(issuer.to_owned()).or_default())
        };
        let mut known = slot.lock().await;
        match &*known {
            Some(Known::Keys { keys, fetched }) => {
                let knows_kid = kid.is_none() || keys.iter().any(|k| k.kid.as_deref() == kid);
                let age = fetched.elapsed();
                if (knows_kid && age < FRESH_FOR) || age < REFETCH_AFTER {
                    return Ok(keys.clone());
                }
            }
            Some(Known::Failed { error, at }) if at.elapsed() < FAILURE_KEPT_FOR => return Err(error.clone()),
            _ => {}
        }
        let fetched = match tokio::time::timeout(FETCH_TIMEOUT, self.fetch(issuer)).await {
            Ok(fetched) => fetched,
            Err(_) => Err(format!("{issuer}: no answer within {} s", FETCH_TIMEOUT.as_secs())),
        };
        *known = Some(match &fetched {
            Ok(keys) => Known::Keys { keys: keys.clone(), fetched: Instant::now() },
            Err(error) => Known::Failed { error: error.clone(), at: Instant::now() },
        });
        fetched
    }

    async fn fetch(&self, issuer: &str) -> Result<Vec<IssuerKey>, String> {
        #[derive(Deserialize)]
        struct Discovery {
            jwks_uri: String,
        }
        let http = self.http.as_ref().ok_or("no HTTPS client")?;
        let discovery_url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let discovery: Discovery = self.get(http, &discovery_url).await.and_then(|body| {
            serde_json::from_slice(&body).map_err(|e| format!("{discovery_url} is not a discovery document: {e}"))
        })?;
        let jwks = self.get(http, &discovery.jwks_uri).await?;
        IssuerKey::from_jwks(&jwks).map_err(|e| format!("{}: {e}", discovery.jwks_uri))
    }

    /// The body of `url`, at most [`MAX_RESPONSE_BYTES`].
    async fn get(&self, http: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
        // A literal address is not resolved, so it is checked here; names are checked by the resolver.
        let literal =
            parsed.host_str().and_then(|host| host.trim_start_matches('[').trim_end_matches(']').parse().ok());
        if let Some(address) = literal {
            check_address(&self.allowed, None, address).map_err(|e| format!("fetching {url}: {e}"))?;
        }
        let mut response = http.get(parsed).send().await.map_err(|e| format!("fetching {url}: {}", chain(&e)))?;
        if !response.status().is_success() {
            return Err(format!("fetching {url}: HTTP {}", response.status()));
        }
        let too_large = || format!("fetching {url}: the answer is larger than {MAX_RESPONSE_BYTES} bytes");
        if response.content_length().is_some_and(|length| length > MAX_RESPONSE_BYTES as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading {url}: {e}"))? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// An error and its causes, so that a refused address is told as such.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text = format!("{text}: {error}");
        cause = error.source();
    }
    text
}

/// Redirects on the same host (and scheme) only, and few of them.
fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first();
        let same = first.is_some_and(|first| {
            first.host_str() == attempt.url().host_str() && first.scheme() == attempt.url().scheme()
        });
        if same && attempt.previous().len() <= MAX_REDIRECTS { attempt.follow() } else { attempt.stop() }
    })
}

/// Resolves names, then refuses the lot when any address is one the server must not reach; the connection
/// is made to the addresses checked here, so a second, different answer cannot slip in.
struct CheckedResolver(Arc<AllowedAuthorities>);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = Arc::clone(&self.0);
        let host = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for address in &addresses {
                check_address(&allowed, Some(&host), address.ip())?;
            }
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// Refused: `address` is private, loopback, link-local or otherwise not on the public internet, and neither
/// `host` nor the address is allowed.
#[derive(Debug, thiserror::Error)]
#[error("{0} is not a public address and is not an allowed private authority")]
struct NotPublic(IpAddr);

fn check_address(allowed: &AllowedAuthorities, host: Option<&str>, address: IpAddr) -> Result<(), NotPublic> {
    let address = strongroom_core::network::canonical(address);
    let allowed_host = host.is_some_and(|host| allowed.hosts.iter().any(|h| h == host));
    if is_public(address) || allowed_host || allowed.networks.iter().any(|net| net.contains(&address)) {
        Ok(())
    } else {
        Err(NotPublic(address))
    }
}

/// Whether `address` is a public unicast address.
fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || a >= 240) // reserved
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || first == 0x0064 && v6.segments()[1] == 0xff9b) // NAT64, which reaches IPv4 addresses
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(allowed: &AllowedAuthorities, host: Option<&str>, address: &str) -> bool {
        check_address(allowed, host, address.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))).is_err()
    }

    #[test]
    fn private_loopback_and_link_local_addresses_are_refused_unless_allowed() {
        let none = AllowedAuthorities::default();
        for address in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(refused(&none, Some("evil.example"), address), "{address}");
        }
        for address in ["20.190.160.1", "8.8.8.8", "2603:1000::1"] {
            assert!(!refused(&none, Some("login.microsoftonline.com"), address), "{address}");
        }
        let allowed = AllowedAuthorities {
            hosts: vec!["localhost".into()],
            networks: vec!["10.1.0.0/16".parse().unwrap_or_else(|_| ipnet::IpNet::from(IpAddr::from([0; 4])))],
        };
        assert!(!refused(&allowed, Some("localhost"), "127.0.0.1"));
        assert!(!refused(&allowed, None, "10.1.2.3"));
        assert!(refused(&allowed, None, "10.2.0.1"));
        assert!(refused(&allowed, Some("attacker.example"), "127.0.0.1"), "a name pointing at loopback");
    }
}
