//! The one Bearer check in front of every protected resource Clavis serves: the built-in
//! `/mcp`, each gateway server at `/mcp/<slug>` (SPEC §7, §10.2) and the admin API
//! (§14). A token is accepted when it is correctly signed by a published key, is an
//! access token (`typ: at+jwt`) from this issuer for exactly this resource, has not
//! expired, its id is not revoked, its credential is active and not suspended (and, at a
//! gateway server, still granted that server), and it carries the resource's scope
//! (`mcp`, or `credentials:admin` for the API). A token bound to a DPoP key (SPEC §19)
//! is accepted only with the `DPoP` scheme and a fresh proof by that key for this very
//! request ([`clavis::dpop`]). Refusals follow RFC 6750 §3 and RFC 9449 §7 and point at
//! the resource's RFC 9728 metadata.

use std::time::Duration;

use axum::{
    Json,
    body::Body,
    http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header},
    response::{IntoResponse, Response},
};
use clavis::{
    UnixTime,
    dpop::ProofError,
    grant::{AllowedTools, Scope, Scopes},
    oauth,
};
use serde_json::json;

use opentelemetry::trace::SpanKind;

use crate::{oauth::OAuthState, telemetry::Span};

/// The most of a refused request's body read (and dropped) to keep its connection.
pub(crate) const DRAIN_LIMIT: usize = 64 * 1024;
/// How long a refused request's body may take to arrive.
pub(crate) const DRAIN_TIME: Duration = Duration::from_secs(1);

/// `refusal`, answered before the request's body was read. HTTP/1.1 cannot answer and
/// then take the next request while a body is still on its way, so hyper would close
/// the connection after the answer — and a client that sends its next request at once
/// on it (the SDKs retry with a token right after a `401`) finds it closed ("server
/// disconnected without sending a response"). So the body is read and dropped first,
/// up to [`DRAIN_LIMIT`] bytes within [`DRAIN_TIME`]; a larger or slower one gets
/// `Connection: close`, and no client reuses a connection about to close.
pub async fn refuse_before_body(version: Version, body: Body, mut refusal: Response) -> Response {
    let drained = tokio::time::timeout(DRAIN_TIME, axum::body::to_bytes(body, DRAIN_LIMIT)).await;
    if !matches!(drained, Ok(Ok(_))) && version <= Version::HTTP_11 {
        refusal
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    refusal
}

/// The scope a token needs at an MCP endpoint.
pub const SCOPE: Scope = Scope::Mcp;

/// Who is calling, as established by the Bearer check.
#[derive(Debug, Clone)]
pub struct Caller {
    pub credential_id: i64,
    pub credential_name: String,
    pub client_id: String,
    pub scopes: Scopes,
    pub token_expires_at: UnixTime,
    /// The tools the credential may call at the gateway.
    pub allowed_tools: AllowedTools,
    /// Its calls per minute at gateway servers.
    pub call_limits: clavis::limits::CallLimits,
    /// The credential's creator and team (its workspace).
    pub creator: i64,
    pub team_id: Option<i64>,
    /// The person the token acts for (their email, its `sub`), when an ID-JAG got it
    /// (SPEC §21); `None` for a credential's own token.
    pub person: Option<String>,
}

/// The resource a request is for.
pub struct Resource<'a> {
    /// Its identifier: the audience its tokens must carry.
    pub audience: &'a str,
    /// Its RFC 9728 metadata URL, for the `WWW-Authenticate` challenge.
    pub metadata_url: &'a str,
    /// The gateway server's id (`None` for the built-in `/mcp` and the API).
    pub server_id: Option<i64>,
    /// The scope its tokens must carry.
    pub scope: Scope,
}

/// How a token was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    /// `Authorization: DPoP` with a `DPoP` proof (RFC 9449 §7).
    Dpop,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Self::Bearer => "Bearer",
            Self::Dpop => "DPoP",
        }
    }
}

/// Why a request is refused (RFC 6750 §3, RFC 9449 §7).
#[derive(Debug)]
pub enum Refusal {
    /// No token in the `Authorization` header.
    NoToken,
    /// A token was sent (with this scheme) and is not acceptable.
    InvalidToken(Scheme, String),
    /// The token is DPoP-bound and its proof is missing or refused.
    Proof(ProofError),
    /// The token is valid but lacks the resource's scope.
    InsufficientScope(Scheme, &'static str),
    /// The database could not be asked.
    Unavailable,
}

impl Refusal {
    /// The status, the `WWW-Authenticate` challenges (none for `503`), the error code
    /// and a description. Both schemes are offered; the one the client used carries the
    /// error.
    #[must_use]
    pub fn parts(&self, metadata_url: &str) -> (StatusCode, Option<String>, &'static str, String) {
        // One scheme's challenge, with these parameters after its own.
        let one = |scheme: Scheme, params: &[(&str, &str)]| {
            let mut challenge = format!("{} resource_metadata=\"{metadata_url}\"", scheme.name());
            if scheme == Scheme::Dpop {
                challenge.push_str(&format!(", algs=\"{}\"", crate::dpop::algs()));
            }
            for (name, value) in params {
                challenge.push_str(&format!(", {name}=\"{value}\""));
            }
            challenge
        };
        // The scheme the client used (with the error), then the other one offered.
        let challenge = |scheme: Scheme, error: Option<(&str, &str)>| {
            let params = error.map_or(Vec::new(), |(code, description)| {
                vec![("error", code), ("error_description", description)]
            });
            let other = match scheme {
                Scheme::Bearer => Scheme::Dpop,
                Scheme::Dpop => Scheme::Bearer,
            };
            Some(format!("{}, {}", one(scheme, &params), one(other, &[])))
        };
        match self {
            Self::NoToken => (
                StatusCode::UNAUTHORIZED,
                challenge(Scheme::Bearer, None),
                "invalid_token",
                "send an access token in the Authorization header: Bearer <token>, or DPoP <token> with a DPoP proof".to_owned(),
            ),
            Self::InvalidToken(scheme, why) => (
                StatusCode::UNAUTHORIZED,
                challenge(*scheme, Some(("invalid_token", why))),
                "invalid_token",
                why.clone(),
            ),
            Self::Proof(ProofError::Busy) => (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "temporarily_unavailable",
                ProofError::Busy.to_string(),
            ),
            Self::Proof(why) => {
                let description = why.to_string();
                (
                    StatusCode::UNAUTHORIZED,
                    challenge(Scheme::Dpop, Some((why.code(), &description))),
                    why.code(),
                    description,
                )
            }
            Self::InsufficientScope(scheme, scope) => (
                StatusCode::FORBIDDEN,
                Some(one(
                    *scheme,
                    &[("error", "insufficient_scope"), ("scope", scope)],
                )),
                "insufficient_scope",
                format!("the token lacks the {scope} scope"),
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "temporarily_unavailable",
                "the database does not answer; try again".to_owned(),
            ),
        }
    }

    /// The answer: `401`/`403` with the challenge naming the resource's metadata, or `503`.
    #[must_use]
    pub fn into_response(self, metadata_url: &str) -> Response {
        let (status, challenge, code, description) = self.parts(metadata_url);
        let Some(challenge) = challenge else {
            return (
                status,
                [(header::RETRY_AFTER, "1")],
                Json(json!({ "error": code })),
            )
                .into_response();
        };
        let body = match &self {
            Self::NoToken => json!({ "error_description": description }),
            Self::InsufficientScope(_, scope) => {
                json!({ "error": code, "error_description": description, "scope": scope })
            }
            _ => json!({ "error": code, "error_description": description }),
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The token of an `Authorization` header and its scheme, `Bearer` or `DPoP` (matched
/// case-insensitively). `None` when there is no header or another scheme: RFC 6750
/// answers that without an error code. Tokens in the query string or the body are
/// never looked at.
fn presented_token(headers: &HeaderMap) -> Result<Option<(Scheme, &str)>, Refusal> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Refusal::InvalidToken(
            Scheme::Bearer,
            "more than one Authorization header".into(),
        ));
    }
    let value = value.to_str().map_err(|_| {
        Refusal::InvalidToken(
            Scheme::Bearer,
            "the Authorization header is not ASCII".into(),
        )
    })?;
    let (scheme, token) = if let Some(token) = oauth::scheme_credentials(value, "bearer") {
        (Scheme::Bearer, token)
    } else if let Some(token) = oauth::scheme_credentials(value, "dpop") {
        (Scheme::Dpop, token)
    } else {
        return Ok(None);
    };
    if token.is_empty() {
        return Err(Refusal::InvalidToken(scheme, "the token is empty".into()));
    }
    Ok(Some((scheme, token)))
}

/// The request whose token is checked.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    pub method: &'a Method,
    /// The path it was sent to (a DPoP proof names its URL).
    pub path: &'a str,
    pub headers: &'a HeaderMap,
}

/// Checks the request's token for `resource` (see the module documentation). A
/// DPoP-bound token must come with the `DPoP` scheme and a fresh proof by its key for
/// this request; any other token with the `Bearer` scheme.
///
/// Traced as a span with the scheme, the caller's client id and the outcome.
pub async fn authorize(
    state: &OAuthState,
    request: &Presented<'_>,
    resource: &Resource<'_>,
) -> Result<Caller, Refusal> {
    let span = Span::child(SpanKind::Internal, || ("check token".into(), Vec::new()));
    let checked = span.around(check(state, request, resource, &span)).await;
    let outcome = match &checked {
        Ok(caller) => {
            span.record_with("oauth.client_id", || caller.client_id.clone());
            "allowed"
        }
        Err(Refusal::NoToken) => "no_token",
        Err(Refusal::InvalidToken(..)) => "invalid_token",
        Err(Refusal::Proof(e)) => e.code(),
        Err(Refusal::InsufficientScope(..)) => "insufficient_scope",
        Err(Refusal::Unavailable) => "unavailable",
    };
    span.record("clavis.outcome", outcome);
    checked
}

async fn check(
    state: &OAuthState,
    request: &Presented<'_>,
    resource: &Resource<'_>,
    span: &Span,
) -> Result<Caller, Refusal> {
    let (scheme, token) = presented_token(request.headers)?.ok_or(Refusal::NoToken)?;
    span.record("clavis.auth.scheme", scheme.name());
    let now = clavis::now();
    let issuer = &state.services.issuer.issuer;
    let claims = state
        .verified
        .verify(&state.keys(), token, issuer, resource.audience, now)
        .map_err(|e| Refusal::InvalidToken(scheme, e.to_string()))?;
    let proof = match (scheme, &claims.cnf) {
        (Scheme::Bearer, None) => None,
        (Scheme::Bearer, Some(_)) => {
            return Err(Refusal::InvalidToken(
                scheme,
                "this token is bound to a DPoP key: send it as Authorization: DPoP <token> with a DPoP proof".into(),
            ));
        }
        (Scheme::Dpop, None) => {
            return Err(Refusal::InvalidToken(
                scheme,
                "this token is not bound to a DPoP key: send it as Authorization: Bearer <token>"
                    .into(),
            ));
        }
        (Scheme::Dpop, Some(cnf)) => {
            let url = crate::dpop::public_url(issuer, request.path);
            let method = request.method.as_str();
            let proof =
                crate::dpop::checked(&state.dpop, request.headers, method, &url, Some(token), now)
                    .map_err(Refusal::Proof)?
                    .ok_or(Refusal::Proof(ProofError::Missing))?;
            if proof.jkt != cnf.jkt {
                return Err(Refusal::Proof(ProofError::WrongKey));
            }
            Some(proof)
        }
    };
    let credential =
        oauth::token_credential(&state.token_check(), &claims, now, resource.server_id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "checking an MCP token: database error");
                Refusal::Unavailable
            })?
            .ok_or_else(|| {
                Refusal::InvalidToken(
                    scheme,
                    "the token or its credential has been revoked or has expired".into(),
                )
            })?;
    let scopes = Scopes::known_in(&claims.scope);
    if !scopes.contains(resource.scope) {
        return Err(Refusal::InsufficientScope(scheme, resource.scope.as_str()));
    }
    // Last: a request refused for another reason does not use its proof up.
    if let Some(proof) = &proof {
        state.dpop.spend(proof, now).map_err(Refusal::Proof)?;
    }
    Ok(Caller {
        credential_id: credential.id,
        credential_name: credential.name.clone(),
        client_id: claims.client_id.clone(),
        scopes,
        token_expires_at: claims.exp,
        allowed_tools: credential.allowed_tools.clone(),
        call_limits: credential.call_limits.clone(),
        creator: credential.user_id,
        team_id: credential.team_id,
        person: (claims.sub != claims.client_id).then(|| claims.sub.clone()),
    })
}
