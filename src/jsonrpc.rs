//! What the gateway reads of the MCP traffic it forwards (SPEC §10.2): the JSON-RPC
//! request's ids, methods and tool names (for error bodies, per-tool counting and the
//! allowed-tools rule), and the `tools/list` answers it narrows to a credential's
//! allowed tools — whole JSON bodies, or Server-Sent Events one event at a time, so a
//! stream is never held back. Pure functions over bytes: fuzzed as they are.

use serde::Deserialize;
use serde_json::Value;

/// Longest tool name counted under its own name; longer ones are counted as `(invalid)`.
pub const TOOL_NAME_MAX: usize = 128;

/// One JSON-RPC message of a request body.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The id (`None` for a notification or a response without one).
    pub id: Option<Value>,
    pub method: Option<String>,
    /// `params.name` of a `tools/call`.
    pub tool: Option<String>,
}

/// What a request body holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inspection {
    pub messages: Vec<Message>,
    /// Whether the body was a JSON array (a batch, MCP 2025-03-26).
    pub batch: bool,
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<RawParams>,
}

#[derive(Deserialize)]
struct RawParams {
    #[serde(default)]
    name: Option<Value>,
}

impl From<RawMessage> for Message {
    fn from(raw: RawMessage) -> Self {
        let tool = if raw.method.as_deref() == Some("tools/call") {
            raw.params.and_then(|p| p.name).map(|name| match name {
                Value::String(s) => s,
                other => other.to_string(),
            })
        } else {
            None
        };
        Self {
            id: raw.id,
            method: raw.method,
            tool,
        }
    }
}

/// Reads a request body. Anything that is not JSON-RPC is an empty inspection: the
/// gateway forwards it as it is and the upstream answers it.
#[must_use]
pub fn inspect(body: &[u8]) -> Inspection {
    // Chosen by the first byte: serde would also read a struct from an array.
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice::<RawMessage>(body)
            .map(|one| Inspection {
                messages: vec![one.into()],
                batch: false,
            })
            .unwrap_or_default(),
        Some(b'[') => serde_json::from_slice::<Vec<RawMessage>>(body)
            .map(|many| Inspection {
                messages: many.into_iter().map(Message::from).collect(),
                batch: true,
            })
            .unwrap_or_default(),
        _ => Inspection::default(),
    }
}

impl Inspection {
    /// The id to put in an error answer: the request's, when the body was one request.
    #[must_use]
    pub fn error_id(&self) -> Value {
        match (self.batch, self.messages.as_slice()) {
            (false, [one]) => one.id.clone().unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// The first `tools/call` of a tool not in `allowed` (an empty list allows all).
    #[must_use]
    pub fn refused_call(&self, allowed: &[String]) -> Option<&Message> {
        if allowed.is_empty() {
            return None;
        }
        self.messages
            .iter()
            .find(|m| m.tool.as_ref().is_some_and(|t| !allowed.contains(t)))
    }

    /// The ids of the `tools/list` requests, whose answers must be narrowed.
    #[must_use]
    pub fn tools_list_ids(&self) -> Vec<Value> {
        self.messages
            .iter()
            .filter(|m| m.method.as_deref() == Some("tools/list"))
            .filter_map(|m| m.id.clone())
            .collect()
    }

    /// The tool each message is counted under: its name for a `tools/call`, `""` else.
    pub fn counted_tools(&self) -> impl Iterator<Item = &str> {
        self.messages.iter().map(|m| match &m.tool {
            Some(t) if t.len() <= TOOL_NAME_MAX && !t.chars().any(char::is_control) => t.as_str(),
            Some(_) => "(invalid)",
            None => "",
        })
    }
}

/// A JSON-RPC error answer.
#[must_use]
pub fn error(id: Value, code: i64, message: &str) -> Value {
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

/// Narrows the `result.tools` of answers to `ids` to the `allowed` names, in a single
/// answer or a batch. Returns whether anything changed.
pub fn narrow_tools(answer: &mut Value, allowed: &[String], ids: &[Value]) -> bool {
    match answer {
        Value::Array(answers) => {
            // Every answer of the batch, not just up to the first that changed.
            let mut changed = false;
            for answer in answers {
                changed |= narrow_tools(answer, allowed, ids);
            }
            changed
        }
        Value::Object(object) => {
            if !object.get("id").is_some_and(|id| ids.contains(id)) {
                return false;
            }
            let Some(Value::Array(tools)) =
                object.get_mut("result").and_then(|r| r.get_mut("tools"))
            else {
                return false;
            };
            let before = tools.len();
            tools.retain(|tool| {
                tool.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|name| allowed.iter().any(|a| a == name))
            });
            tools.len() != before
        }
        _ => false,
    }
}

/// Narrows `tools/list` answers in a Server-Sent Events stream, event by event: each
/// complete event is passed on as soon as its blank line arrives, rewritten only if it
/// carries such an answer. Partial events wait for the rest of their bytes.
pub struct SseNarrower {
    allowed: Vec<String>,
    ids: Vec<Value>,
    pending: Vec<u8>,
}

/// Where the event ending the buffer's first complete event ends (after its blank line).
fn event_end(buffer: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < buffer.len() {
        match buffer[i] {
            b'\n' if buffer.get(i + 1) == Some(&b'\n') => return Some(i + 2),
            b'\n' if buffer.get(i + 1) == Some(&b'\r') && buffer.get(i + 2) == Some(&b'\n') => {
                return Some(i + 3);
            }
            b'\r' if buffer.get(i + 1) == Some(&b'\r') => return Some(i + 2),
            _ => {}
        }
        i += 1;
    }
    None
}

impl SseNarrower {
    #[must_use]
    pub fn new(allowed: Vec<String>, ids: Vec<Value>) -> Self {
        Self {
            allowed,
            ids,
            pending: Vec::new(),
        }
    }

    /// Takes the next chunk of the stream; returns the bytes ready to pass on.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = event_end(&self.pending) {
            let event: Vec<u8> = self.pending.drain(..end).collect();
            out.extend_from_slice(&self.rewrite(&event));
        }
        out
    }

    /// What is left when the stream ends (an unterminated last event, unchanged).
    #[must_use]
    pub fn finish(self) -> Vec<u8> {
        self.pending
    }

    fn rewrite(&self, event: &[u8]) -> Vec<u8> {
        let Ok(text) = std::str::from_utf8(event) else {
            return event.to_vec();
        };
        let mut data = Vec::new();
        let mut other = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            match line.strip_prefix("data:") {
                Some(value) => data.push(value.strip_prefix(' ').unwrap_or(value)),
                None => other.push(line),
            }
        }
        if data.is_empty() {
            return event.to_vec();
        }
        let Ok(mut answer) = serde_json::from_str::<Value>(&data.join("\n")) else {
            return event.to_vec();
        };
        if !narrow_tools(&mut answer, &self.allowed, &self.ids) {
            return event.to_vec();
        }
        let mut out = String::new();
        for line in other {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("data: ");
        out.push_str(&answer.to_string());
        out.push_str("\n\n");
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn allowed(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn requests_are_read_for_ids_methods_and_tools() {
        let call = inspect(br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"search","arguments":{}}}"#);
        assert_eq!(call.error_id(), json!(7));
        assert_eq!(call.counted_tools().collect::<Vec<_>>(), vec!["search"]);
        assert_eq!(call.refused_call(&allowed(&["search"])), None);
        assert_eq!(call.refused_call(&[]), None);
        assert!(call.refused_call(&allowed(&["fetch"])).is_some());

        let batch = inspect(
            br#"[{"jsonrpc":"2.0","id":"a","method":"tools/list"},{"jsonrpc":"2.0","method":"notifications/initialized"}]"#,
        );
        assert!(batch.batch);
        assert_eq!(batch.error_id(), Value::Null);
        assert_eq!(batch.tools_list_ids(), vec![json!("a")]);
        assert_eq!(batch.counted_tools().collect::<Vec<_>>(), vec!["", ""]);

        for junk in [
            &b""[..],
            b"nope",
            b"[1,2]",
            b"{\"id\":",
            b"\xff\xfe",
            b"[[1,\"tools/list\"]]",
        ] {
            assert_eq!(inspect(junk).error_id(), Value::Null);
        }
        let long = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{}"}}}}"#,
            "x".repeat(200)
        );
        assert_eq!(
            inspect(long.as_bytes()).counted_tools().collect::<Vec<_>>(),
            vec!["(invalid)"]
        );
    }

    #[test]
    fn tools_list_answers_are_narrowed_only_for_their_ids() {
        let mut answer = json!({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"},{"name":"b"},{"name":"c"}]}});
        assert!(narrow_tools(
            &mut answer,
            &allowed(&["a", "c"]),
            &[json!(1)]
        ));
        assert_eq!(
            answer["result"]["tools"],
            json!([{"name":"a"},{"name":"c"}])
        );
        let mut other = json!({"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"b"}]}});
        assert!(!narrow_tools(&mut other, &allowed(&["a"]), &[json!(1)]));
    }

    #[test]
    fn sse_events_pass_one_by_one_and_only_tools_list_answers_change() {
        let mut narrower = SseNarrower::new(allowed(&["a"]), vec![json!(1)]);
        let progress = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n";
        assert_eq!(narrower.push(&progress[..10]), b"");
        assert_eq!(narrower.push(&progress[10..]), progress.to_vec());
        let answer = b"id: 9\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}\r\n\r\n";
        let out = String::from_utf8(narrower.push(answer)).unwrap_or_default();
        assert!(
            out.starts_with("id: 9\ndata: ") && out.ends_with("\n\n"),
            "{out:?}"
        );
        assert!(
            out.contains(r#""name":"a""#) && !out.contains(r#""name":"b""#),
            "{out}"
        );
        assert_eq!(narrower.push(b"data: partial"), b"");
        assert_eq!(narrower.finish(), b"data: partial".to_vec());
    }
}
