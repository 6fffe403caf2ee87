//! The one Bearer check in front of every protected resource Clavis serves: the built-in
//! `/mcp`, each gateway server at `/mcp/<slug>` (SPEC §7, §10.2) and the admin API
//! (§14). A token is accepted when it is correctly signed by a published key, is an
//! access token (`typ: at+jwt`) from this issuer for exactly this resource, has not
//! expired, its id is not revoked, its credential is active and not suspended (and, at a
//! gateway server, still granted that server), and it carries the resource's scope
//! (`mcp`, or `credentials:admin` for the API). Refusals follow RFC 6750 §3 and point at
//! the resource's RFC 9728 metadata.

use std::time::Duration;

use axum::{
    Json,
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, Version, header},
    response::{IntoResponse, Response},
};
use clavis::{
    UnixTime,
    grant::{AllowedTools, Scope, Scopes},
    oauth,
};
use serde_json::json;

use crate::oauth::OAuthState;

/// The most of a refused request's body read (and dropped) to keep its connection.
const DRAIN_LIMIT: usize = 64 * 1024;
/// How long a refused request's body may take to arrive.
const DRAIN_TIME: Duration = Duration::from_secs(1);

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
    /// The credential's creator and team (its workspace).
    pub creator: i64,
    pub team_id: Option<i64>,
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

/// Why a request is refused (RFC 6750 §3).
#[derive(Debug)]
pub enum Refusal {
    /// No Bearer token in the `Authorization` header.
    NoToken,
    /// A token was sent and is not acceptable.
    InvalidToken(String),
    /// The token is valid but lacks the resource's scope.
    InsufficientScope(&'static str),
    /// The database could not be asked.
    Unavailable,
}

impl Refusal {
    /// The status, the `WWW-Authenticate` challenge naming the resource's metadata (none
    /// for `503`), the RFC 6750 error code and a description.
    #[must_use]
    pub fn parts(&self, metadata_url: &str) -> (StatusCode, Option<String>, &'static str, String) {
        match self {
            Self::NoToken => (
                StatusCode::UNAUTHORIZED,
                Some(format!("Bearer resource_metadata=\"{metadata_url}\"")),
                "invalid_token",
                "send an access token in the Authorization header: Bearer <token>".to_owned(),
            ),
            Self::InvalidToken(why) => (
                StatusCode::UNAUTHORIZED,
                Some(format!(
                    "Bearer resource_metadata=\"{metadata_url}\", error=\"invalid_token\", error_description=\"{why}\""
                )),
                "invalid_token",
                why.clone(),
            ),
            Self::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                Some(format!(
                    "Bearer resource_metadata=\"{metadata_url}\", error=\"insufficient_scope\", scope=\"{scope}\""
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
            Self::InsufficientScope(scope) => {
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

/// The Bearer token of an `Authorization` header (scheme matched case-insensitively).
/// `None` when there is no header or it is not Bearer: RFC 6750 answers that without an
/// error code. Tokens in the query string or the body are never looked at.
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, Refusal> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Refusal::InvalidToken(
            "more than one Authorization header".into(),
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| Refusal::InvalidToken("the Authorization header is not ASCII".into()))?;
    let Some(token) = oauth::scheme_credentials(value, "bearer") else {
        return Ok(None);
    };
    if token.is_empty() {
        return Err(Refusal::InvalidToken("the Bearer token is empty".into()));
    }
    Ok(Some(token))
}

/// Checks the request's token for `resource` (see the module documentation).
pub async fn authorize(
    state: &OAuthState,
    headers: &HeaderMap,
    resource: &Resource<'_>,
) -> Result<Caller, Refusal> {
    let token = bearer_token(headers)?.ok_or(Refusal::NoToken)?;
    let now = clavis::now();
    let claims = state
        .verified
        .verify(
            &state.keys(),
            token,
            &state.services.issuer.issuer,
            resource.audience,
            now,
        )
        .map_err(|e| Refusal::InvalidToken(e.to_string()))?;
    let credential =
        oauth::token_credential(&state.token_check(), &claims, now, resource.server_id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "checking an MCP token: database error");
                Refusal::Unavailable
            })?
            .ok_or_else(|| {
                Refusal::InvalidToken(
                    "the token or its credential has been revoked or has expired".into(),
                )
            })?;
    let scopes = Scopes::known_in(&claims.scope);
    if !scopes.contains(resource.scope) {
        return Err(Refusal::InsufficientScope(resource.scope.as_str()));
    }
    Ok(Caller {
        credential_id: credential.id,
        credential_name: credential.name.clone(),
        client_id: claims.client_id.clone(),
        scopes,
        token_expires_at: claims.exp,
        allowed_tools: credential.allowed_tools.clone(),
        creator: credential.user_id,
        team_id: credential.team_id,
    })
}
