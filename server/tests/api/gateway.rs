//! The gateway (SPEC §10): a real rmcp MCP server started by each test as the upstream,
//! reached through `<issuer>/mcp/<slug>` with the rmcp client and hand-built requests.
//! The upstream records every request it sees, so tests assert what was (and was not)
//! forwarded by what arrived there.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{body::Bytes, http::HeaderMap};
use futures_util::StreamExt as _;
use reqwest::StatusCode;
use rmcp::{
    ErrorData, ServerHandler, ServiceExt,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{CallToolRequestParams, ProgressNotificationParam, RequestMetaObject},
    schemars::JsonSchema,
    tool, tool_handler, tool_router,
    transport::{
        StreamableHttpClientTransport,
        streamable_http_client::StreamableHttpClientTransportConfig,
        streamable_http_server::{
            StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
        },
    },
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::helpers::{TestApp, send, unique_email};

/// The upstream's tools.
#[derive(Clone)]
struct Tools {
    tool_router: ToolRouter<Self>,
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct EchoArgs {
    text: String,
}

#[tool_router]
impl Tools {
    fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Echoes its text.")]
    async fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> String {
        args.text
    }

    #[tool(description = "A tool some credentials may not call.")]
    async fn secret(&self) -> String {
        "the secret tool ran".into()
    }

    #[tool(description = "Three progress notifications 400 ms apart, then done.")]
    async fn ticks(
        &self,
        meta: RequestMetaObject,
        peer: rmcp::Peer<rmcp::RoleServer>,
    ) -> Result<String, ErrorData> {
        let token = meta
            .get_progress_token()
            .ok_or_else(|| ErrorData::invalid_params("send a progress token", None))?;
        for step in 1..=3 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            let _ = peer
                .notify_progress(ProgressNotificationParam::new(
                    token.clone(),
                    f64::from(step),
                ))
                .await;
        }
        Ok("ticked".into())
    }
}

#[tool_handler(router = self.tool_router, name = "upstream")]
impl ServerHandler for Tools {}

/// An upstream MCP server on a random port: rmcp's Streamable HTTP transport with
/// sessions and SSE answers, behind a layer that records each request's headers and body.
pub(crate) struct Upstream {
    pub(crate) url: String,
    pub(crate) seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub(crate) async fn start() -> Self {
        let seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
        let service = StreamableHttpService::new(
            || Ok(Tools::new()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default().with_sse_keep_alive(None),
        );
        let record = seen.clone();
        let router =
            axum::Router::new()
                .route_service("/mcp", service)
                .layer(axum::middleware::from_fn(
                    move |request: axum::extract::Request, next: axum::middleware::Next| {
                        let record = record.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                            record
                                .lock()
                                .unwrap()
                                .push((parts.headers.clone(), bytes.clone()));
                            next.run(axum::extract::Request::from_parts(parts, bytes.into()))
                                .await
                        }
                    },
                ));
        let (url, server) = serve_at_mcp(router).await;
        Self {
            url,
            seen,
            _server: server,
        }
    }

    pub(crate) fn bodies(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| String::from_utf8_lossy(body).into_owned())
            .collect()
    }
}

/// Serves `router` on a random loopback port; its `/mcp` URL and the serving task.
pub(crate) async fn serve_at_mcp(router: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (url, server)
}

/// An app whose first account (the administrator) registered `slug` in front of
/// `upstream_url`, with an upstream header, open to everyone signed in; returns the
/// app and the admin's cookie.
pub(crate) async fn gateway(args: &[&str], slug: &str, upstream_url: &str) -> (TestApp, String) {
    let app = TestApp::spawn_with(args).await;
    let admin = app.sign_up(&unique_email()).await;
    let added = app
        .call(
            "servers/add",
            &[
                ("name", "Docs search"),
                ("slug", slug),
                ("mode", "gateway"),
                ("upstream_url", upstream_url),
                ("header_name", "X-Api-Key"),
                ("header_value", "upstream-key-123"),
                ("access", "everyone"),
            ],
            Some(&admin),
        )
        .await;
    assert!(
        added.status().is_success(),
        "{}",
        added.text().await.unwrap()
    );
    (app, admin)
}

/// The `docs` gateway in front of an upstream (see [`gateway`]) with a token of the
/// administrator's credential for it.
pub(crate) struct Docs {
    app: TestApp,
    /// The administrator's cookie.
    admin: String,
    id: String,
    token: String,
}

/// [`Docs`]: `args` for the server, the upstream at `upstream_url`, the credential
/// limited to `tools` ("": every tool).
async fn docs(args: &[&str], upstream_url: &str, tools: &str) -> Docs {
    let (app, admin) = gateway(args, "docs", upstream_url).await;
    let (id, secret) = app.credential_with(&admin, &["docs"], tools).await;
    let token = app.gateway_token(&id, &secret, "docs").await;
    Docs {
        app,
        admin,
        id,
        token,
    }
}

impl TestApp {
    /// A credential of this cookie's person granted `servers` (`@builtin` or slugs).
    pub(crate) async fn credential_with(
        &self,
        cookie: &str,
        servers: &[&str],
        allowed_tools: &str,
    ) -> (String, String) {
        let mut form = vec![
            ("name", "gateway client".to_owned()),
            ("expires", "never".to_owned()),
            ("mcp", "on".to_owned()),
            ("allowed_tools", allowed_tools.to_owned()),
        ];
        let keys: Vec<String> = (0..servers.len())
            .map(|i| format!("servers[{i}]"))
            .collect();
        for (key, server) in keys.iter().zip(servers) {
            form.push((key.as_str(), (*server).to_owned()));
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = self.call("credentials/create", &form, Some(cookie)).await;
        let created: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        (
            created["client_id"].as_str().expect("created").to_owned(),
            created["client_secret"].as_str().unwrap().to_owned(),
        )
    }

    /// The gateway calls counted for a credential, flushed first: (server, tool, calls,
    /// errors) per row.
    pub(crate) async fn gateway_usage(&self, client_id: &str) -> Vec<(String, String, i64, i64)> {
        let pool = &self.state.oauth.services.pool;
        self.state.oauth.gateway.usage.flush(pool).await.unwrap();
        let credential = clavis::store::credential_by_client_id(pool, client_id)
            .await
            .unwrap()
            .unwrap();
        clavis::store::gateway_usage_for(pool, credential.id)
            .await
            .unwrap()
    }

    pub(crate) fn gateway_url(&self, slug: &str) -> String {
        self.url(&format!("/mcp/{slug}"))
    }

    pub(crate) async fn gateway_token(&self, id: &str, secret: &str, slug: &str) -> String {
        self.access_token(
            id,
            secret,
            &format!(
                "grant_type=client_credentials&resource={}",
                self.gateway_url(slug)
            ),
        )
        .await
    }
}

pub(crate) async fn rmcp_client(
    url: &str,
    token: &str,
) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(token),
    );
    ().serve(transport).await.unwrap()
}

fn initialize() -> Value {
    json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": { "name": "test", "version": "1" } } })
}

/// Opens an MCP session at the `docs` gateway (initialize, then initialized, accepted);
/// returns its id.
async fn session(app: &TestApp, token: &str) -> String {
    let init = post(app, "docs", token, &initialize())
        .send()
        .await
        .unwrap();
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    drop(init.bytes().await);
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let ack = post(app, "docs", token, &initialized)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), StatusCode::ACCEPTED);
    session
}

/// A POST to the gateway with a Bearer token and these extra headers.
fn post(app: &TestApp, slug: &str, token: &str, body: &Value) -> reqwest::RequestBuilder {
    app.client
        .post(app.gateway_url(slug))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(body.to_string())
}

#[tokio::test]
async fn the_rmcp_client_lists_and_calls_upstream_tools_through_the_gateway() {
    let upstream = Upstream::start().await;
    let (app, admin) = gateway(&[], "docs", &upstream.url).await;
    let (id, secret) = app.credential_with(&admin, &["docs"], "").await;
    // The only server granted: a token request without `resource` is for it.
    let token = app
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let claims = jsonwebtoken::dangerous::insecure_decode::<clavis::tokens::Claims>(&token)
        .unwrap()
        .claims;
    assert_eq!(claims.aud, app.gateway_url("docs"));

    let client = rmcp_client(&app.gateway_url("docs"), &token).await;
    assert_eq!(
        client
            .peer_info()
            .unwrap()
            .server_info
            .as_ref()
            .unwrap()
            .name,
        "upstream"
    );
    let mut tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    tools.sort();
    assert_eq!(tools, ["echo", "secret", "ticks"]);
    let result = client
        .call_tool(
            CallToolRequestParams::new("echo").with_arguments(
                json!({ "text": "through the gateway" })
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        result.content[0].as_text().unwrap().text,
        "through the gateway"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn only_the_listed_headers_reach_the_upstream_and_clavis_sets_its_own() {
    let upstream = Upstream::start().await;
    let Docs { app, id, token, .. } = docs(&[], &upstream.url, "").await;

    let response = post(&app, "docs", &token, &initialize())
        .header("cookie", "clavis_session=stolen")
        .header("x-clavis-client-id", "clv_forged000000000000000000")
        .header("x-clavis-scope", "mcp introspect")
        .header("x-other", "not forwarded")
        .header("last-event-id", "41")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("mcp-session-id"));
    let (headers, _) = upstream.seen.lock().unwrap()[0].clone();
    for absent in ["authorization", "cookie", "x-other"] {
        assert!(
            !headers.contains_key(absent),
            "{absent} reached the upstream"
        );
    }
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(values("x-clavis-client-id"), [id.as_str()]);
    assert_eq!(values("x-clavis-scope"), ["mcp"]);
    assert_eq!(values("x-api-key"), ["upstream-key-123"]);
    assert_eq!(values("content-type"), ["application/json"]);
    assert_eq!(values("accept"), ["application/json, text/event-stream"]);
    assert_eq!(values("mcp-protocol-version"), ["2025-06-18"]);
    assert_eq!(values("last-event-id"), ["41"]);
    // The header value is stored sealed: not in the database in clear.
    assert!(!app.stored_contains(b"upstream-key-123").await);
    assert!(
        app.stored_contains(b"X-Api-Key").await,
        "the check can fail"
    );
}

#[tokio::test]
async fn sessions_pass_through_unchanged_and_delete_ends_them() {
    let upstream = Upstream::start().await;
    let Docs { app, token, .. } = docs(&[], &upstream.url, "").await;

    let session = session(&app, &token).await;
    // The upstream saw the very id it issued.
    let seen = upstream.seen.lock().unwrap().last().unwrap().0.clone();
    assert_eq!(seen["mcp-session-id"], session.as_str());

    let delete = app
        .client
        .delete(app.gateway_url("docs"))
        .header("authorization", format!("Bearer {token}"))
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert!(delete.status().is_success(), "{}", delete.status());
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });
    let gone = post(&app, "docs", &token, &list)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        gone.status(),
        StatusCode::NOT_FOUND,
        "the upstream's answer for an ended session"
    );
}

#[tokio::test]
async fn sse_events_reach_the_client_as_the_upstream_sends_them() {
    let upstream = Upstream::start().await;
    let Docs { app, token, .. } = docs(&[], &upstream.url, "").await;
    let session = session(&app, &token).await;

    let call = json!({ "jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": { "name": "ticks", "arguments": {}, "_meta": { "progressToken": "p" } } });
    let started = Instant::now();
    let response = post(&app, "docs", &token, &call)
        .header("mcp-session-id", &session)
        // Streams are never compressed (a compressor would hold the events back).
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert!(!response.headers().contains_key("content-encoding"));
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let mut progress_at = Vec::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while progress_at.len() < text.matches("notifications/progress").count() {
            progress_at.push(started.elapsed());
        }
        if text.contains("ticked") {
            break;
        }
    }

    assert_eq!(progress_at.len(), 3, "{text}");
    // Sent at about 0.4, 0.8 and 1.2 s: the first arrives long before the last is sent,
    // and they arrive spread out, not in one buffered burst.
    assert!(
        progress_at[0] < Duration::from_millis(1000),
        "{progress_at:?}"
    );
    assert!(
        progress_at[2] - progress_at[0] >= Duration::from_millis(600),
        "{progress_at:?}"
    );
}

#[tokio::test]
async fn allowed_tools_narrow_the_list_and_refuse_other_calls_without_the_upstream() {
    let upstream = Upstream::start().await;
    let Docs { app, token, .. } = docs(&[], &upstream.url, "echo, ticks").await;

    let client = rmcp_client(&app.gateway_url("docs"), &token).await;
    let mut tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    tools.sort();
    assert_eq!(tools, ["echo", "ticks"]);
    let refused = client
        .call_tool(CallToolRequestParams::new("secret"))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("tool not allowed"),
        "{refused}"
    );
    client.cancel().await.unwrap();

    // And over plain HTTP: -32602 with the request's id.
    let call = json!({ "jsonrpc": "2.0", "id": 77, "method": "tools/call",
        "params": { "name": "secret", "arguments": {} } });
    let (status, _, body) = send(post(&app, "docs", &token, &call)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], 77);
    assert_eq!(body["error"]["code"], -32602);
    assert!(
        upstream.bodies().iter().all(|b| !b.contains("\"secret\"")),
        "the upstream never saw a call of the refused tool"
    );
}

#[tokio::test]
async fn a_dead_upstream_is_502_naming_the_server_not_its_address() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dead = format!("http://127.0.0.1:{port}/mcp");
    let Docs { app, token, .. } = docs(&[], &dead, "").await;

    let (status, _, body) = send(post(&app, "docs", &token, &initialize())).await;

    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["id"], 1);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Docs search"), "{message}");
    assert!(!body.to_string().contains(&port.to_string()), "{body}");
}

#[tokio::test]
async fn a_stalled_upstream_is_504_after_the_configured_time() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stalled = format!("http://{}/mcp", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            open.push(socket);
        }
    });
    let Docs { app, token, .. } = docs(&["--gateway-timeout", "1"], &stalled, "").await;

    let started = Instant::now();
    let (status, _, body) = send(post(&app, "docs", &token, &initialize())).await;

    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(body["id"], 1);
    assert!(started.elapsed() < Duration::from_secs(5));
    held.abort();
}

#[tokio::test]
async fn the_upstreams_own_401_is_a_502_without_its_challenge() {
    let refusing = axum::Router::new().route(
        "/mcp",
        axum::routing::post(|| async {
            (
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", "Bearer realm=\"upstream\"")],
                "no",
            )
        }),
    );
    let (url, _server) = serve_at_mcp(refusing).await;
    let Docs { app, token, .. } = docs(&[], &url, "").await;

    let (status, headers, body) = send(post(&app, "docs", &token, &initialize())).await;

    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(!headers.contains_key("www-authenticate"));
    assert_eq!(body["error"]["code"], -32000);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let upstream = Upstream::start().await;
    let Docs { app, token, .. } = docs(&["--gateway-body-limit", "2048"], &upstream.url, "").await;
    let big = json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": { "name": "echo", "arguments": { "text": "x".repeat(4096) } } });

    let (status, _, body) = send(post(&app, "docs", &token, &big)).await;

    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], -32600);
    assert!(upstream.seen.lock().unwrap().is_empty());
    // Bodies over the dashboard's 64 KiB but under the default 4 MiB pass.
    let Docs { app, token, .. } = docs(&[], &upstream.url, "").await;
    let large = json!({ "jsonrpc": "2.0", "id": 4, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "x".repeat(200_000), "version": "1" } } });
    let response = post(&app, "docs", &token, &large).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn tokens_for_another_resource_revoked_ones_and_removed_servers_are_refused() {
    let upstream = Upstream::start().await;
    let (app, admin) = gateway(&[], "docs", &upstream.url).await;
    let (id, secret) = app.credential_with(&admin, &["@builtin", "docs"], "").await;
    let for_builtin = app
        .access_token(&id, &secret, "grant_type=client_credentials")
        .await;
    let for_docs = app.gateway_token(&id, &secret, "docs").await;
    let metadata = app.url("/.well-known/oauth-protected-resource/mcp/docs");

    // Without a token: the challenge names this server's metadata, which names it.
    let response = app
        .client
        .post(app.gateway_url("docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!("Bearer resource_metadata=\"{metadata}\", DPoP resource_metadata=\"{metadata}\", algs=\"EdDSA ES256 RS256 PS256\"").as_str()
    );
    let (status, _, document) = send(app.client.get(&metadata)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["resource"], app.gateway_url("docs"));
    assert_eq!(document["authorization_servers"], json!([app.base]));
    assert_eq!(document["scopes_supported"], json!(["mcp"]));

    // A token for /mcp is not one for /mcp/docs, nor the reverse.
    let (status, headers, _) = send(post(&app, "docs", &for_builtin, &initialize())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let wrong_way = app
        .client
        .post(app.url("/mcp"))
        .header("authorization", format!("Bearer {for_docs}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(initialize().to_string());
    assert_eq!(send(wrong_way).await.0, StatusCode::UNAUTHORIZED);

    // A credential not granted the server gets no token for it.
    let (other_id, other_secret) = app.credential_with(&admin, &["@builtin"], "").await;
    let (status, _, body) = app
        .token(
            &other_id,
            &other_secret,
            &format!(
                "grant_type=client_credentials&resource={}",
                app.gateway_url("docs")
            ),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );

    // Removing the server stops its tokens at once.
    assert_eq!(
        send(post(&app, "docs", &for_docs, &initialize())).await.0,
        StatusCode::OK
    );
    let removed = app
        .call("servers/remove", &[("slug", "docs")], Some(&admin))
        .await;
    assert!(removed.status().is_success());
    assert_eq!(
        send(post(&app, "docs", &for_docs, &initialize())).await.0,
        StatusCode::NOT_FOUND
    );
    // …even if a server with the same slug is registered again: the grant went with it.
    let again = app
        .call(
            "servers/add",
            &[
                ("name", "Docs again"),
                ("slug", "docs"),
                ("mode", "gateway"),
                ("upstream_url", &upstream.url),
            ],
            Some(&admin),
        )
        .await;
    assert!(again.status().is_success());
    let (status, _, _) = send(post(&app, "docs", &for_docs, &initialize())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Revoking the credential stops its gateway tokens at once.
    let (id, secret) = app.credential_with(&admin, &["docs"], "").await;
    let token = app.gateway_token(&id, &secret, "docs").await;
    assert_eq!(
        send(post(&app, "docs", &token, &initialize())).await.0,
        StatusCode::OK
    );
    app.call("credentials/revoke", &[("client_id", &id)], Some(&admin))
        .await;
    assert_eq!(
        send(post(&app, "docs", &token, &initialize())).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn only_administrators_register_or_remove_servers() {
    let upstream = Upstream::start().await;
    let (app, _admin) = gateway(&[], "docs", &upstream.url).await;
    let person = app.sign_up(&unique_email()).await;

    let add = app
        .call(
            "servers/add",
            &[
                ("name", "Mine"),
                ("slug", "mine"),
                ("mode", "gateway"),
                ("upstream_url", "http://127.0.0.1:9/mcp"),
            ],
            Some(&person),
        )
        .await;
    let remove = app
        .call("servers/remove", &[("slug", "docs")], Some(&person))
        .await;

    assert_eq!(add.status(), StatusCode::FORBIDDEN);
    assert_eq!(remove.status(), StatusCode::FORBIDDEN);
    let list: Value = serde_json::from_slice(
        &app.call("servers/list", &[], Some(&person))
            .await
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(list["is_admin"], false);
    let slugs: Vec<&str> = list["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["docs"], "nothing added, nothing removed");
    assert!(
        list["servers"][0]["upstream_url"].is_null(),
        "upstream URLs are for administrators"
    );
    // The page shows no Add server to them, and the rows no Remove.
    let page = app
        .get("/servers", Some(&person))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("data-testid=\"server-row\"")
            && !page.contains("Add server")
            && !page.contains(">Remove<"),
        "{page}"
    );
}

#[tokio::test]
async fn calls_are_counted_per_tool_and_day_and_in_metrics() {
    let upstream = Upstream::start().await;
    let Docs { app, id, token, .. } = docs(&[], &upstream.url, "echo").await;
    let client = rmcp_client(&app.gateway_url("docs"), &token).await;
    for _ in 0..3 {
        client
            .call_tool(
                CallToolRequestParams::new("echo")
                    .with_arguments(json!({ "text": "x" }).as_object().unwrap().clone()),
            )
            .await
            .unwrap();
    }
    let _ = client.call_tool(CallToolRequestParams::new("secret")).await;
    client.cancel().await.unwrap();

    let usage = app.gateway_usage(&id).await;
    let echo = usage.iter().find(|(_, tool, _, _)| tool == "echo").unwrap();
    assert_eq!((echo.2, echo.3), (3, 0));
    // Refused calls are counted under one name: their names are the caller's to invent.
    let refused = usage
        .iter()
        .find(|(_, tool, _, _)| tool == clavis::servers::REFUSED_TOOL)
        .unwrap();
    assert_eq!((refused.2, refused.3), (1, 1));
    assert!(usage.iter().all(|(_, tool, _, _)| tool != "secret"));
    assert!(
        usage
            .iter()
            .any(|(server, tool, calls, _)| server == "Docs search"
                && tool.is_empty()
                && *calls >= 2)
    );
    // One row per (credential, server, tool, day), whatever the number of calls.
    let rows = clavis::store::count_rows(&app.state.oauth.services.pool, "gateway_usage")
        .await
        .unwrap();
    assert_eq!(rows, i64::try_from(usage.len()).unwrap());

    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    let calls = metrics
        .lines()
        .find(|l| l.starts_with("clavis_gateway_calls_total{server=\"docs\"}"))
        .unwrap();
    assert!(
        calls.split(' ').nth(1).unwrap().parse::<u64>().unwrap() >= 6,
        "{calls}"
    );
    assert!(
        metrics.contains("clavis_gateway_errors_total{server=\"docs\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("clavis_gateway_duration_seconds_count{server=\"docs\"}"));
}

#[tokio::test]
async fn editing_a_server_keeps_its_header_value_unless_replaced_and_never_shows_it() {
    let upstream = Upstream::start().await;
    let Docs {
        app, admin, token, ..
    } = docs(&[], &upstream.url, "").await;
    let sent_key = |upstream: &Upstream| {
        upstream.seen.lock().unwrap().last().unwrap().0["x-api-key"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let edit = |value: &'static str| {
        let app = &app;
        let admin = admin.clone();
        let url = upstream.url.clone();
        async move {
            app.call(
                "servers/edit",
                &[
                    ("slug", "docs"),
                    ("name", "Docs renamed"),
                    ("upstream_url", &url),
                    ("header_name", "X-Api-Key"),
                    ("header_value", value),
                ],
                Some(&admin),
            )
            .await
        }
    };

    // An empty value keeps the stored one.
    assert!(edit("").await.status().is_success());
    post(&app, "docs", &token, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(sent_key(&upstream), "upstream-key-123");
    // A new value replaces it.
    assert!(edit("rotated-key-456").await.status().is_success());
    post(&app, "docs", &token, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(sent_key(&upstream), "rotated-key-456");
    let page = app
        .get("/servers/docs/edit", Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Docs renamed") && page.contains("(unchanged)"),
        "{page}"
    );
    assert!(!page.contains("rotated-key-456") && !page.contains("upstream-key-123"));

    // People other than administrators cannot change it.
    let person = app.sign_up(&unique_email()).await;
    let refused = app
        .call(
            "servers/edit",
            &[
                ("slug", "docs"),
                ("name", "Mine"),
                ("upstream_url", "http://127.0.0.1:9/mcp"),
            ],
            Some(&person),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let missing = app
        .call(
            "servers/edit",
            &[
                ("slug", "nope"),
                ("name", "x"),
                ("upstream_url", "http://127.0.0.1:9/mcp"),
            ],
            Some(&admin),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// The dashboard list names each credential's servers (read for the whole page at once).
#[tokio::test]
async fn the_list_names_each_credentials_servers() {
    let (app, admin) = gateway(&[], "docs", "http://127.0.0.1:9/mcp").await;
    let (both, _) = app.credential_with(&admin, &["docs", "@builtin"], "").await;
    let (builtin, _) = app.credential_with(&admin, &["@builtin"], "").await;
    let (docs, _) = app.credential_with(&admin, &["docs"], "").await;

    let list = app.list(&admin, 1).await;
    let servers_of = |id: &str| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["client_id"] == id)
            .map(|item| item["servers"].clone())
            .unwrap()
    };
    assert_eq!(
        servers_of(&both),
        serde_json::json!(["Built-in (whoami)", "Docs search"])
    );
    assert_eq!(
        servers_of(&builtin),
        serde_json::json!(["Built-in (whoami)"])
    );
    assert_eq!(servers_of(&docs), serde_json::json!(["Docs search"]));
}

#[tokio::test]
async fn a_disabled_persons_tokens_are_refused_at_the_gateway_until_they_are_enabled() {
    let upstream = Upstream::start().await;
    let (app, admin) = gateway(&[], "docs", &upstream.url).await;
    let person = app.sign_up(&unique_email()).await;
    let (id, secret) = app.credential_with(&person, &["docs"], "").await;
    let token = app.gateway_token(&id, &secret, "docs").await;
    assert_eq!(
        send(post(&app, "docs", &token, &initialize())).await.0,
        StatusCode::OK
    );
    let person_id = app.user_id(&person).await.to_string();
    for (disable, status) in [
        ("true", StatusCode::UNAUTHORIZED),
        ("false", StatusCode::OK),
    ] {
        let changed = app
            .call(
                "admin/users/disable",
                &[("user", &person_id), ("disable", disable)],
                Some(&admin),
            )
            .await;
        assert_eq!(changed.status(), StatusCode::OK);
        let seen_before = upstream.bodies().len();
        let (got, _, _) = send(post(&app, "docs", &token, &initialize())).await;
        assert_eq!(got, status, "disable={disable}");
        // A refused call never reaches the upstream.
        let reached = upstream.bodies().len() > seen_before;
        assert_eq!(reached, status == StatusCode::OK, "disable={disable}");
    }
}

/// An upstream of a few lines that records each request's method and body, answers
/// every POST with a tool list `[safe, secret]` under the id `1.0` (Python echoes a
/// float id so; with the 2026-07-28 cache hints `ttlMs` and `cacheScope: "public"`)
/// and every GET with that list as one Server-Sent Event.
pub(crate) struct Plain {
    pub(crate) url: String,
    seen: Arc<Mutex<Vec<(String, Bytes)>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Plain {
    pub(crate) async fn start() -> Self {
        let seen: Arc<Mutex<Vec<(String, Bytes)>>> = Arc::default();
        let record = seen.clone();
        let list = r#"{"jsonrpc":"2.0","id":1.0,"result":{"tools":[{"name":"safe","inputSchema":{"type":"object"}},{"name":"secret","inputSchema":{"type":"object"}}],"ttlMs":60000,"cacheScope":"public"}}"#;
        let router =
            axum::Router::new().fallback(move |method: axum::http::Method, body: Bytes| {
                let record = record.clone();
                async move {
                    record.lock().unwrap().push((method.to_string(), body));
                    if method == axum::http::Method::GET {
                        (
                            [("content-type", "text/event-stream")],
                            format!("id: 1\nevent: message\ndata: {list}\n\n"),
                        )
                    } else {
                        ([("content-type", "application/json")], list.to_owned())
                    }
                }
            });
        let (url, server) = serve_at_mcp(router).await;
        Self {
            url,
            seen,
            _server: server,
        }
    }

    pub(crate) fn requests(&self) -> Vec<(String, Bytes)> {
        self.seen.lock().unwrap().clone()
    }
}

/// A POST of raw bytes to the gateway.
fn post_raw(app: &TestApp, slug: &str, token: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
    app.client
        .post(app.gateway_url(slug))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body)
}

/// Issue 23: bodies a lenient parser (Python's `json.loads`, which the Python SDK uses)
/// reads as a call of `secret` while serde read them as `safe` or not at all were
/// forwarded unchecked. Now nothing the gateway cannot read one way only reaches the
/// upstream: judged by what the upstream received.
#[tokio::test]
async fn bodies_that_read_two_ways_never_reach_the_upstream() {
    let upstream = Plain::start().await;
    let Docs { app, token, .. } = docs(&[], &upstream.url, "safe").await;
    let call = |params: &str| {
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{params}}}"#)
    };
    let attacks: Vec<(&str, Vec<u8>)> =
        vec![
        ("duplicate name", call(r#"{"name":"safe","name":"secret"}"#).into_bytes()),
        ("escaped duplicate", call(r#"{"name":"safe","n\u0061me":"secret"}"#).into_bytes()),
        (
            "duplicate id",
            br#"{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call","params":{"name":"secret"}}"#
                .to_vec(),
        ),
        (
            "byte-order mark",
            [b"\xef\xbb\xbf".as_slice(), call(r#"{"name":"secret"}"#).as_bytes()].concat(),
        ),
        (
            "UTF-16LE",
            call(r#"{"name":"secret"}"#)
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect(),
        ),
        ("NaN", call(r#"{"name":"secret","arguments":{"x":NaN}}"#).into_bytes()),
        (
            "lone surrogate",
            br#"{"jsonrpc":"2.0","id":"\ud800","method":"tools/call","params":{"name":"secret"}}"#
                .to_vec(),
        ),
        (
            "batch with junk",
            format!("[{},0]", call(r#"{"name":"secret"}"#)).into_bytes(),
        ),
        ("positional params", call(r#"["secret"]"#).into_bytes()),
        // Go's encoding/json and .NET's web defaults match member names ignoring case.
        ("name in upper case", call(r#"{"name":"safe","NAME":"secret"}"#).into_bytes()),
        (
            "params in another case",
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"safe"},"Params":{"name":"secret"}}"#
                .to_vec(),
        ),
        (
            "method in upper case",
            br#"{"jsonrpc":"2.0","id":1,"method":"ping","METHOD":"tools/call","params":{"name":"secret"}}"#
                .to_vec(),
        ),
        (
            "a response with a Method",
            br#"{"jsonrpc":"2.0","id":1,"result":{},"Method":"tools/call","params":{"name":"secret"}}"#
                .to_vec(),
        ),
        (
            "no jsonrpc member",
            br#"{"id":1,"method":"tools/call","params":{"name":"secret"}}"#.to_vec(),
        ),
    ];
    for (what, body) in attacks {
        let (status, _, answer) = send(post_raw(&app, "docs", &token, body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {answer}");
        let code = answer["error"]["code"].as_i64().unwrap();
        assert!(code == -32700 || code == -32600, "{what}: {answer}");
        assert!(
            upstream.requests().is_empty(),
            "{what} reached the upstream"
        );
    }
    // The same route forwards what it can read: the allowed call, once.
    let (status, _, _) = send(post_raw(
        &app,
        "docs",
        &token,
        call(r#"{"name":"safe","arguments":{"n":12345678901234567890123}}"#).into_bytes(),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let requests = upstream.requests();
    assert_eq!(requests.len(), 1);
    // Forwarded as sent: numbers keep their digits.
    assert!(
        String::from_utf8_lossy(&requests[0].1).contains("12345678901234567890123"),
        "{requests:?}"
    );
}

/// Issue 23: a `tools/list` answer was narrowed only when its id compared equal to the
/// request's; the upstream may echo `1` as `1.0`. And a stream (GET) could replay an
/// answer unnarrowed, and a GET's body was forwarded.
#[tokio::test]
async fn tools_lists_are_narrowed_whatever_their_id_and_on_streams() {
    let upstream = Plain::start().await;
    let Docs { app, token, .. } = docs(&[], &upstream.url, "safe").await;

    for request_id in [json!(1), json!("1"), json!(-0), json!(null)] {
        let list = json!({ "jsonrpc": "2.0", "id": request_id, "method": "tools/list" });
        let (status, _, answer) = send(post(&app, "docs", &token, &list)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            answer["result"]["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["safe"],
            "{request_id}: {answer}"
        );
    }

    let stream = app
        .client
        .get(app.gateway_url("docs"))
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "text/event-stream")
        .header("last-event-id", "0")
        .body("a body a GET never carries")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let text = stream.text().await.unwrap();
    assert!(
        text.contains(r#""name":"safe""#) && !text.contains(r#""name":"secret""#),
        "{text}"
    );
    let get = upstream
        .requests()
        .into_iter()
        .find(|(method, _)| method == "GET")
        .unwrap();
    assert!(get.1.is_empty(), "a GET's body reached the upstream");
}

/// Issue 23: a 4 MiB batch of empty objects was read into 1.4 million messages (about
/// 300 MB); a batch past its bound is refused whole before the upstream.
#[tokio::test]
async fn oversized_batches_are_refused_before_the_upstream() {
    let upstream = Plain::start().await;
    let Docs { app, token, .. } = docs(&[], &upstream.url, "").await;

    let ping = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let many = format!("[{}]", vec![ping; clavis::jsonrpc::BATCH_MAX + 1].join(","));
    let empty_objects = format!("[{}{{}}]", "{},".repeat(1_300_000));
    for body in [many, empty_objects] {
        let (status, _, answer) = send(post_raw(&app, "docs", &token, body.into_bytes())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["code"], -32600, "{answer}");
    }
    assert!(upstream.requests().is_empty());
    let full = format!("[{}]", vec![ping; clavis::jsonrpc::BATCH_MAX].join(","));
    let (status, _, _) = send(post_raw(&app, "docs", &token, full.into_bytes())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(upstream.requests().len(), 1);
}

/// Issue 23: every tool name in a request became a permanent `gateway_usage` row
/// (700,003 rows from twelve batches). Names are capped per credential, server and day
/// in memory and in the database (across flushes, so across instances), refused calls
/// count under one name.
#[tokio::test]
async fn invented_tool_names_do_not_grow_the_usage_table() {
    let upstream = Plain::start().await;
    let (app, admin) = gateway(&[], "docs", &upstream.url).await;
    let (open_id, open_secret) = app.credential_with(&admin, &["docs"], "").await;
    let (narrow_id, narrow_secret) = app.credential_with(&admin, &["docs"], "safe").await;
    let pool = &app.state.oauth.services.pool;
    let usage = &app.state.oauth.gateway.usage;
    let batch = |prefix: &str| {
        let calls: Vec<Value> = (0..clavis::jsonrpc::BATCH_MAX)
            .map(|i| {
                json!({ "jsonrpc": "2.0", "id": i, "method": "tools/call",
                    "params": { "name": format!("{prefix}-{i}") } })
            })
            .collect();
        Value::Array(calls)
    };
    for (id, secret) in [(&open_id, &open_secret), (&narrow_id, &narrow_secret)] {
        let token = app.gateway_token(id, secret, "docs").await;
        // Three batches of new names, a flush after each: the database keeps the bound.
        for round in 0..3 {
            let (status, ..) = send(post(&app, "docs", &token, &batch(&format!("r{round}")))).await;
            assert_eq!(status, StatusCode::OK);
            usage.flush(pool).await.unwrap();
        }
    }
    let rows_of = |client_id: String| async move {
        let credential = clavis::store::credential_by_client_id(pool, &client_id)
            .await
            .unwrap()
            .unwrap();
        clavis::store::gateway_usage_for(pool, credential.id)
            .await
            .unwrap()
    };
    let open = rows_of(open_id).await;
    assert!(
        open.len() <= clavis::servers::TOOLS_PER_DAY + 1,
        "{} rows",
        open.len()
    );
    let other = open
        .iter()
        .find(|(_, tool, _, _)| tool == clavis::servers::OTHER_TOOL)
        .unwrap();
    let total: i64 = open.iter().map(|(_, _, calls, _)| calls).sum();
    assert_eq!(
        total,
        3 * i64::try_from(clavis::jsonrpc::BATCH_MAX).unwrap()
    );
    assert!(other.2 >= total - i64::try_from(clavis::servers::TOOLS_PER_DAY).unwrap());
    let narrow = rows_of(narrow_id).await;
    assert_eq!(
        narrow
            .iter()
            .map(|(_, tool, _, _)| tool.as_str())
            .collect::<Vec<_>>(),
        [clavis::servers::REFUSED_TOOL],
        "{narrow:?}"
    );
}

/// Issue 23: changing a server's upstream URL kept the stored upstream header, so a
/// second administrator could send the secret to their own host. A new URL needs the
/// value again; judged by what the other host received.
#[tokio::test]
async fn a_new_upstream_url_needs_the_header_value_again() {
    let upstream = Upstream::start().await;
    let elsewhere = Plain::start().await;
    let Docs {
        app, admin, token, ..
    } = docs(&[], &upstream.url, "").await;
    let edit = |url: String, value: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.call(
                "servers/edit",
                &[
                    ("slug", "docs"),
                    ("name", "Docs search"),
                    ("upstream_url", &url),
                    ("header_name", "X-Api-Key"),
                    ("header_value", value),
                ],
                Some(&admin),
            )
            .await
        }
    };

    let moved = edit(elsewhere.url.clone(), "").await;
    assert_eq!(moved.status(), StatusCode::BAD_REQUEST);
    assert!(
        moved
            .text()
            .await
            .unwrap()
            .contains("enter the upstream header value again")
    );
    post(&app, "docs", &token, &initialize())
        .send()
        .await
        .unwrap();
    assert!(
        elsewhere.requests().is_empty(),
        "the stored value went elsewhere"
    );
    assert_eq!(
        upstream.seen.lock().unwrap().len(),
        1,
        "still the old upstream"
    );

    // With the value given again the move is made, and only that value travels.
    assert!(
        edit(elsewhere.url.clone(), "new-host-key")
            .await
            .status()
            .is_success()
    );
    assert!(edit(elsewhere.url.clone(), "").await.status().is_success());
    post(&app, "docs", &token, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.requests().len(), 1);
}

/// Issue 23: an administrator could point an upstream at link-local or cloud-metadata
/// addresses with a chosen header. Refused unless the operator allows it; loopback and
/// private ranges stay allowed.
#[tokio::test]
async fn link_local_upstreams_need_the_operators_leave() {
    let app = TestApp::spawn().await;
    let admin = app.sign_up(&unique_email()).await;
    let add = |slug: &'static str, url: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.call(
                "servers/add",
                &[
                    ("name", slug),
                    ("slug", slug),
                    ("mode", "gateway"),
                    ("upstream_url", url),
                    ("header_name", "X-Api-Key"),
                    ("header_value", "k"),
                ],
                Some(&admin),
            )
            .await
            .status()
        }
    };
    for (slug, url) in [
        ("a", "http://169.254.169.254/latest/meta-data/"),
        ("b", "http://[fe80::1]:8000/mcp"),
        ("c", "http://[fd00:ec2::254]/"),
        ("d", "http://[::ffff:169.254.169.254]/"),
        ("e", "http://metadata.google.internal/computeMetadata/v1/"),
    ] {
        assert_eq!(add(slug, url).await, StatusCode::BAD_REQUEST, "{url}");
    }
    for (slug, url) in [
        ("f", "http://127.0.0.1:8000/mcp"),
        ("g", "http://10.0.0.5:8000/mcp"),
        ("h", "http://[::1]:8000/mcp"),
    ] {
        assert!(add(slug, url).await.is_success(), "{url}");
    }
    // Nor may an edit move a server there.
    let moved = app
        .call(
            "servers/edit",
            &[
                ("slug", "f"),
                ("name", "f"),
                ("upstream_url", "http://169.254.169.254/"),
                ("header_name", "X-Api-Key"),
                ("header_value", "k"),
            ],
            Some(&admin),
        )
        .await;
    assert_eq!(moved.status(), StatusCode::BAD_REQUEST);

    let allowed = TestApp::spawn_with(&["--allow-link-local-upstreams"]).await;
    let admin = allowed.sign_up(&unique_email()).await;
    let added = allowed
        .call(
            "servers/add",
            &[
                ("name", "Metadata"),
                ("slug", "meta"),
                ("mode", "gateway"),
                ("upstream_url", "http://169.254.169.254/"),
            ],
            Some(&admin),
        )
        .await;
    assert!(added.status().is_success());
}

/// A credential named "limited" granted `docs` with `limits` as its Calls per minute:
/// the answer's status and body.
async fn create_limited(app: &TestApp, admin: &str, limits: &str) -> (StatusCode, String) {
    let response = app
        .call(
            "credentials/create",
            &[
                ("name", "limited"),
                ("expires", "never"),
                ("mcp", "on"),
                ("servers[0]", "docs"),
                ("calls_per_minute", limits),
            ],
            Some(admin),
        )
        .await;
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// Waits, if need be, until the clock minute is at most `latest` seconds old, so that the
/// calls that follow fall within one minute.
async fn early_in_a_minute(latest: i64) {
    let second = clavis::now().rem_euclid(60);
    if second > latest {
        tokio::time::sleep(std::time::Duration::from_secs((61 - second).unsigned_abs())).await;
    }
}

/// The same limit before an upstream that answers JSON (the one above answers SSE): the
/// call over it gets Clavis's 429 as JSON, and the upstream saw only the calls allowed.
#[tokio::test]
async fn calls_over_a_limit_are_refused_before_an_upstream_that_answers_json() {
    let plain = Plain::start().await;
    let (app, admin) = gateway(&[], "docs", &plain.url).await;
    let (status, body) = create_limited(&app, &admin, "docs:safe=1").await;
    assert!(status.is_success(), "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    let token = app
        .gateway_token(
            created["client_id"].as_str().unwrap(),
            created["client_secret"].as_str().unwrap(),
            "docs",
        )
        .await;
    // Two calls within one clock minute: start early in one.
    early_in_a_minute(50).await;
    let call = |n: i64| {
        post(
            &app,
            "docs",
            &token,
            &json!({ "jsonrpc": "2.0", "id": n, "method": "tools/call",
                     "params": { "name": "safe", "arguments": { "n": n } } }),
        )
    };
    let (status, headers, _) = send(call(1)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let (status, headers, body) = send(call(2)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(headers.contains_key("retry-after"));
    assert_eq!(
        (body["id"].clone(), body["error"]["code"].clone()),
        (json!(2), json!(-32029))
    );
    let calls = plain
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, body)| String::from_utf8_lossy(body).contains("tools/call"))
        .count();
    assert_eq!(calls, 1, "the upstream saw only the call within the limit");
}

/// SPEC §20: `docs:echo=2` lets two echo calls a minute through; the third is answered
/// by Clavis (429, an honest Retry-After, a JSON-RPC error naming the tool and the
/// limit) and never reaches the upstream; other tools go on; the metric and the
/// credential's page count it.
#[tokio::test]
async fn a_tool_over_its_calls_per_minute_is_refused_before_the_upstream() {
    let upstream = Upstream::start().await;
    let (app, admin) = gateway(&[], "docs", &upstream.url).await;
    let create = |limits: &'static str| create_limited(&app, &admin, limits);
    // A limit at a server the credential is not granted, or that does not read, is refused.
    for bad in ["other:echo=2", "docs:echo=0", "docs:echo"] {
        let (status, body) = create(bad).await;
        assert!(!status.is_success(), "{bad}: {body}");
        assert!(body.contains("Calls per minute"), "{bad}: {body}");
    }
    let (status, body) = create("docs:echo=2\ndocs=50").await;
    assert!(status.is_success(), "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    let id = created["client_id"].as_str().unwrap();
    let token = app
        .gateway_token(id, created["client_secret"].as_str().unwrap(), "docs")
        .await;
    // Three calls within one clock minute: start early in one.
    early_in_a_minute(45).await;
    let session = session(&app, &token).await;
    let call = |tool: &str, n: i64| {
        post(
            &app,
            "docs",
            &token,
            &json!({ "jsonrpc": "2.0", "id": n, "method": "tools/call",
                     "params": { "name": tool, "arguments": { "text": format!("call {n}") } } }),
        )
        .header("mcp-session-id", &session)
    };
    for n in 1..=2 {
        let answer = call("echo", n).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        drop(answer.bytes().await);
    }
    let (status, headers, body) = send(call("echo", 3)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    let left = 60 - clavis::now().rem_euclid(60);
    assert!(
        (left - 1..=left + 1).contains(&retry),
        "Retry-After {retry}, {left} s left in the minute"
    );
    assert_eq!(body["id"], 3);
    assert_eq!(body["error"]["code"], -32029);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"echo\"") && message.contains("2 calls per minute"),
        "{message}"
    );
    assert!(
        upstream.bodies().iter().all(|b| !b.contains("call 3")),
        "the upstream never saw the refused call"
    );
    // Another tool is not limited by echo's limit.
    let answer = call("secret", 4).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    drop(answer.bytes().await);

    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"clavis_gateway_limited_total{server="docs",tool="echo"} 1"#),
        "{metrics}"
    );
    let page = app
        .get(&format!("/credentials/{id}"), Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Calls per minute") && page.contains(r#"data-testid="call-limit""#));
    // The credential's limits as the admin API and the edit form write them.
    let credentials: Value = app
        .call("credentials/usage", &[("client_id", id)], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        credentials["limits"],
        json!([["docs:echo=2", 2], ["docs=50", 5]]),
        "all of docs: initialize, initialized, echo twice and secret; the refused call not counted"
    );
}
