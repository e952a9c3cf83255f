//! The signing keys of external token issuers, for federated credentials that name no key file: found by
//! OpenID discovery (`{issuer}/.well-known/openid-configuration`, then its `jwks_uri`), over HTTPS only, and
//! cached. A key id the cache does not know refetches, at most once a minute per issuer, so that an issuer's
//! key rotation is picked up without letting assertions with made-up key ids hammer it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use strongroom_core::assertion::IssuerKey;
use tokio::sync::Mutex;

/// How long fetched keys are used without asking again.
const FRESH_FOR: Duration = Duration::from_secs(3600);
/// The shortest time between two fetches for one issuer.
const REFETCH_AFTER: Duration = Duration::from_secs(60);
/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

struct Cached {
    keys: Vec<IssuerKey>,
    fetched: Instant,
}

/// Discovered issuer keys.
pub struct IssuerKeys {
    http: Option<reqwest::Client>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl IssuerKeys {
    /// A cache whose fetches trust the system's roots and `extra_root_pem` (this installation's own CA, so
    /// that one Strongroom tenant can be the issuer for another's federated credentials).
    pub fn new(extra_root_pem: Option<&[u8]>) -> Self {
        let mut builder = reqwest::Client::builder().timeout(FETCH_TIMEOUT).https_only(true);
        if let Some(pem) = extra_root_pem
            && let Ok(roots) = reqwest::Certificate::from_pem_bundle(pem)
        {
            builder = builder.tls_certs_merge(roots);
        }
        let http = builder.build().map_err(|e| tracing::warn!("no HTTPS client for OpenID discovery: {e}")).ok();
        Self { http, cache: Mutex::default() }
    }

    /// The keys of `issuer`, able to verify a token whose header names `kid`.
    pub async fn keys(&self, issuer: &str, kid: Option<&str>) -> Result<Vec<IssuerKey>, String> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.get(issuer) {
            let knows_kid = kid.is_none() || cached.keys.iter().any(|k| k.kid.as_deref() == kid);
            let age = cached.fetched.elapsed();
            if (knows_kid && age < FRESH_FOR) || age < REFETCH_AFTER {
                return Ok(cached.keys.clone());
            }
        }
        let keys = self.fetch(issuer).await?;
        cache.insert(issuer.to_owned(), Cached { keys: keys.clone(), fetched: Instant::now() });
        Ok(keys)
    }

    async fn fetch(&self, issuer: &str) -> Result<Vec<IssuerKey>, String> {
        #[derive(Deserialize)]
        struct Discovery {
            jwks_uri: String,
        }
        let http = self.http.as_ref().ok_or("no HTTPS client")?;
        let discovery_url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let discovery: Discovery = get(http, &discovery_url).await.and_then(|body| {
            serde_json::from_slice(&body).map_err(|e| format!("{discovery_url} is not a discovery document: {e}"))
        })?;
        let jwks = get(http, &discovery.jwks_uri).await?;
        IssuerKey::from_jwks(&jwks).map_err(|e| format!("{}: {e}", discovery.jwks_uri))
    }
}

async fn get(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let response = http.get(url).send().await.map_err(|e| format!("fetching {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("fetching {url}: HTTP {}", response.status()));
    }
    response.bytes().await.map(|b| b.to_vec()).map_err(|e| format!("reading {url}: {e}"))
}
