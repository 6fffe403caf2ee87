//! A small, fast MCP server for the benchmark (bench/bench.py): rmcp's Streamable HTTP
//! transport, stateless, JSON answers, on the loopback port given as the first argument.
//! Tools: `echo` (answers its text) and `stream` (sends `count` progress notifications,
//! `gap_ms` apart, then answers: an SSE answer to time through the gateway).
//!
//! With `--forward-to URL` it is instead the least a proxy can do: an axum handler that
//! forwards each POST's body to URL with a pooled reqwest client and streams the answer
//! back — no authentication, no inspection. The benchmark runs it beside the gateway to
//! show what one extra HTTP hop costs on this machine.
//!
//! With `--sign` it is the least a token endpoint can do: `POST /token` answers an
//! Ed25519-signed JWT (claims like Clavis's, a fresh `jti` each) and `GET /static` a
//! fixed JSON document — the same work as Clavis's token endpoint without reading a form,
//! authenticating or counting, to show what share of the HTTP ceiling one signature
//! leaves on this machine.
//!
//! With `--otlp` it is an OpenTelemetry collector that keeps nothing: `POST /v1/traces`
//! is answered at once (an empty OTLP/HTTP success) and counted; `GET /count` says how
//! many exports and bytes arrived — for the traces rounds, to show they were sent.
//!
//!     cargo run --release -p bench-upstream -- PORT [--forward-to URL | --sign | --otlp]

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::Engine as _;
use ed25519_dalek::Signer as _;

use rmcp::{
    ErrorData, ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{ProgressNotificationParam, RequestMetaObject},
    schemars::JsonSchema,
    tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
    },
};
use serde::Deserialize;

#[derive(Clone)]
struct Upstream {
    tool_router: Arc<ToolRouter<Self>>,
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct Echo {
    text: String,
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct Stream {
    count: u32,
    gap_ms: u64,
}

#[tool_router]
impl Upstream {
    #[tool(description = "Answers its text.")]
    async fn echo(&self, Parameters(args): Parameters<Echo>) -> String {
        args.text
    }

    #[tool(description = "Sends `count` progress notifications `gap_ms` apart, then answers.")]
    async fn stream(
        &self,
        Parameters(args): Parameters<Stream>,
        meta: RequestMetaObject,
        peer: rmcp::Peer<rmcp::RoleServer>,
    ) -> Result<String, ErrorData> {
        let token = meta
            .get_progress_token()
            .ok_or_else(|| ErrorData::invalid_params("send a progress token", None))?;
        for step in 0..args.count {
            tokio::time::sleep(Duration::from_millis(args.gap_ms)).await;
            let _ = peer
                .notify_progress(ProgressNotificationParam::new(
                    token.clone(),
                    f64::from(step),
                ))
                .await;
        }
        Ok(format!("sent {}", args.count))
    }
}

#[tool_handler(router = self.tool_router, name = "bench-upstream")]
impl ServerHandler for Upstream {}

/// The bare forwarder: body and the MCP headers to the upstream, the answer streamed back.
async fn forward(
    axum::extract::State((client, url)): axum::extract::State<(reqwest::Client, Arc<str>)>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let mut request = client.post(&*url).body(body);
    for name in [
        "content-type",
        "accept",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
    ] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(answer) => {
            let status = answer.status();
            let content_type = answer.headers().get("content-type").cloned();
            let mut response =
                axum::response::Response::new(axum::body::Body::from_stream(answer.bytes_stream()));
            *response.status_mut() = status;
            if let Some(value) = content_type {
                response.headers_mut().insert("content-type", value);
            }
            response
        }
        Err(_) => axum::http::StatusCode::BAD_GATEWAY.into_response(),
    }
}

use axum::response::IntoResponse as _;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(8700);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    if let (Some("--forward-to"), Some(url)) = (args.get(2).map(String::as_str), args.get(3)) {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .map_err(std::io::Error::other)?;
        let router = axum::Router::new()
            .route("/mcp", axum::routing::post(forward))
            .with_state((client, Arc::<str>::from(url.as_str())));
        return axum::serve(listener, router).await;
    }
    if args.get(2).map(String::as_str) == Some("--otlp") {
        let counts: Arc<(AtomicU64, AtomicU64)> = Arc::default();
        let router = axum::Router::new()
            .route(
                "/v1/traces",
                axum::routing::post(
                    |axum::extract::State(counts): axum::extract::State<
                        Arc<(AtomicU64, AtomicU64)>,
                    >,
                     body: axum::body::Bytes| async move {
                        counts.0.fetch_add(1, Ordering::Relaxed);
                        counts.1.fetch_add(body.len() as u64, Ordering::Relaxed);
                        (
                            [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                            Vec::<u8>::new(),
                        )
                    },
                ),
            )
            .route(
                "/count",
                axum::routing::get(
                    |axum::extract::State(counts): axum::extract::State<
                        Arc<(AtomicU64, AtomicU64)>,
                    >| async move {
                        json(format!(
                            r#"{{"exports":{},"bytes":{}}}"#,
                            counts.0.load(Ordering::Relaxed),
                            counts.1.load(Ordering::Relaxed)
                        ))
                    },
                ),
            )
            .with_state(counts);
        return axum::serve(listener, router).await;
    }
    if args.get(2).map(String::as_str) == Some("--sign") {
        let key = Arc::new(ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
        let router = axum::Router::new()
            .route("/token", axum::routing::post(sign))
            .route(
                "/static",
                axum::routing::get(|| async {
                    json(r#"{"resource":"http://127.0.0.1/mcp","authorization_servers":["http://127.0.0.1"]}"#.to_owned())
                }),
            )
            .with_state(key);
        return axum::serve(listener, router).await;
    }
    let tools = Arc::new(Upstream::tool_router());
    let service = StreamableHttpService::new(
        move || {
            Ok(Upstream {
                tool_router: tools.clone(),
            })
        },
        Arc::new(NeverSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true),
    );
    let router = axum::Router::new().route_service("/mcp", service);
    axum::serve(listener, router).await
}

fn json(body: String) -> axum::response::Response {
    axum::response::IntoResponse::into_response((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    ))
}

/// `--sign`: one Ed25519-signed access token per request, as Clavis's endpoint signs it.
async fn sign(
    axum::extract::State(key): axum::extract::State<Arc<ed25519_dalek::SigningKey>>,
) -> axum::response::Response {
    static ISSUED: AtomicU64 = AtomicU64::new(0);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let jti = ISSUED.fetch_add(1, Ordering::Relaxed);
    let claims = format!(
        r#"{{"iss":"http://127.0.0.1","sub":"clv_bench","client_id":"clv_bench","aud":"http://127.0.0.1/mcp","iat":{now},"exp":{},"jti":"{jti:022}","scope":"mcp"}}"#,
        now + 3600
    );
    let mut token = b64.encode(r#"{"alg":"EdDSA","typ":"at+jwt","kid":"bench"}"#);
    token.push('.');
    b64.encode_string(claims, &mut token);
    let signature = key.sign(token.as_bytes());
    token.push('.');
    b64.encode_string(signature.to_bytes(), &mut token);
    json(format!(
        r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":3600,"scope":"mcp"}}"#
    ))
}
