//! Traces (SPEC §20): the `clavis` binary with `--otlp-endpoint` exports its spans over
//! OTLP/HTTP to a receiver these tests run, decoded with the `opentelemetry-proto` types.
//! A gateway call continues the caller's trace (from its `traceparent` header, or from
//! `_meta.traceparent` in a modern request's body), the upstream is handed Clavis's own
//! span as its parent, and no exported byte holds a token, a secret or a header's value.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::{
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::body::Bytes;
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, any_value::Value as Any},
    trace::v1::{Span, span::SpanKind},
};
use prost::Message as _;
use serde_json::{Value, json};

use crate::{
    gateway::Upstream,
    helpers::{PASSWORD, Process, free_port, run_cli},
};

const BIN: &str = env!("CARGO_BIN_EXE_clavis");
const MODERN: &str = "2026-07-28";
const UPSTREAM_KEY: &str = "upstream-key-value-5f3e9a";
const EMAIL: &str = "traces@example.com";

/// An OTLP/HTTP receiver: every body posted to `/v1/traces`, as received.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<Bytes>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Self {
        let bodies: Arc<Mutex<Vec<Bytes>>> = Arc::default();
        let keep = bodies.clone();
        let router = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: Bytes| {
                let keep = keep.clone();
                async move {
                    keep.lock().unwrap().push(body);
                    (
                        [("content-type", "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            url,
            bodies,
            _server: server,
        }
    }

    fn spans(&self) -> Vec<Span> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .flat_map(|body| {
                ExportTraceServiceRequest::decode(body.as_ref())
                    .unwrap()
                    .resource_spans
            })
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .collect()
    }

    fn bytes(&self) -> Vec<u8> {
        self.bodies.lock().unwrap().concat()
    }
}

/// A `clavis` process with a gateway server `docs` at `upstream` (whose upstream
/// header is [`UPSTREAM_KEY`]) and a credential for it.
struct Clavis {
    base: String,
    process: Option<Process>,
    dir: tempfile::TempDir,
    client_id: String,
    client_secret: String,
}

impl Clavis {
    async fn start(upstream: &str, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let database = format!("sqlite://{}/c.db", dir.path().display());
        let cli = |args: &[&str], input: &str| {
            let output = run_cli(&database, &[args, &["--issuer", &base]].concat(), input);
            assert!(
                output.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap()
        };
        cli(&["create-user", "--email", EMAIL], &format!("{PASSWORD}\n"));
        cli(
            &[
                "server",
                "add",
                "--name",
                "Docs",
                "--slug",
                "docs",
                "--mode",
                "gateway",
                "--upstream-url",
                upstream,
                "--upstream-header-name",
                "x-upstream-key",
                "--access",
                "everyone",
            ],
            &format!("{UPSTREAM_KEY}\n"),
        );
        let created: Value = serde_json::from_str(
            cli(
                &[
                    "credential",
                    "create",
                    "--user",
                    EMAIL,
                    "--name",
                    "traced",
                    "--server",
                    "docs",
                ],
                "",
            )
            .trim(),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(BIN)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(["--log", "debug", "--log-format", "json"])
            .args(args)
            .env("DATABASE_URL", &database)
            .env("CLAVIS_ISSUER", &base)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OTEL_TRACES_SAMPLER")
            .env_remove("CLAVIS_TRACE_SAMPLING")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let clavis = Self {
            base,
            process: Some(Process::new(child)),
            dir,
            client_id: created["client_id"].as_str().unwrap().to_owned(),
            client_secret: created["client_secret"].as_str().unwrap().to_owned(),
        };
        let started = Instant::now();
        while reqwest::get(format!("{}/healthz", clavis.base))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "clavis did not start: {}",
                clavis.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        clavis
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    async fn token(&self) -> String {
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/mcp/oauth/token", self.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("client_secret", &self.client_secret),
                ("resource", &format!("{}/mcp/docs", self.base)),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"))
            .to_owned()
    }

    /// A modern `tools/call` of `echo`, with `meta` added to its `_meta` and `headers`.
    async fn call(&self, token: &str, meta: Value, headers: &[(&str, &str)]) -> Value {
        let mut params = json!({
            "name": "echo",
            "arguments": { "text": "traced" },
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": { "name": "traces", "version": "1" },
            },
        });
        for (key, value) in meta.as_object().unwrap() {
            params["_meta"][key] = value.clone();
        }
        let mut request = reqwest::Client::new()
            .post(format!("{}/mcp/docs", self.base))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", MODERN)
            .header("mcp-method", "tools/call")
            .header("mcp-name", "echo")
            .body(
                json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params })
                    .to_string(),
            );
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::OK);
        let text = answer.text().await.unwrap();
        let json = text
            .lines()
            .find_map(|line| line.strip_prefix("data:"))
            .unwrap_or(&text);
        serde_json::from_str(json.trim()).unwrap()
    }

    /// SIGTERM (the last spans are exported on the way out) and a clean exit.
    fn stop(mut self) -> String {
        let status = self.process.take().unwrap().terminate();
        let log = self.log();
        assert!(status.success(), "exit {status:?}: {log}");
        log
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a Any> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn text<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    match attribute(span, key) {
        Some(Any::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn int(span: &Span, key: &str) -> Option<i64> {
    match attribute(span, key) {
        Some(Any::IntValue(i)) => Some(*i),
        _ => None,
    }
}

/// The one span of `spans` in trace `trace` whose parent is `parent` and name `name`.
fn child<'a>(spans: &'a [Span], trace: &str, parent: &[u8], name: &str) -> &'a Span {
    let found: Vec<&Span> = spans
        .iter()
        .filter(|s| hex(&s.trace_id) == trace && s.parent_span_id == parent && s.name == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {name:?} under {} in trace {trace}: {:#?}",
        hex(parent),
        spans
            .iter()
            .map(|s| (&s.name, hex(&s.trace_id), hex(&s.parent_span_id)))
            .collect::<Vec<_>>()
    );
    found[0]
}

fn bytes_of(hex_text: &str) -> Vec<u8> {
    (0..hex_text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex_text[i..i + 2], 16).unwrap())
        .collect()
}

/// The `traceparent` the upstream received with the request whose body holds `marker`.
fn upstream_traceparent(upstream: &Upstream, marker: &str) -> Vec<String> {
    upstream
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, body)| String::from_utf8_lossy(body).contains(marker))
        .flat_map(|(headers, _)| {
            headers
                .get_all("traceparent")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The server span of a gateway call in `trace` under the caller's span `parent`, the
/// token check and upstream call spans under it, and what the upstream received; the
/// `traceparent` naming the call span.
fn assert_gateway_trace(
    spans: &[Span],
    upstream: &Upstream,
    trace: &str,
    parent: &str,
    marker: &str,
) -> String {
    let server = child(spans, trace, &bytes_of(parent), "POST /mcp/{slug}");
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(text(server, "http.route"), Some("/mcp/{slug}"));
    assert_eq!(text(server, "http.request.method"), Some("POST"));
    assert_eq!(
        int(server, "http.response.status_code"),
        Some(200),
        "{server:?}"
    );
    let check = child(spans, trace, &server.span_id, "check token");
    assert_eq!(text(check, "clavis.outcome"), Some("allowed"));
    assert_eq!(text(check, "clavis.auth.scheme"), Some("Bearer"));
    let call = child(spans, trace, &server.span_id, "tools/call echo");
    assert_eq!(call.kind, SpanKind::Client as i32);
    assert_eq!(text(call, "mcp.method.name"), Some("tools/call"));
    assert_eq!(text(call, "gen_ai.tool.name"), Some("echo"));
    assert_eq!(text(call, "clavis.gateway.server"), Some("docs"));
    assert_eq!(int(call, "http.response.status_code"), Some(200));
    assert!(
        matches!(attribute(call, "clavis.upstream.ttfb_ms"), Some(Any::DoubleValue(ms)) if *ms > 0.0),
        "{call:?}"
    );
    assert!(call.start_time_unix_nano >= server.start_time_unix_nano);
    assert!(call.end_time_unix_nano <= server.end_time_unix_nano);
    // The upstream's parent is Clavis's call span, in the caller's trace.
    let traceparent = format!("00-{trace}-{}-01", hex(&call.span_id));
    assert_eq!(
        upstream_traceparent(upstream, marker),
        vec![traceparent.clone()]
    );
    traceparent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_call_continues_the_callers_trace_and_hands_the_upstream_its_own_span() {
    let receiver = Receiver::start().await;
    let upstream = Upstream::start().await;
    let clavis = Clavis::start(&upstream.url, &["--otlp-endpoint", &receiver.url]).await;
    let token = clavis.token().await;

    // A caller's trace in the header (with vendor state, which goes on).
    let (t1, p1) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let answer = clavis
        .call(
            &token,
            json!({ "marker": "first" }),
            &[
                ("traceparent", &format!("00-{t1}-{p1}-01")),
                ("tracestate", "vendor=opaque"),
            ],
        )
        .await;
    assert_eq!(answer["result"]["content"][0]["text"], "traced", "{answer}");
    // A modern caller's trace in `_meta` only.
    let (t2, p2) = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    clavis
        .call(
            &token,
            json!({ "marker": "second", "traceparent": format!("00-{t2}-{p2}-01") }),
            &[],
        )
        .await;
    let (client_id, client_secret) = (clavis.client_id.clone(), clavis.client_secret.clone());
    // Both: the header wins, and the body's other trace is left as the caller wrote it.
    let (t4, p4) = ("55555555555555555555555555555555", "6666666666666666");
    let other = format!("00-{}-{}-01", "7".repeat(32), "8".repeat(16));
    clavis
        .call(
            &token,
            json!({ "marker": "both", "traceparent": other }),
            &[("traceparent", &format!("00-{t4}-{p4}-01"))],
        )
        .await;
    // Names a caller makes up at length are not recorded: an HTTP method no one
    // defines, a tool name of 300 characters.
    let invented = "x".repeat(300);
    let odd = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(b"BREW").unwrap(),
            format!("{}/healthz", clavis.base),
        )
        .send()
        .await
        .unwrap();
    assert!(odd.status().is_client_error(), "{}", odd.status());
    let long = reqwest::Client::new()
        .post(format!("{}/mcp/docs", clavis.base))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(
            json!({ "jsonrpc": "2.0", "id": 9, "method": "tools/call",
                    "params": { "name": invented, "arguments": {} } })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    drop(long.bytes().await);
    let log = clavis.stop();

    let spans = receiver.spans();
    assert_gateway_trace(&spans, &upstream, t1, p1, "first");
    let second = assert_gateway_trace(&spans, &upstream, t2, p2, "second");
    // The modern request's `_meta` names Clavis's span too, the rest of it as sent.
    let bodies = upstream.bodies();
    let forwarded = bodies.iter().find(|b| b.contains("second")).unwrap();
    assert!(
        forwarded.contains(&format!(r#""traceparent":"{second}""#)),
        "{forwarded}"
    );
    assert!(
        forwarded.contains(r#""arguments":{"text":"traced"}"#),
        "{forwarded}"
    );
    assert_gateway_trace(&spans, &upstream, t4, p4, "both");
    let both = bodies.iter().find(|b| b.contains("both")).unwrap();
    assert!(
        both.contains(&format!(r#""traceparent":"{other}""#)),
        "{both}"
    );
    let brew = spans.iter().find(|s| s.name == "HTTP").unwrap();
    assert_eq!(text(brew, "http.request.method"), Some("_OTHER"));
    assert!(spans.iter().any(|s| s.name == "tools/call _OTHER"));
    let tracestates: Vec<_> = upstream
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, body)| String::from_utf8_lossy(body).contains("first"))
        .filter_map(|(h, _)| h.get("tracestate").map(|v| v.to_str().unwrap().to_owned()))
        .collect();
    assert_eq!(tracestates, ["vendor=opaque"]);

    // The token request: a trace of its own (no caller's), the client that got it.
    let issue = spans.iter().find(|s| s.name == "issue token").unwrap();
    assert_eq!(text(issue, "oauth.client_id"), Some(client_id.as_str()));
    assert_eq!(text(issue, "oauth.grant_type"), Some("client_credentials"));
    assert_eq!(text(issue, "clavis.outcome"), Some("issued"));
    let request = spans
        .iter()
        .find(|s| s.span_id == issue.parent_span_id)
        .unwrap();
    assert_eq!(request.name, "POST /mcp/oauth/token");
    assert!(request.parent_span_id.is_empty(), "{request:?}");

    // Log lines written inside a traced request carry its trace id.
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("\"trace_id\":\"{t1}\""))),
        "{log}"
    );
    // Nothing exported is a credential, a token or a header's value.
    let exported = receiver.bytes();
    let contains = |needle: &str| {
        exported
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    };
    let header = format!("Bearer {}", &token[..12]);
    for secret in [
        token.as_str(),
        &token[token.len() - 20..],
        client_secret.as_str(),
        invented.as_str(),
        "BREW",
        UPSTREAM_KEY,
        PASSWORD,
        &header,
        "application/json, text/event-stream",
    ] {
        assert!(!contains(secret), "an exported span holds {secret:?}");
    }
}

/// `--trace-sampling 0`: a new trace is not recorded, yet the upstream still gets a
/// parent (not sampled); a caller's sampled trace is recorded all the same, and one it
/// does not sample is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_decides_for_new_traces_and_callers_decide_for_theirs() {
    let receiver = Receiver::start().await;
    let upstream = Upstream::start().await;
    let clavis = Clavis::start(
        &upstream.url,
        &["--otlp-endpoint", &receiver.url, "--trace-sampling", "0"],
    )
    .await;
    let token = clavis.token().await;
    clavis
        .call(&token, json!({ "marker": "unsampled" }), &[])
        .await;
    let (trace, parent) = ("11111111111111111111111111111111", "2222222222222222");
    clavis
        .call(
            &token,
            json!({ "marker": "sampled" }),
            &[("traceparent", &format!("00-{trace}-{parent}-01"))],
        )
        .await;
    // A caller's trace it does not sample: not recorded either, and handed on as such.
    let (t3, p3) = ("33333333333333333333333333333333", "4444444444444444");
    clavis
        .call(
            &token,
            json!({ "marker": "declined" }),
            &[("traceparent", &format!("00-{t3}-{p3}-00"))],
        )
        .await;
    clavis.stop();

    let spans = receiver.spans();
    let declined = upstream_traceparent(&upstream, "declined");
    assert_eq!(declined.len(), 1, "{declined:?}");
    let parts: Vec<&str> = declined[0].split('-').collect();
    assert_eq!((parts[1], parts[3]), (t3, "00"), "{declined:?}");
    assert_ne!(parts[2], p3, "Clavis hands on a span id of its own");
    assert!(spans.iter().all(|s| hex(&s.trace_id) != t3));
    let unsampled = upstream_traceparent(&upstream, "unsampled");
    assert_eq!(unsampled.len(), 1, "{unsampled:?}");
    let parts: Vec<&str> = unsampled[0].split('-').collect();
    assert_eq!((parts[0], parts[3]), ("00", "00"), "{unsampled:?}");
    assert!(
        spans.iter().all(|s| hex(&s.trace_id) != parts[1]),
        "an unsampled trace was exported"
    );
    assert!(
        spans.iter().all(|s| s.name != "issue token"),
        "the token request was sampled"
    );
    assert_gateway_trace(&spans, &upstream, trace, parent, "\"sampled\"");
}

/// A call Clavis cannot deliver is a failed trace: the upstream call span says why
/// (`unreachable`) and the server span the status Clavis answered (`502`), both with
/// OpenTelemetry's error status; a call delivered is not marked failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_cannot_be_reached_is_a_failed_span() {
    let receiver = Receiver::start().await;
    // A port bound and never listened on, held for the whole test: connections to it
    // are refused, and no other server can take it meanwhile.
    let unlistened = tokio::net::TcpSocket::new_v4().unwrap();
    unlistened.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let closed = format!(
        "http://127.0.0.1:{}/mcp",
        unlistened.local_addr().unwrap().port()
    );
    let clavis = Clavis::start(&closed, &["--otlp-endpoint", &receiver.url]).await;
    let token = clavis.token().await;
    let (trace, parent) = ("99999999999999999999999999999999", "aaaaaaaaaaaaaaaa");
    let answer = reqwest::Client::new()
        .post(format!("{}/mcp/docs", clavis.base))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("traceparent", format!("00-{trace}-{parent}-01"))
        .body(
            json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": { "name": "echo", "arguments": {} } })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::BAD_GATEWAY);
    clavis.stop();
    drop(unlistened);

    let spans = receiver.spans();
    const ERROR: i32 = 2; // opentelemetry.proto.trace.v1.Status.StatusCode.STATUS_CODE_ERROR
    let status = |span: &Span| span.status.as_ref().map_or(0, |s| s.code);
    let server = child(&spans, trace, &bytes_of(parent), "POST /mcp/{slug}");
    assert_eq!(int(server, "http.response.status_code"), Some(502));
    assert_eq!(text(server, "error.type"), Some("502"));
    assert_eq!(status(server), ERROR);
    let call = child(&spans, trace, &server.span_id, "tools/call echo");
    assert_eq!(text(call, "error.type"), Some("unreachable"));
    assert_eq!(status(call), ERROR);
    assert_eq!(int(call, "http.response.status_code"), None);
    let check = child(&spans, trace, &server.span_id, "check token");
    assert_eq!(text(check, "clavis.outcome"), Some("allowed"));
    assert_ne!(status(check), ERROR);
    let issue = spans.iter().find(|s| s.name == "issue token").unwrap();
    assert_ne!(status(issue), ERROR);
}
