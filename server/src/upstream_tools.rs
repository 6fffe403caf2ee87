//! The tools a gateway server's upstream lists, asked by Clavis itself for the credential
//! form's choices (SPEC §17): a 2026-07-28 `tools/list` first (stateless, one request),
//! and when the upstream does not answer it, the handshake era's `initialize`,
//! `notifications/initialized`, `tools/list` and `DELETE` of the session. Pages are
//! followed up to [`PAGES`]; answers are JSON or Server-Sent Events, read up to
//! [`ANSWER_LIMIT`] bytes.
//!
//! Each server's answer (or failure) is kept for [`FRESH`] ([`FRESH_FAILURE`] for a
//! failure), and forms opened while it is being asked wait for that same ask: at most
//! one ask per server at a time and per minute (every 15 s after a failure, and anew
//! when its upstream URL changed), whoever opens the form. Names a
//! credential could not be limited to ([`clavis::grant::is_tool_name`]) are left
//! out. The upstream sees the server's upstream header, no `X-Clavis-Client-Id` (no
//! credential is calling), and nothing of the person asking.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use app::ssr::ToolList;
use axum::http::{Method, header};
use clavis::servers::Server;
use serde_json::{Value, json};

use clavis::jsonrpc;

use crate::upstream::{Gateway, read_limited};

/// How long a server's tool list is kept (from when it came).
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

/// One server's ask: for which upstream URL, and its answer with when it came (the
/// ask under way while empty: whoever comes meanwhile waits for the same answer).
struct Slot {
    upstream: Option<String>,
    answer: tokio::sync::OnceCell<(Instant, ToolList)>,
}

impl Slot {
    fn fresh(&self, now: Instant) -> bool {
        self.answer.get().is_none_or(|(at, list)| {
            now.duration_since(*at) < if list.is_ok() { FRESH } else { FRESH_FAILURE }
        })
    }
}

/// The asks, by server id.
#[derive(Default)]
pub struct ToolCache(Mutex<HashMap<i64, Arc<Slot>>>);

impl ToolCache {
    /// `server`'s slot: the kept one while fresh and for the same upstream, else a new one.
    fn slot(&self, server: &Server, now: Instant) -> Arc<Slot> {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Servers are few (administrators register them); removed ones go when stale.
        kept.retain(|_, slot| slot.fresh(now));
        if let Some(slot) = kept.get(&server.id)
            && slot.upstream == server.upstream_url
        {
            return slot.clone();
        }
        let slot = Arc::new(Slot {
            upstream: server.upstream_url.clone(),
            answer: tokio::sync::OnceCell::new(),
        });
        kept.insert(server.id, slot.clone());
        slot
    }
}

impl ToolCache {
    /// `server`'s tool names, kept or asked now through `gateway` (once, whoever else
    /// asks meanwhile).
    pub async fn tools(&self, gateway: &Gateway, server: &Server) -> ToolList {
        let slot = self.slot(server, Instant::now());
        let (_, list) = slot
            .answer
            .get_or_init(|| async {
                let list = match tokio::time::timeout(TIMEOUT, gateway.ask_tools(server)).await {
                    Ok(list) => list,
                    Err(_) => Err(format!(
                        "MCP server \"{}\" did not answer in time",
                        server.name
                    )),
                };
                if let Err(e) = &list {
                    tracing::debug!(server = %server.slug, error = %e, "no tool list from the upstream");
                }
                (Instant::now(), list)
            })
            .await;
        list.clone()
    }
}

impl Gateway {
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
                    .filter(|name| clavis::grant::is_tool_name(name))
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
        let message = if sse {
            answer_event(answer).await
        } else {
            let bytes = read_limited(answer, ANSWER_LIMIT).await;
            bytes
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .filter(is_our_answer)
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

/// The answer to Clavis's request (not a request of the upstream's own).
fn is_our_answer(message: &Value) -> bool {
    message.get("id").and_then(Value::as_str) == Some("clavis")
        && message.get("method").is_none()
        && (message.get("result").is_some() || message.get("error").is_some())
}

/// Reads a Server-Sent Events answer up to the event carrying Clavis's answer (a stream
/// may stay open after it), at most [`ANSWER_LIMIT`] bytes.
async fn answer_event(answer: reqwest::Response) -> Option<Value> {
    use futures_util::StreamExt as _;

    let mut stream = answer.bytes_stream();
    let mut pending: Vec<u8> = Vec::new();
    let mut read = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ok()?;
        read += chunk.len();
        if read > ANSWER_LIMIT {
            return None;
        }
        pending.extend_from_slice(&chunk);
        while let Some(event) = jsonrpc::next_event(&mut pending) {
            if let Some(data) = std::str::from_utf8(&event)
                .ok()
                .and_then(jsonrpc::event_data)
                && let Ok(message) = serde_json::from_str::<Value>(&data)
                && is_our_answer(&message)
            {
                return Some(message);
            }
        }
    }
    None
}
