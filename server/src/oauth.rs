//! The OAuth endpoints over HTTP: token (RFC 6749 §4.4), introspection (RFC 7662),
//! revocation (RFC 7009), discovery (RFC 8414), keys (JWKS) and the authorization
//! endpoint stub the MCP SDKs' metadata schemas require. Thin: read the form, call the
//! core, shape the answer.

use opentelemetry::trace::SpanKind;
use std::{
    net::IpAddr,
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Body,
    extract::{Extension, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use clavis::{
    dpop::ProofError,
    federation::{self, Refusal, Workload, WorkloadClaim},
    oauth::{self, AuthFailure, ClientAuth, OAuthError, OnBehalf, Params, Usage},
    store::CredentialRow,
    throttle::{ClientAddress, Throttle, address_key},
    tokens::Keyring,
};
use serde_json::json;

use crate::{AppState, metrics::Metrics, telemetry};

/// Largest token, introspection or revocation request body.
pub const FORM_LIMIT: usize = 16 * 1024;

/// Everything the OAuth endpoints share.
pub struct OAuthState {
    /// The store, the issuer, the secret key and the credential cache: the same ones the
    /// use cases (the dashboard, the admin API) work with, so a change they make is
    /// seen here at once.
    pub services: clavis::service::Services,
    /// Reloaded periodically, so a rotation by another instance or the CLI is seen.
    pub keys: RwLock<Arc<Keyring>>,
    pub usage: Usage,
    /// "Tokens per hour" counts (SPEC §11.3), flushed with the usage.
    pub quotas: clavis::quota::Quotas,
    /// Accepted private_key_jwt assertion ids, written with group commit.
    pub jtis: clavis::jti::JtiRecorder,
    pub metrics: Metrics,
    pub per_client: Throttle<String>,
    pub per_address: Throttle<IpAddr>,
    /// The MCP gateway's client and counts (it shares the token check).
    pub gateway: crate::upstream::Gateway,
    /// Upstreams' tool lists, kept briefly ([`crate::upstream_tools`]).
    pub tool_cache: crate::upstream_tools::ToolCache,
    /// Trusted issuers' keys, for workload tokens (SPEC §18).
    pub issuer_keys: crate::issuer_keys::IssuerKeys,
    /// Identity providers' discovery documents (SPEC §21: sign-in and ID-JAGs).
    pub providers: crate::sso::Providers,
    /// Access tokens whose signature was verified (for the MCP endpoints).
    pub verified: clavis::tokens::VerifiedTokens,
    /// Revoked access tokens that have not expired (kept as the database has them).
    pub revoked: Arc<clavis::revoked::RevokedTokens>,
    /// DPoP proofs: checked, nonces, replays (SPEC §19).
    pub dpop: clavis::dpop::Dpop,
}

impl OAuthState {
    /// What deciding whether an access token is still usable reads.
    #[must_use]
    pub fn token_check(&self) -> oauth::TokenCheck<'_> {
        oauth::TokenCheck {
            pool: &self.services.pool,
            credentials: &self.services.credentials,
            revoked: &self.revoked,
        }
    }

    /// After a credential changed here or elsewhere: forgets its cached copy and reads
    /// its revoked tokens again.
    pub async fn credential_changed(&self, client_id: &str) {
        self.services.credentials.forget(client_id);
        if let Err(e) = self
            .revoked
            .load_credential(&self.services.pool, client_id, clavis::now())
            .await
        {
            tracing::warn!(error = %e, "reading revoked tokens failed");
        }
    }

    /// What client authentication reads.
    fn authenticator(&self) -> oauth::Authenticator<'_> {
        oauth::Authenticator {
            pool: &self.services.pool,
            cache: &self.services.credentials,
            key: &self.services.secret_key,
            issuer: &self.services.issuer,
            jtis: &self.jtis,
        }
    }

    #[must_use]
    pub fn keys(&self) -> Arc<Keyring> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the signing keys again (a rotation by the CLI or another instance).
    pub async fn reload_keys(&self) -> Result<(), clavis::store::StoreError> {
        let keys = crate::load_keys(&self.services.pool, &self.gateway.master_key).await?;
        let mut current = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        if current.jwks() != keys.jwks() {
            self.verified.clear();
        }
        *current = Arc::new(keys);
        Ok(())
    }

    /// Counts a failed client authentication against the client id and the address;
    /// once either bucket is empty the answer becomes 429.
    fn failed(
        &self,
        reason: AuthFailure,
        client_id: Option<&str>,
        address: IpAddr,
    ) -> Option<OAuthError> {
        self.metrics.auth_failed(reason);
        // Only a value shaped like a client id is logged: whatever else was sent there
        // (a secret pasted into the wrong field, say) stays out of the log.
        let logged_id = client_id
            .filter(|id| clavis::credentials::is_client_id(id))
            .unwrap_or("-");
        tracing::info!(
            reason = reason.label(),
            client_id = logged_id,
            "client authentication failed"
        );
        let mut wait = self.per_address.take(&address_key(address)).err();
        if let Some(client_id) = client_id {
            wait = wait.max(self.per_client.take(&client_key(client_id)).err());
        }
        wait.map(too_many)
    }

    /// Whether this address has run out of failures already: checked before any lookup
    /// or HMAC, so a flood of bad attempts from one address costs little. Takes nothing.
    /// (The per-client bucket is not checked up front: anyone could then lock a client
    /// out by failing in its name; it only turns further failures into 429s.)
    fn exhausted(&self, address: IpAddr) -> Option<OAuthError> {
        self.per_address
            .check(&address_key(address))
            .err()
            .map(too_many)
    }
}

fn too_many(wait: Duration) -> OAuthError {
    OAuthError::TooManyRequests {
        retry_after_secs: wait.as_secs().max(1),
    }
}

/// The per-client throttle key: bounded, so arbitrary input cannot grow the map's entries.
fn client_key(client_id: &str) -> String {
    client_id.chars().take(64).collect()
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/mcp/oauth/token", post(token))
        .route("/mcp/oauth/introspect", post(introspect))
        .route("/mcp/oauth/revoke", post(revoke))
        .route("/mcp/oauth/authorize", get(authorize).post(authorize))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/jwks.json", get(jwks))
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An RFC 6749 §5.2 error answer.
fn error_response(error: &OAuthError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({ "error": error.code(), "error_description": error.to_string() });
    let mut response = no_store((status, Json(body)).into_response());
    match error {
        // RFC 7235 §3.1: every 401 names a scheme the client can use — Basic, whichever
        // method it tried (SPEC §4 fixes the exact value).
        OAuthError::InvalidClient { .. } => {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"clavis\""),
            );
        }
        OAuthError::Dpop(ProofError::Busy) => {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        OAuthError::TooManyRequests { retry_after_secs } => {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        OAuthError::QuotaExceeded {
            limit,
            retry_after_secs,
        } => {
            let body = json!({
                "error": error.code(),
                "error_description": error.to_string(),
                "quota": "tokens_per_hour",
                "limit": limit,
                "retry_after": retry_after_secs,
            });
            response = no_store((StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response());
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        _ => {}
    }
    response
}

/// Why a form could not even be read.
enum FormError {
    TooLarge,
    OAuth(OAuthError),
}

/// Reads a form body: the content type must be form encoding, the body at most
/// [`FORM_LIMIT`] bytes.
async fn read_form(headers: &HeaderMap, body: Body) -> Result<Params, FormError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(FormError::OAuth(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded",
        )));
    }
    let bytes = axum::body::to_bytes(body, FORM_LIMIT)
        .await
        .map_err(|_| FormError::TooLarge)?;
    Params::parse(&bytes).map_err(FormError::OAuth)
}

fn answer(result: Result<Response, FormError>) -> Response {
    match result {
        Ok(response) => response,
        Err(FormError::OAuth(error)) => error_response(&error),
        Err(FormError::TooLarge) => no_store(
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(json!({ "error": "invalid_request", "error_description": "the request body is larger than 16 KiB" })),
            )
                .into_response(),
        ),
    }
}

impl From<OAuthError> for FormError {
    fn from(error: OAuthError) -> Self {
        Self::OAuth(error)
    }
}

/// Logs a database failure once, with its cause; the client sees `server_error`.
fn database_error(what: &'static str) -> impl FnOnce(clavis::store::StoreError) -> OAuthError {
    move |e| {
        tracing::error!(error = %e, "{what}: database error");
        OAuthError::Server
    }
}

/// Reads the form and authenticates the client, counting failures.
async fn authenticated(
    state: &OAuthState,
    headers: &HeaderMap,
    address: IpAddr,
    body: Body,
    before_auth: impl FnOnce(&Params) -> Result<(), OAuthError>,
) -> Result<(Params, Arc<CredentialRow>), FormError> {
    let params = read_form(headers, body).await?;
    before_auth(&params)?;
    let client = authenticate(state, headers, address, &params).await?;
    Ok((params, client))
}

/// Authenticates the client of a request whose form is read, counting failures.
async fn authenticate(
    state: &OAuthState,
    headers: &HeaderMap,
    address: IpAddr,
    params: &Params,
) -> Result<Arc<CredentialRow>, FormError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(throttled) = state.exhausted(address) {
        return Err(throttled.into());
    }
    let auth: ClientAuth = match oauth::client_auth(authorization, params) {
        Ok(auth) => auth,
        Err(error) => {
            if matches!(error, OAuthError::InvalidClient { .. })
                && let Some(throttled) =
                    state.failed(AuthFailure::Missing, params.get("client_id"), address)
            {
                return Err(throttled.into());
            }
            return Err(error.into());
        }
    };
    let outcome = oauth::authenticate(&state.authenticator(), &auth, clavis::now(), Instant::now())
        .await
        .map_err(database_error("client authentication"))?;
    match outcome {
        Ok(row) => Ok(row),
        Err(reason) => Err(state
            .failed(reason, Some(&auth.client_id), address)
            .unwrap_or_else(|| oauth::auth_failed(&auth))
            .into()),
    }
}

/// The credential a workload token (SPEC §18) gets tokens for, with the workload:
/// its issuer trusted, its key fetched (or cached), its signature and times verified,
/// then a credential's rule matched ([`oauth::federated_client`]).
async fn federated(
    state: &OAuthState,
    assertion: &str,
    client_id: Option<&str>,
    now: clavis::UnixTime,
) -> Result<Result<Federated, Refusal>, OAuthError> {
    let (iss, kid) = match federation::peek(assertion) {
        Ok(peeked) => peeked,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let Some(issuer) = state.services.issuers.by_issuer(&iss) else {
        return Ok(Err(Refusal::UntrustedIssuer));
    };
    let keys = match state.issuer_keys.keys(&issuer, kid.as_deref(), now).await {
        Ok(keys) => keys,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let workload = match federation::verify(assertion, &issuer.issuer, &keys, now) {
        Ok(workload) => workload,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let found = oauth::federated_client(
        &state.authenticator(),
        &workload,
        issuer.id,
        client_id,
        now,
        Instant::now(),
    )
    .await
    .map_err(database_error("a workload token"))?;
    Ok(found.map(|(row, single_use)| Federated {
        row,
        workload,
        single_use,
    }))
}

/// `POST /mcp/oauth/token`: the client credentials grant, or a workload token with the
/// JWT bearer grant (SPEC §18).
async fn token(
    State(state): State<Arc<OAuthState>>,
    Extension(ClientAddress(address)): Extension<ClientAddress>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Attributes a stranger's request cannot fill with a secret: known grant types only,
    // and the client id of a client that authenticated.
    let span = telemetry::Span::child(SpanKind::Internal, || ("issue token".into(), Vec::new()));
    let result = span.around(async {
            let params = read_form(&headers, body).await?;
            oauth::require_grant_type(&params)?;
            if let Some(grant_type) = params
                .get("grant_type")
                .filter(|g| [oauth::CLIENT_CREDENTIALS, federation::GRANT_TYPE].contains(g))
            {
                span.record_with("oauth.grant_type", || grant_type.to_owned());
            }
            let now = clavis::now();
            let jwt_bearer = params.get("grant_type") == Some(federation::GRANT_TYPE);
            let (client, federated, person) = if jwt_bearer
                && params.get("assertion").is_some_and(clavis::sso::is_id_jag)
            {
                // An ID-JAG (SPEC §21) comes with the client's own authentication.
                let client = authenticate(&state, &headers, address, &params).await?;
                let person = id_jag_person(&state, &client, &params, address, now).await?;
                (client, None, Some(person))
            } else if jwt_bearer {
                let federated = workload_client(&state, &headers, address, &params, now).await?;
                (federated.row.clone(), Some(federated), None)
            } else {
                (authenticate(&state, &headers, address, &params).await?, None, None)
            };
            // Checked once the client is known (so strangers cannot make Clavis verify
            // signatures with keys of their choosing), used up once the token is issued
            // and counted.
            span.record_with("oauth.client_id", || client.client_id.clone());
            let proof = token_request_proof(&state, &headers, now)?;
            if client.require_dpop && proof.is_none() {
                return Err(OAuthError::Dpop(ProofError::Required).into());
            }
            let dpop_key = proof.as_ref().map(|p| p.jkt.clone());
            let (response, claims) = match (&federated, &person) {
                // Its jti is spent below, once the quota and the proof let it through.
                (_, Some(person)) => oauth::issue(&state.services.issuer, &state.keys(), &client, &params, now, OnBehalf::Person(person.grant.clone()), dpop_key)?,
                (Some(federated), None) => {
                    let workload = WorkloadClaim {
                        iss: federated.workload.issuer.clone(),
                        sub: federated.workload.subject.clone(),
                    };
                    let issued = oauth::issue(&state.services.issuer, &state.keys(), &client, &params, now, OnBehalf::Workload(workload), dpop_key)?;
                    // Spent only now that the request is good: a bad scope or resource
                    // does not burn a CI job's one-time token.
                    if let Some(single_use) = &federated.single_use
                        && let Err(refusal) = oauth::spend(&state.jtis, single_use)
                            .await
                            .map_err(database_error("spending a workload token"))?
                    {
                        return Err(refused(&state, refusal, params.get("client_id"), address).into());
                    }
                    issued
                }
                (None, None) => oauth::grant(&state.services.issuer, &state.keys(), &client, &params, now, dpop_key)?,
            };
            let workload = federated.as_ref().map(|f| &f.workload);
            state
                .quotas
                .take(&client.client_id, client.tokens_per_hour, now)
                .map_err(|e| OAuthError::QuotaExceeded {
                    limit: e.limit,
                    retry_after_secs: e.retry_after.unsigned_abs(),
                })?;
            if let Some(proof) = &proof {
                state.dpop.spend(proof, now).map_err(OAuthError::Dpop)?;
            }
            if let Some(person) = &person
                && let Err(refusal) = oauth::spend(&state.jtis, &person.once)
                    .await
                    .map_err(database_error("spending an ID-JAG"))?
            {
                return Err(refused(&state, refusal, Some(&client.client_id), address).into());
            }
            let subject = workload
                .as_ref()
                .map(|w| w.subject.as_str())
                .or(person.as_ref().map(|p| p.grant.email.as_str()));
            if let Some(person) = &person {
                record_for_person(&state, &client, person, address, now).await;
            }
            state.usage.record(&client.client_id, now, address, subject);
            state.metrics.token_issued();
            // At debug: a line per token is a line per request on the busiest path (the
            // benchmark measured ~480 bytes of log per token at info); the counts are in
            // the credential's usage and /metrics.
            tracing::debug!(client_id = %client.client_id, jti = %claims.jti, scope = %claims.scope, "token issued");
            Ok(no_store(Json(response).into_response()))
        })
        .await;
    let outcome = match &result {
        Ok(_) => "issued",
        Err(FormError::OAuth(error)) => error.code(),
        Err(FormError::TooLarge) => "invalid_request",
    };
    span.record("clavis.outcome", outcome);
    // A refused request is the client's error, not Clavis's.
    if matches!(outcome, "server_error" | "temporarily_unavailable") {
        span.fail(None);
    }
    answer(result)
}

/// The token request's DPoP proof, checked for `POST` at the token endpoint (SPEC §19);
/// `None` without one.
fn token_request_proof(
    state: &OAuthState,
    headers: &HeaderMap,
    now: clavis::UnixTime,
) -> Result<Option<clavis::dpop::Proof>, OAuthError> {
    let url = state.services.issuer.token_endpoint();
    crate::dpop::checked(&state.dpop, headers, "POST", &url, None, now).map_err(OAuthError::Dpop)
}

/// A workload token's credential, the workload, and the `jti` to spend.
struct Federated {
    row: Arc<CredentialRow>,
    workload: Workload,
    single_use: Option<oauth::SingleUse>,
}

/// The answer to a refused workload token: `invalid_grant` naming the check, counted
/// as a failed authentication (429 once the address's or client's failures run out;
/// keys that cannot be fetched are not the client's failure).
fn refused(
    state: &OAuthState,
    refusal: Refusal,
    client_id: Option<&str>,
    address: IpAddr,
) -> OAuthError {
    tracing::info!(reason = %refusal, "workload token refused");
    if refusal != Refusal::KeysUnavailable
        && let Some(throttled) = state.failed(AuthFailure::BadWorkloadToken, client_id, address)
    {
        return throttled;
    }
    OAuthError::InvalidGrant(refusal)
}

/// The JWT bearer grant's credential: no client authentication (the workload token is
/// the proof), an `assertion`, an optional `client_id`; a refused token is
/// `invalid_grant` naming the check and counts as a failed authentication.
async fn workload_client(
    state: &OAuthState,
    headers: &HeaderMap,
    address: IpAddr,
    params: &Params,
    now: clavis::UnixTime,
) -> Result<Federated, FormError> {
    if let Some(throttled) = state.exhausted(address) {
        return Err(throttled.into());
    }
    if headers.contains_key(header::AUTHORIZATION)
        || params.get("client_secret").is_some()
        || params.get("client_assertion").is_some()
    {
        return Err(OAuthError::InvalidRequest(
            "a workload assertion is presented without client authentication",
        )
        .into());
    }
    let assertion = params
        .get("assertion")
        .ok_or(OAuthError::InvalidRequest("assertion is required"))?;
    let client_id = params.get("client_id");
    federated(state, assertion, client_id, now)
        .await?
        .map_err(|refusal| refused(state, refusal, client_id, address).into())
}

/// The person an ID-JAG (SPEC §21) names, what it allows, and its `jti` to spend.
struct Person {
    grant: oauth::ForPerson,
    provider: String,
    user_id: i64,
    once: oauth::SingleUse,
}

/// Checks an ID-JAG presented by the authenticated `client`: a registered identity
/// provider's, signed by its keys, in time, for this issuer and this client, naming an
/// account that is not disabled. A refusal is `invalid_grant` naming the check.
async fn id_jag_person(
    state: &OAuthState,
    client: &CredentialRow,
    params: &Params,
    address: IpAddr,
    now: clavis::UnixTime,
) -> Result<Person, FormError> {
    let assertion = params
        .get("assertion")
        .ok_or(OAuthError::InvalidRequest("assertion is required"))?;
    let refuse =
        |refusal| -> FormError { refused(state, refusal, Some(&client.client_id), address).into() };
    let (iss, kid) = federation::peek(assertion).map_err(refuse)?;
    let provider = clavis::service::identity::by_issuer(&state.services, &iss)
        .await
        .map_err(|_| OAuthError::Server)?
        .ok_or_else(|| refuse(Refusal::UnknownProvider))?;
    let discovered = state.providers.discover(&provider).await.map_err(|e| {
        tracing::warn!(provider = %provider.name, error = %e, "an identity provider's discovery failed");
        refuse(Refusal::KeysUnavailable)
    })?;
    let keys = state
        .issuer_keys
        .keys(
            &provider.key_source(&discovered.jwks_uri),
            kid.as_deref(),
            now,
        )
        .await
        .map_err(refuse)?;
    let token = federation::verify(assertion, &provider.issuer, &keys, now).map_err(refuse)?;
    let jag = clavis::sso::check_id_jag(&token, &state.services.issuer.issuer, &client.client_id)
        .map_err(refuse)?;
    let user = clavis::service::identity::id_jag_person(&state.services, &provider, &jag)
        .await
        .map_err(|_| OAuthError::Server)?
        .map_err(refuse)?;
    Ok(Person {
        grant: oauth::ForPerson {
            email: user.email,
            scope: jag.scope,
            resource: jag.resource,
            until: token.exp,
        },
        provider: provider.name,
        user_id: user.id,
        once: oauth::SingleUse::new(
            format!("idp:{}", provider.id),
            jag.jti,
            jag.replayable_until,
        ),
    })
}

/// Records in the credential's workspace that it got a token acting for a person
/// (SPEC §21): the audit log names them.
async fn record_for_person(
    state: &OAuthState,
    client: &CredentialRow,
    person: &Person,
    address: IpAddr,
    now: clavis::UnixTime,
) {
    let workspace = clavis::authz::Workspace::of(client.user_id, client.team_id);
    let who = clavis::audit::Who::credential(&client.client_id, Some(address.to_string()));
    let event = who.did(
        now,
        clavis::audit::AuditAction::TokenForPerson,
        format!("{} via {}", person.grant.email, person.provider),
        Some(workspace),
    );
    if let Err(e) = clavis::store::record(&state.services.pool, &event).await {
        tracing::error!(error = %e, user_id = person.user_id, "recording a token for a person failed");
    }
}

/// `POST /mcp/oauth/introspect` (RFC 7662).
async fn introspect(
    State(state): State<Arc<OAuthState>>,
    Extension(ClientAddress(address)): Extension<ClientAddress>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    answer(
        async {
            let (params, caller) =
                authenticated(&state, &headers, address, body, require_token).await?;
            let token = params.get("token").unwrap_or_default();
            let claims = oauth::introspect(
                &state.token_check(),
                &state.services.issuer,
                &state.keys(),
                &caller,
                token,
                clavis::now(),
            )
            .await
            .map_err(database_error("introspection"))?;
            let body = match claims {
                Some(c) => {
                    let mut body = json!({
                        "active": true, "scope": c.scope, "client_id": c.client_id, "sub": c.sub,
                        "aud": c.aud, "iss": c.iss, "exp": c.exp, "iat": c.iat, "jti": c.jti,
                        "token_type": c.token_type(),
                    });
                    // RFC 9449 §6.2: a bound token's key.
                    if let Some(cnf) = &c.cnf {
                        body["cnf"] = json!({ "jkt": cnf.jkt });
                    }
                    body
                }
                None => json!({ "active": false }),
            };
            Ok(no_store(Json(body).into_response()))
        }
        .await,
    )
}

fn require_token(params: &Params) -> Result<(), OAuthError> {
    params
        .get("token")
        .map(|_| ())
        .ok_or(OAuthError::InvalidRequest("token is required"))
}

/// `POST /mcp/oauth/revoke` (RFC 7009): 200 for every well-formed request.
async fn revoke(
    State(state): State<Arc<OAuthState>>,
    Extension(ClientAddress(address)): Extension<ClientAddress>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    answer(
        async {
            let (params, caller) =
                authenticated(&state, &headers, address, body, require_token).await?;
            let revoked = oauth::revoke(
                &state.services.pool,
                &state.keys(),
                &caller,
                params.get("token").unwrap_or_default(),
                clavis::now(),
            )
            .await
            .map_err(database_error("revocation"))?;
            if revoked {
                // Refused from the very next call here; other instances hear of it.
                state.credential_changed(&caller.client_id).await;
                let change = clavis::changes::Change::Credential(caller.client_id.clone());
                if let Err(e) = clavis::changes::publish(&state.services.pool, &change).await {
                    tracing::warn!(error = %e, "publishing a token revocation failed");
                }
            }
            Ok(no_store(StatusCode::OK.into_response()))
        }
        .await,
    )
}

/// `/mcp/oauth/authorize`: published because the MCP SDKs' metadata schemas require an
/// authorization endpoint; there is no interactive flow.
async fn authorize() -> Response {
    no_store(
        (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "unsupported_response_type",
                "error_description": "Clavis offers only the client_credentials grant: there is no interactive authorization. \
                    Exchange a client_id and client_secret at the token endpoint.",
            })),
        )
            .into_response(),
    )
}

/// RFC 8414 authorization server metadata.
async fn metadata(State(state): State<Arc<OAuthState>>) -> Response {
    let issuer = &state.services.issuer.issuer;
    // Every endpoint authenticates clients the same way (`authenticated`).
    let methods = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ];
    let algs = clavis::client_keys::ALGORITHMS;
    let body = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/mcp/oauth/authorize"),
        "token_endpoint": format!("{issuer}/mcp/oauth/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials", federation::GRANT_TYPE],
        "authorization_grant_profiles_supported": [clavis::sso::ID_JAG_PROFILE],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "scopes_supported": clavis::grant::Scope::ALL.map(clavis::grant::Scope::as_str),
        "introspection_endpoint": format!("{issuer}/mcp/oauth/introspect"),
        "introspection_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_signing_alg_values_supported": algs,
        "revocation_endpoint": format!("{issuer}/mcp/oauth/revoke"),
        "revocation_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_signing_alg_values_supported": algs,
        "dpop_signing_alg_values_supported": clavis::dpop::ALGORITHMS,
    });
    cacheable(Json(body).into_response())
}

/// The public signing keys (RFC 7517).
async fn jwks(State(state): State<Arc<OAuthState>>) -> Response {
    cacheable(Json(json!({ "keys": state.keys().jwks() })).into_response())
}

/// Public metadata: cacheable for a minute.
pub(crate) fn cacheable(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

/// How long the token endpoint, `/mcp`, the gateway and introspection trust a credential
/// they read: a change nobody announced (the CLI on SQLite, a lost notification) takes
/// effect within this; one made here or announced by notification at once.
pub const CREDENTIAL_CACHE_TTL: Duration = Duration::from_secs(1);
/// Most credentials kept in the cache.
pub const CREDENTIAL_CACHE_CAPACITY: usize = 50_000;

/// How often usage counts are written and keys reloaded.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// The tool lists the credential form offers, asked through the gateway's client.
impl app::ssr::IssuerKeysCache for OAuthState {
    fn cached(&self, issuer: &clavis::federation::TrustedIssuer) -> clavis::federation::CachedKeys {
        self.issuer_keys.cached(issuer)
    }
}

impl app::ssr::CallUse for OAuthState {
    fn used(&self, credential: i64, limits: &clavis::limits::CallLimits) -> Vec<u32> {
        self.gateway.limits.used(credential, limits, clavis::now())
    }
}

impl app::ssr::ToolLists for OAuthState {
    fn tools(
        &self,
        servers: Vec<Arc<clavis::servers::Server>>,
    ) -> std::pin::Pin<Box<dyn Future<Output = Vec<app::ssr::ToolList>> + Send + '_>> {
        Box::pin(async move {
            futures_util::future::join_all(
                servers
                    .iter()
                    .map(|server| self.tool_cache.tools(&self.gateway, server)),
            )
            .await
        })
    }
}
