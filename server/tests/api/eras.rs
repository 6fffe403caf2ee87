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
    gateway::{Plain, Upstream, gateway},
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
    app.state
        .oauth
        .gateway
        .usage
        .flush(&app.state.oauth.pool)
        .await
        .unwrap();
    let credential = clavis::store::credential_by_client_id(&app.state.oauth.pool, &id)
        .await
        .unwrap()
        .unwrap();
    let usage = clavis::store::gateway_usage_for(&app.state.oauth.pool, credential.id)
        .await
        .unwrap();
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
