//! The tools a gateway server's upstream lists, asked by Clavis itself for the credential
//! form's choices (SPEC §17): a 2026-07-28 `tools/list` first (stateless, one request),
//! and when the upstream does not answer it, the handshake era's `initialize`,
//! `notifications/initialized`, `tools/list` and `DELETE` of the session. Pages are
//! followed up to [`PAGES`]; answers are JSON or Server-Sent Events, read up to
//! [`ANSWER_LIMIT`] bytes.
//!
//! Each server's answer (or failure) is kept for [`FRESH`] ([`FRESH_FAILURE`] for a
//! failure), so opening forms does not load upstreams: at most one ask per server per
//! minute, whoever opens the form. The upstream sees the server's upstream header, no
//! `X-Clavis-Client-Id` (no credential is calling), and nothing of the person asking.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use app::ssr::ToolList;
use axum::http::{Method, header};
use clavis::servers::Server;
use serde_json::{Value, json};

use crate::gateway::Gateway;

/// How long a server's tool list is kept.
pub const FRESH: Duration = Duration::from_secs(60);
/// How long a failure to get one is kept.
pub const FRESH_FAILURE: Duration = Duration::from_secs(15);
/// The longest Clavis waits for one server's whole list.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Most pages of a tool list followed.
const PAGES: usize = 10;
/// Most tools kept of one server.
const TOOLS_MAX: usize = 500;
/// Largest answer read.
const ANSWER_LIMIT: usize = 1024 * 1024;
const MODERN: &str = "2026-07-28";
const HANDSHAKE: &str = "2025-11-25";

/// A server's kept answer: for which upstream URL, since when.
pub struct Listed {
    upstream: Option<String>,
    at: Instant,
    list: ToolList,
}

/// The kept answers, by server id.
#[derive(Default)]
pub struct ToolCache(Mutex<HashMap<i64, Listed>>);

impl ToolCache {
    fn get(&self, server: &Server, now: Instant) -> Option<ToolList> {
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let listed = kept.get(&server.id)?;
        let fresh = if listed.list.is_ok() {
            FRESH
        } else {
            FRESH_FAILURE
        };
        (listed.upstream == server.upstream_url && now.duration_since(listed.at) < fresh)
            .then(|| listed.list.clone())
    }

    fn put(&self, server: &Server, at: Instant, list: ToolList) {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Servers are few (administrators register them); removed ones go with the rest.
        kept.retain(|_, listed| at.duration_since(listed.at) < FRESH);
        kept.insert(
            server.id,
            Listed {
                upstream: server.upstream_url.clone(),
                at,
                list,
            },
        );
    }
}

impl Gateway {
    /// `server`'s tool names, kept or asked now.
    pub async fn upstream_tools(&self, server: &Server) -> ToolList {
        if let Some(list) = self.tool_cache.get(server, Instant::now()) {
            return list;
        }
        let list = match tokio::time::timeout(TIMEOUT, self.ask_tools(server)).await {
            Ok(list) => list,
            Err(_) => Err(format!(
                "MCP server \"{}\" did not answer in time",
                server.name
            )),
        };
        if let Err(e) = &list {
            tracing::debug!(server = %server.slug, error = %e, "no tool list from the upstream");
        }
        self.tool_cache.put(server, Instant::now(), list.clone());
        list
    }

    async fn ask_tools(&self, server: &Server) -> ToolList {
        let unlisted = || format!("MCP server \"{}\" did not list its tools", server.name);
        let meta = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": { "name": "Clavis", "version": env!("CARGO_PKG_VERSION") },
        });
        let modern = |cursor: Option<&str>| {
            let mut params = json!({ "_meta": meta });
            if let Some(cursor) = cursor {
                params["cursor"] = Value::from(cursor);
            }
            Call {
                method: "tools/list",
                params,
                version: MODERN,
                session: None,
                mirrored: true,
            }
        };
        if let Ok(tools) = self.pages(server, modern).await {
            return Ok(tools);
        }
        // The handshake era.
        let initialize = Call {
            method: "initialize",
            params: json!({ "protocolVersion": HANDSHAKE, "capabilities": {},
                            "clientInfo": { "name": "Clavis", "version": env!("CARGO_PKG_VERSION") } }),
            version: HANDSHAKE,
            session: None,
            mirrored: false,
        };
        let (answer, session) = self
            .call(server, &initialize)
            .await
            .map_err(|()| unlisted())?;
        let version = answer
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or(HANDSHAKE)
            .to_owned();
        let _ = self
            .notify(
                server,
                "notifications/initialized",
                &version,
                session.as_deref(),
            )
            .await;
        let listed = self
            .pages(server, |cursor| Call {
                method: "tools/list",
                params: cursor.map_or_else(|| json!({}), |c| json!({ "cursor": c })),
                version: &version,
                session: session.clone(),
                mirrored: false,
            })
            .await;
        if let Some(session) = &session
            && let Ok(request) = self.upstream_request(server, Method::DELETE)
        {
            let _ = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", &version)
                .send()
                .await;
        }
        listed.map_err(|()| unlisted())
    }

    /// Every page of `tools/list`, the names only.
    async fn pages<'a>(
        &self,
        server: &Server,
        call: impl Fn(Option<&str>) -> Call<'a>,
    ) -> Result<Arc<[String]>, ()> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..PAGES {
            let (result, _) = self.call(server, &call(cursor.as_deref())).await?;
            let names = result.get("tools").and_then(Value::as_array).ok_or(())?;
            tools.extend(
                names
                    .iter()
                    .filter_map(|t| t.get("name").and_then(Value::as_str))
                    .map(str::to_owned),
            );
            cursor = result
                .get("nextCursor")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if cursor.is_none() || tools.len() >= TOOLS_MAX {
                break;
            }
        }
        tools.truncate(TOOLS_MAX);
        tools.sort();
        tools.dedup();
        Ok(tools.into())
    }

    /// One request; its answer's `result` and the session id the upstream gave.
    async fn call(&self, server: &Server, call: &Call<'_>) -> Result<(Value, Option<String>), ()> {
        let body = json!({ "jsonrpc": "2.0", "id": "clavis", "method": call.method, "params": call.params });
        let mut request = self
            .upstream_request(server, Method::POST)
            .map_err(drop)?
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", call.version);
        if call.mirrored {
            request = request.header("mcp-method", call.method);
        }
        if let Some(session) = &call.session {
            request = request.header("mcp-session-id", session);
        }
        let answer = request.body(body.to_string()).send().await.map_err(drop)?;
        if !answer.status().is_success() {
            return Err(());
        }
        let session = answer
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let sse = answer
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/event-stream"));
        let bytes = crate::gateway::read_limited(answer, ANSWER_LIMIT)
            .await
            .ok_or(())?;
        let text = std::str::from_utf8(&bytes)
            .map_err(drop)?
            .replace("\r\n", "\n");
        let ours = |message: &Value| message.get("id").and_then(Value::as_str) == Some("clavis");
        let message = if sse {
            sse_data(&text)
                .filter_map(|data| serde_json::from_str::<Value>(&data).ok())
                .find(ours)
        } else {
            serde_json::from_str::<Value>(&text).ok().filter(ours)
        };
        let result = message.and_then(|mut m| m.get_mut("result").map(Value::take));
        result.map(|r| (r, session)).ok_or(())
    }

    async fn notify(
        &self,
        server: &Server,
        method: &str,
        version: &str,
        session: Option<&str>,
    ) -> Result<(), ()> {
        let mut request = self
            .upstream_request(server, Method::POST)
            .map_err(drop)?
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", version);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request
            .body(json!({ "jsonrpc": "2.0", "method": method }).to_string())
            .send()
            .await
            .map(drop)
            .map_err(drop)
    }
}

/// One JSON-RPC request Clavis makes of an upstream.
struct Call<'a> {
    method: &'static str,
    params: Value,
    version: &'a str,
    session: Option<String>,
    /// Whether the body is mirrored in headers (2026-07-28).
    mirrored: bool,
}

/// The data of each event of a Server-Sent Events text.
fn sse_data(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split("\n\n").filter_map(|event| {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(|value| value.strip_prefix(' ').unwrap_or(value))
            .collect();
        (!data.is_empty()).then(|| data.join("\n"))
    })
}

impl app::ssr::ToolLists for crate::oauth::OAuthState {
    fn tools(
        &self,
        servers: Vec<Arc<Server>>,
    ) -> std::pin::Pin<Box<dyn Future<Output = Vec<ToolList>> + Send + '_>> {
        Box::pin(async move {
            futures_util::future::join_all(
                servers
                    .iter()
                    .map(|server| self.gateway.upstream_tools(server)),
            )
            .await
        })
    }
}
