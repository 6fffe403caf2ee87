//! The MCP gateway (SPEC §10.2): `<issuer>/mcp/<slug>` checks the caller's token exactly
//! like `/mcp` (one verifier, [`crate::bearer`]) and forwards the request to the server's
//! upstream URL with a pooled HTTP client (reqwest).
//!
//! - A POST's body is read whole (at most the configured limit) and forwarded only if
//!   [`jsonrpc::inspect`] read it completely and one way only: UTF-8 JSON without
//!   duplicate keys, JSON-RPC 2.0 messages, a batch of at most
//!   [`jsonrpc::BATCH_MAX`]. Anything else is answered `400` with `-32700`/`-32600` and
//!   never reaches the upstream, so a lenient parser there cannot read a call the
//!   allowed-tools rule did not see. The accepted bytes go on unchanged, as
//!   `Content-Type: application/json`. A GET or DELETE carries no body upstream.
//! - Answers stream back as they arrive: an SSE event reaches the client as soon as
//!   the upstream sends it.
//! - Both eras of MCP (SPEC §17), the client's choice: the handshake era's sessions and
//!   the stateless 2026-07-28 revision, whose requests mirror their body in headers.
//!   Those headers must agree with the body ([`Inspection::check_mirrors`]) or the
//!   request is answered `400` with JSON-RPC `-32020` and its id, before it reaches the
//!   upstream; every decision is made on the body.
//! - Forwarded: `Accept`, `Mcp-Session-Id`, `MCP-Protocol-Version`, `Last-Event-ID`,
//!   `Mcp-Method`, `Mcp-Name`, every `Mcp-Param-*` (these three with a POST only, whose
//!   body they mirror), `traceparent` and `tracestate` (with traces on, Clavis's own
//!   context takes their place: its call span, or for a request not recorded a span id
//!   of its own: SPEC §20) (and `Content-Type` on a GET or DELETE), the server's upstream header,
//!   `X-Clavis-Client-Id`, `X-Clavis-Scope` and, for a token acting for a person (an
//!   ID-JAG's, SPEC §21), `X-Clavis-Subject` (their email). Nothing else — never `Authorization`,
//!   `DPoP` or `Cookie`. Back: the status, `Content-Type` and `Mcp-Session-Id`.
//! - A credential limited to some tools sees only those in `tools/list` answers —
//!   every answer carrying `result.tools`, whatever id the upstream echoes, in the JSON
//!   answer to a request that asks for `tools/list` and in every SSE stream (a GET may
//!   replay an answer), marked `cacheScope: "private"` — and gets JSON-RPC `-32602`
//!   for any other `tools/call` (a multi round-trip retry and a task-augmented call are
//!   `tools/call`s too), answered here without reaching the upstream.
//! - Calls are counted per credential, server, tool and day with the names bounded
//!   ([`servers::GatewayUsage`]); refused calls under `(refused)`.
//! - Outside the router's 30 s request timeout: a POST's body must arrive within 30 s
//!   (else `408`), the upstream's answer headers within the configured timeout, and an
//!   answer streams as long as it lasts.
//! - Upstream unreachable: `502`; no answer headers in time: `504`; the upstream's own
//!   `401`/`403`: `502` (the caller's OAuth is with Clavis). Error bodies are JSON-RPC
//!   errors naming the server, never its address.

use std::{sync::Arc, time::Instant};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use clavis::{
    jsonrpc::{self, Inspection},
    servers::{self, Mode, Server},
};
use futures_util::StreamExt as _;
use opentelemetry::{KeyValue, trace::SpanKind};
use serde_json::Value;

use crate::{AppState, bearer, oauth::OAuthState, telemetry::Span, upstream::read_limited};

/// Request headers passed to the upstream as they are (and every `Mcp-Param-*`).
const FORWARDED: [HeaderName; 9] = [
    header::CONTENT_TYPE,
    header::ACCEPT,
    HeaderName::from_static("mcp-session-id"),
    PROTOCOL_VERSION,
    HeaderName::from_static("last-event-id"),
    MCP_METHOD,
    MCP_NAME,
    TRACEPARENT,
    TRACESTATE,
];
const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
/// The prefix of the headers that mirror a tool's arguments (`x-mcp-header`).
const MCP_PARAM: &str = "mcp-param-";
const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
const CLIENT_ID: HeaderName = HeaderName::from_static("x-clavis-client-id");
const SCOPE: HeaderName = HeaderName::from_static("x-clavis-scope");
const SUBJECT: HeaderName = HeaderName::from_static("x-clavis-subject");
/// Largest JSON answer read whole to narrow a `tools/list`.
const TOOLS_LIST_LIMIT: usize = 16 * 1024 * 1024;

/// The gateway and each gateway server's RFC 9728 metadata.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/mcp/{slug}", get(forward).post(forward).delete(forward))
        .route(
            "/.well-known/oauth-protected-resource/mcp/{slug}",
            get(metadata),
        )
}

fn gateway_server(state: &OAuthState, slug: &str) -> Option<Arc<Server>> {
    state
        .gateway
        .servers
        .get(slug)
        .filter(|s| s.mode == Mode::Gateway)
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(
            serde_json::json!({ "error": "not_found", "error_description": "no MCP server here" }),
        ),
    )
        .into_response()
}

/// `GET /.well-known/oauth-protected-resource/mcp/<slug>`.
async fn metadata(State(state): State<Arc<OAuthState>>, Path(slug): Path<String>) -> Response {
    match gateway_server(&state, &slug) {
        Some(server) => crate::mcp::resource_metadata(
            &state.services.issuer.issuer,
            &servers::gateway_resource(&state.services.issuer.issuer, &server.slug),
            &server.name,
            bearer::SCOPE,
        ),
        None => not_found(),
    }
}

/// A JSON-RPC error answer with this HTTP status.
fn rpc_error(status: StatusCode, id: Value, code: i64, message: &str) -> Response {
    let mut response = (status, axum::Json(jsonrpc::error(id, code, message))).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// What one forwarded request turned into, for the counts.
struct Outcome {
    response: Response,
    error: bool,
    /// A call of a tool the credential may not use, answered without the upstream.
    refused: bool,
}

/// `POST`, `GET` and `DELETE` on `/mcp/<slug>`.
async fn forward(
    State(state): State<Arc<OAuthState>>,
    Path(slug): Path<String>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let axum::http::request::Parts {
        method,
        uri,
        version,
        headers,
        extensions,
        ..
    } = parts;
    let unrecorded = extensions.get::<crate::telemetry::Unrecorded>();
    let Some(server) = gateway_server(&state, &slug) else {
        return not_found();
    };
    let issuer = &state.services.issuer.issuer;
    let audience = servers::gateway_resource(issuer, &server.slug);
    let metadata_url = format!(
        "{issuer}/.well-known/oauth-protected-resource/mcp/{}",
        server.slug
    );
    let resource = bearer::Resource {
        audience: &audience,
        metadata_url: &metadata_url,
        server_id: Some(server.id),
        scope: bearer::SCOPE,
    };
    let presented = bearer::Presented {
        method: &method,
        path: uri.path(),
        headers: &headers,
    };
    let caller = match bearer::authorize(&state, &presented, &resource).await {
        Ok(caller) => caller,
        Err(refusal) => {
            let answer = refusal.into_response(&metadata_url);
            return bearer::refuse_before_body(version, body, answer).await;
        }
    };
    let started = Instant::now();
    let refuse_with_id = |status: StatusCode, id: Value, code: i64, message: &str| {
        state
            .metrics
            .gateway_call(&server.slug, true, started.elapsed());
        state
            .gateway
            .usage
            .record(caller.credential_id, server.id, "", clavis::now(), true);
        rpc_error(status, id, code, message)
    };
    let refuse = |status: StatusCode, code: i64, message: &str| {
        refuse_with_id(status, Value::Null, code, message)
    };
    // Only what was read is forwarded: a POST's body once inspected, and no body at all
    // with a GET (a stream) or a DELETE (a session's end).
    let (body, inspection) = if method == Method::POST {
        // A client trickling its body gets the same time as any other request.
        let body = match tokio::time::timeout(
            crate::REQUEST_TIMEOUT,
            axum::body::to_bytes(body, state.gateway.body_limit()),
        )
        .await
        {
            Ok(Ok(bytes)) => bytes,
            Err(_) => {
                return refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    -32600,
                    "the request body did not arrive in time",
                );
            }
            Ok(Err(_)) => {
                let message = format!(
                    "the request body is larger than the {} bytes MCP server \"{}\" accepts through Clavis",
                    state.gateway.body_limit(),
                    server.name
                );
                return refuse(StatusCode::PAYLOAD_TOO_LARGE, -32600, &message);
            }
        };
        let inspection = match jsonrpc::inspect(&body) {
            Ok(inspection) => inspection,
            Err(refusal) => {
                return refuse(StatusCode::BAD_REQUEST, refusal.code(), refusal.message());
            }
        };
        let values = |name: &HeaderName| -> Vec<&[u8]> {
            headers
                .get_all(name)
                .iter()
                .map(HeaderValue::as_bytes)
                .collect()
        };
        let mirrors = jsonrpc::Mirrors {
            protocol_version: values(&PROTOCOL_VERSION),
            method: values(&MCP_METHOD),
            name: values(&MCP_NAME),
        };
        if let Err(message) = inspection.check_mirrors(&mirrors) {
            return refuse_with_id(
                StatusCode::BAD_REQUEST,
                inspection.error_id(),
                jsonrpc::HEADER_MISMATCH,
                &message,
            );
        }
        (body, inspection)
    } else {
        (Bytes::new(), Inspection::default())
    };
    let call = Call {
        method,
        headers: &headers,
        body,
        inspection: &inspection,
        unrecorded,
    };
    let outcome = send(&state, &server, &caller, call).await;
    state
        .metrics
        .gateway_call(&server.slug, outcome.error, started.elapsed());
    let now = clavis::now();
    if outcome.refused {
        // Under one name: the names a caller may not use are theirs to invent.
        state.gateway.usage.record(
            caller.credential_id,
            server.id,
            servers::REFUSED_TOOL,
            now,
            true,
        );
        return outcome.response;
    }
    let mut counted = false;
    for tool in inspection.counted_tools() {
        state
            .gateway
            .usage
            .record(caller.credential_id, server.id, tool, now, outcome.error);
        counted = true;
    }
    if !counted {
        state
            .gateway
            .usage
            .record(caller.credential_id, server.id, "", now, outcome.error);
    }
    outcome.response
}

/// A request to forward, as read and checked.
struct Call<'a> {
    method: Method,
    headers: &'a HeaderMap,
    body: Bytes,
    inspection: &'a Inspection,
    /// The trace context of a request not recorded ([`crate::telemetry`]).
    unrecorded: Option<&'a crate::telemetry::Unrecorded>,
}

async fn send(
    state: &OAuthState,
    server: &Server,
    caller: &bearer::Caller,
    call: Call<'_>,
) -> Outcome {
    let Call {
        method,
        headers,
        mut body,
        inspection,
        unrecorded,
    } = call;
    let id = inspection.error_id();
    let failed = |status: StatusCode, code: i64, message: String| Outcome {
        response: rpc_error(status, id.clone(), code, &message),
        error: true,
        refused: false,
    };
    if let Some(refused) = inspection.refused_call(&caller.allowed_tools) {
        let refused_id = refused.id.clone().unwrap_or(Value::Null);
        return Outcome {
            response: rpc_error(
                StatusCode::OK,
                if inspection.batch {
                    Value::Null
                } else {
                    refused_id
                },
                -32602,
                "tool not allowed for this credential",
            ),
            error: true,
            refused: true,
        };
    }
    // Counted once the call is one the credential may make, before the upstream is asked.
    if !caller.call_limits.is_empty() {
        let tools: Vec<&str> = inspection.counted_tools().collect();
        if let Err(limited) = state.gateway.limits.take(
            caller.credential_id,
            server.id,
            &tools,
            &caller.call_limits,
            clavis::now(),
        ) {
            state
                .metrics
                .gateway_limited(&server.slug, limited.tool.as_deref().unwrap_or("*"));
            let mut response = rpc_error(
                StatusCode::TOO_MANY_REQUESTS,
                id,
                jsonrpc::RATE_LIMITED,
                &limited.to_string(),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(limited.retry_after));
            return Outcome {
                response,
                error: true,
                refused: false,
            };
        }
    }
    let post = method == Method::POST;
    let mut request = match state.gateway.upstream_request(server, method.clone()) {
        Ok(request) => request,
        Err(unusable) => {
            return failed(StatusCode::BAD_GATEWAY, -32000, unusable.message(server));
        }
    };
    // Only a call that is made has a span (one refused above is the server span's 502).
    let span = upstream_span(server, &method, inspection);
    let traced = crate::telemetry::enabled();
    if post {
        // The body was read as UTF-8 JSON: say so, whatever charset the client named.
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    // The headers mirroring a body go only with the body they were checked against.
    let mirror = |name: &HeaderName| *name == MCP_METHOD || *name == MCP_NAME;
    // Traced, the upstream's parent is Clavis's span for this call, not the caller's.
    let trace = |name: &HeaderName| *name == TRACEPARENT || *name == TRACESTATE;
    for name in FORWARDED.iter().filter(|n| {
        if traced && trace(n) {
            false
        } else if post {
            **n != header::CONTENT_TYPE
        } else {
            !mirror(n)
        }
    }) {
        for value in headers.get_all(name) {
            request = request.header(name, value);
        }
    }
    if traced {
        let mut context = HeaderMap::new();
        crate::telemetry::inject(&span, unrecorded, headers, &mut context);
        // A modern request's own trace context in `_meta` names Clavis's span too when
        // Clavis continued that trace (the MCP conventions read it there first); every
        // other byte goes as it came.
        if let Some(traceparent) = context.get(TRACEPARENT).and_then(|v| v.to_str().ok())
            && let Some(replaced) = jsonrpc::replace_traceparent(&body, traceparent)
        {
            body = Bytes::from(replaced);
        }
        request = request.headers(context);
    }
    // Arguments a tool's schema mirrors: the upstream, which knows the schema, checks them.
    for (name, value) in headers.iter().filter(|_| post) {
        if name.as_str().starts_with(MCP_PARAM) {
            request = request.header(name, value);
        }
    }
    if let Ok(value) = HeaderValue::from_str(&caller.client_id) {
        request = request.header(CLIENT_ID, value);
    }
    if let Ok(value) = HeaderValue::from_str(&caller.scopes.to_string()) {
        request = request.header(SCOPE, value);
    }
    if let Some(value) = caller
        .person
        .as_deref()
        .and_then(|p| HeaderValue::from_str(p).ok())
    {
        request = request.header(SUBJECT, value);
    }
    if !body.is_empty() {
        request = request.body(body);
    }
    let asked = Instant::now();
    let answer = span
        .around(tokio::time::timeout(
            state.gateway.timeout(),
            request.send(),
        ))
        .await;
    if span.is_recorded() {
        span.record(
            "clavis.upstream.ttfb_ms",
            asked.elapsed().as_secs_f64() * 1000.0,
        );
        let error = match &answer {
            Ok(Ok(answer)) if answer.status().is_server_error() => {
                Some(answer.status().as_str().to_owned())
            }
            Ok(Ok(_)) => None,
            Ok(Err(_)) => Some("unreachable".to_owned()),
            Err(_) => Some("timeout".to_owned()),
        };
        if let Ok(Ok(answer)) = &answer {
            span.record(
                "http.response.status_code",
                i64::from(answer.status().as_u16()),
            );
        }
        if error.is_some() {
            span.fail(error);
        }
    }
    drop(span);
    let answer = match answer {
        Err(_) => {
            return failed(
                StatusCode::GATEWAY_TIMEOUT,
                -32001,
                format!("MCP server \"{}\" did not answer in time", server.name),
            );
        }
        Ok(Err(e)) => {
            tracing::warn!(server = %server.slug, error = %without_url(&e), "upstream request failed");
            return failed(
                StatusCode::BAD_GATEWAY,
                -32000,
                format!("MCP server \"{}\" is unreachable", server.name),
            );
        }
        Ok(Ok(answer)) => answer,
    };
    let status = answer.status();
    if matches!(status.as_u16(), 401 | 403) {
        tracing::warn!(server = %server.slug, status = status.as_u16(), "upstream refused the gateway's request");
        return failed(
            StatusCode::BAD_GATEWAY,
            -32000,
            format!(
                "MCP server \"{}\" refused Clavis's request ({status}): check its upstream header",
                server.name
            ),
        );
    }
    let status = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let session = answer.headers().get(&SESSION_ID).cloned();
    let restricted = caller.allowed_tools.is_limited();
    let is_sse = content_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    // A restricted credential's streams are narrowed event by event, whatever they
    // answer (a GET may replay a tools/list answer after Last-Event-ID); a JSON answer
    // is read whole only when the request asked for tools/list.
    let body = if !restricted || (!is_sse && !inspection.lists_tools()) {
        Body::from_stream(answer.bytes_stream())
    } else if is_sse {
        let narrower = jsonrpc::SseNarrower::new(caller.allowed_tools.clone());
        let upstream = answer.bytes_stream();
        Body::from_stream(futures_util::stream::unfold(
            Some((narrower, upstream)),
            |state| async move {
                let (mut narrower, mut upstream) = state?;
                loop {
                    match upstream.next().await {
                        Some(Ok(chunk)) => {
                            let ready = narrower.push(&chunk);
                            if !ready.is_empty() {
                                return Some((Ok(Bytes::from(ready)), Some((narrower, upstream))));
                            }
                        }
                        Some(Err(e)) => return Some((Err(e), None)),
                        None => {
                            let rest = narrower.finish();
                            return (!rest.is_empty()).then(|| (Ok(Bytes::from(rest)), None));
                        }
                    }
                }
            },
        ))
    } else {
        match read_limited(answer, TOOLS_LIST_LIMIT).await {
            Some(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(mut value) => {
                    jsonrpc::narrow_tools(&mut value, &caller.allowed_tools);
                    Body::from(value.to_string())
                }
                Err(_) => Body::from(bytes),
            },
            None => {
                return failed(
                    StatusCode::BAD_GATEWAY,
                    -32000,
                    format!(
                        "MCP server \"{}\" sent an unreadable tool list",
                        server.name
                    ),
                );
            }
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Some(value) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    if let Some(value) = session {
        response.headers_mut().insert(SESSION_ID, value);
    }
    Outcome {
        response,
        error: status.is_client_error() || status.is_server_error(),
        refused: false,
    }
}

/// The span of one call to an upstream (a client span, OpenTelemetry's MCP conventions):
/// named after the MCP method and tool (`tools/call deploy`), with the server's slug;
/// the upstream's status and time to its answer's headers are recorded when it answers.
/// Method and tool names are the caller's words: one that is not a plain name of at most
/// [`NAME_MAX`] characters is recorded as `_OTHER`.
fn upstream_span(server: &Server, method: &Method, inspection: &Inspection) -> Span {
    Span::child(SpanKind::Client, || {
        let single = match inspection.messages.as_slice() {
            [one] if !inspection.batch => Some(one),
            _ => None,
        };
        let mcp_method = single.and_then(|m| m.method.as_deref()).map(plain_name);
        let tool = single.and_then(|m| m.tool.as_deref()).map(plain_name);
        let name = match (mcp_method, tool, inspection.batch) {
            (Some(m), Some(t), _) => format!("{m} {t}"),
            (Some(m), None, _) => m.to_owned(),
            (None, _, true) => "batch".to_owned(),
            (None, _, false) => method.to_string(),
        };
        let mut attributes = vec![
            KeyValue::new("clavis.gateway.server", server.slug.clone()),
            KeyValue::new("http.request.method", method.to_string()),
        ];
        if let Some(mcp_method) = mcp_method {
            attributes.push(KeyValue::new("mcp.method.name", mcp_method.to_owned()));
        }
        if let Some(tool) = tool {
            attributes.push(KeyValue::new("gen_ai.tool.name", tool.to_owned()));
            attributes.push(KeyValue::new("gen_ai.operation.name", "execute_tool"));
        }
        (name.into(), attributes)
    })
}

/// The longest method or tool name a span records (MCP's tool names are 1 to 128).
const NAME_MAX: usize = 128;

/// `name` if it is a plain name (letters, digits, `_-./`, at most [`NAME_MAX`]), else
/// `_OTHER`: a span holds no text a caller made up at length.
fn plain_name(name: &str) -> &str {
    let plain = (1..=NAME_MAX).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./".contains(&b));
    if plain { name } else { "_OTHER" }
}

/// A reqwest error without the URL it carries (the upstream's address stays in Clavis).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "<upstream>");
    }
    text
}
