//! The keys of trusted issuers (SPEC §18), fetched and cached for the token endpoint's
//! workload tokens.
//!
//! Keys come from the issuer's registered JWKS URL or, by OpenID Connect discovery,
//! from the `jwks_uri` of `<issuer>/.well-known/openid-configuration` — only when that
//! is on the issuer's own origin, so a discovery document cannot send Clavis to a host
//! no administrator registered. Fetches follow no redirect, take at most 5 s and read
//! at most 64 KiB (discovery) or 256 KiB (JWKS). Keys are kept as long as the answer's
//! `Cache-Control: max-age` says, at most an hour; an unknown `kid` refetches them, at
//! most once per refetch interval (30 s) per issuer, so a flood of made-up kids costs
//! one fetch. Concurrent requests wait for the one fetch in flight. When a fetch fails
//! the keys held stay in use, for at most a day after they were fetched.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError, RwLock},
    time::{Duration, Instant},
};

use clavis::{
    UnixTime,
    federation::{CachedKeys, IssuerKey, Refusal, TrustedIssuer, fetchable, issuer_keys},
};
use serde_json::Value;

/// Longest keys are kept without a refetch.
const MAX_FRESH: i64 = 3600;
/// Longest keys are used while every refetch fails.
const MAX_STALE: i64 = 24 * 3600;
/// A fetch's whole time.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const DISCOVERY_LIMIT: usize = 64 * 1024;
const JWKS_LIMIT: usize = 256 * 1024;

/// The keys of every trusted issuer, fetched on first use.
pub struct IssuerKeys {
    client: Option<reqwest::Client>,
    refetch_interval: Duration,
    /// By issuer URL and JWKS URL (not by row id: an id can come back for another issuer).
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

/// One issuer's keys and the lock of its fetch in flight.
#[derive(Default)]
struct Slot {
    held: RwLock<Held>,
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default, Clone)]
struct Held {
    keys: Arc<[IssuerKey]>,
    /// Until when the keys are used without asking again.
    fresh_until: UnixTime,
    /// When a fetch was last tried (monotonic), to space refetches.
    tried: Option<Instant>,
    /// When the keys were fetched (for the issuer's page).
    fetched_at: Option<UnixTime>,
}

impl Held {
    fn serves(&self, kid: Option<&str>, now: UnixTime) -> bool {
        !self.keys.is_empty()
            && now < self.fresh_until
            && kid.is_none_or(|kid| self.keys.iter().any(|k| k.kid == kid))
    }
}

/// Why a fetch failed (logged; the client is told the keys are unavailable).
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("no HTTP client")]
    NoClient,
    #[error("{0}")]
    Request(#[from] reqwest::Error),
    #[error("answered {0} (redirects are not followed)")]
    Status(reqwest::StatusCode),
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the answer is not JSON")]
    NotJson,
    #[error("the discovery document names another issuer")]
    OtherIssuer,
    #[error("the discovery document's jwks_uri is missing or not on the issuer's origin")]
    ForeignJwksUri,
    #[error("the JWKS holds no key Clavis can verify with")]
    NoKeys,
}

impl IssuerKeys {
    /// Keys fetched with `client` (`None`: none can be fetched), refetched on an unknown
    /// kid at most once per `refetch_interval`.
    #[must_use]
    pub fn new(client: Option<reqwest::Client>, refetch_interval: Duration) -> Self {
        Self {
            client,
            refetch_interval,
            slots: Mutex::default(),
        }
    }

    fn slot(&self, issuer: &TrustedIssuer) -> Arc<Slot> {
        let key = format!(
            "{}\n{}",
            issuer.issuer,
            issuer.jwks_url.as_deref().unwrap_or_default()
        );
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone()
    }

    /// The issuer's keys for a token naming `kid` (or none) at `now`: the cached ones
    /// while fresh and knowing the kid, else fetched again (spaced by the refetch
    /// interval; the keys held when a fetch is not due or fails).
    pub async fn keys(
        &self,
        issuer: &TrustedIssuer,
        kid: Option<&str>,
        now: UnixTime,
    ) -> Result<Arc<[IssuerKey]>, Refusal> {
        let slot = self.slot(issuer);
        let held = || {
            slot.held
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        };
        let current = held();
        if current.serves(kid, now) {
            return Ok(current.keys);
        }
        let _fetching = slot.fetching.lock().await;
        let current = held();
        if current.serves(kid, now) {
            return Ok(current.keys);
        }
        let due = current
            .tried
            .is_none_or(|at| at.elapsed() >= self.refetch_interval);
        if due {
            let fetched = self.fetch(issuer).await;
            let mut held = slot.held.write().unwrap_or_else(PoisonError::into_inner);
            held.tried = Some(Instant::now());
            match fetched {
                Ok((keys, max_age)) => {
                    held.keys = keys.into();
                    held.fresh_until = now + max_age.clamp(0, MAX_FRESH);
                    held.fetched_at = Some(now);
                }
                Err(e) => {
                    tracing::warn!(issuer = %issuer.issuer, error = %e, "fetching an issuer's keys failed");
                }
            }
        }
        let current = held();
        // Keys no fetch has confirmed for a day are not trusted any more (the issuer may
        // have rotated a compromised key out while its JWKS was unreachable).
        if current.keys.is_empty() || current.fetched_at.is_none_or(|at| now - at > MAX_STALE) {
            return Err(Refusal::KeysUnavailable);
        }
        Ok(current.keys)
    }

    /// What is cached for `issuer` now.
    #[must_use]
    pub fn cached(&self, issuer: &TrustedIssuer) -> CachedKeys {
        let held = self
            .slot(issuer)
            .held
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        CachedKeys {
            kids: held.keys.iter().map(|k| k.kid.clone()).collect(),
            fetched_at: held.fetched_at,
        }
    }

    /// Forgets the keys of issuers no longer trusted (and any other's, to be fetched
    /// again).
    pub fn forget_all(&self) {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Fetches the issuer's keys: `(keys, max-age in seconds)`.
    async fn fetch(&self, issuer: &TrustedIssuer) -> Result<(Vec<IssuerKey>, i64), FetchError> {
        let client = self.client.as_ref().ok_or(FetchError::NoClient)?;
        let url = match &issuer.jwks_url {
            Some(url) => url.clone(),
            None => {
                let (document, _) =
                    get_json(client, &issuer.discovery_url(), DISCOVERY_LIMIT).await?;
                if document.get("issuer").and_then(Value::as_str) != Some(issuer.issuer.as_str()) {
                    return Err(FetchError::OtherIssuer);
                }
                let uri = document
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .filter(|uri| fetchable(uri) && issuer.same_origin(uri))
                    .ok_or(FetchError::ForeignJwksUri)?;
                uri.to_owned()
            }
        };
        let (jwks, max_age) = get_json(client, &url, JWKS_LIMIT).await?;
        let keys = issuer_keys(&jwks);
        if keys.is_empty() {
            return Err(FetchError::NoKeys);
        }
        Ok((keys, max_age))
    }
}

/// GETs JSON of at most `limit` bytes: the document and its `Cache-Control` max-age
/// (an hour when absent; 0 for `no-store`/`no-cache`).
async fn get_json(
    client: &reqwest::Client,
    url: &str,
    limit: usize,
) -> Result<(Value, i64), FetchError> {
    let answer = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(FETCH_TIMEOUT)
        .send()
        .await?;
    if answer.status() != reqwest::StatusCode::OK {
        return Err(FetchError::Status(answer.status()));
    }
    if answer.content_length().is_some_and(|n| n > limit as u64) {
        return Err(FetchError::TooLarge(limit));
    }
    let max_age = answer
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .map_or(MAX_FRESH, max_age);
    let body = crate::upstream::read_limited(answer, limit)
        .await
        .ok_or(FetchError::TooLarge(limit))?;
    let document = serde_json::from_slice(&body).map_err(|_| FetchError::NotJson)?;
    Ok((document, max_age))
}

/// The max-age a `Cache-Control` value allows (0 when it forbids keeping).
fn max_age(value: &str) -> i64 {
    let mut age = MAX_FRESH;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return 0;
        }
        if let Some(seconds) = lower.strip_prefix("max-age=") {
            age = seconds.trim_matches('"').parse().unwrap_or(0);
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_sets_how_long_keys_are_kept() {
        assert_eq!(max_age("public, max-age=300"), 300);
        assert_eq!(max_age("max-age=\"60\""), 60);
        assert_eq!(max_age("no-store"), 0);
        assert_eq!(max_age("private"), MAX_FRESH);
        assert_eq!(max_age("max-age=junk"), 0);
    }
}
