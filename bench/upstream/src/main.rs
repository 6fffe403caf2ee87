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
//!     cargo run --release -p bench-upstream -- PORT [--forward-to URL]

use std::{sync::Arc, time::Duration};

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
    for name in ["content-type", "accept", "mcp-protocol-version"] {
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
