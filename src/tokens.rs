//! Access tokens: RFC 9068 JWTs signed with Ed25519 (`alg: EdDSA`), and the keys that
//! sign them. Keys live in the database (private halves sealed with the master key) so
//! that every instance signs and verifies alike; rotation makes a new current key and
//! keeps retired ones published until every token they signed has expired.

use std::collections::HashMap;

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::{
    UnixTime, b64,
    sealed::MasterKey,
    store::{self, Pool, StoreError},
};

/// The JWT `typ` of access tokens (RFC 9068 §2.1).
pub const TOKEN_TYPE: &str = "at+jwt";

/// The claims of an access token (RFC 9068 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    pub aud: String,
    pub iat: UnixTime,
    pub exp: UnixTime,
    pub jti: String,
    pub scope: String,
    /// The workload whose token was exchanged for this one (SPEC §18): its issuer and
    /// subject. Absent for a client's own credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<crate::federation::WorkloadClaim>,
    /// The key the token is bound to (RFC 9449 §6, SPEC §19): only requests with a DPoP
    /// proof by that key may use it. Absent for a Bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// A token's confirmation claim (RFC 7800): the thumbprint of its DPoP key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

impl Claims {
    /// Its OAuth token type: `DPoP` when it is bound to a key, else `Bearer`.
    #[must_use]
    pub fn token_type(&self) -> &'static str {
        if self.cnf.is_some() { "DPoP" } else { "Bearer" }
    }

    /// Whether claims whose signature verified are for `issuer` and `audience` and
    /// unexpired at `now`.
    pub fn check(&self, issuer: &str, audience: &str, now: UnixTime) -> Result<(), TokenError> {
        if self.iss != issuer || self.aud != audience {
            return Err(TokenError::WrongAudience);
        }
        if self.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(())
    }
}

/// Why a token is not accepted. Deliberately coarse: callers answer `invalid_token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed or its signature does not verify")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token is for another audience or issuer")]
    WrongAudience,
}

/// A public key as published in the JWKS (RFC 8037 OKP key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicJwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub kid: String,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub x: String,
}

/// The signing key and every key whose tokens may still be valid.
pub struct Keyring {
    current_kid: String,
    /// Held as a dalek key: `jsonwebtoken` would re-derive the public key from the
    /// private one on every signature, doubling the cost of issuing a token.
    current: SigningKey,
    /// The base64url JOSE header of tokens signed by the current key.
    header: String,
    verifying: HashMap<String, DecodingKey>,
    published: Vec<PublicJwk>,
}

/// The associated data a signing key's private half is sealed under.
fn key_purpose(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// A new Ed25519 key: (kid, seed, public key).
fn generate_key() -> (String, [u8; 32], [u8; 32]) {
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    let mut kid = [0u8; 12];
    rand::fill(&mut kid);
    (b64(&kid), seed, public)
}

impl Keyring {
    /// Loads the keys, creating the first one on first start. Private keys are stored
    /// sealed with the master key; one stored in clear by an earlier version is sealed in
    /// place. Keys retired more than `max_token_ttl` ago verify nothing any more and are
    /// left out.
    pub async fn load(
        pool: &Pool,
        master: &MasterKey,
        max_token_ttl: i64,
        now: UnixTime,
    ) -> Result<Self, StoreError> {
        let mut keys = store::signing_keys(pool).await?;
        if !keys.iter().any(|k| k.retired_at.is_none()) {
            let (kid, seed, public) = generate_key();
            // Another instance starting at the same time may win: then use its key.
            let sealed = master.seal(&key_purpose(&kid), &seed);
            store::insert_first_signing_key(pool, &kid, &sealed, &public, now).await?;
            keys = store::signing_keys(pool).await?;
        }
        for key in keys.iter_mut().filter(|k| k.private_key.len() == 32) {
            key.private_key = master.seal(&key_purpose(&key.kid), &key.private_key);
            store::replace_signing_key(pool, &key.kid, &key.private_key).await?;
        }
        Self::from_rows(&keys, max_token_ttl, now, |key| {
            let seed = master
                .open(&key_purpose(&key.kid), &key.private_key)
                .map_err(|_| StoreError::WrongMasterKey)?;
            seed.try_into()
                .map_err(|_| StoreError::Corrupt("a signing key has the wrong length"))
        })
    }

    /// A keyring of one key held only in memory, from its seed: for the fuzz targets
    /// and tools that have no database. The server always uses [`Keyring::load`].
    #[must_use]
    pub fn in_memory(kid: &str, seed: [u8; 32]) -> Self {
        let row = store::SigningKeyRow {
            kid: kid.to_owned(),
            private_key: seed.to_vec(),
            public_key: SigningKey::from_bytes(&seed)
                .verifying_key()
                .to_bytes()
                .to_vec(),
            created_at: 0,
            retired_at: None,
        };
        let opened = Self::from_rows(std::slice::from_ref(&row), 0, 0, |_| Ok(seed));
        // One well-formed key with a current row cannot fail to load.
        opened.unwrap_or_else(|_| unreachable!("an in-memory key loads"))
    }

    fn from_rows(
        keys: &[store::SigningKeyRow],
        max_token_ttl: i64,
        now: UnixTime,
        open: impl Fn(&store::SigningKeyRow) -> Result<[u8; 32], StoreError>,
    ) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt("a signing key has the wrong length");
        let current = keys
            .iter()
            .filter(|k| k.retired_at.is_none())
            .max_by_key(|k| k.created_at)
            .ok_or(StoreError::Corrupt("no current signing key"))?;
        let seed = open(current)?;
        let mut verifying = HashMap::new();
        let mut published = Vec::new();
        for key in keys
            .iter()
            .filter(|k| k.retired_at.is_none_or(|at| at + max_token_ttl > now))
        {
            let x = b64(&key.public_key);
            verifying.insert(
                key.kid.clone(),
                DecodingKey::from_ed_components(&x).map_err(|_| corrupt())?,
            );
            published.push(PublicJwk {
                kty: "OKP",
                crv: "Ed25519",
                kid: key.kid.clone(),
                alg: "EdDSA",
                use_: "sig",
                x,
            });
        }
        let header = serde_json::json!({ "alg": "EdDSA", "typ": TOKEN_TYPE, "kid": current.kid });
        Ok(Self {
            current_kid: current.kid.clone(),
            current: SigningKey::from_bytes(&seed),
            header: b64(header.to_string().as_bytes()),
            verifying,
            published,
        })
    }

    /// Makes a new current key and retires the others (they stay published until their
    /// tokens expire). Returns the new key id.
    pub async fn rotate(
        pool: &Pool,
        master: &MasterKey,
        now: UnixTime,
        who: &crate::audit::Who,
    ) -> Result<String, StoreError> {
        let (kid, seed, public) = generate_key();
        let sealed = master.seal(&key_purpose(&kid), &seed);
        let event = who.did(now, crate::audit::AuditAction::KeyRotated, &kid, None);
        store::rotate_signing_key(pool, &kid, &sealed, &public, now, &event).await?;
        Ok(kid)
    }

    /// Withdraws a key at once (`clavis keys revoke`): its tokens stop verifying as
    /// soon as the servers reload their keys. If it was the current key, a new one is
    /// made current. `false` when there is no such key.
    pub async fn revoke(
        pool: &Pool,
        master: &MasterKey,
        kid: &str,
        now: UnixTime,
        who: &crate::audit::Who,
    ) -> Result<bool, StoreError> {
        let event = who.did(now, crate::audit::AuditAction::KeyRevoked, kid, None);
        if !store::delete_signing_key(pool, kid, &event).await? {
            return Ok(false);
        }
        // Loading creates a current key when the revoked one was it.
        Self::load(pool, master, 0, now).await?;
        Ok(true)
    }

    /// The public keys for `/.well-known/jwks.json`.
    #[must_use]
    pub fn jwks(&self) -> &[PublicJwk] {
        &self.published
    }

    /// The id of the key that signs new tokens.
    #[must_use]
    pub fn current_kid(&self) -> &str {
        &self.current_kid
    }

    /// Signs an access token: `header.payload.signature`, base64url without padding.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        self.sign_under(&self.header, claims)
    }

    /// Signs `claims` with the current key under another JOSE header — for tests and
    /// tools that need a correctly signed token the verifier must still refuse (a
    /// `typ` other than `at+jwt`, say). The server never issues these.
    pub fn sign_with_header(
        &self,
        header: &serde_json::Value,
        claims: &Claims,
    ) -> Result<String, TokenError> {
        self.sign_under(&b64(header.to_string().as_bytes()), claims)
    }

    fn sign_under(&self, header: &str, claims: &Claims) -> Result<String, TokenError> {
        let payload = serde_json::to_vec(claims).map_err(|_| TokenError::Invalid)?;
        let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 92);
        token.push_str(header);
        token.push('.');
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = self.current.sign(token.as_bytes());
        token.push('.');
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_string(signature.to_bytes(), &mut token);
        Ok(token)
    }

    /// Verifies an access token's type, signature (by a published key), issuer,
    /// audience and expiry at `now`.
    pub fn verify(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
        now: UnixTime,
    ) -> Result<Claims, TokenError> {
        // Time is checked here against `now`, not the library's clock.
        let claims = self.verify_signature(token)?;
        claims.check(issuer, audience, now)?;
        Ok(claims)
    }

    /// Reads the claims of a token whose signature verifies, without judging expiry or
    /// audience (for introspection and revocation, which decide themselves).
    pub fn verify_signature(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some(TOKEN_TYPE) {
            return Err(TokenError::Invalid);
        }
        let key = header
            .kid
            .as_ref()
            .and_then(|kid| self.verifying.get(kid))
            .ok_or(TokenError::Invalid)?;
        // Expiry and audience are judged by the callers, with time as a parameter.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|_| TokenError::Invalid)
    }
}

/// Access tokens whose signature this process has verified, with their claims, so that
/// a client calling an MCP endpoint again and again with the same token costs one
/// Ed25519 verification, not one per call (it was a sixth of the gateway's CPU time).
/// Only the signature check is remembered: issuer, audience and expiry are judged on
/// every call, and revocation is checked by the caller. Cleared whenever the published
/// keys change, so a withdrawn key's tokens stop verifying at once.
pub struct VerifiedTokens {
    capacity: usize,
    entries: std::sync::RwLock<HashMap<Box<str>, std::sync::Arc<Claims>>>,
}

impl VerifiedTokens {
    /// A cache of at most `capacity` tokens.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: std::sync::RwLock::new(HashMap::new()),
        }
    }

    /// [`Keyring::verify`], remembering tokens whose signature verified.
    pub fn verify(
        &self,
        keys: &Keyring,
        token: &str,
        issuer: &str,
        audience: &str,
        now: UnixTime,
    ) -> Result<std::sync::Arc<Claims>, TokenError> {
        let known = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .cloned();
        let claims = match known {
            Some(claims) => claims,
            None => {
                let claims = std::sync::Arc::new(keys.verify_signature(token)?);
                if claims.exp > now {
                    let mut entries = self
                        .entries
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if entries.len() >= self.capacity {
                        entries.retain(|_, c| c.exp > now);
                        if entries.len() >= self.capacity {
                            entries.clear();
                        }
                    }
                    entries.insert(token.into(), claims.clone());
                }
                claims
            }
        };
        claims.check(issuer, audience, now)?;
        Ok(claims)
    }

    /// Forgets every token (the keys changed).
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A new unique token id (128 random bits).
#[must_use]
pub fn new_jti() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    b64(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(rows: &[store::SigningKeyRow], now: UnixTime) -> Keyring {
        Keyring::from_rows(rows, 3600, now, |row| {
            row.private_key
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt("test key"))
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn row(created_at: UnixTime, retired_at: Option<UnixTime>) -> store::SigningKeyRow {
        let (kid, seed, public) = generate_key();
        store::SigningKeyRow {
            kid,
            private_key: seed.to_vec(),
            public_key: public.to_vec(),
            created_at,
            retired_at,
        }
    }

    fn claims(now: UnixTime) -> Claims {
        Claims {
            iss: "https://clavis.example".into(),
            sub: "clv_x".into(),
            client_id: "clv_x".into(),
            aud: "https://clavis.example/mcp".into(),
            iat: now,
            exp: now + 60,
            jti: new_jti(),
            scope: "mcp".into(),
            workload: None,
            cnf: None,
        }
    }

    #[test]
    fn tokens_verify_until_they_expire_and_only_for_their_audience() {
        let keys = keyring(&[row(0, None)], 1000);
        let token = keys.sign(&claims(1000)).unwrap_or_default();
        let header = jsonwebtoken::decode_header(&token).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (header.typ.as_deref(), header.alg),
            (Some("at+jwt"), Algorithm::EdDSA)
        );
        assert_eq!(header.kid.as_deref(), Some(keys.current_kid()));
        let ok = keys.verify(
            &token,
            "https://clavis.example",
            "https://clavis.example/mcp",
            1059,
        );
        assert_eq!(ok.map(|c| c.scope), Ok("mcp".into()));
        assert_eq!(
            keys.verify(
                &token,
                "https://clavis.example",
                "https://clavis.example/mcp",
                1060
            ),
            Err(TokenError::Expired)
        );
        assert_eq!(
            keys.verify(&token, "https://clavis.example", "https://other/mcp", 1000),
            Err(TokenError::WrongAudience)
        );
    }

    #[test]
    fn tampered_unsigned_and_foreign_tokens_are_refused() {
        let keys = keyring(&[row(0, None)], 1000);
        let other = keyring(&[row(0, None)], 1000);
        let token = keys.sign(&claims(1000)).unwrap_or_default();
        let foreign = other.sign(&claims(1000)).unwrap_or_default();
        let (aud, iss) = ("https://clavis.example/mcp", "https://clavis.example");
        assert_eq!(
            keys.verify(&foreign, iss, aud, 1000),
            Err(TokenError::Invalid)
        );
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = b64(br#"{"iss":"https://clavis.example","scope":"mcp introspect"}"#);
        parts[1] = &forged;
        assert_eq!(
            keys.verify(&parts.join("."), iss, aud, 1000),
            Err(TokenError::Invalid)
        );
        let none_header = b64(br#"{"alg":"none","typ":"at+jwt"}"#);
        let unsigned = format!(
            "{none_header}.{}.",
            token.split('.').nth(1).unwrap_or_default()
        );
        assert_eq!(
            keys.verify(&unsigned, iss, aud, 1000),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_correctly_signed_token_of_another_type_is_refused() {
        let keys = keyring(&[row(0, None)], 1000);
        let (iss, aud) = ("https://clavis.example", "https://clavis.example/mcp");
        let kid = keys.current_kid().to_owned();
        let sign = |typ: Option<&str>| {
            let mut header = serde_json::json!({ "alg": "EdDSA", "kid": kid });
            if let Some(typ) = typ {
                header["typ"] = typ.into();
            }
            keys.sign_with_header(&header, &claims(1000))
                .unwrap_or_default()
        };
        // The same header and key with the right type verify: only `typ` differs.
        assert!(keys.verify(&sign(Some("at+jwt")), iss, aud, 1000).is_ok());
        for typ in [Some("JWT"), Some("at+JWT+x"), None] {
            assert_eq!(
                keys.verify(&sign(typ), iss, aud, 1000),
                Err(TokenError::Invalid),
                "{typ:?}"
            );
        }
    }

    #[test]
    fn retired_keys_verify_until_their_tokens_expire_then_disappear() {
        let old = row(0, Some(5000));
        let new = row(5000, None);
        let signed_before = keyring(&[row_clone(&old, None)], 4000)
            .sign(&claims(4000))
            .unwrap_or_default();
        let keys = keyring(&[row_clone(&old, Some(5000)), row_clone(&new, None)], 5000);
        assert_eq!(keys.jwks().len(), 2);
        assert_eq!(keys.current_kid(), new.kid);
        let (iss, aud) = ("https://clavis.example", "https://clavis.example/mcp");
        assert!(keys.verify(&signed_before, iss, aud, 4050).is_ok());
        let later = keyring(
            &[row_clone(&old, Some(5000)), row_clone(&new, None)],
            5000 + 3600,
        );
        assert_eq!(later.jwks().len(), 1);
    }

    #[test]
    fn remembered_tokens_are_still_judged_on_every_call_and_forgotten_with_the_keys() {
        let keys = keyring(&[row(0, None)], 1000);
        let other = keyring(&[row(0, None)], 1000);
        let cache = VerifiedTokens::new(2);
        let (iss, aud) = ("https://clavis.example", "https://clavis.example/mcp");
        let token = keys.sign(&claims(1000)).unwrap_or_default();
        assert!(cache.verify(&keys, &token, iss, aud, 1000).is_ok());
        assert_eq!(cache.len(), 1);
        // Remembered, yet audience and expiry are judged again.
        assert_eq!(
            cache
                .verify(&keys, &token, iss, "https://other/mcp", 1000)
                .map(|_| ()),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(
            cache.verify(&keys, &token, iss, aud, 1060).map(|_| ()),
            Err(TokenError::Expired)
        );
        // A forged or foreign token is never remembered.
        let foreign = other.sign(&claims(1000)).unwrap_or_default();
        assert_eq!(
            cache.verify(&keys, &foreign, iss, aud, 1000).map(|_| ()),
            Err(TokenError::Invalid)
        );
        assert_eq!(cache.len(), 1);
        // Bounded.
        for _ in 0..5 {
            let t = keys.sign(&claims(1000)).unwrap_or_default();
            assert!(cache.verify(&keys, &t, iss, aud, 1000).is_ok());
            assert!(cache.len() <= 2);
        }
        cache.clear();
        assert!(cache.is_empty());
        // After the keys changed, the token is verified against the new ones.
        assert_eq!(
            cache.verify(&other, &token, iss, aud, 1000).map(|_| ()),
            Err(TokenError::Invalid)
        );
    }

    fn row_clone(r: &store::SigningKeyRow, retired_at: Option<UnixTime>) -> store::SigningKeyRow {
        store::SigningKeyRow {
            retired_at,
            ..r.clone()
        }
    }
}
