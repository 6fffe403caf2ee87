//! DPoP: sender-constrained access tokens (RFC 9449, SPEC §19).
//!
//! A program proves, with every request, that it holds the private key its token is
//! bound to: a *proof* is a short JWT it signs per request, naming the method and URL,
//! when it was made, a unique id and (at a resource) the hash of the token. The token
//! endpoint binds the tokens it issues to the proof's key (`cnf.jkt`, the key's RFC 7638
//! thumbprint); the resources then refuse the token without a fresh proof by that key.
//! A token copied from a log or a proxy is useless without the key.
//!
//! What is checked here is everything a proof says by itself ([`verify`]), the server's
//! nonces ([`Nonces`]) and that a proof is used once ([`SeenProofs`]). Cheap checks come
//! before the signature, so a stale or misdirected proof costs no public-key operation.
//!
//! Replay protection is per instance, in memory: a proof is accepted only from
//! [`WINDOW`] seconds before the server's clock to [`SKEW`] seconds after it, and only
//! for the one method and URL it names, so a proof captured in flight can be replayed
//! only within that minute, at that URL, and (at a resource) with the token it was made
//! for — and only at another instance behind the same URL. Nonces do not close that
//! (every instance accepts every nonce); routing each client to one instance does.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use jsonwebtoken::Algorithm;
use serde::{Deserialize, de::IgnoredAny};
use sha2::{Digest as _, Sha256};

use crate::{UnixTime, b64, client_keys::ClientKey};

/// The proof signing algorithms accepted, for discovery and the challenges.
pub const ALGORITHMS: [&str; 4] = ["EdDSA", "ES256", "RS256", "PS256"];
/// How old a proof may be (its `iat` before the server's clock), in seconds.
pub const WINDOW: i64 = 60;
/// How far ahead of the server's clock a proof's `iat` may be (the client's clock).
pub const SKEW: i64 = 5;
/// The longest proof read (an 8192-bit RSA key in the header is about 1.5 KB).
pub const MAX_PROOF: usize = 8 * 1024;
/// How long a nonce lasts: the one of the current period and of the one before (and of
/// the next, handed out by an instance whose clock is a little ahead).
pub const NONCE_PERIOD: i64 = 300;
/// Longest `jti` accepted.
const JTI_MAX: usize = 200;
/// Most proof ids remembered per instance (about 64 MB at most). A proof is remembered
/// for at most [`WINDOW`] + [`SKEW`] seconds, so that is over 16,000 proofs a second for a
/// minute, more than two cores verify.
pub const MAX_REMEMBERED: usize = 1 << 20;
/// The largest RSA key a proof may carry, in bytes of modulus (4096 bits): a stranger's
/// proof costs one verification, and that one should stay cheap.
const RSA_MAX_BYTES: usize = 512;
const SHARDS: usize = 16;

/// The JWT `typ` of a proof.
pub const PROOF_TYPE: &str = "dpop+jwt";

/// Why a proof is refused: `invalid_dpop_proof`, except [`ProofError::Nonce`]
/// (`use_dpop_nonce`). The messages are for the client and name no value it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("send a DPoP proof for this request in the DPoP header")]
    Missing,
    #[error("the DPoP header must be one compact JWT of at most 8 KiB")]
    Malformed,
    #[error("the DPoP proof's typ must be dpop+jwt")]
    Type,
    #[error("the DPoP proof's alg must be EdDSA, ES256, RS256 or PS256, and its key's")]
    Algorithm,
    #[error("the DPoP proof's jwk must be a public Ed25519, P-256 or RSA (2048 bits or more) key")]
    Key,
    #[error("the DPoP proof's signature does not verify")]
    Signature,
    #[error("the DPoP proof's htm is not this request's method")]
    Method,
    #[error("the DPoP proof's htu is not this request's URL")]
    Url,
    #[error("the DPoP proof's iat is more than 60 seconds from the server's time")]
    Time,
    #[error("the DPoP proof has no jti (or one over 200 characters)")]
    NoJti,
    #[error("the DPoP proof's ath is not the hash of the access token")]
    TokenHash,
    #[error("the DPoP proof is signed by another key than the one the token is bound to")]
    WrongKey,
    #[error("the DPoP proof was used before")]
    Replay,
    #[error("the DPoP proof must carry the nonce of the DPoP-Nonce header")]
    Nonce,
    #[error("too many DPoP proofs in the last minute; retry shortly")]
    Busy,
    #[error("this credential requires DPoP: send a DPoP proof")]
    Required,
}

impl ProofError {
    /// The RFC 9449 error code.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Nonce => "use_dpop_nonce",
            _ => "invalid_dpop_proof",
        }
    }
}

/// The request a proof must be for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The HTTP method, as sent.
    pub method: &'a str,
    /// The URL the client called, as the public sees it (query and fragment ignored).
    pub url: &'a str,
    /// At a resource: the access token presented with the proof.
    pub access_token: Option<&'a str>,
}

/// A proof that passed [`verify`]: the thumbprint of its key and what replay and nonce
/// checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 thumbprint of the key that signed it.
    pub jkt: String,
    pub jti: String,
    pub iat: UnixTime,
    pub nonce: Option<String>,
}

/// The proof's header. A field named twice makes it unreadable (serde refuses it), so
/// no lenient reader elsewhere can see another key or algorithm than this one did.
#[derive(Deserialize)]
struct Header {
    typ: Option<String>,
    alg: Option<String>,
    jwk: Option<Jwk>,
}

/// The proof's public key, with the members a private key would have, to refuse it.
#[derive(Deserialize)]
struct Jwk {
    kty: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
    #[serde(default, deserialize_with = "present")]
    d: bool,
    #[serde(default, deserialize_with = "present")]
    p: bool,
    #[serde(default, deserialize_with = "present")]
    q: bool,
    #[serde(default, deserialize_with = "present")]
    k: bool,
}

/// `true` for a member that is there, whatever its value (`null` too).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

#[derive(Deserialize)]
struct Claims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    /// A NumericDate: an integer, or a number with a fraction (RFC 7519 §2).
    iat: Option<serde_json::Number>,
    ath: Option<String>,
    nonce: Option<String>,
}

/// A JSON object read into `T`, refused unless it is an object (serde would read an
/// array into a struct, field by field) whose members named in `present` are absent,
/// even as `null`, and whose object members named in `objects` are objects. Names given
/// twice make it unreadable too (serde refuses a duplicate field).
fn object<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    present: &[&str],
    objects: &[&str],
) -> Result<T, ProofError> {
    let raw: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| ProofError::Malformed)?;
    let map = raw.as_object().ok_or(ProofError::Malformed)?;
    if present.iter().any(|name| map.contains_key(*name))
        || objects
            .iter()
            .any(|name| map.get(*name).is_some_and(|v| !v.is_object()))
    {
        return Err(ProofError::Malformed);
    }
    serde_json::from_slice(bytes).map_err(|_| ProofError::Malformed)
}

fn unb64(text: &str) -> Result<Vec<u8>, ProofError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| ProofError::Malformed)
}

/// The `ath` of a token: its SHA-256 hash, base64url-encoded (RFC 9449 §4.2).
#[must_use]
pub fn token_hash(access_token: &str) -> String {
    b64(&Sha256::digest(access_token.as_bytes()))
}

/// A URL as `htu` compares it: parsed (so scheme and host case, default ports and dot
/// segments do not matter), without query and fragment. `None` unless http(s).
fn target(url: &str) -> Option<url::Url> {
    let mut url = url::Url::parse(url).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(url)
}

/// Checks everything a proof says by itself, for `request` at `now`: its form, type,
/// algorithm and public key, method, URL, time, id and token hash, then its signature.
/// Nonce and replay are the caller's next checks ([`Dpop`]).
pub fn verify(proof: &str, request: &Request<'_>, now: UnixTime) -> Result<Proof, ProofError> {
    if proof.len() > MAX_PROOF {
        return Err(ProofError::Malformed);
    }
    let mut parts = proof.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProofError::Malformed);
    };
    // No JWS extension is understood here (`crit`).
    let header: Header = object(&unb64(header)?, &["crit"], &["jwk"])?;
    if header.typ.as_deref() != Some(PROOF_TYPE) {
        return Err(ProofError::Type);
    }
    let claims: Claims = object(&unb64(payload)?, &[], &[])?;
    if claims.htm.as_deref() != Some(request.method) {
        return Err(ProofError::Method);
    }
    let htu = claims.htu.as_deref().and_then(target);
    if htu.is_none() || htu != target(request.url) {
        return Err(ProofError::Url);
    }
    let iat = claims
        .iat
        .and_then(|n| {
            n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            })
        })
        .ok_or(ProofError::Time)?;
    if iat < now.saturating_sub(WINDOW) || iat > now.saturating_add(SKEW) {
        return Err(ProofError::Time);
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= JTI_MAX)
        .ok_or(ProofError::NoJti)?;
    if let Some(token) = request.access_token
        && claims.ath.as_deref() != Some(token_hash(token).as_str())
    {
        return Err(ProofError::TokenHash);
    }
    // Only now the key: reading a point or a modulus costs more than all of the above.
    let key = public_key(header.jwk.ok_or(ProofError::Key)?)?;
    let algorithm = match (header.alg.as_deref(), key.kty.as_str()) {
        (Some("EdDSA"), "OKP") => Algorithm::EdDSA,
        (Some("ES256"), "EC") => Algorithm::ES256,
        (Some("RS256"), "RSA") => Algorithm::RS256,
        (Some("PS256"), "RSA") => Algorithm::PS256,
        _ => return Err(ProofError::Algorithm),
    };
    let decoding = key.decoding_key().ok_or(ProofError::Key)?;
    let signed = proof.len() - signature.len() - 1;
    match jsonwebtoken::crypto::verify(signature, &proof.as_bytes()[..signed], &decoding, algorithm)
    {
        Ok(true) => {}
        _ => return Err(ProofError::Signature),
    }
    Ok(Proof {
        jkt: key.thumbprint(),
        jti,
        iat,
        nonce: claims.nonce,
    })
}

/// The header's key, checked as a pasted public key is (a point on its curve, RSA of
/// at least 2048 bits); any private member refuses it.
fn public_key(jwk: Jwk) -> Result<ClientKey, ProofError> {
    if jwk.d || jwk.p || jwk.q || jwk.k {
        return Err(ProofError::Key);
    }
    // RSA: the usual exponent only, so a stranger's proof stays cheap to verify.
    if jwk.kty.as_deref() == Some("RSA") && jwk.e.as_deref() != Some("AQAB") {
        return Err(ProofError::Key);
    }
    let mut members = serde_json::Map::new();
    for (name, value) in [
        ("kty", jwk.kty),
        ("crv", jwk.crv),
        ("x", jwk.x),
        ("y", jwk.y),
        ("n", jwk.n),
        ("e", jwk.e),
    ] {
        if let Some(value) = value {
            members.insert(name.to_owned(), serde_json::Value::String(value));
        }
    }
    // Without a kid the key is named by its thumbprint; the thumbprint is taken anew.
    let key = crate::client_keys::public_jwk(&serde_json::Value::Object(members))
        .map_err(|_| ProofError::Key)?;
    let modulus = key.n.as_deref().map_or(0, |n| n.len() * 3 / 4);
    if modulus > RSA_MAX_BYTES {
        return Err(ProofError::Key);
    }
    Ok(key)
}

/// HMAC-SHA-256 of `parts`, one after the other, under `key` (of any length).
fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Server nonces (RFC 9449 §8, §9), the same on every instance without storage: a nonce
/// is a period's number with its MAC under a key derived from the shared secret key,
/// accepted during its period and the next ([`NONCE_PERIOD`] seconds each).
#[derive(Clone)]
pub struct Nonces {
    key: [u8; 32],
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Nonces")
    }
}

impl Nonces {
    /// Nonces keyed by `secret` (the server's shared secret key).
    #[must_use]
    pub fn new(secret: &[u8]) -> Self {
        Self {
            // A label no client secret can be (they are printable).
            key: mac(secret, &[b"\0clavis dpop nonce key v1"]),
        }
    }

    fn for_period(&self, period: i64) -> String {
        let number = period.to_be_bytes();
        let mut nonce = number.to_vec();
        nonce.extend_from_slice(&mac(&self.key, &[&number])[..16]);
        b64(&nonce)
    }

    /// The nonce to hand out at `now`.
    #[must_use]
    pub fn current(&self, now: UnixTime) -> String {
        self.for_period(now.div_euclid(NONCE_PERIOD))
    }

    /// Whether `nonce` is this period's, the previous one's or (from an instance whose
    /// clock is ahead) the next one's.
    #[must_use]
    pub fn accepts(&self, nonce: &str, now: UnixTime) -> bool {
        let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let Some(number) = bytes.get(..8).and_then(|n| <[u8; 8]>::try_from(n).ok()) else {
            return false;
        };
        let period = i64::from_be_bytes(number);
        let current = now.div_euclid(NONCE_PERIOD);
        if !(current - 1..=current + 1).contains(&period) {
            return false;
        }
        let expected = mac(&self.key, &[&number]);
        bytes.len() == 24 && subtle::ConstantTimeEq::ct_eq(&bytes[8..], &expected[..16]).into()
    }
}

/// The proofs used in the last [`WINDOW`]s, by (key, `jti`): in memory, sharded, pruned
/// as time passes and bounded by [`MAX_REMEMBERED`]; when full, new proofs are refused
/// ([`ProofError::Busy`]) rather than forgotten early.
pub struct SeenProofs {
    shards: Vec<Mutex<Shard>>,
    capacity: usize,
    /// Keys the ids (random per process), so no client can aim its proofs at one shard.
    key: [u8; 32],
}

#[derive(Default)]
struct Shard {
    /// Truncated SHA-256 of (thumbprint, jti) → when it may be forgotten.
    until: HashMap<u128, UnixTime>,
    next_prune: UnixTime,
}

impl Default for SeenProofs {
    fn default() -> Self {
        Self::with_capacity(MAX_REMEMBERED)
    }
}

impl SeenProofs {
    /// A store remembering at most `capacity` proofs.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        let mut key = [0u8; 32];
        rand::fill(&mut key);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            capacity: capacity.div_ceil(SHARDS),
            key,
        }
    }

    /// Records `proof` as used at `now`: `Err(Replay)` if it was used before,
    /// `Err(Busy)` when too many proofs are remembered.
    pub fn first_use(&self, proof: &Proof, now: UnixTime) -> Result<(), ProofError> {
        let digest = mac(
            &self.key,
            &[proof.jkt.as_bytes(), &[0], proof.jti.as_bytes()],
        );
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        let id = u128::from_le_bytes(id);
        let shard = &self.shards[(id % SHARDS as u128) as usize];
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        // Pruned every few seconds; when full, at most once a second (not per request).
        if now >= shard.next_prune {
            shard.until.retain(|_, until| *until >= now);
            let full = shard.until.len() >= self.capacity;
            shard.next_prune = now + if full { 1 } else { 5 };
        }
        if shard.until.contains_key(&id) {
            return Err(ProofError::Replay);
        }
        if shard.until.len() >= self.capacity {
            return Err(ProofError::Busy);
        }
        // Accepted until `iat + WINDOW` at the latest: remembered that long.
        shard.until.insert(id, proof.iat.saturating_add(WINDOW));
        Ok(())
    }

    /// How many proofs are remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).until.len())
            .sum()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// DPoP as one server does it: proofs checked, nonces demanded or not, replays refused.
pub struct Dpop {
    nonces: Option<Nonces>,
    seen: SeenProofs,
}

impl Dpop {
    /// `nonces`: demanded when given (`--dpop-nonce`).
    #[must_use]
    pub fn new(nonces: Option<Nonces>) -> Self {
        Self {
            nonces,
            seen: SeenProofs::default(),
        }
    }

    /// [`verify`], then the nonce when nonces are demanded. Nothing is recorded: a
    /// request that fails later does not use its proof up.
    pub fn check(
        &self,
        proof: &str,
        request: &Request<'_>,
        now: UnixTime,
    ) -> Result<Proof, ProofError> {
        let proof = verify(proof, request, now)?;
        if let Some(nonces) = &self.nonces
            && !proof
                .nonce
                .as_deref()
                .is_some_and(|n| nonces.accepts(n, now))
        {
            return Err(ProofError::Nonce);
        }
        Ok(proof)
    }

    /// Uses `proof` up; refused if it was used before.
    pub fn spend(&self, proof: &Proof, now: UnixTime) -> Result<(), ProofError> {
        self.seen.first_use(proof, now)
    }

    /// The nonce to send in `DPoP-Nonce`, when nonces are demanded.
    #[must_use]
    pub fn nonce(&self, now: UnixTime) -> Option<String> {
        self.nonces.as_ref().map(|n| n.current(now))
    }

    /// How many proofs are remembered (for the metrics).
    #[must_use]
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]

    use jsonwebtoken::EncodingKey;
    use serde_json::{Value, json};

    use super::*;

    const NOW: i64 = 1_800_000_000;
    const URL: &str = "https://clavis.example/mcp";
    const TOKEN: &str = "header.payload.signature";

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/server/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap()
    }

    /// A fixture key pair: its public JWK and its signing key.
    fn key(name: &str) -> (Value, EncodingKey) {
        let public = crate::client_keys::parse_public_keys(&fixture(&format!("{name}.pub")))
            .unwrap()
            .remove(0);
        let (_, der) = pem_rfc7468::decode_vec(fixture(&format!("{name}.key")).as_bytes()).unwrap();
        let signing = match name {
            "ed25519" => EncodingKey::from_ed_der(&der),
            "p256" => EncodingKey::from_ec_der(&der),
            _ => EncodingKey::from_rsa_der(&der),
        };
        (serde_json::to_value(public).unwrap(), signing)
    }

    /// A proof with this raw header and payload text, signed.
    fn signed(header: &str, payload: &str, key: &EncodingKey, alg: Algorithm) -> String {
        let message = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
        format!("{message}.{signature}")
    }

    fn claims() -> Value {
        json!({ "jti": "j-1", "htm": "POST", "htu": URL, "iat": NOW, "ath": token_hash(TOKEN) })
    }

    fn proof_with(
        name: &str,
        alg: &str,
        header: impl FnOnce(&mut Value),
        claims: &Value,
    ) -> String {
        let (jwk, signing) = key(name);
        let mut h = json!({ "typ": "dpop+jwt", "alg": alg, "jwk": jwk });
        header(&mut h);
        let algorithm: Algorithm = alg.parse().unwrap();
        signed(&h.to_string(), &claims.to_string(), &signing, algorithm)
    }

    fn proof(claims: &Value) -> String {
        proof_with("p256", "ES256", |_| {}, claims)
    }

    fn request() -> Request<'static> {
        Request {
            method: "POST",
            url: URL,
            access_token: Some(TOKEN),
        }
    }

    #[test]
    fn proofs_of_every_accepted_algorithm_verify_and_name_their_key() {
        for (name, alg) in [
            ("ed25519", "EdDSA"),
            ("p256", "ES256"),
            ("rsa2048", "RS256"),
            ("rsa2048", "PS256"),
        ] {
            let proof = proof_with(name, alg, |_| {}, &claims());
            let verified = verify(&proof, &request(), NOW).unwrap_or_else(|e| panic!("{alg}: {e}"));
            let (jwk, _) = key(name);
            let expected = crate::client_keys::public_jwk(&jwk).unwrap().thumbprint();
            assert_eq!(verified.jkt, expected, "{alg}");
            assert_eq!(verified.jti, "j-1");
        }
    }

    #[test]
    fn the_thumbprint_is_rfc_7638s() {
        // RFC 7638 §3.1's example key and thumbprint.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let key = crate::client_keys::public_jwk(&jwk).unwrap();
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn each_broken_rule_is_refused_with_its_reason() {
        let with = |edit: &dyn Fn(&mut Value)| {
            let mut c = claims();
            edit(&mut c);
            verify(&proof(&c), &request(), NOW)
        };
        assert_eq!(with(&|c| c["htm"] = json!("GET")), Err(ProofError::Method));
        assert_eq!(with(&|c| c["htm"] = json!("post")), Err(ProofError::Method));
        assert_eq!(
            with(&|c| c["htu"] = json!("https://clavis.example/api")),
            Err(ProofError::Url)
        );
        assert_eq!(
            with(&|c| c["htu"] = json!("https://evil.example/mcp")),
            Err(ProofError::Url)
        );
        assert_eq!(
            with(&|c| c["htu"] = json!("not a url")),
            Err(ProofError::Url)
        );
        assert_eq!(with(&|c| c["iat"] = json!(NOW - 61)), Err(ProofError::Time));
        assert_eq!(
            with(&|c| c["iat"] = json!(NOW + SKEW + 1)),
            Err(ProofError::Time)
        );
        assert_eq!(
            with(&|c| c["iat"] = json!("now")),
            Err(ProofError::Malformed)
        );
        assert_eq!(
            with(&|c| {
                c.as_object_mut().unwrap().remove("iat");
            }),
            Err(ProofError::Time)
        );
        assert_eq!(
            with(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
            Err(ProofError::NoJti)
        );
        assert_eq!(
            with(&|c| c["jti"] = json!("x".repeat(201))),
            Err(ProofError::NoJti)
        );
        assert_eq!(
            with(&|c| c["ath"] = json!(token_hash("another"))),
            Err(ProofError::TokenHash)
        );
        assert_eq!(
            with(&|c| {
                c.as_object_mut().unwrap().remove("ath");
            }),
            Err(ProofError::TokenHash)
        );
        // Within the window, query and fragment, host case and default port do not matter.
        assert!(with(&|c| c["iat"] = json!(NOW - 60)).is_ok());
        assert!(with(&|c| c["iat"] = json!(NOW + SKEW)).is_ok());
        // A NumericDate may have a fraction.
        assert!(with(&|c| c["iat"] = json!(NOW as f64 - 0.5)).is_ok());
        assert!(with(&|c| c["htu"] = json!("https://CLAVIS.example:443/mcp?x=1#f")).is_ok());
        // At the token endpoint there is no token, so no ath is needed.
        let at_token_endpoint = Request {
            access_token: None,
            ..request()
        };
        let mut c = claims();
        c.as_object_mut().unwrap().remove("ath");
        assert!(verify(&proof(&c), &at_token_endpoint, NOW).is_ok());
    }

    #[test]
    fn headers_that_are_not_a_public_key_proof_are_refused() {
        let with = |alg: &str, edit: &dyn Fn(&mut Value)| {
            verify(
                &proof_with("p256", alg, |h| edit(h), &claims()),
                &request(),
                NOW,
            )
        };
        assert_eq!(
            with("ES256", &|h| h["typ"] = json!("JWT")),
            Err(ProofError::Type)
        );
        assert_eq!(
            with("ES256", &|h| {
                h.as_object_mut().unwrap().remove("typ");
            }),
            Err(ProofError::Type)
        );
        assert_eq!(
            with("ES256", &|h| {
                h.as_object_mut().unwrap().remove("jwk");
            }),
            Err(ProofError::Key)
        );
        assert_eq!(
            with("ES256", &|h| h["jwk"]["d"] = json!("AAAA")),
            Err(ProofError::Key)
        );
        assert_eq!(
            with("ES256", &|h| h["jwk"]["kty"] = json!("oct")),
            Err(ProofError::Key)
        );
        assert_eq!(
            with("ES256", &|h| h["crit"] = json!(["b64"])),
            Err(ProofError::Malformed)
        );
        // Present is present, even as null.
        assert_eq!(
            with("ES256", &|h| h["crit"] = Value::Null),
            Err(ProofError::Malformed)
        );
        assert_eq!(
            with("ES256", &|h| h["jwk"]["d"] = Value::Null),
            Err(ProofError::Key)
        );
        assert_eq!(
            with("ES256", &|h| h["jwk"] = json!(["EC", "P-256"])),
            Err(ProofError::Malformed)
        );
        assert_eq!(
            with("ES256", &|h| h["alg"] = json!("RS256")),
            Err(ProofError::Algorithm)
        );
        assert_eq!(
            with("ES256", &|h| h["alg"] = json!("none")),
            Err(ProofError::Algorithm)
        );
        // An HMAC keyed with the public key: refused before any signature check.
        let (jwk, _) = key("p256");
        let hmac = EncodingKey::from_secret(jwk.to_string().as_bytes()).unwrap();
        let header = json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": jwk }).to_string();
        let forged = signed(&header, &claims().to_string(), &hmac, Algorithm::HS256);
        assert_eq!(verify(&forged, &request(), NOW), Err(ProofError::Algorithm));
        // A key that did not sign it.
        let (other, _) = key("ed25519");
        let (_, p256) = key("p256");
        let header = json!({ "typ": "dpop+jwt", "alg": "EdDSA", "jwk": other }).to_string();
        let foreign = signed(&header, &claims().to_string(), &p256, Algorithm::ES256);
        assert_eq!(
            verify(&foreign, &request(), NOW),
            Err(ProofError::Signature)
        );
    }

    #[test]
    fn only_json_objects_are_read_as_header_and_claims() {
        // serde would read an array into a struct field by field.
        let (jwk, signing) = key("p256");
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk }).to_string();
        let c = claims();
        let array = json!([c["jti"], c["htm"], c["htu"], c["iat"], c["ath"], null]).to_string();
        let proof = signed(&header, &array, &signing, Algorithm::ES256);
        assert_eq!(verify(&proof, &request(), NOW), Err(ProofError::Malformed));
        let header = json!(["dpop+jwt", "ES256", jwk, null]).to_string();
        let proof = signed(&header, &claims().to_string(), &signing, Algorithm::ES256);
        assert_eq!(verify(&proof, &request(), NOW), Err(ProofError::Malformed));
    }

    #[test]
    fn rsa_keys_with_an_unusual_exponent_and_weak_ed25519_keys_are_refused() {
        let proof = proof_with(
            "rsa2048",
            "RS256",
            |h| h["jwk"]["e"] = json!("AwAB"),
            &claims(),
        );
        assert_eq!(verify(&proof, &request(), NOW), Err(ProofError::Key));
        // The identity point (small order): any signature verifies against it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(&identity) });
        assert!(crate::client_keys::public_jwk(&weak).is_err());
    }

    #[test]
    fn a_field_named_twice_makes_the_proof_unreadable() {
        // A lenient reader would take the last "jwk" or "htu"; serde refuses both.
        let (jwk, signing) = key("p256");
        let (other, _) = key("ed25519");
        let header = format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{other},"jwk":{jwk}}}"#);
        let proof = signed(&header, &claims().to_string(), &signing, Algorithm::ES256);
        assert_eq!(verify(&proof, &request(), NOW), Err(ProofError::Malformed));
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk }).to_string();
        let payload = format!(
            r#"{{"jti":"j","htm":"POST","htu":"https://evil.example/mcp","htu":"{URL}","iat":{NOW},"ath":"{}"}}"#,
            token_hash(TOKEN)
        );
        let proof = signed(&header, &payload, &signing, Algorithm::ES256);
        assert_eq!(verify(&proof, &request(), NOW), Err(ProofError::Malformed));
    }

    #[test]
    fn tampering_and_garbage_are_refused_without_panics() {
        let good = proof(&claims());
        let mut parts: Vec<&str> = good.split('.').collect();
        let other_payload = b64(json!({ "jti": "j-2", "htm": "POST", "htu": URL, "iat": NOW, "ath": token_hash(TOKEN) }).to_string().as_bytes());
        parts[1] = &other_payload;
        assert_eq!(
            verify(&parts.join("."), &request(), NOW),
            Err(ProofError::Signature)
        );
        for garbage in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            &"a".repeat(MAX_PROOF + 1),
            &format!("{good}.x"),
        ] {
            assert_eq!(
                verify(garbage, &request(), NOW),
                Err(ProofError::Malformed),
                "{garbage:.20}"
            );
        }
    }

    #[test]
    fn nonces_last_a_period_either_side_and_are_the_servers_own() {
        let nonces = Nonces::new(b"shared secret key");
        let nonce = nonces.current(NOW);
        assert!(nonces.accepts(&nonce, NOW));
        assert!(nonces.accepts(&nonce, NOW + NONCE_PERIOD));
        assert!(!nonces.accepts(&nonce, NOW + 2 * NONCE_PERIOD));
        // From an instance whose clock is a little ahead, into the next period.
        assert!(nonces.accepts(&nonce, NOW - NONCE_PERIOD));
        assert!(!nonces.accepts(&nonce, NOW - 2 * NONCE_PERIOD));
        // Another instance with the same secret accepts it; another secret does not.
        assert!(Nonces::new(b"shared secret key").accepts(&nonce, NOW));
        assert!(!Nonces::new(b"another key").accepts(&nonce, NOW));
        // A forged period number with the MAC of another period.
        let mut forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&nonce)
            .unwrap();
        forged[7] ^= 1;
        assert!(!nonces.accepts(&b64(&forged), NOW));
        for garbage in ["", "!!", "AAAA", &format!("{nonce}AA")] {
            assert!(!nonces.accepts(garbage, NOW), "{garbage}");
        }
        // A proof without the nonce, or with a stale one, is told to use the nonce.
        let dpop = Dpop::new(Some(nonces.clone()));
        let token_endpoint = Request {
            access_token: None,
            ..request()
        };
        assert_eq!(
            dpop.check(&proof(&claims()), &token_endpoint, NOW),
            Err(ProofError::Nonce)
        );
        let mut c = claims();
        c["nonce"] = json!(nonces.current(NOW - 2 * NONCE_PERIOD));
        assert_eq!(
            dpop.check(&proof(&c), &token_endpoint, NOW),
            Err(ProofError::Nonce)
        );
        c["nonce"] = json!(dpop.nonce(NOW).unwrap());
        assert!(dpop.check(&proof(&c), &token_endpoint, NOW).is_ok());
        assert_eq!(Dpop::new(None).nonce(NOW), None);
    }

    #[test]
    fn a_proof_is_used_once_and_remembered_only_while_it_could_be_used() {
        let seen = SeenProofs::with_capacity(SHARDS * 2);
        let proof = |jkt: &str, jti: &str, iat: i64| Proof {
            jkt: jkt.into(),
            jti: jti.into(),
            iat,
            nonce: None,
        };
        assert_eq!(seen.first_use(&proof("k", "1", NOW), NOW), Ok(()));
        assert_eq!(
            seen.first_use(&proof("k", "1", NOW), NOW + 30),
            Err(ProofError::Replay)
        );
        // The same jti under another key is another proof.
        assert_eq!(seen.first_use(&proof("k2", "1", NOW), NOW), Ok(()));
        assert_eq!(seen.len(), 2);
        // Once its iat is out of the window (verify refuses it then), it is forgotten.
        assert_eq!(
            seen.first_use(&proof("k", "1", NOW), NOW + WINDOW + 10),
            Ok(())
        );
        // Full: new proofs wait rather than old ones being forgotten early.
        let mut refused = 0;
        for i in 0..SHARDS * 8 {
            if seen.first_use(&proof("k", &i.to_string(), NOW + 100), NOW + 100)
                == Err(ProofError::Busy)
            {
                refused += 1;
            }
        }
        assert!(refused > 0);
        assert!(seen.len() <= SHARDS * 2);
    }
}
