//! Middleware around every request: access logs without secrets, security headers,
//! the same-origin check for browser writes, and HTTP statuses for server-function errors.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use app::UiError;
use axum::{
    body::{Body, Bytes, to_bytes},
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use futures_util::StreamExt as _;
use opentelemetry::KeyValue;

use crate::{bearer, config::Config, oauth::OAuthState, telemetry};

/// Requests slower than this are logged at `info` (a sign of trouble worth seeing at the
/// default level); others at `debug`.
const SLOW_REQUEST: Duration = Duration::from_secs(1);

/// The access log, the latency histogram by route, and the request's span.
///
/// One log line per request at `debug` (`info` if slower than [`SLOW_REQUEST`], `warn`
/// for a 5xx), so the default `info` level writes no request line for ordinary traffic
/// (handlers log events of their own, such as a failed client authentication). The line
/// names the route's template (`/invite/{token}`), never the path: paths carry secrets
/// (invitation tokens), and never the query string, headers or body. Paths no route
/// claims (static files, 404) are `other`.
///
/// With traces on ([`crate::telemetry`]), the request continues the caller's trace (its
/// `traceparent` header, or for a modern MCP `POST` without one, the
/// `params._meta.traceparent` of the 2026-07-28 revision: [`mcp_trace_parent`]) and is
/// sampled; a recorded one is a server span named after its method and route
/// ([`request_span`]), one not recorded builds no span and carries the context it
/// hands on ([`telemetry::Unrecorded`]).
pub async fn log_requests(
    State(oauth): State<Arc<OAuthState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("other", MatchedPath::as_str);
    let span = if telemetry::enabled() {
        let mut parent = telemetry::remote_parent(&telemetry::headers(request.headers()));
        let modern_mcp_post = method == Method::POST
            && matches!(route, "/mcp" | "/mcp/{slug}")
            && request.headers().contains_key("mcp-method");
        if parent.is_none() && modern_mcp_post {
            (request, parent) = mcp_trace_parent(request).await;
        }
        if telemetry::sampled(parent.as_ref()) {
            request_span(&method, matched.as_ref(), request.version(), parent)
        } else {
            let unrecorded = telemetry::Unrecorded::new(parent.as_ref());
            request.extensions_mut().insert(unrecorded);
            telemetry::Span::none()
        }
    } else {
        telemetry::Span::none()
    };
    let route = route.to_owned();
    let started = Instant::now();
    let response = span.around(next.run(request)).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.record("http.response.status_code", i64::from(status));
    if status >= 500 && span.is_recorded() {
        span.fail(Some(status.to_string()));
    }
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    // The log line carries the request's trace id.
    let _current = span.enter();
    if status >= 500 {
        tracing::warn!(%method, %route, status, micros, "request");
    } else if elapsed > SLOW_REQUEST {
        tracing::info!(%method, %route, status, micros, "slow request");
    } else {
        tracing::debug!(%method, %route, status, micros, "request");
    }
    oauth.metrics.observe(route, elapsed);
    response
}

/// A request's server span (OpenTelemetry's HTTP conventions), continuing the caller's
/// trace `parent` if any.
fn request_span(
    method: &Method,
    route: Option<&MatchedPath>,
    version: Version,
    parent: Option<opentelemetry::Context>,
) -> telemetry::Span {
    let known = known_method(method);
    let name: std::borrow::Cow<'static, str> = match (known, route) {
        (Some(method), Some(route)) => format!("{method} {}", route.as_str()).into(),
        (Some(method), None) => method.into(),
        (None, _) => "HTTP".into(),
    };
    let mut attributes = vec![
        KeyValue::new("http.request.method", known.unwrap_or("_OTHER")),
        KeyValue::new("network.protocol.version", protocol_version(version)),
    ];
    if let Some(route) = route {
        attributes.push(KeyValue::new("http.route", route.as_str().to_owned()));
    }
    telemetry::Span::server(name, attributes, parent)
}

fn protocol_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// The method's name if HTTP defines it (a client may send any token as its method).
fn known_method(method: &Method) -> Option<&'static str> {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    KNOWN.into_iter().find(|known| *known == method.as_str())
}

/// The trace a modern MCP request names in `params._meta` (`traceparent`,
/// `tracestate`), reading its body ahead of the handler, which gets the same bytes: as
/// much and as long as a refused request's body is drained in any case
/// ([`crate::bearer::DRAIN_LIMIT`], [`crate::bearer::DRAIN_TIME`]). A body larger or
/// slower, or not a JSON-RPC request object, goes on as it came, its `_meta` unread
/// (the handler's own limits apply). (The 2026-07-28 revision has no batches.)
async fn mcp_trace_parent(request: Request) -> (Request, Option<opentelemetry::Context>) {
    let (parts, body) = request.into_parts();
    let (whole, body) = read_ahead(body, bearer::DRAIN_LIMIT, bearer::DRAIN_TIME).await;
    let parent = whole
        .as_deref()
        .and_then(clavis::jsonrpc::trace_context)
        .and_then(|meta| {
            telemetry::remote_parent(&telemetry::Meta {
                traceparent: &meta.traceparent,
                tracestate: meta.tracestate.as_deref(),
            })
        });
    (Request::from_parts(parts, body), parent)
}

/// Reads `body` ahead: its bytes if all of them (at most `limit`) arrive within `time`,
/// and a body that yields exactly what `body` would have, whatever was read.
async fn read_ahead(body: Body, limit: usize, time: Duration) -> (Option<Bytes>, Body) {
    let mut stream = body.into_data_stream();
    let mut read = Vec::new();
    let deadline = tokio::time::Instant::now() + time;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(None) => {
                let whole = Bytes::from(read);
                return (Some(whole.clone()), Body::from(whole));
            }
            Ok(Some(Ok(chunk))) => {
                read.extend_from_slice(&chunk);
                if read.len() > limit {
                    break;
                }
            }
            Ok(Some(Err(e))) => {
                let failed = futures_util::stream::iter([Ok(Bytes::from(read)), Err(e)]);
                return (None, Body::from_stream(failed));
            }
            Err(_) => break,
        }
    }
    let first = futures_util::stream::once(std::future::ready(Ok(Bytes::from(read))));
    (None, Body::from_stream(first.chain(stream)))
}

/// Establishes the client's address once per request (the peer, or behind a trusted
/// proxy the right-most untrusted `X-Forwarded-For` hop) for the throttles to key on.
pub async fn client_address(
    State(config): State<Arc<Config>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(
            std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            |info| info.0.ip(),
        );
    let address = if config.trusted_proxies.is_empty() {
        peer
    } else {
        let forwarded: Vec<&str> = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        clavis::throttle::client_address(peer, &forwarded, &config.trusted_proxies)
    };
    request
        .extensions_mut()
        .insert(clavis::throttle::ClientAddress(address));
    next.run(request).await
}

/// Headers every response carries. Pages set their own nonce-based CSP; anything else
/// gets a policy that allows nothing to run or frame it. Server-function answers
/// (`/api/…`, one of which carries a new secret) are never stored by a cache, and under
/// an https issuer browsers are told to use nothing else (HSTS).
pub async fn security_headers(
    State(config): State<Arc<Config>>,
    request: Request,
    next: Next,
) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if config.is_https() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    response
}

/// Pages that redirect (a signed-out visit to a signed-in page, say) answer `303 See
/// Other` with an empty body. Leptos sets `Location` on a rendered page but keeps `200`
/// unless the request's `Accept` names `text/html`, so curl, other HTTP clients and
/// anything without JavaScript saw a blank page. Server-function calls (`/api/…`) keep
/// Leptos's own redirect protocol.
pub async fn page_redirects(request: Request, next: Next) -> Response {
    let page = matches!(*request.method(), Method::GET | Method::HEAD)
        && !request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    if page
        && (response.status().is_success() || response.status() == StatusCode::FOUND)
        && let Some(location) = response.headers().get(header::LOCATION).cloned()
    {
        let mut redirect = StatusCode::SEE_OTHER.into_response();
        let headers = redirect.headers_mut();
        headers.insert(header::LOCATION, location);
        for name in [header::SET_COOKIE, header::CACHE_CONTROL] {
            for value in response.headers().get_all(&name) {
                headers.append(name.clone(), value.clone());
            }
        }
        response = redirect;
    }
    response
}

/// Paths called by programs with their own authentication (client credentials, Bearer
/// tokens), never by the browser with a cookie: not subject to the origin check.
fn is_programmatic(path: &str) -> bool {
    path == "/mcp" || path.starts_with("/mcp/")
}

/// Cross-site request forgery protection: a state-changing browser request must come
/// from the issuer's origin, by its `Origin` header or, without one, its `Referer`.
pub async fn same_origin(
    State(config): State<Arc<Config>>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe
        || is_programmatic(request.uri().path())
        || from_origin(request.headers(), &config.issuer_origin)
    {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("other", MatchedPath::as_str);
    tracing::warn!(%route, "cross-origin request refused");
    ui_error_response(&UiError::Forbidden)
}

fn from_origin(headers: &HeaderMap, origin: &str) -> bool {
    if let Some(sent) = headers.get(header::ORIGIN) {
        return sent.as_bytes() == origin.as_bytes();
    }
    headers
        .get(header::REFERER)
        .and_then(|referer| referer.to_str().ok())
        .and_then(|referer| url::Url::parse(referer).ok())
        .is_some_and(|url| url.origin().ascii_serialization() == origin)
}

/// Server functions answer every error with 500; this gives each [`UiError`] its own
/// status (400 for a malformed form, 401 signed out, 429 throttled, …), so only real
/// server faults are 5xx.
pub async fn server_fn_status(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key("serverfnerror")
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, 64 * 1024).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Ok(error) = serde_json::from_slice::<UiError>(&bytes) {
        parts.status = status_of(&error);
        if let Some(secs) = error.retry_after() {
            parts
                .headers
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The HTTP status of a [`UiError`].
pub fn status_of(error: &UiError) -> StatusCode {
    StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A [`UiError`] as a server-function client expects it: its status and JSON body.
pub fn ui_error_response(error: &UiError) -> Response {
    let status = status_of(error);
    let body = serde_json::to_vec(error).unwrap_or_default();
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Some(secs) = error.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// With nonces demanded (`--dpop-nonce`): every answer to a request that carried a proof
/// gets the current nonce (RFC 9449 §8.2), so clients move to a new one before theirs
/// goes stale, whatever the endpoint.
pub async fn offer_dpop_nonce(
    State(state): State<Arc<OAuthState>>,
    request: Request,
    next: Next,
) -> Response {
    let sent_proof = request.headers().contains_key(crate::dpop::PROOF);
    let mut response = next.run(request).await;
    if sent_proof
        && let Some(nonce) = state.dpop.nonce(clavis::now())
        && let Ok(value) = HeaderValue::from_str(&nonce)
    {
        response.headers_mut().insert(crate::dpop::NONCE, value);
    }
    response
}
