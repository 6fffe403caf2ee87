//! A small, fast MCP server for the benchmark (bench/bench.py): rmcp's Streamable HTTP
//! transport, stateless, JSON answers, on the loopback port given as the only argument.
//! Tools: `echo` (answers its text) and `stream` (sends `count` progress notifications,
//! `gap_ms` apart, then answers: an SSE answer to time through the gateway).
//!
//!     cargo run --release -p server --example bench_upstream -- PORT

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

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8700);
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
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, router).await
}
