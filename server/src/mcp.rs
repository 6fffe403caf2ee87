//! The built-in MCP server (SPEC §7): rmcp's Streamable HTTP transport at `/mcp`, behind
//! a Bearer middleware that accepts only Clavis access tokens for `<issuer>/mcp`, and the
//! RFC 9728 protected-resource metadata that lets MCP clients discover where to get one.
//!
//! The transport runs stateless with JSON answers: every POST carries its own token and
//! is answered on its own, so nothing per client lives in memory and a credential revoked
//! through this instance is refused on its very next call (see [`crate::bearer`]).

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Request, State},
    http::request::Parts,
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use clavis::{civil, grant::Scope};
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

use crate::{AppState, BODY_LIMIT, bearer, oauth::OAuthState};

pub use crate::bearer::{Caller, SCOPE};

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
    /// The person the token acts for (their email), when an agent got it with an
    /// ID-JAG from their identity provider; absent for the credential's own token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
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
        description = "Who is calling: the credential's name, client_id and scopes, when this access token expires, and the person it acts for if any.",
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
            scopes: caller.scopes.to_strings(),
            token_expires_at: civil::format_rfc3339(caller.token_expires_at),
            token_expires_in: (caller.token_expires_at - clavis::now()).max(0),
            person: caller.person.clone(),
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
    resource_metadata(
        &state.services.issuer.issuer,
        &state.services.issuer.mcp_resource(),
        "Clavis MCP endpoint",
        SCOPE,
    )
}

/// An RFC 9728 protected-resource metadata document for a resource this issuer protects.
pub fn resource_metadata(issuer: &str, resource: &str, name: &str, scope: Scope) -> Response {
    let body = json!({
        "resource": resource,
        "authorization_servers": [issuer],
        "scopes_supported": [scope.as_str()],
        "bearer_methods_supported": ["header"],
        "resource_name": name,
        "dpop_signing_alg_values_supported": clavis::dpop::ALGORITHMS,
        "dpop_bound_access_tokens_required": false,
    });
    crate::oauth::cacheable(Json(body).into_response())
}

/// Checks the token in front of `/mcp` (see [`bearer::authorize`]); the caller then
/// travels to the tools in the request extensions.
async fn require_bearer(
    State(state): State<Arc<OAuthState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let audience = state.services.issuer.mcp_resource();
    let metadata_url = format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        state.services.issuer.issuer
    );
    let resource = bearer::Resource {
        audience: &audience,
        metadata_url: &metadata_url,
        server_id: None,
        scope: bearer::SCOPE,
    };
    let presented = bearer::Presented {
        method: request.method(),
        path: request.uri().path(),
        headers: request.headers(),
    };
    match bearer::authorize(&state, &presented, &resource).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(refusal) => {
            let version = request.version();
            let answer = refusal.into_response(&metadata_url);
            bearer::refuse_before_body(version, request.into_body(), answer).await
        }
    }
}
