//! The built-in MCP server (SPEC §7): rmcp's Streamable HTTP transport at `/mcp`, behind
//! a Bearer middleware that accepts only Clavis access tokens for `<issuer>/mcp`, and the
//! RFC 9728 protected-resource metadata that lets MCP clients discover where to get one.
//!
//! The transport runs stateless with JSON answers: every POST carries its own token and
//! is answered on its own, so nothing per client lives in memory and a revoked credential
//! is refused on its very next call.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use clavis::{UnixTime, civil, oauth, tokens::Claims};
use rmcp::{
    ErrorData, ServerHandler,
    handler::server::{router::tool::ToolRouter, tool::Extension},
    model::ProtocolVersion,
    schemars::JsonSchema,
    tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
    },
};
use serde::Serialize;
use serde_json::json;

use crate::{AppState, BODY_LIMIT, oauth::OAuthState};

/// The scope a token needs for `/mcp`.
pub const SCOPE: &str = "mcp";

/// Who is calling, as established by the Bearer middleware and read by the tools.
#[derive(Debug, Clone)]
pub struct Caller {
    pub credential_name: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub token_expires_at: UnixTime,
}

/// What `whoami` answers (its structured content; the text content is the same JSON).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct Identity {
    /// The credential's name, as given in the dashboard.
    pub credential_name: String,
    /// The credential's OAuth client id.
    pub client_id: String,
    /// The scopes granted to this access token.
    pub scopes: Vec<String>,
    /// When this access token expires (RFC 3339, UTC).
    pub token_expires_at: String,
    /// Seconds left until then.
    pub token_expires_in: i64,
}

/// The MCP server: one tool, `whoami`. Cheap to create: the stateless transport makes
/// one per request, sharing the tool router built once.
#[derive(Clone)]
pub struct McpServer {
    tool_router: Arc<ToolRouter<Self>>,
}

#[tool_router(router = tool_router, vis = "pub")]
impl McpServer {
    /// Answers who the caller is: the credential behind the access token.
    #[tool(
        description = "Who is calling: the credential's name, client_id and scopes, and when this access token expires.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn whoami(
        &self,
        Extension(parts): Extension<Parts>,
    ) -> Result<rmcp::Json<Identity>, ErrorData> {
        let caller = parts
            .extensions
            .get::<Caller>()
            .ok_or_else(|| ErrorData::internal_error("the request carries no caller", None))?;
        Ok(rmcp::Json(Identity {
            credential_name: caller.credential_name.clone(),
            client_id: caller.client_id.clone(),
            scopes: caller.scopes.clone(),
            token_expires_at: civil::format_rfc3339(caller.token_expires_at),
            token_expires_in: (caller.token_expires_at - clavis::now()).max(0),
        }))
    }
}

#[tool_handler(
    router = self.tool_router,
    name = "clavis",
    instructions = "Clavis' own MCP endpoint. Call `whoami` to see which credential your access token belongs to."
)]
impl ServerHandler for McpServer {
    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        std::borrow::Cow::Borrowed(SUPPORTED_VERSIONS)
    }
}

/// Protocol revisions 2025-06-18 and later.
const SUPPORTED_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

/// `/mcp` (behind the Bearer middleware) and the protected-resource metadata.
pub fn routes(state: &AppState) -> Router<AppState> {
    let tools = Arc::new(McpServer::tool_router());
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(BODY_LIMIT)
        .with_allowed_hosts(allowed_hosts(&state.config.issuer_origin));
    let service = StreamableHttpService::new(
        move || {
            Ok(McpServer {
                tool_router: tools.clone(),
            })
        },
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .route_service("/mcp", service)
        .route_layer(axum::middleware::from_fn_with_state(
            state.oauth.clone(),
            require_bearer,
        ))
        .route("/.well-known/oauth-protected-resource", get(metadata))
        .route("/.well-known/oauth-protected-resource/mcp", get(metadata))
}

/// `Host` values the transport accepts (its DNS-rebinding guard): the issuer's authority
/// and the loopback names, which no rebinding can forge.
fn allowed_hosts(issuer_origin: &str) -> Vec<String> {
    let authority = issuer_origin
        .split_once("://")
        .map_or(issuer_origin, |(_, rest)| rest);
    let mut hosts = vec![authority.to_owned()];
    for loopback in ["localhost", "127.0.0.1", "::1"] {
        if !hosts.iter().any(|h| h == loopback) {
            hosts.push(loopback.to_owned());
        }
    }
    hosts
}

/// RFC 9728 protected-resource metadata for `<issuer>/mcp`.
async fn metadata(State(state): State<Arc<OAuthState>>) -> Response {
    let issuer = &state.issuer;
    let body = json!({
        "resource": issuer.mcp_resource(),
        "authorization_servers": [issuer.issuer],
        "scopes_supported": [SCOPE],
        "bearer_methods_supported": ["header"],
        "resource_name": "Clavis MCP endpoint",
    });
    crate::oauth::cacheable(Json(body).into_response())
}

/// Why a request to `/mcp` is refused (RFC 6750 §3).
enum Refusal {
    /// No Bearer token in the `Authorization` header.
    NoToken,
    /// A token was sent and is not acceptable.
    InvalidToken(String),
    /// The token is valid but lacks the `mcp` scope.
    InsufficientScope,
    /// The database could not be asked.
    Unavailable,
}

impl Refusal {
    fn into_response(self, issuer: &oauth::Issuer) -> Response {
        let metadata = format!("{}/.well-known/oauth-protected-resource/mcp", issuer.issuer);
        let (status, challenge, body) = match self {
            Self::NoToken => (
                StatusCode::UNAUTHORIZED,
                format!("Bearer resource_metadata=\"{metadata}\""),
                json!({ "error_description": "send an access token in the Authorization header: Bearer <token>" }),
            ),
            Self::InvalidToken(why) => (
                StatusCode::UNAUTHORIZED,
                format!(
                    "Bearer resource_metadata=\"{metadata}\", error=\"invalid_token\", error_description=\"{why}\""
                ),
                json!({ "error": "invalid_token", "error_description": why }),
            ),
            Self::InsufficientScope => (
                StatusCode::FORBIDDEN,
                format!(
                    "Bearer resource_metadata=\"{metadata}\", error=\"insufficient_scope\", scope=\"{SCOPE}\""
                ),
                json!({ "error": "insufficient_scope", "error_description": "the token lacks the mcp scope", "scope": SCOPE }),
            ),
            Self::Unavailable => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "1")],
                    Json(json!({ "error": "temporarily_unavailable" })),
                )
                    .into_response();
            }
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

/// Checks the token in front of `/mcp`: signature by a published key, `typ`, issuer,
/// audience `<issuer>/mcp`, expiry, its id not revoked, its credential active, scope
/// `mcp`. The caller then travels to the tools in the request extensions.
async fn require_bearer(
    State(state): State<Arc<OAuthState>>,
    mut request: Request,
    next: Next,
) -> Response {
    match authorize(&state, request.headers()).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(refusal) => refusal.into_response(&state.issuer),
    }
}

async fn authorize(state: &OAuthState, headers: &HeaderMap) -> Result<Caller, Refusal> {
    let token = bearer_token(headers)?.ok_or(Refusal::NoToken)?;
    let now = clavis::now();
    let claims: Claims = state
        .keys()
        .verify(
            token,
            &state.issuer.issuer,
            &state.issuer.mcp_resource(),
            now,
        )
        .map_err(|e| Refusal::InvalidToken(e.to_string()))?;
    let credential = oauth::token_credential(&state.pool, &claims, now)
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
    let scopes: Vec<String> = claims.scope.split_whitespace().map(str::to_owned).collect();
    if !scopes.iter().any(|s| s == SCOPE) {
        return Err(Refusal::InsufficientScope);
    }
    Ok(Caller {
        credential_name: credential.name,
        client_id: claims.client_id,
        scopes,
        token_expires_at: claims.exp,
    })
}
