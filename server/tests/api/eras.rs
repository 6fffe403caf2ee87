//! Both eras of MCP (SPEC §17): the handshake era (`initialize`, sessions) and the
//! stateless 2026-07-28 revision, through the gateway and at `/mcp`. The rmcp client in
//! each of its lifecycle modes, and hand-made modern requests whose headers mirror the
//! body; what was forwarded is judged by what the upstream received.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use reqwest::StatusCode;
use rmcp::{
    model::{CallToolRequestParams, ProtocolVersion},
    service::{ClientLifecycleMode, ClientServiceExt as _},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

use crate::{
    gateway::{Plain, Upstream, gateway, serve_at_mcp},
    helpers::{TestApp, unique_email},
};

const MODERN: &str = "2026-07-28";

/// The rmcp client's lifecycle modes: the handshake, `server/discover` only, and a probe
/// that falls back to the handshake.
fn modes() -> [(&'static str, ClientLifecycleMode); 3] {
    [
        ("initialize", ClientLifecycleMode::Initialize),
        (
            "discover",
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        ),
        (
            "auto",
            ClientLifecycleMode::Auto {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                legacy_version: None,
            },
        ),
    ]
}

/// Connects in `mode`, calls `tool` with `arguments`, and returns the protocol version
/// reached and the call's first text.
async fn version_and_call(
    url: &str,
    token: Option<&str>,
    mode: ClientLifecycleMode,
    tool: &'static str,
    arguments: Value,
) -> (String, String) {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    let client = ().serve_with_lifecycle(transport, mode).await.unwrap();
    let version = client.peer_info().unwrap().protocol_version.to_string();
    let result = client
        .call_tool(
            CallToolRequestParams::new(tool).with_arguments(arguments.as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    let text = result.content[0].as_text().unwrap().text.clone();
    client.cancel().await.unwrap();
    (version, text)
}

#[tokio::test]
async fn every_mode_reaches_the_same_version_through_the_gateway_as_directly() {
    let upstream = Upstream::start().await;
    let (app, admin) = gateway(&[], "docs", &upstream.url).await;
    let (id, secret) = app.credential_with(&admin, &["docs", "@builtin"], "").await;
    let token = app.gateway_token(&id, &secret, "docs").await;
    let builtin = app
        .access_token(
            &id,
            &secret,
            &format!("grant_type=client_credentials&resource={}", app.url("/mcp")),
        )
        .await;
    for (name, mode) in modes() {
        let echo = || json!({ "text": name });
        let direct = version_and_call(&upstream.url, None, mode.clone(), "echo", echo()).await;
        let through = version_and_call(
            &app.gateway_url("docs"),
            Some(&token),
            mode.clone(),
            "echo",
            echo(),
        )
        .await;
        assert_eq!(through, direct, "{name}");
        let expected = if name == "initialize" {
            ProtocolVersion::LATEST_WITH_INITIALIZE.to_string()
        } else {
            MODERN.to_owned()
        };
        assert_eq!(through.0, expected, "{name}");
        // And Clavis's own endpoint speaks both eras too.
        let (version, text) =
            version_and_call(&app.url("/mcp"), Some(&builtin), mode, "whoami", json!({})).await;
        assert_eq!(version, expected, "{name} at /mcp");
        assert!(text.contains(&id), "{name} at /mcp: {text}");
    }
}

/// A modern request's `_meta`.
fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "hand-made", "version": "1" },
    })
}

/// A modern request to the gateway: `method` with `params` (plus `_meta`) and the
/// headers given (beyond the token and the media types).
fn modern(
    app: &TestApp,
    token: &str,
    id: Value,
    method: &str,
    params: Value,
    headers: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let mut params = params;
    params["_meta"] = meta();
    let mut request = app
        .client
        .post(app.gateway_url("docs"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(
            json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string(),
        );
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
}

/// The JSON-RPC answer in a JSON body or in the first `data:` of an SSE one.
async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let json = text
        .lines()
        .find_map(|line| line.strip_prefix("data:"))
        .unwrap_or(&text)
        .trim();
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

#[tokio::test]
async fn modern_requests_reach_the_upstream_with_their_headers() {
    let upstream = Upstream::start().await;
    let (app, admin) = gateway(&[], "docs", &upstream.url).await;
    let (id, secret) = app.credential_with(&admin, &["docs"], "").await;
    let token = app.gateway_token(&id, &secret, "docs").await;

    let discover = modern(
        &app,
        &token,
        json!(1),
        "server/discover",
        json!({}),
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "server/discover"),
        ],
    );
    let (status, discovered) = answer(discover.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{discovered}");
    assert!(
        discovered["result"]["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!(MODERN)),
        "{discovered}"
    );

    // The name in the base64 form (any value may travel so), an argument mirrored in a
    // header, and trace context.
    let call = modern(
        &app,
        &token,
        json!("call-1"),
        "tools/call",
        json!({ "name": "echo", "arguments": { "text": "modern" } }),
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?ZWNobw==?="),
            ("mcp-param-region", "eu-west-1"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("tracestate", "clavis=test"),
        ],
    );
    let (status, called) = answer(call.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{called}");
    assert_eq!(called["id"], "call-1");
    assert_eq!(called["result"]["content"][0]["text"], "modern", "{called}");

    let seen = upstream.seen.lock().unwrap().clone();
    let (headers, _) = seen
        .iter()
        .find(|(_, body)| String::from_utf8_lossy(body).contains("\"modern\""))
        .unwrap();
    let value = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(value("mcp-protocol-version").as_deref(), Some(MODERN));
    assert_eq!(value("mcp-method").as_deref(), Some("tools/call"));
    assert_eq!(value("mcp-name").as_deref(), Some("=?base64?ZWNobw==?="));
    assert_eq!(value("mcp-param-region").as_deref(), Some("eu-west-1"));
    assert_eq!(
        value("traceparent").as_deref(),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    );
    assert_eq!(value("tracestate").as_deref(), Some("clavis=test"));
    assert_eq!(value("authorization"), None);

    // Headers that mirror a body never go without one (a GET has none to check).
    let stream = app
        .client
        .get(app.gateway_url("docs"))
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "text/event-stream")
        .header("last-event-id", "the-get")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "secret")
        .header("mcp-param-region", "eu-west-1")
        .send()
        .await
        .unwrap();
    drop(stream);
    let seen = upstream.seen.lock().unwrap().clone();
    let (get, _) = seen
        .iter()
        .find(|(headers, _)| headers.get("last-event-id").is_some_and(|v| v == "the-get"))
        .unwrap();
    for absent in ["mcp-method", "mcp-name", "mcp-param-region"] {
        assert!(!get.contains_key(absent), "{absent} went with a GET");
    }
}

#[tokio::test]
async fn headers_that_disagree_with_the_body_are_answered_by_clavis() {
    let upstream = Upstream::start().await;
    let (app, admin) = gateway(&[], "docs", &upstream.url).await;
    let (id, secret) = app.credential_with(&admin, &["docs"], "").await;
    let token = app.gateway_token(&id, &secret, "docs").await;
    let echo = || json!({ "name": "echo", "arguments": { "text": "x" } });
    let full = [
        ("mcp-protocol-version", MODERN),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
    ];
    type Headers<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(&str, Value, Headers)> = vec![
        (
            "another tool named",
            json!(7),
            vec![full[0], full[1], ("mcp-name", "secret")],
        ),
        (
            "another tool in base64",
            json!("seven"),
            vec![full[0], full[1], ("mcp-name", "=?base64?c2VjcmV0?=")],
        ),
        ("no Mcp-Name", json!(7), vec![full[0], full[1]]),
        ("no Mcp-Method", json!(7), vec![full[0], full[2]]),
        ("no version header", json!(7), vec![full[1], full[2]]),
        (
            "another version",
            json!(7),
            vec![("mcp-protocol-version", "2025-11-25"), full[1], full[2]],
        ),
        (
            "another method",
            json!(7),
            vec![full[0], ("mcp-method", "tools/list"), full[2]],
        ),
        (
            "two names",
            json!(7),
            vec![full[0], full[1], full[2], ("mcp-name", "secret")],
        ),
        (
            "a broken base64 form",
            json!(7),
            vec![full[0], full[1], ("mcp-name", "=?base64?ZWNobw?=")],
        ),
    ];
    for (why, request_id, headers) in cases {
        let response = modern(
            &app,
            &token,
            request_id.clone(),
            "tools/call",
            echo(),
            &headers,
        )
        .send()
        .await
        .unwrap();
        let (status, body) = answer(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
        assert_eq!(body["error"]["code"], -32020, "{why}: {body}");
        assert_eq!(body["id"], request_id, "{why}");
    }
    assert!(
        upstream.seen.lock().unwrap().is_empty(),
        "a mismatched request reached the upstream"
    );
    // The same request with agreeing headers goes through: the check can pass.
    let (status, body) = answer(
        modern(&app, &token, json!(8), "tools/call", echo(), &full)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &body["result"]["content"][0]["text"]),
        (StatusCode::OK, &json!("x"))
    );
}

#[tokio::test]
async fn allowed_tools_hold_in_the_modern_era_and_narrowed_lists_are_private() {
    let upstream = Upstream::start().await;
    let (app, admin) = gateway(&[], "docs", &upstream.url).await;
    let (id, secret) = app.credential_with(&admin, &["docs"], "echo").await;
    let token = app.gateway_token(&id, &secret, "docs").await;
    let headers = |name: &'static str| {
        [
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/call"),
            ("mcp-name", name),
        ]
    };
    let mut task_meta = meta();
    task_meta["io.modelcontextprotocol/clientCapabilities"] =
        json!({ "extensions": { "io.modelcontextprotocol/tasks": {} } });
    let calls = [
        ("a plain call", json!({ "name": "secret", "arguments": {} })),
        (
            "a multi round-trip retry",
            json!({ "name": "secret", "arguments": {},
                    "inputResponses": { "confirm": { "action": "accept", "content": {} } },
                    "requestState": "opaque-state" }),
        ),
        (
            "a task-augmented call",
            json!({ "name": "secret", "arguments": {}, "task": { "ttl": 60000 } }),
        ),
    ];
    for (why, params) in calls {
        let request = modern(
            &app,
            &token,
            json!(31),
            "tools/call",
            params,
            &headers("secret"),
        );
        let (status, body) = answer(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{why}");
        assert_eq!(body["id"], 31, "{why}");
        assert_eq!(body["error"]["code"], -32602, "{why}: {body}");
    }
    // The tasks extension asks in the capabilities, not in the call.
    let mut params = json!({ "name": "secret", "arguments": {} });
    params["_meta"] = task_meta;
    let request = app
        .client
        .post(app.gateway_url("docs"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", MODERN)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "secret")
        .body(
            json!({ "jsonrpc": "2.0", "id": 32, "method": "tools/call", "params": params })
                .to_string(),
        );
    let (_, body) = answer(request.send().await.unwrap()).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
    assert!(
        upstream.bodies().iter().all(|b| !b.contains("\"secret\"")),
        "the upstream saw a call of the refused tool"
    );
    // An allowed modern call goes through and is counted under its tool.
    let allowed = modern(
        &app,
        &token,
        json!(33),
        "tools/call",
        json!({ "name": "echo", "arguments": { "text": "fine" } }),
        &headers("echo"),
    );
    let (_, body) = answer(allowed.send().await.unwrap()).await;
    assert_eq!(body["result"]["content"][0]["text"], "fine", "{body}");
    let usage = app.gateway_usage(&id).await;
    let count = |tool: &str| {
        usage
            .iter()
            .find(|(_, t, _, _)| t == tool)
            .map(|(_, _, calls, errors)| (*calls, *errors))
    };
    assert_eq!(count("echo"), Some((1, 0)));
    assert_eq!(count(clavis::servers::REFUSED_TOOL), Some((4, 4)));
}

#[tokio::test]
async fn a_narrowed_list_says_private_and_keeps_its_ttl() {
    let upstream = Plain::start().await;
    let (app, admin) = gateway(&[], "docs", &upstream.url).await;
    let (id, secret) = app.credential_with(&admin, &["docs"], "safe").await;
    let token = app.gateway_token(&id, &secret, "docs").await;
    let list = modern(
        &app,
        &token,
        json!(1),
        "tools/list",
        json!({}),
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/list"),
        ],
    );
    let (status, body) = answer(list.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["tools"].as_array().unwrap().len(), 1);
    assert_eq!(body["result"]["cacheScope"], "private", "{body}");
    assert_eq!(body["result"]["ttlMs"], 60000);
    // The same list on a stream.
    let stream = app
        .client
        .get(app.gateway_url("docs"))
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let (_, streamed) = answer(stream).await;
    assert_eq!(streamed["result"]["cacheScope"], "private", "{streamed}");
    assert_eq!(streamed["result"]["ttlMs"], 60000);

    // An unrestricted credential gets the upstream's own hints.
    let cookie = app.sign_up(&unique_email()).await;
    let (open_id, open_secret) = app.credential_with(&cookie, &["docs"], "").await;
    let open = app.gateway_token(&open_id, &open_secret, "docs").await;
    let list = modern(
        &app,
        &open,
        json!(2),
        "tools/list",
        json!({}),
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/list"),
        ],
    );
    let (_, body) = answer(list.send().await.unwrap()).await;
    assert_eq!(body["result"]["cacheScope"], "public", "{body}");
}

/// A handshake-era-only upstream: `initialize` gives a session, anything else without
/// it is refused; `tools/list` answers on SSE in two pages. Records methods seen.
struct Legacy {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Legacy {
    async fn start() -> Self {
        use axum::{
            http::{HeaderMap, Method, StatusCode as Status},
            response::IntoResponse as _,
        };
        let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
        let record = seen.clone();
        let router = axum::Router::new().fallback(
            move |method: Method, headers: HeaderMap, body: axum::body::Bytes| {
                let record = record.clone();
                async move {
                    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let name = message["method"].as_str().unwrap_or("").to_owned();
                    record.lock().unwrap().push(format!("{method} {name}"));
                    let session = headers.get("mcp-session-id").is_some_and(|v| v == "s1");
                    let id = message["id"].clone();
                    match (method.as_str(), name.as_str(), session) {
                        ("POST", "initialize", _) => (
                            [
                                ("content-type", "application/json"),
                                ("mcp-session-id", "s1"),
                            ],
                            json!({ "jsonrpc": "2.0", "id": id, "result": {
                                "protocolVersion": "2025-06-18", "capabilities": { "tools": {} },
                                "serverInfo": { "name": "legacy", "version": "1" } } })
                            .to_string(),
                        )
                            .into_response(),
                        ("POST", "notifications/initialized", true) => {
                            Status::ACCEPTED.into_response()
                        }
                        ("POST", "tools/list", true) => {
                            let result = if message["params"]["cursor"] == "p2" {
                                json!({ "tools": [{ "name": "beta" }] })
                            } else {
                                json!({ "tools": [{ "name": "alpha" }, { "name": "has space" }],
                                        "nextCursor": "p2" })
                            };
                            let answer = json!({ "jsonrpc": "2.0", "id": id, "result": result });
                            (
                                [("content-type", "text/event-stream")],
                                format!("event: message\r\ndata: {answer}\r\n\r\n"),
                            )
                                .into_response()
                        }
                        ("DELETE", _, true) => Status::OK.into_response(),
                        _ => (Status::BAD_REQUEST, "session required").into_response(),
                    }
                }
            },
        );
        let (url, server) = serve_at_mcp(router).await;
        Self {
            url,
            seen,
            _server: server,
        }
    }
}

/// The credential form's choices, as the viewer with `cookie` gets them.
async fn tool_choices(app: &TestApp, cookie: &str) -> Value {
    let response = app.call("servers/tools", &[], Some(cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_credential_form_offers_the_tools_each_upstream_lists() {
    let upstream = Upstream::start().await;
    let (app, admin) = gateway(&[], "docs", &upstream.url).await;
    let legacy = Legacy::start().await;
    let added = app
        .call(
            "servers/add",
            &[
                ("name", "Old wiki"),
                ("slug", "wiki"),
                ("mode", "gateway"),
                ("upstream_url", &legacy.url),
                ("access", "chosen-teams"),
            ],
            Some(&admin),
        )
        .await;
    assert!(added.status().is_success());

    let choices = tool_choices(&app, &admin).await;
    let tools: Vec<(&str, Vec<&str>)> = choices["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let servers = t["servers"].as_array().unwrap();
            (
                t["name"].as_str().unwrap(),
                servers.iter().map(|s| s.as_str().unwrap()).collect(),
            )
        })
        .collect();
    // A name a credential could not be limited to ("has space") is left out.
    assert_eq!(
        tools,
        [
            ("alpha", vec!["Old wiki"]),
            ("beta", vec!["Old wiki"]),
            ("echo", vec!["Docs search"]),
            ("secret", vec!["Docs search"]),
            ("ticks", vec!["Docs search"]),
        ]
    );
    // The dual-era upstream answered one modern tools/list; the old one the handshake,
    // both pages, and the session's end.
    let modern: Vec<Value> = upstream
        .bodies()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(modern.len(), 1, "{modern:?}");
    assert_eq!(modern[0]["method"], "tools/list");
    assert_eq!(
        modern[0]["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
        MODERN
    );
    let (headers, _) = upstream.seen.lock().unwrap()[0].clone();
    assert_eq!(headers.get("x-api-key").unwrap(), "upstream-key-123");
    assert_eq!(headers.get("mcp-method").unwrap(), "tools/list");
    assert_eq!(
        *legacy.seen.lock().unwrap(),
        [
            "POST tools/list",
            "POST initialize",
            "POST notifications/initialized",
            "POST tools/list",
            "POST tools/list",
            "DELETE ",
        ]
    );

    // Kept a minute: the next form asks nobody.
    let again = tool_choices(&app, &admin).await;
    assert_eq!(again, choices);
    assert_eq!(upstream.bodies().len(), 1);
    assert_eq!(legacy.seen.lock().unwrap().len(), 6);

    // Someone who may grant only the server open to everyone sees only its tools.
    let person = app.sign_up(&unique_email()).await;
    let theirs = tool_choices(&app, &person).await;
    let names: Vec<&str> = theirs["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "secret", "ticks"]);
    assert_eq!(theirs["unavailable"], json!([]));
}

#[tokio::test]
async fn ticked_tools_join_the_named_ones_on_the_forms() {
    let upstream = Upstream::start().await;
    let (app, admin) = gateway(&[], "docs", &upstream.url).await;
    // The form without JavaScript: a ticked tool and a named one.
    let created = app
        .client
        .post(app.url("/credentials/new"))
        .header("cookie", &admin)
        .header("origin", &app.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=picked&mcp=on&expires=never&server=docs&tools%5B0%5D=echo&allowed_tools=later_tool")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let page = created.text().await.unwrap();
    let client_id = page
        .split("clv_")
        .nth(1)
        .map(|rest| format!("clv_{}", &rest[..24]))
        .unwrap();
    let row = clavis::store::credential_by_client_id(&app.state.oauth.services.pool, &client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.allowed_tools.to_string(), "echo later_tool");

    // The edit form: ticked tools and named ones again.
    let updated = app
        .call(
            "credentials/update",
            &[
                ("client_id", &client_id),
                ("name", "picked"),
                ("allowed_tools", ""),
                ("tools[0]", "secret"),
                ("tools[1]", "ticks"),
            ],
            Some(&admin),
        )
        .await;
    assert!(updated.status().is_success());
    let row = clavis::store::credential_by_client_id(&app.state.oauth.services.pool, &client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.allowed_tools.to_string(), "secret ticks");

    // A form sent before its tool fields appeared (no tools, no mark that they were
    // shown): nothing changes. The fields shown, empty and nothing ticked: every tool.
    let pool = app.state.oauth.services.pool.clone();
    let stored = |id: String| {
        let pool = pool.clone();
        async move {
            clavis::store::credential_by_client_id(&pool, &id)
                .await
                .unwrap()
                .unwrap()
                .allowed_tools
                .to_string()
        }
    };
    let form = [("client_id", client_id.as_str()), ("name", "renamed")];
    let renamed = app.call("credentials/update", &form, Some(&admin)).await;
    assert!(renamed.status().is_success());
    assert_eq!(stored(client_id.clone()).await, "secret ticks");
    let form = [
        ("client_id", client_id.as_str()),
        ("name", "renamed"),
        ("allowed_tools", ""),
        ("tools_listed", "on"),
    ];
    let cleared = app.call("credentials/update", &form, Some(&admin)).await;
    assert!(cleared.status().is_success());
    assert_eq!(stored(client_id.clone()).await, "");
}

/// Sends a POST to `path` without a token, its body 100 ms after its head, reads the
/// `401`, then sends a second request on the same connection; returns the second
/// answer's status line (empty when the connection was closed under it).
async fn second_request_after_a_refusal(app: &TestApp, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let address = app.base.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    // The body comes a little later, as it does when a client writes head and body apart.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let _ = socket.write_all(body).await;
    let mut answer = vec![0u8; 8192];
    let read = socket.read(&mut answer).await.unwrap();
    let first = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(first.starts_with("HTTP/1.1 401"), "{first}");
    let _ = socket
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes())
        .await;
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), socket.read(&mut answer))
        .await
        .unwrap()
        .unwrap_or(0);
    String::from_utf8_lossy(&answer[..read])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Issue 24 (found by the SDK matrix): the SDKs send their first request without a
/// token and retry on the same connection right after the `401`. Clavis answered before
/// the body arrived, and the connection closed under the retry now and then ("server
/// disconnected without sending a response").
#[tokio::test]
async fn a_refused_request_leaves_its_connection_usable() {
    let upstream = Upstream::start().await;
    let (app, _admin) = gateway(&[], "docs", &upstream.url).await;
    for path in ["/mcp", "/mcp/docs"] {
        let second = second_request_after_a_refusal(&app, path).await;
        assert_eq!(second, "HTTP/1.1 200 OK", "{path}");
    }
}

/// SPEC §17: `subscriptions/listen` answers a stream that stays open; its events must
/// cross the gateway one by one, as the upstream sends them — for a credential limited
/// to some tools too (its streams pass the narrower).
#[tokio::test]
async fn subscriptions_listen_streams_event_by_event() {
    use futures_util::StreamExt as _;

    let listen = axum::Router::new().fallback(|body: axum::body::Bytes| async move {
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let id = request["id"].clone();
        let meta = json!({ "io.modelcontextprotocol/subscriptionId": id });
        let events = [
            json!({ "jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
                    "params": { "_meta": meta, "notifications": { "toolsListChanged": true } } }),
            json!({ "jsonrpc": "2.0", "method": "notifications/tools/list_changed",
                    "params": { "_meta": meta } }),
        ];
        let stream = futures_util::stream::iter(events.into_iter().enumerate()).then(
            |(i, event)| async move {
                if i > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
                }
                Ok::<_, std::convert::Infallible>(format!("event: message\ndata: {event}\n\n"))
            },
        );
        // Then the stream stays open, as a listen does.
        let open = stream.chain(futures_util::stream::pending());
        (
            [("content-type", "text/event-stream")],
            axum::body::Body::from_stream(open),
        )
    });
    let (url, _server) = serve_at_mcp(listen).await;
    let (app, admin) = gateway(&[], "docs", &url).await;
    for allowed in ["", "echo"] {
        let (id, secret) = app.credential_with(&admin, &["docs"], allowed).await;
        let token = app.gateway_token(&id, &secret, "docs").await;
        let started = std::time::Instant::now();
        let response = modern(
            &app,
            &token,
            json!(41),
            "subscriptions/listen",
            json!({ "notifications": { "toolsListChanged": true } }),
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "subscriptions/listen"),
            ],
        )
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let mut stream = response.bytes_stream();
        let mut seen = String::new();
        let mut arrivals = Vec::new();
        while arrivals.len() < 2 {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
                .await
                .expect("the next event in time")
                .unwrap()
                .unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
            while arrivals.len() < seen.matches("\n\n").count() {
                arrivals.push(started.elapsed());
            }
        }
        assert!(seen.contains("subscriptions/acknowledged"), "{seen}");
        assert!(seen.contains("tools/list_changed"), "{seen}");
        // The first event did not wait for the second.
        assert!(
            arrivals[1] - arrivals[0] >= std::time::Duration::from_millis(400),
            "{allowed:?}: {arrivals:?}"
        );
    }
}
