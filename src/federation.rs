//! Federated workload identity (SPEC §18, RFC 7523 §2.1): a CI job or a pod presents the
//! JWT its platform signed (GitHub Actions, GitLab CI, Kubernetes, SPIFFE) instead of a
//! stored secret, and gets the token of the credential whose federation rule it matches.
//!
//! This module holds the pure parts: the trusted issuers' and rules' checks, the
//! matching of claims against a rule's conditions (`*` wildcards), and the verification
//! of a workload token against an issuer's keys with the time rules. Fetching and
//! caching the keys is the server's (`server/src/issuer_keys.rs`); recording a single-use
//! `jti` goes through [`crate::jti`], like `private_key_jwt` assertions.

use std::fmt;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{UnixTime, client_keys::ClientKey};

/// The grant type a workload token is presented with.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Oldest a workload token may be, from its `iat`.
pub const MAX_AGE: i64 = 3600;
/// How far ahead of our clock an `iat` or `nbf` may be.
const CLOCK_SKEW: i64 = 60;
/// Most conditions in one rule.
pub const MAX_CONDITIONS: usize = 10;
/// Most rules on one credential.
pub const MAX_RULES: usize = 10;
/// Longest claim name (a dotted path) and pattern, in characters.
const CLAIM_MAX: usize = 100;
const PATTERN_MAX: usize = 500;
/// Longest issuer name, in characters.
pub const ISSUER_NAME_MAX: usize = 64;
/// Longest `jti` recorded.
const JTI_MAX: usize = 200;
/// Longest `sub` accepted, in characters.
const SUBJECT_MAX: usize = 256;

/// An issuer whose tokens Clavis trusts, as an administrator registered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    pub id: i64,
    pub name: String,
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// Its keys' URL when given; `None`: found by OpenID Connect discovery.
    pub jwks_url: Option<String>,
    pub created_at: UnixTime,
}

impl TrustedIssuer {
    /// Where its OpenID Connect discovery document is.
    #[must_use]
    pub fn discovery_url(&self) -> String {
        discovery_url(&self.issuer)
    }

    /// Whether `url` (a discovery document's `jwks_uri`) is on the issuer's own origin:
    /// the only place besides a registered JWKS URL keys are fetched from.
    #[must_use]
    pub fn same_origin(&self, url: &str) -> bool {
        match (url::Url::parse(&self.issuer), url::Url::parse(url)) {
            (Ok(issuer), Ok(url)) => issuer.origin() == url.origin(),
            _ => false,
        }
    }
}

/// The name of the issuer `id` among `issuers` (how a rule's issuer is shown); `None`
/// when it is not among them (removed, or added on another instance moments ago).
#[must_use]
pub fn issuer_name(issuers: &[std::sync::Arc<TrustedIssuer>], id: i64) -> Option<&str> {
    issuers.iter().find(|i| i.id == id).map(|i| i.name.as_str())
}

/// Why an issuer's fields were refused (shown to the administrator).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidIssuer {
    #[error("Name: 1 to {ISSUER_NAME_MAX} letters, digits, dots, dashes or underscores.")]
    Name,
    #[error(
        "Issuer URL: an https URL without query or fragment (http only on a loopback address)."
    )]
    Issuer,
    #[error("JWKS URL: an https URL without fragment (http only on a loopback address).")]
    JwksUrl,
    #[error("An issuer with that name or URL is already trusted.")]
    Taken,
}

impl InvalidIssuer {
    /// The field the rule is about.
    #[must_use]
    pub fn field(&self) -> &'static str {
        match self {
            Self::Name | Self::Taken => "name",
            Self::Issuer => "issuer",
            Self::JwksUrl => "jwks_url",
        }
    }
}

/// Where the OpenID Connect discovery document of `issuer` is.
#[must_use]
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// A checked new trusted issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIssuer {
    pub name: String,
    pub issuer: String,
    pub jwks_url: Option<String>,
}

impl NewIssuer {
    /// Checks an issuer's fields: a short name, an `https` issuer URL (`http` only on a
    /// loopback address, for tests and sidecars) without query or fragment, and an
    /// optional JWKS URL under the same rule. The issuer is kept as given: it is
    /// compared with `iss` exactly.
    pub fn check(name: &str, issuer: &str, jwks_url: Option<&str>) -> Result<Self, InvalidIssuer> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > ISSUER_NAME_MAX
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(InvalidIssuer::Name);
        }
        let issuer = issuer.trim();
        if !fetchable(issuer) || issuer.contains('?') {
            return Err(InvalidIssuer::Issuer);
        }
        let jwks_url = jwks_url.map(str::trim).filter(|u| !u.is_empty());
        if jwks_url.is_some_and(|u| !fetchable(u)) {
            return Err(InvalidIssuer::JwksUrl);
        }
        Ok(Self {
            name: name.to_owned(),
            issuer: issuer.to_owned(),
            jwks_url: jwks_url.map(str::to_owned),
        })
    }
}

/// An absolute `https` URL without fragment or credentials (`http` only to a loopback
/// address): what Clavis may fetch keys from.
#[must_use]
pub fn fetchable(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    url.len() <= 2000
        && parsed.host().is_some()
        && parsed.fragment().is_none()
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && (parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback))
}

/// One claim condition of a rule: the claim (top-level, or a dotted path into nested
/// objects) must be a string (or a number or boolean, compared as written) matching the
/// pattern, where `*` stands for any run of characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub claim: String,
    pub pattern: String,
}

impl Condition {
    /// Reads `CLAIM=PATTERN`.
    pub fn parse(line: &str) -> Result<Self, InvalidRule> {
        let (claim, pattern) = line.split_once('=').ok_or(InvalidRule::Condition)?;
        let (claim, pattern) = (claim.trim(), pattern.trim());
        if claim.is_empty()
            || claim.chars().count() > CLAIM_MAX
            || !claim
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:-/".contains(c))
            || pattern.is_empty()
            || pattern.chars().all(|c| c == '*')
            || pattern.chars().count() > PATTERN_MAX
            || pattern.chars().any(char::is_control)
        {
            return Err(InvalidRule::Condition);
        }
        Ok(Self {
            claim: claim.to_owned(),
            pattern: pattern.to_owned(),
        })
    }

    /// Whether the token's claims meet the condition.
    #[must_use]
    pub fn matches(&self, claims: &serde_json::Map<String, Value>) -> bool {
        let text = match claim(claims, &self.claim) {
            Some(Value::String(s)) => s.clone(),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
            _ => return false,
        };
        wildcard(&self.pattern, &text)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.claim, self.pattern)
    }
}

/// The value at `path`: a top-level claim of that exact name (names may hold dots, as
/// Kubernetes' `kubernetes.io` does), or a dotted path into nested objects — only when
/// exactly one reading of the path finds a value, so a claim named with dots cannot
/// stand in for a nested one (or the reverse).
fn claim<'a>(claims: &'a serde_json::Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut found = Vec::new();
    let mut budget = 1000;
    readings(claims, path, &mut found, &mut budget);
    match found.as_slice() {
        [only] if budget > 0 => Some(only),
        _ => None,
    }
}

/// Every value `path` can name in `claims` (stopping at two, or when `budget` visits are
/// spent).
fn readings<'a>(
    claims: &'a serde_json::Map<String, Value>,
    path: &str,
    found: &mut Vec<&'a Value>,
    budget: &mut u32,
) {
    if found.len() > 1 || *budget == 0 {
        return;
    }
    *budget -= 1;
    if let Some(value) = claims.get(path) {
        found.push(value);
    }
    for (at, _) in path.match_indices('.') {
        if let Some(Value::Object(inner)) = claims.get(&path[..at]) {
            readings(inner, &path[at + 1..], found, budget);
        }
    }
}

/// `*`-wildcard matching in linear space and at most `pattern × text` steps (the
/// classic backtrack-to-the-last-star walk), so no pattern can be made to take long.
#[must_use]
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Why a rule was refused (shown to the person adding it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRule {
    #[error("Choose a trusted issuer.")]
    Issuer,
    #[error("Audience: at most 500 characters, no spaces.")]
    Audience,
    #[error(
        "Claims: one CLAIM=PATTERN per line (at most {MAX_CONDITIONS}), for example repository=acme/app; at least one is required, and a pattern of only * would match every workload of the issuer."
    )]
    Condition,
    #[error("At most {MAX_RULES} federation rules per credential.")]
    TooMany,
}

/// A federation rule as a credential holds it: tokens of `issuer_id`, for `audience`,
/// whose claims meet every condition, get this credential's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationRule {
    pub issuer_id: i64,
    /// The `aud` the workload token must carry.
    pub audience: String,
    pub conditions: Vec<Condition>,
    /// Each `jti` is accepted once (tokens without one are refused).
    pub single_use: bool,
}

impl FederationRule {
    /// Checks a rule's fields; `audience` empty means `default_audience` (Clavis's
    /// issuer URL).
    pub fn check(
        issuer_id: i64,
        audience: &str,
        default_audience: &str,
        conditions: Vec<Condition>,
        single_use: bool,
    ) -> Result<Self, InvalidRule> {
        let audience = match audience.trim() {
            "" => default_audience,
            given => given,
        };
        if audience.chars().count() > 500 || audience.chars().any(char::is_whitespace) {
            return Err(InvalidRule::Audience);
        }
        if conditions.is_empty() || conditions.len() > MAX_CONDITIONS {
            return Err(InvalidRule::Condition);
        }
        Ok(Self {
            issuer_id,
            audience: audience.to_owned(),
            conditions,
            single_use,
        })
    }

    /// Whether a verified workload token of this rule's issuer meets it.
    #[must_use]
    pub fn matches(&self, workload: &Workload) -> bool {
        workload.audiences.contains(&self.audience)
            && self.conditions.iter().all(|c| c.matches(&workload.claims))
    }
}

/// What an instance holds of an issuer's keys, for its page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CachedKeys {
    pub kids: Vec<String>,
    /// `None`: not fetched yet (keys are fetched on first use).
    pub fetched_at: Option<UnixTime>,
}

/// A key an issuer signs with, ready to verify (built once per fetch).
#[derive(Clone)]
pub struct IssuerKey {
    pub kid: String,
    pub alg: Algorithm,
    key: DecodingKey,
}

impl fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The keys of a JWKS document that can verify workload tokens (RS256 of at least 2048
/// bits, ES256, EdDSA; encryption keys and others are skipped), at most 20.
#[must_use]
pub fn issuer_keys(jwks: &Value) -> Vec<IssuerKey> {
    let Some(keys) = jwks.get("keys").and_then(Value::as_array) else {
        return Vec::new();
    };
    keys.iter()
        .filter(|k| {
            k.get("use")
                .and_then(Value::as_str)
                .is_none_or(|u| u == "sig")
        })
        .filter_map(|k| crate::client_keys::public_jwk(k).ok())
        .filter_map(|key: ClientKey| {
            Some(IssuerKey {
                alg: key.algorithm()?,
                key: key.decoding_key()?,
                kid: key.kid,
            })
        })
        .take(20)
        .collect()
}

/// A verified workload token.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub issuer: String,
    /// Its `sub`.
    pub subject: String,
    pub audiences: Vec<String>,
    pub jti: Option<String>,
    pub exp: UnixTime,
    pub iat: UnixTime,
    /// Every claim, for the rules' conditions.
    pub claims: serde_json::Map<String, Value>,
}

impl Workload {
    /// Until when its `jti` must be remembered to refuse a replay: as long as it is
    /// accepted (its `exp` and the clock skew), but no later than when it becomes too
    /// old to be accepted anyway.
    #[must_use]
    pub fn replayable_until(&self) -> UnixTime {
        (self.exp + CLOCK_SKEW).min(self.iat + MAX_AGE + CLOCK_SKEW)
    }
}

/// The issuer and subject a Clavis token obtained with a workload token carries, in its
/// `workload` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadClaim {
    pub iss: String,
    pub sub: String,
}

/// Why a workload token was refused: `invalid_grant`, with the failed check named
/// (never the assertion itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the assertion is not a well-formed JWT")]
    Malformed,
    #[error("the assertion's issuer (iss) is not a trusted issuer")]
    UntrustedIssuer,
    #[error("the assertion's algorithm is not accepted (RS256, ES256 or EdDSA)")]
    Algorithm,
    #[error("the issuer has no key with the assertion's kid")]
    UnknownKey,
    #[error("the assertion's signature does not verify")]
    Signature,
    #[error("the assertion has no sub, or one longer than 256 characters")]
    NoSubject,
    #[error("the assertion has expired (exp)")]
    Expired,
    #[error("the assertion has no iat")]
    NoIssuedAt,
    #[error("the assertion is issued in the future (iat)")]
    IssuedInFuture,
    #[error("the assertion is older than an hour (iat)")]
    TooOld,
    #[error("the assertion is not valid yet (nbf)")]
    NotYetValid,
    #[error("no federation rule matches the assertion (audience or claims)")]
    NoRule,
    #[error("the rules of several credentials match the assertion: name one with client_id")]
    Ambiguous,
    #[error("a single-use rule matched but the assertion has no jti")]
    NoJti,
    #[error("the assertion's jti was used before")]
    Replay,
    #[error("the issuer's keys cannot be fetched right now")]
    KeysUnavailable,
    #[error("the matching credential is revoked, expired or suspended")]
    Inactive,
    #[error("the ID-JAG's issuer (iss) is not a registered identity provider")]
    UnknownProvider,
    #[error("the ID-JAG's audience (aud) is not this issuer")]
    OtherAudience,
    #[error("the ID-JAG was issued to another client (client_id)")]
    OtherClient,
    #[error("the ID-JAG has no jti (an ID-JAG is accepted once)")]
    IdJagNoJti,
    #[error("the ID-JAG names no account here (sub, email)")]
    UnknownPerson,
    #[error("the account the ID-JAG names is disabled")]
    PersonDisabled,
    #[error("the ID-JAG's resource differs from the request's")]
    OtherResource,
    #[error("the ID-JAG's scope or resource is not a string")]
    IdJagClaims,
}

/// The unverified `iss` and `kid` of a workload token, to find its issuer and key.
pub fn peek(assertion: &str) -> Result<(String, Option<String>), Refusal> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| Refusal::Malformed)?;
    let payload = assertion.split('.').nth(1).ok_or(Refusal::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Refusal::Malformed)?;
    #[derive(Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let iss: Iss = serde_json::from_slice(&bytes).map_err(|_| Refusal::Malformed)?;
    let iss = iss
        .iss
        .filter(|i| !i.is_empty())
        .ok_or(Refusal::UntrustedIssuer)?;
    Ok((iss, header.kid))
}

/// Verifies a workload token of `issuer` with its `keys` at `now`: an accepted
/// algorithm that is the key's, the signature, a `sub`, `exp` after now and `iat`
/// neither ahead nor older than [`MAX_AGE`] (60 s of skew each), `nbf` reached. The audience and claims
/// are the rules' to judge, the `jti` the caller's.
pub fn verify(
    assertion: &str,
    issuer: &str,
    keys: &[IssuerKey],
    now: UnixTime,
) -> Result<Workload, Refusal> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| Refusal::Malformed)?;
    if !matches!(
        header.alg,
        Algorithm::EdDSA | Algorithm::ES256 | Algorithm::RS256
    ) {
        return Err(Refusal::Algorithm);
    }
    let candidates: Vec<&IssuerKey> = match &header.kid {
        Some(kid) => keys.iter().filter(|k| &k.kid == kid).collect(),
        None => keys.iter().collect(),
    };
    if candidates.is_empty() {
        return Err(Refusal::UnknownKey);
    }
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let mut refusal = Refusal::Algorithm;
    let mut verified = None;
    for key in candidates.into_iter().filter(|k| k.alg == header.alg) {
        match jsonwebtoken::decode::<serde_json::Map<String, Value>>(
            assertion,
            &key.key,
            &validation,
        ) {
            Ok(data) => {
                verified = Some(data.claims);
                break;
            }
            Err(e) => {
                refusal = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => Refusal::Signature,
                    _ => Refusal::Malformed,
                };
            }
        }
    }
    let claims = verified.ok_or(refusal)?;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(Refusal::UntrustedIssuer);
    }
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    // RFC 7523 §3: a sub is required; it is copied into the access token and the
    // credential's usage, so it is bounded.
    let subject = text("sub")
        .filter(|s| !s.is_empty() && s.chars().count() <= SUBJECT_MAX)
        .ok_or(Refusal::NoSubject)?;
    let time = |name: &str| claims.get(name).and_then(Value::as_i64);
    let exp = time("exp").ok_or(Refusal::Expired)?;
    if exp <= now - CLOCK_SKEW {
        return Err(Refusal::Expired);
    }
    let iat = time("iat").ok_or(Refusal::NoIssuedAt)?;
    if iat > now + CLOCK_SKEW {
        return Err(Refusal::IssuedInFuture);
    }
    if iat < now - MAX_AGE {
        return Err(Refusal::TooOld);
    }
    if claims.contains_key("nbf") && time("nbf").is_none_or(|nbf| nbf > now + CLOCK_SKEW) {
        return Err(Refusal::NotYetValid);
    }
    let audiences = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Workload {
        issuer: issuer.to_owned(),
        subject,
        audiences,
        jti: text("jti").filter(|j| !j.is_empty() && j.len() <= JTI_MAX),
        exp,
        iat,
        claims,
    })
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]

    use serde_json::json;

    use super::*;

    #[test]
    fn wildcards_match_runs_of_any_characters_and_nothing_else() {
        for (pattern, text) in [
            ("acme/app", "acme/app"),
            ("acme/*", "acme/app"),
            ("*", ""),
            ("refs/heads/*", "refs/heads/release/1.2"),
            ("*/app@refs/*", "acme/app@refs/heads/main"),
            ("a*b*c", "aXXbYYc"),
        ] {
            assert!(wildcard(pattern, text), "{pattern} ~ {text}");
        }
        for (pattern, text) in [
            ("acme/app", "acme/app2"),
            ("acme/*", "other/app"),
            ("refs/heads/main", "refs/heads/main2"),
            ("a*b", "aXXc"),
            ("", "x"),
        ] {
            assert!(!wildcard(pattern, text), "{pattern} !~ {text}");
        }
        // No exponential blow-up: many stars against a long non-matching text.
        let (pattern, text) = ("*a".repeat(200), "b".repeat(5000));
        assert!(!wildcard(&pattern, &text));
    }

    #[test]
    fn conditions_read_top_level_dotted_and_nested_claims() {
        let claims = json!({
            "sub": "system:serviceaccount:ci:deployer",
            "kubernetes.io": { "namespace": "ci", "pod": { "name": "p-1" } },
            "run_number": 7,
            "ref": "refs/heads/main",
        });
        let claims = claims.as_object().unwrap();
        let met = |line: &str| Condition::parse(line).unwrap().matches(claims);
        assert!(met("sub=system:serviceaccount:ci:*"));
        assert!(met("kubernetes.io.namespace=ci"));
        assert!(met("kubernetes.io.pod.name=p-*"));
        assert!(met("run_number=7"));
        assert!(!met("ref=refs/heads/dev"));
        assert!(!met("missing=x*"));
        assert!(!met("kubernetes.io=c*"), "an object is no value to match");
        // A claim named with dots beside the nested one: two readings, no match.
        let shadowed = json!({
            "kubernetes.io.namespace": "ci",
            "kubernetes.io": { "namespace": "prod" },
        });
        let condition = Condition::parse("kubernetes.io.namespace=ci").unwrap();
        assert!(!condition.matches(shadowed.as_object().unwrap()));
        // A pattern of only stars would let every workload of the issuer in.
        for bad in [
            "no-equals",
            "=x",
            "claim=",
            "bad claim=x",
            "c=\u{7}",
            "sub=*",
            "sub=**",
        ] {
            assert_eq!(Condition::parse(bad), Err(InvalidRule::Condition), "{bad}");
        }
    }

    #[test]
    fn issuers_are_https_or_loopback_http_and_named_plainly() {
        assert!(
            NewIssuer::check(
                "github",
                "https://token.actions.githubusercontent.com",
                None
            )
            .is_ok()
        );
        assert!(
            NewIssuer::check(
                "test",
                "http://127.0.0.1:8080",
                Some("http://127.0.0.1:8080/keys")
            )
            .is_ok()
        );
        assert_eq!(
            NewIssuer::check("x", "http://issuer.example", None),
            Err(InvalidIssuer::Issuer)
        );
        assert_eq!(
            NewIssuer::check("x", "https://i.example/?a=b", None),
            Err(InvalidIssuer::Issuer)
        );
        assert_eq!(
            NewIssuer::check("x", "https://i.example", Some("http://keys.example/jwks")),
            Err(InvalidIssuer::JwksUrl)
        );
        assert_eq!(
            NewIssuer::check("a b", "https://i.example", None),
            Err(InvalidIssuer::Name)
        );
        let issuer = TrustedIssuer {
            id: 1,
            name: "k8s".into(),
            issuer: "https://k8s.example:6443".into(),
            jwks_url: None,
            created_at: 0,
        };
        assert_eq!(
            issuer.discovery_url(),
            "https://k8s.example:6443/.well-known/openid-configuration"
        );
        assert!(issuer.same_origin("https://k8s.example:6443/openid/v1/jwks"));
        assert!(!issuer.same_origin("https://k8s.example/openid/v1/jwks"));
        assert!(!issuer.same_origin("https://evil.example:6443/jwks"));
    }
}
