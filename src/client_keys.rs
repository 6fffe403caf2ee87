//! `private_key_jwt` client authentication (SPEC §11.2, RFC 7523 §2.2 and §3): the
//! public keys a credential registers, and the verification of the client assertions
//! signed with their private halves.
//!
//! Keys arrive as a PEM public key (SPKI), a JWK or a JWKS and are kept as JWKs, each
//! with its algorithm fixed by its type: Ed25519 → `EdDSA`, P-256 → `ES256`, RSA of at
//! least 2048 bits → `RS256`. Anything else is refused on input with a message saying
//! what is accepted. Signatures are checked by `jsonwebtoken` (RustCrypto backends),
//! only with the algorithm of the key that matches, so neither `none` nor an HMAC keyed
//! with a public key can pass.

use std::fmt;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::{UnixTime, b64};

/// The `client_assertion_type` of a JWT assertion (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Most keys one credential registers.
pub const MAX_KEYS: usize = 5;
/// Longest an assertion may live, from `iat` to `exp`.
pub const MAX_ASSERTION_LIFETIME: i64 = 3600;
/// How far ahead of our clock an `iat` or `nbf` may be.
const CLOCK_SKEW: i64 = 60;
/// Longest `kid` or `jti` accepted.
const ID_MAX: usize = 200;
/// The signing algorithms accepted, for discovery.
pub const ALGORITHMS: [&str; 3] = ["EdDSA", "ES256", "RS256"];

/// One registered public key, as a JWK (RFC 7517) with its key id and algorithm.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientKey {
    pub kid: String,
    pub alg: String,
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Why a public key was refused (shown to the person who pasted it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("Paste a public key: PEM (-----BEGIN PUBLIC KEY-----), a JWK or a JWKS.")]
    Unreadable,
    #[error(
        "That is a private key. Paste only the public key; keep the private key with the program."
    )]
    Private,
    #[error("Unsupported key: use Ed25519, P-256 (ES256) or RSA of at least 2048 bits.")]
    Unsupported,
    #[error("RSA keys must have at least 2048 bits (this one has {0}).")]
    RsaTooSmall(usize),
    #[error("The key is malformed: {0}.")]
    Malformed(&'static str),
    #[error("A key's \"alg\" must match its type (EdDSA, ES256 or RS256).")]
    WrongAlg,
    #[error("At most {MAX_KEYS} keys, each with a distinct \"kid\".")]
    TooMany,
}

fn unb64(text: &str) -> Result<Vec<u8>, KeyError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| KeyError::Malformed("not base64url"))
}

/// Reads the public keys a person pasted: one or more PEM public keys, a JWK or a JWKS.
pub fn parse_public_keys(input: &str) -> Result<Vec<ClientKey>, KeyError> {
    let input = input.trim();
    let keys = if input.starts_with("-----BEGIN") {
        pem_blocks(input)?
            .into_iter()
            .map(|block| from_pem(&block))
            .collect::<Result<Vec<_>, _>>()?
    } else if input.starts_with('{') {
        let value: serde_json::Value =
            serde_json::from_str(input).map_err(|_| KeyError::Unreadable)?;
        match value.get("keys") {
            Some(serde_json::Value::Array(keys)) => {
                keys.iter().map(public_jwk).collect::<Result<Vec<_>, _>>()?
            }
            Some(_) => return Err(KeyError::Unreadable),
            None => vec![public_jwk(&value)?],
        }
    } else {
        return Err(KeyError::Unreadable);
    };
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(if keys.is_empty() {
            KeyError::Unreadable
        } else {
            KeyError::TooMany
        });
    }
    for (i, key) in keys.iter().enumerate() {
        if keys[..i].iter().any(|k| k.kid == key.kid) {
            return Err(KeyError::TooMany);
        }
    }
    Ok(keys)
}

/// The PEM blocks of `input`, each from its `-----BEGIN` to its `-----END …-----` line.
fn pem_blocks(input: &str) -> Result<Vec<String>, KeyError> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in input.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("-----BEGIN") {
            current = Some(String::new());
        }
        let Some(block) = current.as_mut() else {
            return Err(KeyError::Unreadable);
        };
        block.push_str(line);
        block.push('\n');
        if line.starts_with("-----END") {
            blocks.extend(current.take());
        }
    }
    if current.is_some() || blocks.len() > MAX_KEYS {
        return Err(if current.is_some() {
            KeyError::Unreadable
        } else {
            KeyError::TooMany
        });
    }
    Ok(blocks)
}

const OID_ED25519: &str = "1.3.101.112";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_RSA: &str = "1.2.840.113549.1.1.1";

fn from_pem(block: &str) -> Result<ClientKey, KeyError> {
    use spki::der::Decode as _;

    let (label, der) =
        pem_rfc7468::decode_vec(block.as_bytes()).map_err(|_| KeyError::Unreadable)?;
    if label.contains("PRIVATE") {
        return Err(KeyError::Private);
    }
    if label != "PUBLIC KEY" {
        return Err(KeyError::Unreadable);
    }
    let info = spki::SubjectPublicKeyInfoRef::from_der(&der)
        .map_err(|_| KeyError::Malformed("not SPKI"))?;
    let key = info
        .subject_public_key
        .as_bytes()
        .ok_or(KeyError::Malformed("unaligned key bits"))?;
    match info.algorithm.oid.to_string().as_str() {
        OID_ED25519 => ed25519(b64(key), None, None),
        OID_EC => {
            let curve = info
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<spki::ObjectIdentifier>().ok())
                .map(|oid| oid.to_string());
            if curve.as_deref() != Some(OID_P256) {
                return Err(KeyError::Unsupported);
            }
            // An uncompressed point: 0x04, x, y.
            match key {
                [4, rest @ ..] if rest.len() == 64 => {
                    p256(b64(&rest[..32]), b64(&rest[32..]), None, None)
                }
                _ => Err(KeyError::Malformed("not an uncompressed P-256 point")),
            }
        }
        OID_RSA => {
            let rsa = pkcs1::RsaPublicKey::<spki::der::asn1::UintRef<'_>>::from_der(key)
                .map_err(|_| KeyError::Malformed("not an RSA public key"))?;
            rsa_key(
                b64(rsa.modulus.as_bytes()),
                b64(rsa.public_exponent.as_bytes()),
                None,
                None,
            )
        }
        _ => Err(KeyError::Unsupported),
    }
}

/// One public JWK, checked as a pasted one is (a private key, an unsupported type or an
/// `alg` that is not the type's is refused).
pub fn public_jwk(jwk: &serde_json::Value) -> Result<ClientKey, KeyError> {
    let field = |name: &str| {
        jwk.get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    if jwk.get("d").is_some() || jwk.get("p").is_some() {
        return Err(KeyError::Private);
    }
    let (kid, alg) = (field("kid"), field("alg"));
    match (field("kty").as_deref(), field("crv").as_deref()) {
        (Some("OKP"), Some("Ed25519")) => {
            ed25519(field("x").ok_or(KeyError::Malformed("no \"x\""))?, kid, alg)
        }
        (Some("EC"), Some("P-256")) => p256(
            field("x").ok_or(KeyError::Malformed("no \"x\""))?,
            field("y").ok_or(KeyError::Malformed("no \"y\""))?,
            kid,
            alg,
        ),
        (Some("RSA"), _) => rsa_key(
            field("n").ok_or(KeyError::Malformed("no \"n\""))?,
            field("e").ok_or(KeyError::Malformed("no \"e\""))?,
            kid,
            alg,
        ),
        (Some(_), _) => Err(KeyError::Unsupported),
        (None, _) => Err(KeyError::Unreadable),
    }
}

/// Finishes a key: its algorithm (a given `alg` must be the type's), and its `kid` (a
/// given one, else the RFC 7638 thumbprint).
fn finish(
    mut key: ClientKey,
    kid: Option<String>,
    alg: Option<String>,
) -> Result<ClientKey, KeyError> {
    if alg.is_some_and(|a| a != key.alg) {
        return Err(KeyError::WrongAlg);
    }
    key.kid = match kid {
        Some(kid)
            if !kid.is_empty() && kid.len() <= ID_MAX && !kid.chars().any(char::is_control) =>
        {
            kid
        }
        Some(_) => return Err(KeyError::Malformed("\"kid\" must be 1 to 200 characters")),
        None => key.thumbprint(),
    };
    Ok(key)
}

fn blank(alg: &str, kty: &str) -> ClientKey {
    ClientKey {
        kid: String::new(),
        alg: alg.to_owned(),
        kty: kty.to_owned(),
        crv: None,
        x: None,
        y: None,
        n: None,
        e: None,
    }
}

fn ed25519(x: String, kid: Option<String>, alg: Option<String>) -> Result<ClientKey, KeyError> {
    let bytes: [u8; 32] = unb64(&x)?
        .try_into()
        .map_err(|_| KeyError::Malformed("an Ed25519 key is 32 bytes"))?;
    let point = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
        .map_err(|_| KeyError::Malformed("not an Ed25519 point"))?;
    // A point of small order verifies forged signatures.
    if point.is_weak() {
        return Err(KeyError::Malformed("a weak Ed25519 key"));
    }
    let x = b64(&bytes);
    let key = ClientKey {
        crv: Some("Ed25519".into()),
        x: Some(x),
        ..blank("EdDSA", "OKP")
    };
    finish(key, kid, alg)
}

fn p256(
    x: String,
    y: String,
    kid: Option<String>,
    alg: Option<String>,
) -> Result<ClientKey, KeyError> {
    let (x, y) = (unb64(&x)?, unb64(&y)?);
    if x.len() != 32 || y.len() != 32 {
        return Err(KeyError::Malformed("P-256 coordinates are 32 bytes"));
    }
    let mut point = vec![4u8];
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    p256::PublicKey::from_sec1_bytes(&point)
        .map_err(|_| KeyError::Malformed("not a P-256 point"))?;
    let (x, y) = (b64(&x), b64(&y));
    let key = ClientKey {
        crv: Some("P-256".into()),
        x: Some(x),
        y: Some(y),
        ..blank("ES256", "EC")
    };
    finish(key, kid, alg)
}

fn rsa_key(
    n: String,
    e: String,
    kid: Option<String>,
    alg: Option<String>,
) -> Result<ClientKey, KeyError> {
    let strip = |bytes: Vec<u8>| -> Vec<u8> {
        let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        bytes[first..].to_vec()
    };
    let (n, e) = (strip(unb64(&n)?), strip(unb64(&e)?));
    let bits = n.first().map_or(0, |top| {
        (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
    });
    if bits < 2048 {
        return Err(KeyError::RsaTooSmall(bits));
    }
    if bits > 8192
        || e.is_empty()
        || e.len() > 4
        || e.last().is_some_and(|b| b % 2 == 0)
        || e == [1]
    {
        return Err(KeyError::Malformed("unusual RSA modulus or exponent"));
    }
    let (n, e) = (b64(&n), b64(&e));
    let key = ClientKey {
        n: Some(n),
        e: Some(e),
        ..blank("RS256", "RSA")
    };
    finish(key, kid, alg)
}

impl ClientKey {
    /// Its RFC 7638 JWK SHA-256 thumbprint: the hash of its required members in
    /// lexicographic order, without whitespace (the members are kept in canonical
    /// base64url, so two encodings of one key have one thumbprint).
    #[must_use]
    pub fn thumbprint(&self) -> String {
        let s = |v: &Option<String>| v.as_deref().unwrap_or_default().to_owned();
        let canonical = match self.kty.as_str() {
            "OKP" => format!(
                r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
                s(&self.crv),
                s(&self.x)
            ),
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                s(&self.crv),
                s(&self.x),
                s(&self.y)
            ),
            _ => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                s(&self.e),
                s(&self.n)
            ),
        };
        b64(&Sha256::digest(canonical.as_bytes()))
    }

    /// The algorithm it verifies (fixed by its type).
    #[must_use]
    pub fn algorithm(&self) -> Option<Algorithm> {
        match self.alg.as_str() {
            "EdDSA" => Some(Algorithm::EdDSA),
            "ES256" => Some(Algorithm::ES256),
            "RS256" => Some(Algorithm::RS256),
            _ => None,
        }
    }

    /// The key, ready to verify signatures.
    #[must_use]
    pub fn decoding_key(&self) -> Option<DecodingKey> {
        let s = |v: &Option<String>| v.as_deref().unwrap_or_default().to_owned();
        match self.kty.as_str() {
            "OKP" => DecodingKey::from_ed_components(&s(&self.x)).ok(),
            "EC" => DecodingKey::from_ec_components(&s(&self.x), &s(&self.y)).ok(),
            "RSA" => DecodingKey::from_rsa_components(&s(&self.n), &s(&self.e)).ok(),
            _ => None,
        }
    }
}

/// Why an assertion was refused (for logs and metrics; the client gets
/// `invalid_client` whatever the reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    #[error("malformed assertion")]
    Malformed,
    #[error("algorithm not accepted or not the key's")]
    Algorithm,
    #[error("no registered key with that kid")]
    UnknownKey,
    #[error("signature does not verify")]
    Signature,
    #[error("iss and sub must both be the client id")]
    Subject,
    #[error("aud is neither the issuer nor the token endpoint")]
    Audience,
    #[error("expired, not yet valid, or longer-lived than an hour")]
    Time,
    #[error("no jti")]
    NoJti,
    #[error("jti already used")]
    Replay,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

/// The client id an assertion claims to come from (its `sub`, read without verifying
/// anything), to find the credential whose keys then verify it.
#[must_use]
pub fn claimed_client_id(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: AssertionClaims = serde_json::from_slice(&bytes).ok()?;
    claims.sub.filter(|s| !s.is_empty() && s.len() <= ID_MAX)
}

/// A verified assertion: its `jti`, to be accepted once, until `exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub jti: String,
    pub exp: UnixTime,
}

/// Verifies a client assertion (SPEC §11.2): signed by one of `keys` with that key's
/// algorithm (the one its `kid` names, if it names one); `iss` = `sub` = `client_id`;
/// `aud` one of `audiences` (a string, or an array containing one); `exp` after `now`
/// and at most an hour after `iat`; a `jti`. Whether the `jti` was seen before is the
/// caller's check.
pub fn verify_assertion(
    assertion: &str,
    keys: &[ClientKey],
    client_id: &str,
    audiences: &[&str],
    now: UnixTime,
) -> Result<Verified, AssertionError> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| AssertionError::Malformed)?;
    if !matches!(
        header.alg,
        Algorithm::EdDSA | Algorithm::ES256 | Algorithm::RS256
    ) {
        return Err(AssertionError::Algorithm);
    }
    let candidates: Vec<&ClientKey> = match &header.kid {
        Some(kid) => {
            // Old and new keys of a rotation may share a kid.
            let named: Vec<&ClientKey> = keys.iter().filter(|k| &k.kid == kid).collect();
            if named.is_empty() {
                return Err(AssertionError::UnknownKey);
            }
            named
        }
        None => keys.iter().collect(),
    };
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let mut refusal = AssertionError::Algorithm;
    let mut claims = None;
    for key in candidates {
        if key.algorithm() != Some(header.alg) {
            continue;
        }
        let Some(decoding) = key.decoding_key() else {
            continue;
        };
        match jsonwebtoken::decode::<AssertionClaims>(assertion, &decoding, &validation) {
            Ok(data) => {
                claims = Some(data.claims);
                break;
            }
            Err(e) => {
                refusal = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => AssertionError::Signature,
                    _ => AssertionError::Malformed,
                };
            }
        }
    }
    let claims = claims.ok_or(refusal)?;
    if claims.iss.as_deref() != Some(client_id) || claims.sub.as_deref() != Some(client_id) {
        return Err(AssertionError::Subject);
    }
    let audience_ok = match &claims.aud {
        Some(Audience::One(aud)) => audiences.contains(&aud.as_str()),
        Some(Audience::Many(auds)) => auds.iter().any(|a| audiences.contains(&a.as_str())),
        None => false,
    };
    if !audience_ok {
        return Err(AssertionError::Audience);
    }
    let (Some(exp), Some(iat)) = (claims.exp, claims.iat) else {
        return Err(AssertionError::Time);
    };
    if exp <= now
        || iat > now + CLOCK_SKEW
        || exp - iat > MAX_ASSERTION_LIFETIME
        || claims.nbf.is_some_and(|nbf| nbf > now + CLOCK_SKEW)
    {
        return Err(AssertionError::Time);
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= ID_MAX)
        .ok_or(AssertionError::NoJti)?;
    Ok(Verified { jti, exp })
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://clavis.example";
    const TOKEN_URL: &str = "https://clavis.example/mcp/oauth/token";
    const NOW: i64 = 1_800_000_000;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/server/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn key(public: &str) -> ClientKey {
        let keys = parse_public_keys(&fixture(public)).unwrap_or_else(|e| panic!("{e}"));
        keys.into_iter().next().unwrap_or_else(|| panic!("one key"))
    }

    fn sign(
        alg: Algorithm,
        private: &str,
        kid: Option<&str>,
        claims: &serde_json::Value,
    ) -> String {
        let pem = fixture(private);
        let (_, der) = pem_rfc7468::decode_vec(pem.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let key = match alg {
            Algorithm::EdDSA => EncodingKey::from_ed_der(&der),
            Algorithm::ES256 => EncodingKey::from_ec_der(&der),
            _ => EncodingKey::from_rsa_der(&der),
        };
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &key).unwrap_or_else(|e| panic!("{e}"))
    }

    fn claims() -> serde_json::Value {
        json!({ "iss": "clv_a", "sub": "clv_a", "aud": ISSUER, "iat": NOW - 5, "exp": NOW + 300, "jti": "j1" })
    }

    fn verify(assertion: &str, keys: &[ClientKey]) -> Result<Verified, AssertionError> {
        verify_assertion(assertion, keys, "clv_a", &[ISSUER, TOKEN_URL], NOW)
    }

    #[test]
    fn pem_keys_of_each_type_verify_their_own_signatures() {
        for (alg, public, private) in [
            (Algorithm::EdDSA, "ed25519.pub", "ed25519.key"),
            (Algorithm::ES256, "p256.pub", "p256.key"),
            (Algorithm::RS256, "rsa2048.pub", "rsa2048.key"),
        ] {
            let key = key(public);
            let assertion = sign(alg, private, None, &claims());
            assert_eq!(
                verify(&assertion, std::slice::from_ref(&key)),
                Ok(Verified {
                    jti: "j1".into(),
                    exp: NOW + 300
                }),
                "{public}"
            );
            // As a JWK (what the dashboard stores) it reads back the same.
            let jwk = serde_json::to_string(&key).unwrap_or_default();
            assert_eq!(parse_public_keys(&jwk), Ok(vec![key]));
        }
    }

    #[test]
    fn unsupported_small_private_and_garbage_keys_are_refused_with_a_reason() {
        assert_eq!(
            parse_public_keys(&fixture("rsa1024.pub")),
            Err(KeyError::RsaTooSmall(1024))
        );
        assert_eq!(
            parse_public_keys(&fixture("p384.pub")),
            Err(KeyError::Unsupported)
        );
        assert_eq!(
            parse_public_keys(&fixture("p256.key")),
            Err(KeyError::Private)
        );
        assert_eq!(parse_public_keys("hello"), Err(KeyError::Unreadable));
        assert_eq!(
            parse_public_keys("{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}"),
            Err(KeyError::Unsupported)
        );
        let mut jwk = serde_json::to_value(key("ed25519.pub")).unwrap_or_default();
        jwk["d"] = json!("AAAA");
        assert_eq!(parse_public_keys(&jwk.to_string()), Err(KeyError::Private));
        jwk = serde_json::to_value(key("ed25519.pub")).unwrap_or_default();
        jwk["alg"] = json!("RS256");
        assert_eq!(parse_public_keys(&jwk.to_string()), Err(KeyError::WrongAlg));
        let six: Vec<_> = (0..6)
            .map(|i| {
                let mut k = serde_json::to_value(key("ed25519.pub")).unwrap_or_default();
                k["kid"] = json!(format!("k{i}"));
                k
            })
            .collect();
        assert_eq!(
            parse_public_keys(&json!({ "keys": six }).to_string()),
            Err(KeyError::TooMany)
        );
        let five = json!({ "keys": &six[..5] }).to_string();
        assert_eq!(parse_public_keys(&five).map(|k| k.len()), Ok(5));
    }

    #[test]
    fn every_assertion_rule_is_enforced() {
        let keys = [key("ed25519.pub")];
        let ed = |claims: serde_json::Value| sign(Algorithm::EdDSA, "ed25519.key", None, &claims);
        let with = |field: &str, value: serde_json::Value| {
            let mut c = claims();
            c[field] = value;
            c
        };
        let without = |field: &str| {
            let mut c = claims();
            c.as_object_mut().map(|o| o.remove(field));
            c
        };
        assert!(verify(&ed(claims()), &keys).is_ok());
        assert!(
            verify(&ed(with("aud", json!(TOKEN_URL))), &keys).is_ok(),
            "token endpoint"
        );
        assert!(
            verify(&ed(with("aud", json!(["x", ISSUER]))), &keys).is_ok(),
            "array"
        );
        assert_eq!(
            verify(&ed(with("aud", json!("https://other"))), &keys),
            Err(AssertionError::Audience)
        );
        assert_eq!(
            verify(&ed(with("aud", json!(["x"]))), &keys),
            Err(AssertionError::Audience)
        );
        assert_eq!(
            verify(&ed(without("aud")), &keys),
            Err(AssertionError::Audience)
        );
        assert_eq!(
            verify(&ed(with("sub", json!("clv_b"))), &keys),
            Err(AssertionError::Subject)
        );
        assert_eq!(
            verify(&ed(with("iss", json!("clv_b"))), &keys),
            Err(AssertionError::Subject)
        );
        assert_eq!(
            verify(&ed(with("exp", json!(NOW))), &keys),
            Err(AssertionError::Time),
            "expired"
        );
        assert_eq!(
            verify(&ed(with("exp", json!(NOW - 5 + 3601))), &keys),
            Err(AssertionError::Time),
            "longer-lived than an hour"
        );
        assert!(
            verify(&ed(with("exp", json!(NOW - 5 + 3600))), &keys).is_ok(),
            "an hour exactly"
        );
        assert_eq!(
            verify(&ed(without("iat")), &keys),
            Err(AssertionError::Time)
        );
        assert_eq!(
            verify(&ed(with("iat", json!(NOW + 120))), &keys),
            Err(AssertionError::Time)
        );
        assert_eq!(
            verify(&ed(without("jti")), &keys),
            Err(AssertionError::NoJti)
        );
        assert_eq!(
            verify(
                &sign(Algorithm::EdDSA, "ed25519.key", Some("nope"), &claims()),
                &keys
            ),
            Err(AssertionError::UnknownKey)
        );
        let kid = keys[0].kid.clone();
        assert!(
            verify(
                &sign(Algorithm::EdDSA, "ed25519.key", Some(&kid), &claims()),
                &keys
            )
            .is_ok()
        );
        // Signed by another key of the right type.
        let other = [key("p256.pub")];
        assert_eq!(
            verify(&sign(Algorithm::ES256, "p256.key", None, &claims()), &keys),
            Err(AssertionError::Algorithm),
            "no ES256 key registered"
        );
        assert!(verify(&sign(Algorithm::ES256, "p256.key", None, &claims()), &other).is_ok());
    }

    #[test]
    fn none_and_hmac_with_the_public_key_are_refused() {
        let b64 = |v: serde_json::Value| b64(v.to_string().as_bytes());
        let keys = [key("rsa2048.pub"), key("ed25519.pub")];
        let none = format!("{}.{}.", b64(json!({ "alg": "none" })), b64(claims()));
        assert_eq!(verify(&none, &keys), Err(AssertionError::Malformed));
        // HS256 keyed with the registered public key's PEM (the classic confusion).
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(fixture("rsa2048.pub").as_bytes())
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .unwrap_or_default();
        assert_eq!(verify(&hs, &keys), Err(AssertionError::Algorithm));
        // A valid signature under a changed payload.
        let good = sign(Algorithm::EdDSA, "ed25519.key", None, &claims());
        let parts: Vec<&str> = good.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(
                json!({ "iss": "clv_a", "sub": "clv_a", "aud": ISSUER, "iat": NOW, "exp": NOW + 60, "jti": "j2" })
            ),
            parts[2]
        );
        assert_eq!(verify(&forged, &keys), Err(AssertionError::Signature));
        assert_eq!(claimed_client_id(&good).as_deref(), Some("clv_a"));
    }
}
