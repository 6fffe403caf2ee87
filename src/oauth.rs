//! The OAuth 2.0 authorization server logic, free of HTTP framework types: request
//! parsing (RFC 6749 §3.2, §2.3.1), client authentication, the client credentials grant
//! (§4.4), resource indicators (RFC 8707), introspection (RFC 7662) and revocation
//! (RFC 7009). The server crate only moves bytes and headers in and out.

use std::{collections::HashMap, net::IpAddr, sync::Arc, time::Instant};

use base64::Engine as _;

use crate::{
    UnixTime,
    batch::{Batch, Count},
    cache::CredentialCache,
    credentials::{self, ClientSecret, SecretKey, Status},
    federation::{Refusal, Workload},
    grant::{Scope, Scopes},
    store::{self, CredentialRow, Pool, StoreError},
    tokens::{self, Claims, Keyring},
};

/// The one grant this server offers.
pub const CLIENT_CREDENTIALS: &str = "client_credentials";

/// An error response of the token, introspection or revocation endpoint
/// (RFC 6749 §5.2). It knows its status code and RFC error code; the server adds
/// `Cache-Control: no-store` and, for Basic authentication failures, the
/// `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// `basic` says whether the client tried HTTP Basic (which earns a challenge).
    #[error("{description}")]
    InvalidClient {
        description: &'static str,
        basic: bool,
    },
    #[error("grant_type must be client_credentials or urn:ietf:params:oauth:grant-type:jwt-bearer")]
    UnsupportedGrantType,
    /// A workload token (SPEC §18) that was refused, naming the failed check.
    #[error("{0}")]
    InvalidGrant(crate::federation::Refusal),
    #[error("the requested scope is not granted to this client")]
    InvalidScope,
    #[error("{0}")]
    InvalidTarget(&'static str),
    #[error("too many failed client authentications; retry later")]
    TooManyRequests { retry_after_secs: u64 },
    /// The credential's "Tokens per hour" quota is used up until the next hour.
    #[error(
        "this credential's quota of {limit} tokens per hour is used up; retry after {retry_after_secs} s"
    )]
    QuotaExceeded { limit: i64, retry_after_secs: u64 },
    /// A DPoP proof that is missing, refused, or lacks the server's nonce (SPEC §19).
    #[error("{0}")]
    Dpop(crate::dpop::ProofError),
    #[error("the server could not complete the request")]
    Server,
}

impl OAuthError {
    /// The RFC 6749 §5.2 `error` code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::TooManyRequests { .. } => "slow_down",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::Dpop(crate::dpop::ProofError::Busy) => "temporarily_unavailable",
            Self::Dpop(e) => e.code(),
            Self::Server => "server_error",
        }
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient { .. } => 401,
            Self::TooManyRequests { .. } | Self::QuotaExceeded { .. } => 429,
            Self::Server => 500,
            Self::Dpop(crate::dpop::ProofError::Busy) => 503,
            _ => 400,
        }
    }
}

/// Why client authentication failed, for metrics and logs (never sent to clients,
/// which all get the same `invalid_client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    MalformedSecret,
    UnknownClient,
    WrongSecret,
    Revoked,
    Expired,
    /// A personal credential of a disabled person.
    Suspended,
    /// A `private_key_jwt` assertion that does not verify or breaks a rule.
    BadAssertion,
    /// An assertion whose `jti` was accepted before.
    ReplayedAssertion,
    /// A workload token (SPEC §18) that was refused.
    BadWorkloadToken,
}

impl AuthFailure {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::MalformedSecret => "malformed_secret",
            Self::UnknownClient => "unknown_client",
            Self::WrongSecret => "wrong_secret",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Suspended => "suspended",
            Self::BadAssertion => "bad_assertion",
            Self::ReplayedAssertion => "replayed_assertion",
            Self::BadWorkloadToken => "bad_workload_token",
        }
    }
}

/// Form parameters, each name at most once (RFC 6749 §3.2). Parameters sent with an
/// empty value count as omitted.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Strict `application/x-www-form-urlencoded` decoding of one name or value: `+` is a
/// space, every `%` must start two hex digits, and the result must be UTF-8.
///
/// Hand-written on purpose: `form_urlencoded` (in the tree through `url`) decodes
/// leniently — a stray `%` passes through as is and invalid UTF-8 becomes U+FFFD — so
/// different bodies would decode to the same client id or secret. No RFC 6749 client
/// sends either; here both are `invalid_request` (see `forms_are_decoded_strictly`).
pub fn form_decode(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex(*raw.get(i + 1)?)?;
                let lo = hex(*raw.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

impl Params {
    /// Parses a form body; duplicated parameters and malformed encoding are
    /// `invalid_request`.
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params = HashMap::new();
        for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &b""[..]),
            };
            let malformed =
                OAuthError::InvalidRequest("the request body is not valid form encoding");
            let name = form_decode(name).ok_or(malformed.clone())?;
            let value = form_decode(value).ok_or(malformed)?;
            if params.insert(name, value).is_some() {
                return Err(OAuthError::InvalidRequest(
                    "a parameter is given more than once",
                ));
            }
        }
        Ok(Self(params))
    }

    /// A parameter's value, `None` when absent or empty.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// How the client authenticated (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Basic,
    Post,
    /// `private_key_jwt`: the presented value is a signed assertion.
    PrivateKeyJwt,
}

/// The client's presented credentials. `Debug` never shows the secret.
pub struct ClientAuth {
    pub client_id: String,
    /// The client secret, or the assertion for [`AuthMethod::PrivateKeyJwt`].
    pub secret: String,
    pub method: AuthMethod,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuth")
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

fn invalid_client(description: &'static str, basic: bool) -> OAuthError {
    OAuthError::InvalidClient { description, basic }
}

/// The credentials of an `Authorization` header value if it uses `scheme` (matched
/// case-insensitively, RFC 9110 §11.1), trimmed; `None` for another scheme.
#[must_use]
pub fn scheme_credentials<'a>(authorization: &'a str, scheme: &str) -> Option<&'a str> {
    let (name, rest) = authorization.trim().split_once(' ')?;
    name.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// Finds the client's credentials in the `Authorization` header (Basic) or the body
/// (`client_secret_post`), per SPEC §4: both at once is `invalid_request`; a body
/// `client_id` next to Basic must match it; none at all is `invalid_client`.
pub fn client_auth(authorization: Option<&str>, params: &Params) -> Result<ClientAuth, OAuthError> {
    let basic = authorization.and_then(|value| scheme_credentials(value, "basic"));
    if params.get("client_assertion").is_some() || params.get("client_assertion_type").is_some() {
        return assertion_auth(basic.is_some(), params);
    }
    if let Some(encoded) = basic {
        if params.get("client_secret").is_some() {
            return Err(OAuthError::InvalidRequest(
                "use one client authentication method, not two",
            ));
        }
        let malformed = || invalid_client("malformed Basic credentials", true);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| malformed())?;
        let at = decoded
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(malformed)?;
        let client_id = form_decode(&decoded[..at]).ok_or_else(malformed)?;
        let secret = form_decode(&decoded[at + 1..]).ok_or_else(malformed)?;
        if params.get("client_id").is_some_and(|id| id != client_id) {
            return Err(invalid_client(
                "the client_id in the body differs from the authenticated one",
                true,
            ));
        }
        return Ok(ClientAuth {
            client_id,
            secret,
            method: AuthMethod::Basic,
        });
    }
    match (params.get("client_id"), params.get("client_secret")) {
        (Some(client_id), Some(secret)) => Ok(ClientAuth {
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
            method: AuthMethod::Post,
        }),
        (Some(_), None) => Err(invalid_client(
            "client authentication failed: no client_secret",
            false,
        )),
        _ => Err(invalid_client("client authentication required", false)),
    }
}

/// `private_key_jwt` (RFC 7523 §2.2): the assertion names the client in its `sub`; a
/// body `client_id` must match it. Read without verifying anything yet.
fn assertion_auth(basic: bool, params: &Params) -> Result<ClientAuth, OAuthError> {
    if basic || params.get("client_secret").is_some() {
        return Err(OAuthError::InvalidRequest(
            "use one client authentication method, not two",
        ));
    }
    if params.get("client_assertion_type") != Some(crate::client_keys::ASSERTION_TYPE) {
        return Err(invalid_client("unsupported client_assertion_type", false));
    }
    let assertion = params
        .get("client_assertion")
        .ok_or_else(|| invalid_client("client_assertion is required", false))?;
    let client_id = crate::client_keys::claimed_client_id(assertion)
        .ok_or_else(|| invalid_client("malformed client assertion", false))?;
    if params.get("client_id").is_some_and(|id| id != client_id) {
        return Err(invalid_client(
            "the client_id in the body differs from the assertion's subject",
            false,
        ));
    }
    Ok(ClientAuth {
        client_id,
        secret: assertion.to_owned(),
        method: AuthMethod::PrivateKeyJwt,
    })
}

/// What client authentication reads: the store, the credential cache, the
/// secret-hashing key, the issuer (assertion audiences) and the record of used
/// assertion ids.
#[derive(Clone, Copy)]
pub struct Authenticator<'a> {
    pub pool: &'a Pool,
    pub cache: &'a CredentialCache,
    pub key: &'a SecretKey,
    pub issuer: &'a Issuer,
    pub jtis: &'a crate::jti::JtiRecorder,
}

/// Authenticates a client: the secret's format and checksum first (no lookup), then
/// the stored keyed hash in constant time. An unknown client costs the same digest as
/// a wrong secret. The credential comes from `cache` when it was read within its time
/// to live (`at` is the monotonic clock for that; `now` judges expiry). A
/// `private_key_jwt` client is judged by its assertion instead.
pub async fn authenticate(
    with: &Authenticator<'_>,
    auth: &ClientAuth,
    now: UnixTime,
    at: Instant,
) -> Result<Result<Arc<CredentialRow>, AuthFailure>, StoreError> {
    let Authenticator {
        pool, cache, key, ..
    } = *with;
    if auth.method == AuthMethod::PrivateKeyJwt {
        return authenticate_assertion(with, auth, now, at).await;
    }
    let Ok(secret) = ClientSecret::parse(&auth.secret) else {
        return Ok(Err(AuthFailure::MalformedSecret));
    };
    let row = if credentials::is_client_id(&auth.client_id) {
        cache.lookup(pool, &auth.client_id, at).await?
    } else {
        None
    };
    let Some(row) = row else {
        // Same work as a wrong secret: one digest and one comparison.
        let _ = key.verify(&secret, &[0u8; 32]);
        return Ok(Err(AuthFailure::UnknownClient));
    };
    if !key.accepts(&row, &secret, now) {
        return Ok(Err(AuthFailure::WrongSecret));
    }
    Ok(active(row, now))
}

fn active(row: Arc<CredentialRow>, now: UnixTime) -> Result<Arc<CredentialRow>, AuthFailure> {
    match credentials::status(row.expires_at, row.revoked_at, now) {
        Status::Active if row.suspended => Err(AuthFailure::Suspended),
        Status::Active => Ok(row),
        Status::Revoked => Err(AuthFailure::Revoked),
        Status::Expired => Err(AuthFailure::Expired),
    }
}

/// `private_key_jwt`: the assertion verified with the credential's keys (and, during a
/// key rotation's overlap, the old ones), then its `jti` recorded once, for every
/// instance, until it expires.
async fn authenticate_assertion(
    with: &Authenticator<'_>,
    auth: &ClientAuth,
    now: UnixTime,
    at: Instant,
) -> Result<Result<Arc<CredentialRow>, AuthFailure>, StoreError> {
    let Authenticator {
        pool,
        cache,
        issuer,
        jtis,
        ..
    } = *with;
    let row = if credentials::is_client_id(&auth.client_id) {
        cache.lookup(pool, &auth.client_id, at).await?
    } else {
        None
    };
    let Some(row) = row else {
        return Ok(Err(AuthFailure::UnknownClient));
    };
    let keys = credentials::verifying_keys(&row, now);
    if keys.is_empty() {
        return Ok(Err(AuthFailure::WrongSecret));
    }
    // The issuer, also with the "/" an empty path normalises to (clients that parse it
    // as a URL send that), or the token endpoint.
    let (token_endpoint, slashed) = (issuer.token_endpoint(), format!("{}/", issuer.issuer));
    let audiences = [
        issuer.issuer.as_str(),
        slashed.as_str(),
        token_endpoint.as_str(),
    ];
    let audiences = if url::Url::parse(&issuer.issuer).is_ok_and(|u| u.path() == "/") {
        &audiences[..]
    } else {
        &[audiences[0], audiences[2]][..]
    };
    let verified = match crate::client_keys::verify_assertion(
        &auth.secret,
        &keys,
        &row.client_id,
        audiences,
        now,
    ) {
        Ok(verified) => verified,
        Err(e) => {
            tracing::debug!(client_id = %row.client_id, reason = %e, "client assertion refused");
            return Ok(Err(AuthFailure::BadAssertion));
        }
    };
    let row = match active(row, now) {
        Ok(row) => row,
        Err(failure) => return Ok(Err(failure)),
    };
    if !jtis
        .record(&row.client_id, &verified.jti, verified.exp)
        .await?
    {
        return Ok(Err(AuthFailure::ReplayedAssertion));
    }
    Ok(Ok(row))
}

/// Most credentials a workload token without `client_id` is matched against; beyond
/// it the token must name one.
pub const FEDERATED_CANDIDATES: usize = 50;

/// A workload token's `jti` to spend once (a single-use rule matched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleUse {
    key: String,
    jti: String,
    until: UnixTime,
}

impl SingleUse {
    /// `jti` to accept once among those of `key` (an issuer), remembered `until`.
    #[must_use]
    pub fn new(key: String, jti: String, until: UnixTime) -> Self {
        Self { key, jti, until }
    }
}

/// The credential a verified workload token of the trusted issuer `issuer_id` gets
/// tokens for (SPEC §18): the one named by `client_id`, else the only one with a rule
/// of that issuer matching the token (two matching credentials, or more than
/// [`FEDERATED_CANDIDATES`] to try, are [`Refusal::Ambiguous`]); active; and, when any
/// matching rule is single-use, the `jti` to spend ([`spend`]) once the token is
/// issued.
pub async fn federated_client(
    with: &Authenticator<'_>,
    workload: &Workload,
    issuer_id: i64,
    client_id: Option<&str>,
    now: UnixTime,
    at: Instant,
) -> Result<Result<(Arc<CredentialRow>, Option<SingleUse>), Refusal>, StoreError> {
    let Authenticator { pool, cache, .. } = *with;
    let candidates = match client_id {
        Some(id) => vec![id.to_owned()],
        None => store::federated_client_ids(pool, issuer_id, now, FEDERATED_CANDIDATES + 1).await?,
    };
    if candidates.len() > FEDERATED_CANDIDATES {
        return Ok(Err(Refusal::Ambiguous));
    }
    let mut found: Option<(Arc<CredentialRow>, bool)> = None;
    for id in candidates.iter().filter(|id| credentials::is_client_id(id)) {
        let Some(row) = cache.lookup(pool, id, at).await? else {
            continue;
        };
        let mut matching = row
            .federation
            .iter()
            .filter(|r| r.issuer_id == issuer_id && r.matches(workload))
            .peekable();
        if matching.peek().is_some() {
            if found.is_some() {
                return Ok(Err(Refusal::Ambiguous));
            }
            // Single use if any matching rule says so: a reusable rule beside it does
            // not lift it.
            let single_use = matching.any(|r| r.single_use);
            found = Some((row, single_use));
        }
    }
    let Some((row, single_use)) = found else {
        return Ok(Err(Refusal::NoRule));
    };
    let Ok(row) = active(row, now) else {
        return Ok(Err(Refusal::Inactive));
    };
    let spend = if single_use {
        let Some(jti) = &workload.jti else {
            return Ok(Err(Refusal::NoJti));
        };
        Some(SingleUse {
            key: format!("iss:{issuer_id}"),
            jti: jti.clone(),
            until: workload.replayable_until(),
        })
    } else {
        None
    };
    Ok(Ok((row, spend)))
}

/// Spends a single-use workload token's `jti`: once, on every instance (the same store
/// as `private_key_jwt` assertion ids, keyed by issuer). [`Refusal::Replay`] when it was
/// spent before.
pub async fn spend(
    jtis: &crate::jti::JtiRecorder,
    single_use: &SingleUse,
) -> Result<Result<(), Refusal>, StoreError> {
    Ok(
        if jtis
            .record(&single_use.key, &single_use.jti, single_use.until)
            .await?
        {
            Ok(())
        } else {
            Err(Refusal::Replay)
        },
    )
}

/// The `invalid_client` answer for an authentication failure.
#[must_use]
pub fn auth_failed(auth: &ClientAuth) -> OAuthError {
    invalid_client(
        "client authentication failed",
        auth.method == AuthMethod::Basic,
    )
}

/// What the server issues for: its issuer and the resources it serves.
#[derive(Debug, Clone)]
pub struct Issuer {
    /// The issuer URL, without a trailing slash.
    pub issuer: String,
    /// Access-token lifetime in seconds.
    pub token_ttl: i64,
}

impl Issuer {
    /// The built-in MCP endpoint's resource identifier (`<issuer>/mcp`): the audience of
    /// its tokens.
    #[must_use]
    pub fn mcp_resource(&self) -> String {
        format!("{}/mcp", self.issuer)
    }

    /// The admin API's resource identifier (SPEC §14): the audience of its tokens.
    #[must_use]
    pub fn api_resource(&self) -> String {
        format!("{}/api", self.issuer)
    }

    /// The token endpoint's URL (an accepted `aud` of client assertions).
    #[must_use]
    pub fn token_endpoint(&self) -> String {
        format!("{}/mcp/oauth/token", self.issuer)
    }

    /// Resolves a token request's RFC 8707 `resource` for `client` (SPEC §10.1) and
    /// returns the token audience. A resource must be an absolute URI without fragment
    /// that the client is granted: the built-in `<issuer>/mcp` or one of its servers
    /// (`<issuer>/mcp/<slug>` for a gateway, the resource URL of an external one), or
    /// with the `credentials:admin` scope the admin API (`<issuer>/api`). An
    /// unknown resource and one not granted get the same answer. Without `resource`: the
    /// client's only resource, else the built-in one if granted, else `invalid_target`.
    pub fn audience(
        &self,
        client: &CredentialRow,
        resource: Option<&str>,
    ) -> Result<String, OAuthError> {
        let mut granted: Vec<String> = Vec::with_capacity(client.servers.len() + 1);
        if client.builtin_mcp {
            granted.push(self.mcp_resource());
        }
        granted.extend(client.servers.iter().map(|s| self.server_resource(s)));
        // A credential holding the admin scope may always ask for the admin API.
        if client.scopes.contains(Scope::CredentialsAdmin) {
            granted.push(self.api_resource());
        }
        let Some(resource) = resource else {
            return match granted.as_slice() {
                [only] => Ok(only.clone()),
                _ if client.builtin_mcp => Ok(self.mcp_resource()),
                _ => Err(OAuthError::InvalidTarget(
                    "this credential is granted several MCP servers: name one with the resource parameter",
                )),
            };
        };
        let absolute = resource.split_once("://").is_some_and(|(scheme, rest)| {
            !scheme.is_empty()
                && !rest.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        });
        if !absolute || resource.contains('#') {
            return Err(OAuthError::InvalidTarget(
                "resource must be an absolute URI without a fragment",
            ));
        }
        let wanted = resource.trim_end_matches('/');
        granted
            .into_iter()
            .find(|g| g.trim_end_matches('/') == wanted)
            .ok_or(OAuthError::InvalidTarget(
                "this credential is not granted that resource",
            ))
    }

    /// The resource identifier of a granted server.
    #[must_use]
    pub fn server_resource(&self, server: &store::GrantedServer) -> String {
        if server.mode == crate::servers::Mode::External.as_str() {
            server.resource_url.clone().unwrap_or_default()
        } else {
            crate::servers::gateway_resource(&self.issuer, &server.slug)
        }
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
}

/// The client credentials grant for an authenticated client: checks `grant_type`,
/// then [`issue`].
pub fn grant(
    issuer: &Issuer,
    keys: &Keyring,
    client: &CredentialRow,
    params: &Params,
    now: UnixTime,
    dpop_key: Option<String>,
) -> Result<(TokenResponse, Claims), OAuthError> {
    if params.get("grant_type") != Some(CLIENT_CREDENTIALS) {
        return Err(OAuthError::UnsupportedGrantType);
    }
    issue(
        issuer,
        keys,
        client,
        params,
        now,
        OnBehalf::Client,
        dpop_key,
    )
}

/// Whom a token acts for besides its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnBehalf {
    /// The client itself (client credentials).
    Client,
    /// The workload whose token the client federates (SPEC §18).
    Workload(crate::federation::WorkloadClaim),
    /// A person an ID-JAG names (SPEC §21).
    Person(ForPerson),
}

/// The person an ID-JAG names, and what the ID-JAG allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForPerson {
    /// Their email: the token's `sub`.
    pub email: String,
    /// The ID-JAG's scopes; `None`: it names none.
    pub scope: Option<Scopes>,
    /// The ID-JAG's `resource`, when it names one.
    pub resource: Option<String>,
    /// The ID-JAG's `exp`: the token lasts no longer (a person disabled later gets
    /// no new ID-JAG accepted, and what they had runs out with it).
    pub until: UnixTime,
}

/// A token of `client` (its own credentials, a workload token it federates, or an
/// ID-JAG for a person): the scope narrowed to the request's `scope` (and, for a
/// person, to the ID-JAG's), the audience its `resource` (the ID-JAG's when it names
/// one), bound to `dpop_key` (a DPoP key's thumbprint) when there is one, signed.
pub fn issue(
    issuer: &Issuer,
    keys: &Keyring,
    client: &CredentialRow,
    params: &Params,
    now: UnixTime,
    on_behalf: OnBehalf,
    dpop_key: Option<String>,
) -> Result<(TokenResponse, Claims), OAuthError> {
    let (granted, resource) = match &on_behalf {
        OnBehalf::Person(person) => {
            let granted = person
                .scope
                .map_or(client.scopes, |s| s.intersection(client.scopes));
            if granted.is_empty() {
                return Err(OAuthError::InvalidScope);
            }
            let resource = match (&person.resource, params.get("resource")) {
                (Some(named), Some(asked)) if named != asked => {
                    return Err(OAuthError::InvalidGrant(
                        crate::federation::Refusal::OtherResource,
                    ));
                }
                (Some(named), _) => Some(named.as_str()),
                (None, asked) => asked,
            };
            (granted, resource)
        }
        _ => (client.scopes, params.get("resource")),
    };
    let scope = match params.get("scope") {
        // An unknown scope is one the client is not granted.
        Some(requested) => match Scopes::parse(requested) {
            Ok(requested) if !requested.is_empty() && requested.is_subset(granted) => requested,
            _ => return Err(OAuthError::InvalidScope),
        },
        None => granted,
    };
    let aud = issuer.audience(client, resource)?;
    let mut exp = token_expiry(issuer, client, now);
    let (sub, workload) = match on_behalf {
        OnBehalf::Client => (client.client_id.clone(), None),
        OnBehalf::Workload(workload) => (client.client_id.clone(), Some(workload)),
        OnBehalf::Person(person) => {
            exp = exp.min(person.until.max(now + 1));
            (person.email, None)
        }
    };
    let claims = Claims {
        iss: issuer.issuer.clone(),
        sub,
        client_id: client.client_id.clone(),
        aud,
        iat: now,
        exp,
        jti: tokens::new_jti(),
        scope: scope.to_string(),
        workload,
        cnf: dpop_key.map(|jkt| tokens::Confirmation { jkt }),
    };
    let access_token = keys.sign(&claims).map_err(|_| OAuthError::Server)?;
    Ok((
        TokenResponse {
            access_token,
            token_type: claims.token_type(),
            expires_in: claims.exp - now,
            scope: claims.scope.clone(),
        },
        claims,
    ))
}

/// When a token issued to `client` at `now` expires: after the credential's token
/// lifetime (else the server's), and never after the credential itself (SPEC §11.3).
#[must_use]
pub fn token_expiry(issuer: &Issuer, client: &CredentialRow, now: UnixTime) -> UnixTime {
    let exp = now.saturating_add(client.token_lifetime.unwrap_or(issuer.token_ttl));
    client.expires_at.map_or(exp, |end| exp.min(end))
}

/// Checks the parameters every token request needs before authentication:
/// `grant_type` present.
pub fn require_grant_type(params: &Params) -> Result<(), OAuthError> {
    params
        .get("grant_type")
        .map(|_| ())
        .ok_or(OAuthError::InvalidRequest("grant_type is required"))
}

/// Token usage counted in memory and written in batches, so that token traffic does
/// not write to the database per request (the database grows with credentials and days,
/// not with traffic): per credential and UTC day, the tokens, the last time and the
/// client address of the last request.
#[derive(Debug, Default)]
pub struct Usage(Batch<(String, i64), DayCount>);

/// One credential's tokens on one day since the last flush: how many, the time and
/// client address of the last request, and the subject of the last workload token.
#[derive(Debug, Clone)]
struct DayCount {
    tokens: i64,
    last_used: UnixTime,
    address: IpAddr,
    workload: Option<Arc<str>>,
}

impl Count for DayCount {
    fn absorb(&mut self, other: Self) {
        self.tokens += other.tokens;
        if other.last_used >= self.last_used {
            self.last_used = other.last_used;
            self.address = other.address;
            if other.workload.is_some() {
                self.workload = other.workload;
            }
        } else if self.workload.is_none() {
            self.workload = other.workload;
        }
    }
}

impl Usage {
    /// Counts one token issued to `client_id` at `now`, asked for from `address`, for
    /// the workload `subject` when a workload token was presented.
    pub fn record(&self, client_id: &str, now: UnixTime, address: IpAddr, subject: Option<&str>) {
        let one = DayCount {
            tokens: 1,
            last_used: now,
            address,
            workload: subject.map(Arc::from),
        };
        let day = now.div_euclid(86_400);
        let mut held = self.0.lock();
        match held.counts.entry((client_id.to_owned(), day)) {
            std::collections::hash_map::Entry::Occupied(mut count) => count.get_mut().absorb(one),
            std::collections::hash_map::Entry::Vacant(place) => {
                place.insert(one);
            }
        }
    }

    /// Writes the counts gathered so far in one transaction; on failure they are kept
    /// for the next flush.
    pub async fn flush(&self, pool: &Pool) -> Result<usize, StoreError> {
        let write = async |batch: &[((String, i64), DayCount)]| {
            let rows: Vec<store::TokenUsage> = batch
                .iter()
                .map(|((client_id, day), count)| store::TokenUsage {
                    client_id: client_id.clone(),
                    day: *day,
                    tokens: count.tokens,
                    last_used: count.last_used,
                    address: Some(count.address.to_string()),
                    workload_subject: count.workload.as_deref().map(str::to_owned),
                })
                .collect();
            store::add_usage(pool, &rows).await
        };
        self.0.flush(write, |(), _| {}).await
    }
}

/// What the token check reads: credentials through their cache (forgotten on every
/// change, here and by notification from other instances, and read again after at most
/// the cache's time to live) and the revoked tokens held in memory. No query per call.
#[derive(Clone, Copy)]
pub struct TokenCheck<'a> {
    pub pool: &'a Pool,
    pub credentials: &'a CredentialCache,
    pub revoked: &'a crate::revoked::RevokedTokens,
}

/// The RFC 7662 answer for `token`, as seen by the authenticated `caller`. Anything not
/// currently valid, or not the caller's to see, is inactive.
pub async fn introspect(
    check: &TokenCheck<'_>,
    issuer: &Issuer,
    keys: &Keyring,
    caller: &CredentialRow,
    token: &str,
    now: UnixTime,
) -> Result<Option<Claims>, StoreError> {
    let Ok(claims) = keys.verify_signature(token) else {
        return Ok(None);
    };
    let may_see = caller.client_id == claims.client_id || caller.scopes.contains(Scope::Introspect);
    if !may_see || claims.iss != issuer.issuer || claims.exp <= now {
        return Ok(None);
    }
    let Some(row) = token_credential(check, &claims, now, None).await? else {
        return Ok(None);
    };
    // Its audience must still be granted: a server whose access was withdrawn, the
    // built-in endpoint unticked, the admin scope removed (the token endpoint and the
    // gateway refuse those at once; a server that introspects must hear it too).
    if issuer.audience(&row, Some(&claims.aud)).is_err() {
        return Ok(None);
    }
    Ok(Some(claims))
}

/// The credential behind a token whose signature and times are valid, if the token is
/// still usable: not revoked itself (nor with every token of its credential up to some
/// time after it was issued), its credential neither revoked, expired nor suspended,
/// and — at a gateway server (`server_id`) — still granted that server.
pub async fn token_credential(
    check: &TokenCheck<'_>,
    claims: &Claims,
    now: UnixTime,
    server_id: Option<i64>,
) -> Result<Option<Arc<CredentialRow>>, StoreError> {
    if check.revoked.contains(&claims.client_id, &claims.jti) {
        return Ok(None);
    }
    let Some(row) = check
        .credentials
        .lookup(check.pool, &claims.client_id, Instant::now())
        .await?
    else {
        return Ok(None);
    };
    let usable = !row.suspended
        && credentials::status(row.expires_at, row.revoked_at, now) == Status::Active
        && row
            .tokens_revoked_before
            .is_none_or(|before| claims.iat > before)
        && server_id.is_none_or(|id| row.servers.iter().any(|s| s.id == id));
    Ok(usable.then_some(row))
}

/// RFC 7009: revokes `token` if it is the caller's own access token; anything else is
/// left untouched (the answer is the same either way). `true` when it revoked one.
pub async fn revoke(
    pool: &Pool,
    keys: &Keyring,
    caller: &CredentialRow,
    token: &str,
    now: UnixTime,
) -> Result<bool, StoreError> {
    if let Ok(claims) = keys.verify_signature(token)
        && claims.client_id == caller.client_id
    {
        store::revoke_token(
            pool,
            &claims.jti,
            &claims.client_id,
            claims.iat,
            claims.exp,
            now,
        )
        .await?;
        return Ok(true);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(body: &str) -> Result<Params, OAuthError> {
        Params::parse(body.as_bytes())
    }

    #[test]
    fn forms_are_decoded_strictly() {
        let p = params("grant_type=client_credentials&scope=mcp+introspect&x=%C3%A9")
            .unwrap_or_default();
        assert_eq!(p.get("scope"), Some("mcp introspect"));
        assert_eq!(p.get("x"), Some("é"));
        assert_eq!(
            params("scope=&grant_type=a").map(|p| p.get("scope").is_none()),
            Ok(true)
        );
        for bad in [
            "a=%zz",
            "a=%4",
            "a=%FF%FE",
            "a=1&a=2",
            "resource=x&resource=y",
        ] {
            assert_eq!(
                params(bad).map(|_| ()).map_err(|e| e.code()),
                Err("invalid_request"),
                "{bad}"
            );
        }
    }

    fn basic(id: &str, secret: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    }

    #[test]
    fn client_authentication_follows_the_spec_table() {
        let empty = Params::default();
        let ok = client_auth(Some(&basic("clv_a", "clvs_b")), &empty);
        assert_eq!(
            ok.map(|a| (a.client_id, a.method)).map_err(|e| e.code()),
            Ok(("clv_a".into(), AuthMethod::Basic))
        );
        let with_id = params("client_id=clv_a").unwrap_or_default();
        assert!(client_auth(Some(&basic("clv_a", "s")), &with_id).is_ok());
        let other_id = params("client_id=clv_b").unwrap_or_default();
        assert_eq!(
            client_auth(Some(&basic("clv_a", "s")), &other_id).map(|_| ()),
            Err(invalid_client(
                "the client_id in the body differs from the authenticated one",
                true
            ))
        );
        let both = params("client_id=clv_a&client_secret=s").unwrap_or_default();
        assert_eq!(
            client_auth(Some(&basic("clv_a", "s")), &both)
                .map(|_| ())
                .map_err(|e| e.code()),
            Err("invalid_request")
        );
        assert_eq!(
            client_auth(None, &both)
                .map(|a| a.method)
                .map_err(|e| e.code()),
            Ok(AuthMethod::Post)
        );
        assert_eq!(
            client_auth(None, &with_id)
                .map(|_| ())
                .map_err(|e| e.code()),
            Err("invalid_client")
        );
        assert_eq!(
            client_auth(None, &empty)
                .map(|_| ())
                .map_err(|e| e.status()),
            Err(401)
        );
        assert_eq!(
            client_auth(Some("Basic !!!"), &empty).map(|_| ()),
            Err(invalid_client("malformed Basic credentials", true))
        );
        // RFC 6749 §2.3.1: both parts are form-encoded inside Basic.
        let encoded = client_auth(Some(&basic("clv%5Fa", "a%2Bb")), &empty);
        assert_eq!(
            encoded
                .map(|a| (a.client_id, a.secret))
                .map_err(|e| e.code()),
            Ok(("clv_a".into(), "a+b".into()))
        );
    }

    #[test]
    fn tokens_live_the_credentials_lifetime_and_never_past_its_expiry() {
        let issuer = Issuer {
            issuer: "https://c.example".into(),
            token_ttl: 3600,
        };
        let mut row = client(true, &[]);
        assert_eq!(
            token_expiry(&issuer, &row, 1000),
            4600,
            "the server's lifetime"
        );
        row.token_lifetime = Some(300);
        assert_eq!(token_expiry(&issuer, &row, 1000), 1300);
        row.expires_at = Some(1100);
        assert_eq!(
            token_expiry(&issuer, &row, 1000),
            1100,
            "not past the credential"
        );
        row.token_lifetime = Some(86_400);
        row.expires_at = Some(50_000);
        assert_eq!(token_expiry(&issuer, &row, 1000), 50_000);
    }

    fn client(builtin_mcp: bool, servers: &[(&str, &str, Option<&str>)]) -> CredentialRow {
        CredentialRow {
            id: 1,
            user_id: 1,
            client_id: "clv_x".into(),
            secret_hash: Vec::new(),
            name: "c".into(),
            description: String::new(),
            scopes: Scopes::only(Scope::Mcp),
            created_at: 0,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            tokens_issued: 0,
            builtin_mcp,
            allowed_tools: crate::grant::AllowedTools::EVERY,
            servers: servers
                .iter()
                .enumerate()
                .map(|(i, (slug, mode, url))| store::GrantedServer {
                    id: i64::try_from(i).unwrap_or_default() + 1,
                    slug: (*slug).into(),
                    name: (*slug).into(),
                    mode: (*mode).into(),
                    resource_url: url.map(str::to_owned),
                })
                .collect(),
            ..CredentialRow::default()
        }
    }

    #[test]
    fn resources_must_be_absolute_and_granted() {
        let issuer = Issuer {
            issuer: "https://c.example".into(),
            token_ttl: 60,
        };
        let builtin = client(true, &[]);
        assert_eq!(
            issuer.audience(&builtin, None),
            Ok("https://c.example/mcp".into())
        );
        assert_eq!(
            issuer.audience(&builtin, Some("https://c.example/mcp/")),
            Ok("https://c.example/mcp".into())
        );
        for bad in [
            "/mcp",
            "mcp",
            "https://other.example/mcp",
            "https://c.example/mcp#x",
            "://x",
            "https://c.example/mcp/docs",
        ] {
            assert_eq!(
                issuer.audience(&builtin, Some(bad)).map_err(|e| e.code()),
                Err("invalid_target"),
                "{bad}"
            );
        }

        let both = client(
            true,
            &[
                ("docs", "gateway", None),
                ("ext", "external", Some("https://mcp.example.com/mcp")),
            ],
        );
        assert_eq!(
            issuer.audience(&both, None),
            Ok("https://c.example/mcp".into())
        );
        assert_eq!(
            issuer.audience(&both, Some("https://c.example/mcp/docs")),
            Ok("https://c.example/mcp/docs".into())
        );
        assert_eq!(
            issuer.audience(&both, Some("https://mcp.example.com/mcp")),
            Ok("https://mcp.example.com/mcp".into())
        );
        assert_eq!(
            issuer
                .audience(&both, Some("https://c.example/mcp/wiki"))
                .map_err(|e| e.code()),
            Err("invalid_target")
        );

        let only_docs = client(false, &[("docs", "gateway", None)]);
        assert_eq!(
            issuer.audience(&only_docs, None),
            Ok("https://c.example/mcp/docs".into())
        );
        assert_eq!(
            issuer
                .audience(&only_docs, Some("https://c.example/mcp"))
                .map_err(|e| e.code()),
            Err("invalid_target")
        );
        let two = client(
            false,
            &[("docs", "gateway", None), ("wiki", "gateway", None)],
        );
        let error = issuer.audience(&two, None);
        assert!(
            matches!(&error, Err(OAuthError::InvalidTarget(d)) if d.contains("resource")),
            "{error:?}"
        );
    }
}
