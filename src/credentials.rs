//! OAuth client credentials: generation, formats, hashing and verification.
//!
//! A `client_id` is a public identifier (`clv_` + 24 base62 characters). A
//! `client_secret` is `clvs_` + 43 base62 characters drawn from the OS CSPRNG (256 bits),
//! followed by a 6-character base62 CRC-32 of everything before it. The prefix lets secret
//! scanners find leaked secrets; the checksum tells a mistyped or truncated secret from
//! a wrong one without touching the database. Base62 keeps the value selectable with a
//! double click and safe in URLs, headers and shells.
//!
//! Only an HMAC-SHA-256 of the secret, keyed with a server-side key (the "pepper"), is
//! stored. A slow password KDF such as argon2 exists to make
//! guessing *low-entropy human passwords* expensive; a 256-bit random secret cannot be
//! guessed however fast the hash, so a KDF would add only cost: tens of milliseconds
//! of CPU on every token request, and a cheap denial of service for anyone who can
//! send requests. Digests are compared in constant time.
//!
//! The key is stored in the database (`server_secrets`) sealed with the master key, which
//! lives outside the database ([`crate::sealed`]): a copy of the database alone cannot
//! check a candidate secret offline.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use hmac::{Hmac, Mac};
use rand::{Rng, TryRngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::{
    UnixTime,
    audit::{Event, Who},
    authz::Workspace,
    client_keys::ClientKey,
    grant::{AllowedTools, InvalidTools, Scope, Scopes, UnknownScope},
    sealed::MasterKey,
    store::{self, CredentialRow, NewCredentialRow, Pool, StoreError},
};

/// Prefix of every client id.
pub const CLIENT_ID_PREFIX: &str = "clv_";
/// Prefix of every client secret.
pub const SECRET_PREFIX: &str = "clvs_";
const CLIENT_ID_RANDOM_CHARS: usize = 24;
/// 43 base62 characters carry 43 · log2(62) ≈ 256.03 bits.
const SECRET_RANDOM_CHARS: usize = 43;
const CHECKSUM_CHARS: usize = 6;
/// Total length of a well-formed secret.
pub const SECRET_LEN: usize = SECRET_PREFIX.len() + SECRET_RANDOM_CHARS + CHECKSUM_CHARS;
/// Total length of a well-formed client id.
pub const CLIENT_ID_LEN: usize = CLIENT_ID_PREFIX.len() + CLIENT_ID_RANDOM_CHARS;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// `n` uniformly random base62 characters from the OS CSPRNG (rejection sampling, so
/// no character is more likely than another).
pub(crate) fn random_base62(n: usize) -> String {
    let mut rng = rand::rngs::OsRng.unwrap_err();
    let mut out = String::with_capacity(n);
    while out.len() < n {
        // 62 · 4 = 248: bytes 248..=255 would bias the modulo, so they are redrawn.
        let byte: u8 = rng.random();
        if byte < 248 {
            out.push(char::from(BASE62[usize::from(byte % 62)]));
        }
    }
    out
}

/// The CRC-32 of `body` as exactly six base62 characters.
fn checksum(body: &str) -> String {
    let mut value = CRC32.checksum(body.as_bytes());
    let mut digits = [b'0'; CHECKSUM_CHARS];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

/// Generates a new public client id.
#[must_use]
pub fn generate_client_id() -> String {
    format!(
        "{CLIENT_ID_PREFIX}{}",
        random_base62(CLIENT_ID_RANDOM_CHARS)
    )
}

/// Whether `value` has the shape of a client id (cheap check before any lookup).
#[must_use]
pub fn is_client_id(value: &str) -> bool {
    value.len() == CLIENT_ID_LEN
        && value.starts_with(CLIENT_ID_PREFIX)
        && value[CLIENT_ID_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
}

/// A client secret in clear. It exists between generation and the one response that
/// shows it, and while a token request is verified; its `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// A new random secret.
    #[must_use]
    pub fn generate() -> Self {
        let body = format!("{SECRET_PREFIX}{}", random_base62(SECRET_RANDOM_CHARS));
        let sum = checksum(&body);
        Self(body + &sum)
    }

    /// Checks the format and checksum of a presented secret, without any lookup.
    pub fn parse(presented: &str) -> Result<Self, SecretFormatError> {
        if !presented.starts_with(SECRET_PREFIX) {
            return Err(SecretFormatError::Prefix);
        }
        if presented.len() != SECRET_LEN || !presented.is_ascii() {
            return Err(SecretFormatError::Length);
        }
        let (body, sum) = presented.split_at(SECRET_LEN - CHECKSUM_CHARS);
        if !presented[SECRET_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
        {
            return Err(SecretFormatError::Characters);
        }
        if checksum(body).as_bytes().ct_eq(sum.as_bytes()).into() {
            Ok(Self(presented.to_owned()))
        } else {
            Err(SecretFormatError::Checksum)
        }
    }

    /// The secret in clear, for the one response that shows it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

/// Why a presented secret is not even well-formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretFormatError {
    #[error("the secret does not start with {SECRET_PREFIX}")]
    Prefix,
    #[error("the secret has the wrong length (truncated?)")]
    Length,
    #[error("the secret contains characters outside A-Z, a-z, 0-9")]
    Characters,
    #[error("the secret's checksum does not match (mistyped?)")]
    Checksum,
}

/// The server-side key secrets are hashed with. Its `Debug` never prints it. Clones
/// share a count of the digests computed, so tests can check that every failure path
/// of client authentication does the same work.
#[derive(Clone)]
pub struct SecretKey {
    key: [u8; 32],
    digests: Arc<AtomicU64>,
}

impl SecretKey {
    /// A new random key.
    #[must_use]
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.unwrap_err().fill(&mut key);
        Self::new(key)
    }

    fn new(key: [u8; 32]) -> Self {
        Self {
            key,
            digests: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A key from stored bytes; `None` unless exactly 32 bytes.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self::new)
    }

    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.key
    }

    /// How many digests this key (and its clones) computed.
    #[must_use]
    pub fn digests_computed(&self) -> u64 {
        self.digests.load(Ordering::Relaxed)
    }

    /// The stored form of a secret: HMAC-SHA-256 under this key.
    #[must_use]
    pub fn digest(&self, secret: &ClientSecret) -> [u8; 32] {
        self.digests.fetch_add(1, Ordering::Relaxed);
        // HMAC accepts keys of any length, so this cannot fail for a 32-byte key.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(secret.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Whether `secret` hashes to `stored`, compared in constant time.
    #[must_use]
    pub fn verify(&self, secret: &ClientSecret, stored: &[u8]) -> bool {
        self.digest(secret).ct_eq(stored).into()
    }

    /// Whether `secret` is one of the credential's secrets at `now`: the current one, or
    /// the one a rotation replaced until its end (exclusive, to the second). One digest,
    /// and one constant-time comparison per candidate (at most two); which one matched
    /// is not told.
    #[must_use]
    pub fn accepts(&self, row: &CredentialRow, secret: &ClientSecret, now: UnixTime) -> bool {
        let digest = self.digest(secret);
        let current: bool = digest.ct_eq(&row.secret_hash).into();
        let previous = match (&row.previous_secret_hash, row.previous_secret_expires_at) {
            (Some(hash), Some(end)) if now < end => digest.ct_eq(hash).into(),
            _ => false,
        };
        current | previous
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// A credential's state at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Status {
    Active,
    Expired,
    Revoked,
}

/// The status of a credential with these dates at time `now`. Revocation wins over expiry.
#[must_use]
pub fn status(expires_at: Option<UnixTime>, revoked_at: Option<UnixTime>, now: UnixTime) -> Status {
    if revoked_at.is_some() {
        Status::Revoked
    } else if expires_at.is_some_and(|at| at <= now) {
        Status::Expired
    } else {
        Status::Active
    }
}

/// Maximum name length, in characters.
pub const NAME_MAX_CHARS: usize = 100;
/// Maximum description length, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 500;
/// Expiry choices offered in days.
pub const EXPIRY_DAYS: &[u32] = &[30, 90, 365];

/// When a new credential expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Never,
    /// After this many days from creation.
    Days(u32),
    /// At this Unix time (the end of a chosen date).
    At(UnixTime),
}

impl Expiry {
    /// The expiry a form chose: `never`, one of [`EXPIRY_DAYS`], or `date` with a
    /// future `YYYY-MM-DD` in `date` (the credential works through that whole UTC day).
    pub fn parse(
        choice: &str,
        date: Option<&str>,
        now: UnixTime,
    ) -> Result<Self, InvalidCredential> {
        match choice.trim() {
            "never" => Ok(Self::Never),
            "date" => date
                .and_then(crate::civil::parse_date_end_of_day)
                .filter(|at| *at > now)
                .map(Self::At)
                .ok_or(InvalidCredential::ExpiryDate),
            days => days
                .parse::<u32>()
                .ok()
                .filter(|d| EXPIRY_DAYS.contains(d))
                .map(Self::Days)
                .ok_or(InvalidCredential::ExpiryInvalid),
        }
    }

    /// The expiry time for a credential created at `now`.
    #[must_use]
    pub fn at(self, now: UnixTime) -> Option<UnixTime> {
        match self {
            Self::Never => None,
            Self::Days(days) => Some(now + i64::from(days) * 86_400),
            Self::At(at) => Some(at),
        }
    }
}

/// Why a credential cannot be created. The texts are shown to people as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCredential {
    #[error("Enter a name.")]
    NameEmpty,
    #[error("The name must be at most {NAME_MAX_CHARS} characters (it has {0}).")]
    NameTooLong(usize),
    #[error("The description must be at most {DESCRIPTION_MAX_CHARS} characters (it has {0}).")]
    DescriptionTooLong(usize),
    #[error("Choose at least one scope.")]
    NoScope,
    #[error("Unknown scope {0:?}.")]
    UnknownScope(String),
    #[error("Choose when the credential expires.")]
    ExpiryInvalid,
    #[error("Pick an expiry date in the future (YYYY-MM-DD).")]
    ExpiryDate,
    #[error("Choose at least one server.")]
    NoServer,
    #[error("A credential without a secret needs a federation rule.")]
    NoSecretWithoutRule,
    #[error("Federation: {0}")]
    Rule(crate::federation::InvalidRule),
    #[error("Unknown server {0:?}.")]
    UnknownServer(String),
    #[error(
        "Allowed tools: at most {} tool names of at most {} characters, separated by commas.",
        crate::grant::MAX_ALLOWED_TOOLS,
        crate::grant::TOOL_NAME_MAX_CHARS
    )]
    AllowedTools,
    #[error("Choose a token lifetime.")]
    TokenLifetime,
    #[error("Choose how the credential authenticates.")]
    Authentication,
    #[error("Public key: {0}")]
    PublicKey(crate::client_keys::KeyError),
    #[error(
        "Tokens per hour: a whole number from 1 to {MAX_TOKENS_PER_HOUR}, or empty for no limit."
    )]
    TokensPerHour,
    #[error("Calls per minute: {0}.")]
    CallLimits(crate::limits::InvalidLimit),
}

impl From<UnknownScope> for InvalidCredential {
    fn from(UnknownScope(name): UnknownScope) -> Self {
        Self::UnknownScope(name)
    }
}

impl From<InvalidTools> for InvalidCredential {
    fn from(InvalidTools: InvalidTools) -> Self {
        Self::AllowedTools
    }
}

impl InvalidCredential {
    /// The field the rule is about, as the admin API names it.
    #[must_use]
    pub fn field(&self) -> &'static str {
        match self {
            Self::NameEmpty | Self::NameTooLong(_) => "name",
            Self::DescriptionTooLong(_) => "description",
            Self::NoScope | Self::UnknownScope(_) => "scopes",
            Self::ExpiryInvalid | Self::ExpiryDate => "expires",
            Self::NoServer | Self::UnknownServer(_) => "servers",
            Self::NoSecretWithoutRule | Self::Rule(_) => "federation",
            Self::AllowedTools => "allowed_tools",
            Self::TokenLifetime => "token_lifetime",
            Self::Authentication => "authentication",
            Self::PublicKey(_) => "public_key",
            Self::TokensPerHour => "tokens_per_hour",
            Self::CallLimits(_) => "calls_per_minute",
        }
    }
}

/// The token lifetimes a credential may choose, in seconds (else the server's).
pub const TOKEN_LIFETIMES: [i64; 4] = [300, 900, 3600, 86_400];
/// The highest quota a credential may set.
pub const MAX_TOKENS_PER_HOUR: i64 = 1_000_000;

/// A token lifetime from a form: empty or `default` for the server's, else one of
/// [`TOKEN_LIFETIMES`] in seconds.
pub fn parse_token_lifetime(raw: &str) -> Result<Option<i64>, InvalidCredential> {
    match raw.trim() {
        "" | "default" => Ok(None),
        seconds => check_token_lifetime(Some(
            seconds
                .parse::<i64>()
                .map_err(|_| InvalidCredential::TokenLifetime)?,
        )),
    }
}

/// A token lifetime: `None` (the server's) or one of [`TOKEN_LIFETIMES`].
pub fn check_token_lifetime(seconds: Option<i64>) -> Result<Option<i64>, InvalidCredential> {
    match seconds {
        Some(s) if !TOKEN_LIFETIMES.contains(&s) => Err(InvalidCredential::TokenLifetime),
        seconds => Ok(seconds),
    }
}

/// A quota from a form: empty for none, else 1 to [`MAX_TOKENS_PER_HOUR`].
pub fn parse_tokens_per_hour(raw: &str) -> Result<Option<i64>, InvalidCredential> {
    match raw.trim() {
        "" => Ok(None),
        n => check_tokens_per_hour(Some(
            n.parse::<i64>()
                .map_err(|_| InvalidCredential::TokensPerHour)?,
        )),
    }
}

/// A quota: `None` (no limit) or 1 to [`MAX_TOKENS_PER_HOUR`].
pub fn check_tokens_per_hour(n: Option<i64>) -> Result<Option<i64>, InvalidCredential> {
    match n {
        Some(n) if !(1..=MAX_TOKENS_PER_HOUR).contains(&n) => Err(InvalidCredential::TokensPerHour),
        n => Ok(n),
    }
}

/// Checks a name: trimmed, 1 to 100 characters (Unicode scalar values).
fn parse_name(name: &str) -> Result<String, InvalidCredential> {
    let name = name.trim();
    let name_chars = name.chars().count();
    if name_chars == 0 {
        return Err(InvalidCredential::NameEmpty);
    }
    if name_chars > NAME_MAX_CHARS {
        return Err(InvalidCredential::NameTooLong(name_chars));
    }
    Ok(name.to_owned())
}

/// Checks a description: trimmed, at most 500 characters.
fn parse_description(description: &str) -> Result<String, InvalidCredential> {
    let description = description.trim();
    let description_chars = description.chars().count();
    if description_chars > DESCRIPTION_MAX_CHARS {
        return Err(InvalidCredential::DescriptionTooLong(description_chars));
    }
    Ok(description.to_owned())
}

/// A checked edit of a credential (SPEC §11.3): what may change after creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialEdit {
    pub name: String,
    pub description: String,
    pub allowed_tools: AllowedTools,
    pub tokens_per_hour: Option<i64>,
    /// Its token requests must carry a DPoP proof (SPEC §19).
    pub require_dpop: bool,
    /// Its calls per minute at gateway servers (SPEC §20).
    pub call_limits: crate::limits::CallLimits,
    /// The federation rules that replace the credential's; `None` keeps them.
    pub federation: Option<Vec<crate::federation::FederationRule>>,
}

impl CredentialEdit {
    /// Checks the values an edit leaves a credential with (see [`NewCredential::check`]
    /// for the rules).
    pub fn check(
        name: &str,
        description: &str,
        allowed_tools: AllowedTools,
        tokens_per_hour: Option<i64>,
        require_dpop: bool,
    ) -> Result<Self, InvalidCredential> {
        Ok(Self {
            name: parse_name(name)?,
            description: parse_description(description)?,
            allowed_tools,
            tokens_per_hour: check_tokens_per_hour(tokens_per_hour)?,
            require_dpop,
            call_limits: crate::limits::CallLimits::NONE,
            federation: None,
        })
    }
}

/// What a caller asks a new credential to be: typed, not yet checked
/// ([`NewCredential::check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRequest {
    pub name: String,
    pub description: String,
    pub scopes: Scopes,
    pub expiry: Expiry,
    /// [`crate::servers::BUILTIN`] and server slugs; empty: the built-in one.
    pub servers: Vec<String>,
    /// The tools it may call at the gateway.
    pub allowed_tools: AllowedTools,
    /// Lifetime of its tokens in seconds; `None`: the server's.
    pub token_lifetime: Option<i64>,
    /// Tokens it may get per hour; `None`: no limit.
    pub tokens_per_hour: Option<i64>,
    /// `Some`: it authenticates with `private_key_jwt`, with these public keys as given
    /// (PEM, JWK or JWKS); `None`: with a client secret.
    pub public_key: Option<String>,
    /// Federation rules (SPEC §18): workload tokens that get its tokens.
    pub federation: Vec<RuleRequest>,
    /// No secret at all: only its federation rules get it tokens.
    pub no_secret: bool,
    /// Its token requests must carry a DPoP proof (SPEC §19).
    pub require_dpop: bool,
    /// Calls per minute at its gateway servers, as written (`SLUG=N`, `SLUG:TOOL=N`).
    pub call_limits: Vec<String>,
}

/// A federation rule as asked for: the trusted issuer by name, the audience (empty:
/// Clavis's issuer URL), the claim conditions, single use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRequest {
    pub issuer: String,
    pub audience: String,
    pub conditions: Vec<crate::federation::Condition>,
    pub single_use: bool,
}

impl RuleRequest {
    /// The rule a form's fields ask for: the trusted issuer's name (empty: no rule), the
    /// audience (empty: Clavis's issuer URL), one `CLAIM=PATTERN` per line (blank lines
    /// skipped) and single use. Claims or an audience without an issuer are refused, not
    /// dropped.
    pub fn from_form(
        issuer: &str,
        audience: &str,
        claims: &str,
        single_use: bool,
    ) -> Result<Option<Self>, crate::federation::InvalidRule> {
        let lines = || {
            claims
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
        };
        if lines().nth(crate::federation::MAX_CONDITIONS).is_some() {
            return Err(crate::federation::InvalidRule::Condition);
        }
        let conditions = lines()
            .map(crate::federation::Condition::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if issuer.trim().is_empty() {
            return if conditions.is_empty() && audience.trim().is_empty() {
                Ok(None)
            } else {
                Err(crate::federation::InvalidRule::Issuer)
            };
        }
        Ok(Some(Self {
            issuer: issuer.trim().to_owned(),
            audience: audience.trim().to_owned(),
            conditions,
            single_use,
        }))
    }
}

impl Default for CredentialRequest {
    fn default() -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            scopes: Scopes::only(Scope::Mcp),
            expiry: Expiry::Never,
            servers: Vec::new(),
            allowed_tools: AllowedTools::EVERY,
            token_lifetime: None,
            tokens_per_hour: None,
            public_key: None,
            federation: Vec::new(),
            no_secret: false,
            require_dpop: false,
            call_limits: Vec::new(),
        }
    }
}

/// A checked request to create a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    pub name: String,
    pub description: String,
    pub scopes: Scopes,
    pub expiry: Expiry,
    /// Whether the built-in `<issuer>/mcp` is granted (the default).
    pub builtin_mcp: bool,
    /// Ids of the MCP servers granted.
    pub server_ids: Vec<i64>,
    /// The tools the credential may call at the gateway.
    pub allowed_tools: AllowedTools,
    /// Lifetime of its tokens in seconds; `None`: the server's.
    pub token_lifetime: Option<i64>,
    /// Tokens it may get per hour; `None`: no limit.
    pub tokens_per_hour: Option<i64>,
    /// For `private_key_jwt`: its public keys (then it has no secret).
    pub public_keys: Option<Vec<ClientKey>>,
    /// Its federation rules, their issuers resolved by the caller (empty from
    /// [`NewCredential::check`]).
    pub federation: Vec<crate::federation::FederationRule>,
    /// No secret (and no keys): only its federation rules get it tokens.
    pub no_secret: bool,
    /// Its token requests must carry a DPoP proof (SPEC §19).
    pub require_dpop: bool,
    /// Its calls per minute at its gateway servers (SPEC §20).
    pub call_limits: crate::limits::CallLimits,
}

impl NewCredential {
    /// Checks and normalises a request: the name is trimmed and 1 to 100 characters
    /// (Unicode scalar values, so 100 emoji fit), the description at most 500, the
    /// scopes not none, the expiry in the future, the servers
    /// [`crate::servers::BUILTIN`] or among `known` (every server the caller may grant,
    /// as `(slug, id)`), the lifetime and quota as [`check_token_lifetime`] and
    /// [`check_tokens_per_hour`] say, and a public key one
    /// [`crate::client_keys::parse_public_keys`] reads.
    pub fn check(
        request: &CredentialRequest,
        known: &[(String, i64)],
        now: UnixTime,
    ) -> Result<Self, InvalidCredential> {
        let name = parse_name(&request.name)?;
        let description = parse_description(&request.description)?;
        let scopes = request.scopes;
        if scopes.is_empty() {
            return Err(InvalidCredential::NoScope);
        }
        if let Expiry::At(at) = request.expiry
            && at <= now
        {
            return Err(InvalidCredential::ExpiryDate);
        }
        let builtin = crate::servers::BUILTIN;
        let builtin_mcp =
            request.servers.is_empty() || request.servers.iter().any(|s| s == builtin);
        let mut server_ids = Vec::new();
        for slug in request.servers.iter().filter(|s| *s != builtin) {
            let id = known
                .iter()
                .find(|(known, _)| known == slug)
                .map(|(_, id)| *id)
                .ok_or_else(|| InvalidCredential::UnknownServer(slug.clone()))?;
            if !server_ids.contains(&id) {
                server_ids.push(id);
            }
        }
        if !builtin_mcp && server_ids.is_empty() {
            return Err(InvalidCredential::NoServer);
        }
        let granted: Vec<(String, i64)> = known
            .iter()
            .filter(|(_, id)| server_ids.contains(id))
            .cloned()
            .collect();
        let call_limits = crate::limits::CallLimits::parse(
            request.call_limits.iter().map(String::as_str),
            &granted,
        )
        .map_err(InvalidCredential::CallLimits)?;
        Ok(Self {
            name,
            description,
            scopes,
            expiry: request.expiry,
            builtin_mcp,
            server_ids,
            allowed_tools: request.allowed_tools.clone(),
            token_lifetime: check_token_lifetime(request.token_lifetime)?,
            tokens_per_hour: check_tokens_per_hour(request.tokens_per_hour)?,
            public_keys: request
                .public_key
                .as_deref()
                .map(crate::client_keys::parse_public_keys)
                .transpose()
                .map_err(InvalidCredential::PublicKey)?,
            federation: Vec::new(),
            no_secret: request.no_secret && request.public_key.is_none(),
            require_dpop: request.require_dpop,
            call_limits,
        })
    }
}

/// The name of the secret-hashing key in the server's stored secrets.
const KEY_NAME: &str = "client_secret_hmac_key";

/// The key client secrets are hashed with, created on first start and stored sealed
/// with the master key. A key stored in clear by an earlier version is sealed in place.
pub async fn load_key(
    pool: &Pool,
    master: &MasterKey,
    now: UnixTime,
) -> Result<SecretKey, StoreError> {
    let stored = store::server_secret(
        pool,
        KEY_NAME,
        || master.seal(KEY_NAME, SecretKey::generate().as_bytes()),
        now,
    )
    .await?;
    if let Some(legacy) = SecretKey::from_bytes(&stored) {
        store::replace_server_secret(pool, KEY_NAME, &master.seal(KEY_NAME, legacy.as_bytes()))
            .await?;
        return Ok(legacy);
    }
    let opened = master
        .open(KEY_NAME, &stored)
        .map_err(|_| StoreError::WrongMasterKey)?;
    SecretKey::from_bytes(&opened)
        .ok_or_else(|| StoreError::Corrupt("the client-secret key is not 32 bytes"))
}

/// Gives an active credential a new secret (SPEC §11.1); the old one keeps working for
/// `old_valid` seconds (0: it ends now), and one kept by an earlier rotation ends at
/// once. `event` (`credential.rotated`) is recorded with it. `None` when there is no
/// such active credential.
pub async fn rotate(
    pool: &Pool,
    key: &SecretKey,
    client_id: &str,
    old_valid: i64,
    now: UnixTime,
    event: &Event,
) -> Result<Option<ClientSecret>, StoreError> {
    let secret = ClientSecret::generate();
    let old_until = (old_valid > 0).then(|| now.saturating_add(old_valid));
    let hash = key.digest(&secret);
    let new = store::Replacement::SecretHash(&hash);
    let rotated = store::rotate_credential(pool, client_id, new, old_until, now, event).await?;
    Ok(rotated.then_some(secret))
}

/// Gives an active `private_key_jwt` credential new public keys (SPEC §11.2); the old
/// ones keep working for `old_valid` seconds (0: they end now). `false` when there is
/// no such credential.
pub async fn rotate_keys(
    pool: &Pool,
    client_id: &str,
    keys: &[ClientKey],
    old_valid: i64,
    now: UnixTime,
    event: &Event,
) -> Result<bool, StoreError> {
    let old_until = (old_valid > 0).then(|| now.saturating_add(old_valid));
    let keys = serde_json::to_string(keys).unwrap_or_default();
    let new = store::Replacement::PublicKeys(&keys);
    store::rotate_credential(pool, client_id, new, old_until, now, event).await
}

/// The keys a `private_key_jwt` credential's assertions may be signed with at `now`:
/// its current keys, and the ones a rotation replaced until their end. Empty for a
/// client-secret credential.
#[must_use]
pub fn verifying_keys(row: &CredentialRow, now: UnixTime) -> Vec<ClientKey> {
    let read = |json: &Option<String>| -> Vec<ClientKey> {
        json.as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default()
    };
    let mut keys = read(&row.public_keys);
    if row.previous_secret_expires_at.is_some_and(|end| now < end) {
        keys.extend(read(&row.previous_public_keys));
    }
    keys
}

/// Applies an edit to a credential, recording `event`; `false` when there is no such
/// credential.
pub async fn update(
    pool: &Pool,
    client_id: &str,
    edit: &CredentialEdit,
    event: &Event,
) -> Result<bool, StoreError> {
    store::update_credential(
        pool,
        client_id,
        &edit.name,
        &edit.description,
        &edit.allowed_tools,
        edit.tokens_per_hour,
        edit.require_dpop,
        &edit.call_limits,
        edit.federation.as_deref(),
        event,
    )
    .await
}

/// The longest a replaced secret may keep working: 7 days.
pub const MAX_OLD_SECRET_VALID: i64 = 7 * 24 * 3600;

/// Creates a credential in `workspace`, made by `who` (a person: its creator; the CLI:
/// for the workspace's person, or a team's first owner). The secret is returned once,
/// here, and only its keyed hash is stored; `credential.created` is recorded with it.
pub async fn create(
    pool: &Pool,
    key: &SecretKey,
    creator: i64,
    workspace: Workspace,
    who: &Who,
    new: &NewCredential,
    now: UnixTime,
) -> Result<(CredentialRow, Option<ClientSecret>), StoreError> {
    let user_id = creator;
    let client_id = generate_client_id();
    // A private_key_jwt credential has no secret: its stored hash is empty, which no
    // digest matches.
    let secret = (new.public_keys.is_none() && !new.no_secret).then(ClientSecret::generate);
    let secret_hash = secret
        .as_ref()
        .map(|s| key.digest(s).to_vec())
        .unwrap_or_default();
    let public_keys = new
        .public_keys
        .as_ref()
        .map(|keys| serde_json::to_string(keys).unwrap_or_default());
    let expires_at = new.expiry.at(now);
    let row = NewCredentialRow {
        user_id,
        team_id: workspace.team(),
        client_id: &client_id,
        secret_hash: &secret_hash,
        name: &new.name,
        description: &new.description,
        scopes: new.scopes,
        created_at: now,
        expires_at,
        builtin_mcp: new.builtin_mcp,
        allowed_tools: &new.allowed_tools,
        server_ids: &new.server_ids,
        token_lifetime: new.token_lifetime,
        tokens_per_hour: new.tokens_per_hour,
        public_keys: public_keys.as_deref(),
        federation: &new.federation,
        require_dpop: new.require_dpop,
        call_limits: &new.call_limits,
    };
    let event = who.did(
        now,
        crate::audit::AuditAction::CredentialCreated,
        &client_id,
        Some(workspace),
    );
    let id = store::insert_credential(pool, &row, &event)
        .await?
        .ok_or(StoreError::Conflict(
            "a granted MCP server was removed meanwhile",
        ))?;
    let servers = store::granted_servers(pool, id).await?;
    let row = CredentialRow {
        id,
        user_id,
        client_id,
        secret_hash,
        name: new.name.clone(),
        description: new.description.clone(),
        scopes: new.scopes,
        created_at: now,
        expires_at,
        revoked_at: None,
        last_used_at: None,
        tokens_issued: 0,
        builtin_mcp: new.builtin_mcp,
        allowed_tools: new.allowed_tools.clone(),
        servers,
        federation: new.federation.clone(),
        token_lifetime: new.token_lifetime,
        tokens_per_hour: new.tokens_per_hour,
        public_keys,
        team_id: workspace.team(),
        require_dpop: new.require_dpop,
        call_limits: new.call_limits.clone(),
        ..CredentialRow::default()
    };
    Ok((row, secret))
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn a_rule_from_form_fields_skips_blank_lines_and_refuses_claims_without_an_issuer() {
        use crate::federation::InvalidRule;

        assert_eq!(RuleRequest::from_form(" ", "", "\n \n", true), Ok(None));
        let rule = RuleRequest::from_form(
            " github ",
            " aud ",
            "repository=acme/app\r\n\nref=refs/heads/*\n",
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (rule.issuer.as_str(), rule.audience.as_str()),
            ("github", "aud")
        );
        assert_eq!(
            rule.conditions
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["repository=acme/app", "ref=refs/heads/*"]
        );
        assert!(rule.single_use);
        assert_eq!(
            RuleRequest::from_form("", "", "repository=acme/app", false),
            Err(InvalidRule::Issuer),
            "claims are not silently dropped"
        );
        assert_eq!(
            RuleRequest::from_form("", "aud", "", false),
            Err(InvalidRule::Issuer)
        );
        assert_eq!(
            RuleRequest::from_form("github", "", "repository", false),
            Err(InvalidRule::Condition)
        );
        // Counted before any is read.
        let many = "sub=a\n".repeat(crate::federation::MAX_CONDITIONS + 1);
        assert_eq!(
            RuleRequest::from_form("github", "", &many, false),
            Err(InvalidRule::Condition)
        );
        let most = "sub=a\n".repeat(crate::federation::MAX_CONDITIONS);
        assert!(RuleRequest::from_form("github", "", &most, false).is_ok());
        // An issuer without claims is left to the rule's own check (`sub` or a condition).
        assert!(
            RuleRequest::from_form("github", "", "", false)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_rotated_out_secret_works_until_its_end_to_the_second_and_no_other_does() {
        let key = SecretKey::generate();
        let (old, new, other) = (
            ClientSecret::generate(),
            ClientSecret::generate(),
            ClientSecret::generate(),
        );
        let mut row = CredentialRow {
            secret_hash: key.digest(&new).to_vec(),
            previous_secret_hash: Some(key.digest(&old).to_vec()),
            previous_secret_expires_at: Some(1000),
            ..CredentialRow::default()
        };
        assert!(key.accepts(&row, &new, 999));
        assert!(key.accepts(&row, &old, 999));
        assert!(!key.accepts(&row, &old, 1000), "ended at its end");
        assert!(key.accepts(&row, &new, 1000));
        assert!(!key.accepts(&row, &other, 999));
        // Two candidates, one digest.
        let before = key.digests_computed();
        let _ = key.accepts(&row, &other, 999);
        assert_eq!(key.digests_computed() - before, 1);
        row.previous_secret_expires_at = None;
        assert!(!key.accepts(&row, &old, 0), "no end: no previous secret");
    }

    #[test]
    fn secrets_have_the_documented_shape_and_entropy() {
        let secret = ClientSecret::generate();
        let value = secret.expose();
        assert_eq!(value.len(), SECRET_LEN);
        assert!(value.starts_with("clvs_"));
        // The random part is SECRET_RANDOM_CHARS characters of the BASE62 alphabet the
        // generator draws from: at least 256 bits.
        let random = &value[SECRET_PREFIX.len()..SECRET_LEN - CHECKSUM_CHARS];
        assert_eq!(random.len(), SECRET_RANDOM_CHARS);
        assert!(random.bytes().all(|b| BASE62.contains(&b)));
        let alphabet: std::collections::HashSet<u8> = BASE62.iter().copied().collect();
        assert_eq!(
            alphabet.len(),
            BASE62.len(),
            "no repeated symbol in the alphabet"
        );
        #[expect(clippy::cast_precision_loss, reason = "small constants")]
        let bits = SECRET_RANDOM_CHARS as f64 * (BASE62.len() as f64).log2();
        assert!(bits >= 256.0, "{bits} bits");
        assert_ne!(ClientSecret::generate(), secret);
        assert_eq!(ClientSecret::parse(value), Ok(secret.clone()));
    }

    #[test]
    fn client_ids_are_prefixed_url_safe_and_recognised() {
        let id = generate_client_id();
        assert!(id.starts_with("clv_") && is_client_id(&id));
        assert!(!is_client_id("clv_short") && !is_client_id(&id.replace("clv_", "xyz_")));
        assert_ne!(generate_client_id(), id);
    }

    #[test]
    fn any_one_character_change_or_truncation_is_caught_by_format_checks() {
        let secret = ClientSecret::generate();
        let value = secret.expose();
        for i in 5..value.len() {
            let mut bytes = value.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(bytes).unwrap_or_default();
            assert_eq!(
                ClientSecret::parse(&changed),
                Err(SecretFormatError::Checksum),
                "position {i}"
            );
        }
        assert_eq!(
            ClientSecret::parse(&value[..value.len() - 1]),
            Err(SecretFormatError::Length)
        );
        assert_eq!(
            ClientSecret::parse(&value.replacen("clvs_", "clvx_", 1)),
            Err(SecretFormatError::Prefix)
        );
        let mut odd = value[..SECRET_LEN - 7].to_owned();
        odd.push('-');
        odd.push_str(&value[SECRET_LEN - 6..]);
        assert_eq!(
            ClientSecret::parse(&odd),
            Err(SecretFormatError::Characters)
        );
    }

    #[test]
    fn verification_accepts_only_the_right_secret_under_the_right_key() {
        let key = SecretKey::generate();
        let secret = ClientSecret::generate();
        let stored = key.digest(&secret);
        assert!(key.verify(&secret, &stored));
        assert!(!key.verify(&ClientSecret::generate(), &stored));
        assert!(!SecretKey::generate().verify(&secret, &stored));
        assert!(!key.verify(&secret, &stored[..31]));
    }

    #[test]
    fn debug_output_never_shows_secrets_or_keys() {
        let secret = ClientSecret::generate();
        let shown = format!("{secret:?} {:?}", SecretKey::generate());
        assert!(!shown.contains(secret.expose()) && shown.contains("redacted"));
    }

    #[test]
    fn status_follows_revocation_then_expiry_with_time_as_a_parameter() {
        assert_eq!(status(None, None, 100), Status::Active);
        assert_eq!(status(Some(101), None, 100), Status::Active);
        assert_eq!(status(Some(100), None, 100), Status::Expired);
        assert_eq!(status(Some(200), Some(50), 100), Status::Revoked);
    }

    #[test]
    fn new_credentials_are_validated_and_normalised() {
        let now = 1_700_000_000;
        let request = |name: &str, description: &str, scopes: &[&str]| CredentialRequest {
            name: name.to_owned(),
            description: description.to_owned(),
            scopes: Scopes::from_names(scopes.iter().copied()).unwrap(),
            ..CredentialRequest::default()
        };
        let check = |r: &CredentialRequest| NewCredential::check(r, &[], now);
        let mut ci = request("  ci  ", " deploys ", &["introspect", "mcp"]);
        ci.expiry = Expiry::parse("30", None, now).unwrap();
        let ok = check(&ci).map_err(|e| e.to_string());
        assert_eq!(ok.as_ref().map(|c| c.name.as_str()), Ok("ci"));
        assert_eq!(
            ok.as_ref().map(|c| c.scopes.to_string()),
            Ok("mcp introspect".to_owned())
        );
        assert_eq!(ok.as_ref().map(|c| c.builtin_mcp), Ok(true));
        assert_eq!(ok.map(|c| c.expiry.at(now)), Ok(Some(now + 30 * 86_400)));

        let emoji = "🔑".repeat(100);
        assert!(check(&request(&emoji, "", &["mcp"])).is_ok());
        let cases = [
            (String::new(), InvalidCredential::NameEmpty),
            ("   ".to_owned(), InvalidCredential::NameEmpty),
            ("x".repeat(101), InvalidCredential::NameTooLong(101)),
            ("🔑".repeat(101), InvalidCredential::NameTooLong(101)),
        ];
        for (name, error) in cases {
            assert_eq!(check(&request(&name, "", &["mcp"])), Err(error));
        }
        let long = "d".repeat(501);
        assert_eq!(
            check(&request("n", &long, &["mcp"])),
            Err(InvalidCredential::DescriptionTooLong(501))
        );
        assert_eq!(
            check(&request("n", "", &[])),
            Err(InvalidCredential::NoScope)
        );
        assert_eq!(
            Scopes::from_names(["mcp", "admin"]).map_err(InvalidCredential::from),
            Err(InvalidCredential::UnknownScope("admin".into()))
        );
        assert_eq!(
            Expiry::parse("7", None, now),
            Err(InvalidCredential::ExpiryInvalid)
        );
        assert_eq!(
            Expiry::parse("date", Some("2001-01-01"), now),
            Err(InvalidCredential::ExpiryDate)
        );
        let mut past = request("n", "", &["mcp"]);
        past.expiry = Expiry::At(now);
        assert_eq!(check(&past), Err(InvalidCredential::ExpiryDate));
        assert_eq!(
            Expiry::parse("date", Some("2099-12-31"), now),
            Ok(Expiry::At(4_102_444_799))
        );

        // Servers: the built-in one when none is named, else those named and known.
        let known = [("docs".to_owned(), 7)];
        let mut docs = request("n", "", &["mcp"]);
        docs.servers = vec!["docs".to_owned(), "docs".to_owned()];
        let checked = NewCredential::check(&docs, &known, now).unwrap();
        assert_eq!((checked.builtin_mcp, checked.server_ids), (false, vec![7]));
        docs.servers = vec!["wiki".to_owned()];
        assert_eq!(
            NewCredential::check(&docs, &known, now),
            Err(InvalidCredential::UnknownServer("wiki".into()))
        );

        // Limits and tools are checked the same whether typed or parsed from a form.
        let mut limited = request("n", "", &["mcp"]);
        limited.token_lifetime = Some(301);
        assert_eq!(check(&limited), Err(InvalidCredential::TokenLifetime));
        limited.token_lifetime = None;
        limited.tokens_per_hour = Some(0);
        assert_eq!(check(&limited), Err(InvalidCredential::TokensPerHour));
        assert_eq!(
            AllowedTools::from_names(["a b"]).map_err(InvalidCredential::from),
            Err(InvalidCredential::AllowedTools)
        );
        assert_eq!(
            parse_token_lifetime("301"),
            Err(InvalidCredential::TokenLifetime)
        );
        assert_eq!(
            parse_tokens_per_hour(" 0 "),
            Err(InvalidCredential::TokensPerHour)
        );
    }
}

/// The secret-scanning rules shipped in `contrib/secret-scanning/` find every secret
/// Clavis generates and nothing that merely resembles one.
#[cfg(test)]
mod secret_scanning {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    const GITLEAKS: &str = include_str!("../contrib/secret-scanning/gitleaks.toml");
    const GITHUB: &str = include_str!("../contrib/secret-scanning/github-custom-pattern.md");

    /// The `regex = '''…'''` of the gitleaks rule.
    fn gitleaks() -> regex::Regex {
        let raw = GITLEAKS
            .lines()
            .find_map(|line| line.strip_prefix("regex = '''"))
            .and_then(|rest| rest.strip_suffix("'''"))
            .unwrap();
        regex::Regex::new(raw).unwrap()
    }

    /// GitHub's three fields, put together the way GitHub does.
    fn github() -> regex::Regex {
        let field = |name: &str| {
            GITHUB
                .lines()
                .find_map(|line| line.strip_prefix(&format!("| {name} | `")))
                .and_then(|rest| rest.strip_suffix("` |"))
                .unwrap()
                .replace("\\|", "|")
        };
        let pattern = format!(
            "(?:{})({})(?:{})",
            field("Before secret"),
            field("Secret format"),
            field("After secret")
        );
        regex::Regex::new(&pattern).unwrap()
    }

    /// What each rule reports in `text` (its secret group).
    fn found(rule: &regex::Regex, text: &str) -> Vec<String> {
        rule.captures_iter(text)
            .map(|c| c.get(1).unwrap().as_str().to_owned())
            .collect()
    }

    #[test]
    fn secret_scanning_rules_find_generated_secrets_in_any_surroundings() {
        for rule in [gitleaks(), github()] {
            for _ in 0..200 {
                let secret = ClientSecret::generate();
                let secret = secret.expose();
                for text in [
                    secret.to_owned(),
                    format!("CLAVIS_CLIENT_SECRET={secret}\n"),
                    format!("{{\"client_secret\":\"{secret}\"}}"),
                    format!("curl -u clv_abc:{secret} https://x"),
                    format!("client_secret={secret}&grant_type=client_credentials"),
                    format!("  secret: '{secret}'  # prod"),
                ] {
                    assert_eq!(
                        found(&rule, &text),
                        [secret],
                        "{rule} missed it in {text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn secret_scanning_rules_ignore_near_misses() {
        let secret = ClientSecret::generate();
        let secret = secret.expose();
        let client_id = generate_client_id();
        let near_misses = [
            secret.replacen("clvs_", "clvx_", 1),
            secret.replacen("clvs_", "CLVS_", 1),
            secret[..SECRET_LEN - 1].to_owned(),
            format!("{secret}a"),
            format!("x{secret}"),
            format!("_{secret}"),
            format!("{secret}_suffix"),
            secret.replacen('_', "-", 1),
            format!("{}!{}", &secret[..20], &secret[21..]),
            client_id,
            "clvs_".to_owned(),
            "clvs_ followed by words that are not a secret at all, many of them".to_owned(),
        ];
        for rule in [gitleaks(), github()] {
            for text in &near_misses {
                assert!(found(&rule, text).is_empty(), "{rule} matched {text:?}");
            }
        }
    }

    #[test]
    fn the_documented_sample_is_well_formed_and_the_checker_tells_typos() {
        let sample = GITHUB
            .split('`')
            .find(|part| part.starts_with("clvs_0"))
            .unwrap();
        assert!(ClientSecret::parse(sample).is_ok());
        assert_eq!(found(&github(), sample), [sample]);
        assert_eq!(found(&gitleaks(), sample), [sample]);
        // A typo still matches the scanners' pattern; the checksum is what tells it.
        let typo = sample.replacen("000", "001", 1);
        assert_eq!(found(&github(), &typo), [typo.as_str()]);
        assert_eq!(
            ClientSecret::parse(&typo).unwrap_err(),
            SecretFormatError::Checksum
        );
    }
}
