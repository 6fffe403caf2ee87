//! What the gateway reads of the MCP traffic it forwards (SPEC §10.2): the JSON-RPC
//! request's ids, methods and tool names (for error bodies, per-tool counting and the
//! allowed-tools rule), and the `tools/list` answers it narrows to a credential's
//! allowed tools — whole JSON bodies, or Server-Sent Events one event at a time, so a
//! stream is never held back. Pure functions over bytes: fuzzed as they are.
//!
//! A gateway that enforces a policy may forward only what it has read completely and
//! unambiguously: whatever parser the upstream uses must see the same messages. So a
//! request body is refused (and never forwarded) unless it is UTF-8 JSON (RFC 8259: no
//! byte-order mark, no `NaN`, no lone surrogate, nothing after the value) **without a
//! duplicate key at any depth** — Python's `json.loads` keeps the last of two `name`s,
//! other parsers the first — and JSON-RPC 2.0 in shape: one message or a batch of at
//! most [`BATCH_MAX`], each an object with `"jsonrpc": "2.0"`, a string `method` (or a
//! `result`/`error`), an id that is a string, a number or null, and for `tools/call` a
//! `params` object whose `name` is a string. The accepted bytes are then forwarded
//! unchanged (numbers keep their precision).
//!
//! Some parsers match member names ignoring case (Go's `encoding/json`, which most Go
//! MCP servers use, and .NET's web defaults: the last of `"name"` and `"NAME"` wins, and
//! `"Method"` is the method). So a message or its `params` may not hold a member whose
//! name differs from a JSON-RPC one (`jsonrpc`, `id`, `method`, `params`, `result`,
//! `error`; `name` in `params`) only in case — Unicode case, `ſ` for `s` included.
//!
//! The reading never builds the request's values: keys are compared per object and
//! everything else is skipped, so a body costs memory in proportion to its longest
//! object's keys, not to its number of values.

use std::{collections::HashSet, fmt};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Longest tool name counted under its own name; longer ones are counted as `(invalid)`.
pub const TOOL_NAME_MAX: usize = 128;

/// Most messages in one batch; a larger batch is refused whole.
pub const BATCH_MAX: usize = 100;

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

/// Why a request body is refused without reaching the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not JSON that reads one way only (JSON-RPC `-32700`).
    Parse(String),
    /// JSON, but not JSON-RPC 2.0 messages the gateway accepts (`-32600`).
    Invalid(String),
}

impl Refusal {
    /// The JSON-RPC error code.
    #[must_use]
    pub fn code(&self) -> i64 {
        match self {
            Self::Parse(_) => -32700,
            Self::Invalid(_) => -32600,
        }
    }

    /// What to tell the client (no part of the body is echoed beyond a key name).
    #[must_use]
    pub fn message(&self) -> &str {
        match self {
            Self::Parse(m) | Self::Invalid(m) => m,
        }
    }
}

/// Reads a request body, or says why it must not be forwarded.
pub fn inspect(body: &[u8]) -> Result<Inspection, Refusal> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Refusal::Parse("parse error: the body is not UTF-8".to_owned()))?;
    if text.starts_with('\u{feff}') {
        return Err(Refusal::Parse(
            "parse error: the body starts with a byte-order mark".to_owned(),
        ));
    }
    // First pass: is it JSON that reads one way only?
    let mut reader = serde_json::Deserializer::from_str(text);
    Unambiguous
        .deserialize(&mut reader)
        .and_then(|()| reader.end())
        .map_err(|e| Refusal::Parse(format!("parse error: {}", without_position(&e))))?;
    // Second pass, over JSON now known to be unambiguous: the messages.
    let mut reader = serde_json::Deserializer::from_str(text);
    let inspection = Body
        .deserialize(&mut reader)
        .map_err(|e| Refusal::Invalid(format!("invalid request: {}", without_position(&e))))?;
    for message in &inspection.messages {
        if message.method.as_deref() == Some("tools/call") && message.tool.is_none() {
            return Err(Refusal::Invalid(
                "invalid request: a tools/call needs params.name, a string".to_owned(),
            ));
        }
    }
    Ok(inspection)
}

/// serde_json's message without " at line 1 column 9".
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// Accepts any JSON value whose objects have no duplicate keys, storing nothing but the
/// keys of the objects being read.
struct Unambiguous;

impl<'de> DeserializeSeed<'de> for Unambiguous {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unambiguous {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Unambiguous)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value_seed(Unambiguous)?;
            if !keys.insert(key) {
                return Err(de::Error::custom("an object has a duplicate key"));
            }
        }
        Ok(())
    }
}

/// A whole request body: one message or a bounded batch.
struct Body;

impl<'de> DeserializeSeed<'de> for Body {
    type Value = Inspection;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Inspection, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Body {
    type Value = Inspection;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON-RPC message or a batch of them")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Inspection, A::Error> {
        Ok(Inspection {
            messages: vec![MessageVisitor.visit_map(map)?],
            batch: false,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Inspection, A::Error> {
        let mut messages = Vec::new();
        while let Some(message) = seq.next_element_seed(MessageSeed)? {
            if messages.len() == BATCH_MAX {
                return Err(de::Error::custom(format_args!(
                    "a batch holds at most {BATCH_MAX} messages"
                )));
            }
            messages.push(message);
        }
        if messages.is_empty() {
            return Err(de::Error::custom("an empty batch"));
        }
        Ok(Inspection {
            messages,
            batch: true,
        })
    }
}

struct MessageSeed;

impl<'de> DeserializeSeed<'de> for MessageSeed {
    type Value = Message;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Message, D::Error> {
        deserializer.deserialize_map(MessageVisitor)
    }
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = Message;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON-RPC message (an object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Message, A::Error> {
        let mut version = None;
        let mut id = None;
        let mut method = None;
        let mut name = None;
        let mut answer = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_ref() {
                "jsonrpc" => version = Some(map.next_value::<String>()?),
                "id" => id = Some(map.next_value_seed(Id)?),
                "method" => method = Some(map.next_value::<String>()?),
                // Only an object: positional params would let a parser take the first
                // element for the name.
                "params" => name = map.next_value_seed(Params)?,
                "result" | "error" => {
                    map.next_value::<IgnoredAny>()?;
                    answer = true;
                }
                other if MEMBERS.iter().any(|m| folds_to(other, m)) => {
                    return Err(de::Error::custom(
                        "a member name differs from a JSON-RPC member's only in case",
                    ));
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if version.as_deref() != Some("2.0") {
            return Err(de::Error::custom("a message needs \"jsonrpc\": \"2.0\""));
        }
        if method.is_none() && !answer {
            return Err(de::Error::custom(
                "a message needs a method, a result or an error",
            ));
        }
        let tool = if method.as_deref() == Some("tools/call") {
            name
        } else {
            None
        };
        Ok(Message {
            // `"id": null` is an id too, but answers to it carry null either way.
            id: id.filter(|v: &Value| !v.is_null()),
            method,
            tool,
        })
    }
}

/// The members of a JSON-RPC message.
const MEMBERS: [&str; 6] = ["jsonrpc", "id", "method", "params", "result", "error"];

/// Whether `key` is `name` to a reader that ignores case: Unicode lower case, with `ſ`
/// (which Go and .NET fold with `s`) as `s`.
fn folds_to(key: &str, name: &str) -> bool {
    key.chars()
        .flat_map(|c| if c == 'ſ' { 's' } else { c }.to_lowercase())
        .eq(name.chars())
}

/// A JSON-RPC id: a string, a number or null (never an object or array).
struct Id;

impl<'de> DeserializeSeed<'de> for Id {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Id {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an id (a string, a number or null)")
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// `params`, an object: its `name` when that is a string. Null counts as absent.
struct Params;

impl<'de> DeserializeSeed<'de> for Params {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Params {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("params, an object")
    }

    fn visit_unit<E>(self) -> Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        let mut name = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "name" {
                name = map.next_value_seed(Name)?;
            } else if folds_to(&key, "name") {
                return Err(de::Error::custom(
                    "a params member name differs from \"name\" only in case",
                ));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(name)
    }
}

/// A name: `Some` when it is a string; anything else is skipped without being built.
struct Name;

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a name")
    }

    fn visit_str<E>(self, v: &str) -> Result<Option<String>, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<String>, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<String>, A::Error> {
        IgnoredAny.visit_map(map).map(|_| None)
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

    /// Whether the body asks for `tools/list`: then every answer to it is narrowed,
    /// whatever id the upstream echoes (`1.0` for `1`, `0` for `-0`, …).
    #[must_use]
    pub fn lists_tools(&self) -> bool {
        self.messages
            .iter()
            .any(|m| m.method.as_deref() == Some("tools/list"))
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

/// Narrows the `result.tools` of every answer (a single one or a batch) to the `allowed`
/// names, whatever its id. Returns whether anything changed.
pub fn narrow_tools(answer: &mut Value, allowed: &[String]) -> bool {
    match answer {
        Value::Array(answers) => {
            // Every answer of the batch, not just up to the first that changed.
            let mut changed = false;
            for answer in answers {
                changed |= narrow_tools(answer, allowed);
            }
            changed
        }
        Value::Object(object) => {
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
    pub fn new(allowed: Vec<String>) -> Self {
        Self {
            allowed,
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
        if !narrow_tools(&mut answer, &self.allowed) {
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

    fn refused(body: &[u8]) -> Refusal {
        match inspect(body) {
            Ok(inspection) => panic!("{body:?} read as {inspection:?}"),
            Err(refusal) => refusal,
        }
    }

    fn read(body: &[u8]) -> Inspection {
        match inspect(body) {
            Ok(inspection) => inspection,
            Err(refusal) => panic!("{body:?} refused: {refusal:?}"),
        }
    }

    #[test]
    fn requests_are_read_for_ids_methods_and_tools() {
        let call = read(br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"search","arguments":{"q":[1,{"a":null}]}}}"#);
        assert_eq!(call.error_id(), json!(7));
        assert_eq!(call.counted_tools().collect::<Vec<_>>(), vec!["search"]);
        assert_eq!(call.refused_call(&allowed(&["search"])), None);
        assert_eq!(call.refused_call(&[]), None);
        assert!(call.refused_call(&allowed(&["fetch"])).is_some());
        assert!(!call.lists_tools());

        let batch = read(
            br#"[{"jsonrpc":"2.0","id":"a","method":"tools/list"},{"jsonrpc":"2.0","method":"notifications/initialized"}]"#,
        );
        assert!(batch.batch);
        assert_eq!(batch.error_id(), Value::Null);
        assert!(batch.lists_tools());
        assert_eq!(batch.counted_tools().collect::<Vec<_>>(), vec!["", ""]);

        // An answer to the server's request (sampling, elicitation) is a message too.
        read(br#"{"jsonrpc":"2.0","id":3,"result":{"action":"accept"}}"#);
        // An escaped key is the key it spells.
        let escaped =
            read(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"na\u006de":"x"}}"#);
        assert_eq!(escaped.messages[0].tool.as_deref(), Some("x"));

        let long = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{}"}}}}"#,
            "x".repeat(200)
        );
        assert_eq!(
            read(long.as_bytes()).counted_tools().collect::<Vec<_>>(),
            vec!["(invalid)"]
        );
    }

    /// What Python's `json.loads` (the Python SDK's parser) and other lenient readers
    /// accept but read differently: every one is refused, so none reaches the upstream.
    #[test]
    fn bodies_that_read_two_ways_are_refused() {
        let call = |params: &str| {
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{params}}}"#)
        };
        let parse_errors: Vec<Vec<u8>> = vec![
            call(r#"{"name":"safe","name":"secret"}"#).into_bytes(),
            call(r#"{"name":"safe","na\u006de":"secret"}"#).into_bytes(),
            br#"{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/list"}"#.to_vec(),
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"secret"}}"#.to_vec(),
            call(r#"{"name":"safe","arguments":{"a":1,"a":2}}"#).into_bytes(),
            [b"\xef\xbb\xbf".as_slice(), call(r#"{"name":"secret"}"#).as_bytes()].concat(),
            call(r#"{"name":"secret"}"#)
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect(),
            call(r#"{"name":"secret","arguments":{"x":NaN}}"#).into_bytes(),
            call(r#"{"name":"secret","arguments":{"x":Infinity}}"#).into_bytes(),
            br#"{"jsonrpc":"2.0","id":"\ud800","method":"tools/call","params":{"name":"secret"}}"#
                .to_vec(),
            call(r#"{"name":"secret"}"#).into_bytes().into_iter().chain(*b" {}").collect(),
            call(r#"{"name":"secret",}"#).into_bytes(),
            b"[".repeat(200),
            b"".to_vec(),
            b"nope".to_vec(),
            b"\xff\xfe".to_vec(),
        ];
        for body in parse_errors {
            let refusal = refused(&body);
            assert_eq!(refusal.code(), -32700, "{refusal:?}");
        }
        let invalid: Vec<Vec<u8>> = vec![
            format!("[{},0]", call(r#"{"name":"secret"}"#)).into_bytes(),
            b"[]".to_vec(),
            b"[1,2]".to_vec(),
            b"[[1,\"tools/list\"]]".to_vec(),
            b"\"tools/call\"".to_vec(),
            br#"{"id":1,"method":"tools/call","params":{"name":"secret"}}"#.to_vec(),
            br#"{"jsonrpc":"1.0","id":1,"method":"tools/list"}"#.to_vec(),
            br#"{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}"#.to_vec(),
            br#"{"jsonrpc":"2.0","id":1,"method":["tools/call"]}"#.to_vec(),
            br#"{"jsonrpc":"2.0","id":1}"#.to_vec(),
            call(r#"["secret"]"#).into_bytes(),
            call(r#"{"name":["secret"]}"#).into_bytes(),
            call(r#"{"arguments":{}}"#).into_bytes(),
            call("null").into_bytes(),
            // What Go's encoding/json and .NET read ignoring case.
            call(r#"{"name":"safe","NAME":"secret"}"#).into_bytes(),
            call(r#"{"name":"safe","nAmE":"secret"}"#).into_bytes(),
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"safe"},"Params":{"name":"secret"}}"#.to_vec(),
            br#"{"jsonrpc":"2.0","id":1,"method":"ping","METHOD":"tools/call","params":{"name":"secret"}}"#.to_vec(),
            br#"{"jsonrpc":"2.0","id":1,"result":{},"Method":"tools/call","params":{"name":"secret"}}"#.to_vec(),
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"safe\"},\"paramſ\":{\"name\":\"secret\"}}".as_bytes().to_vec(),
            format!(
                "[{}]",
                vec![r#"{"jsonrpc":"2.0","method":"ping"}"#; BATCH_MAX + 1].join(",")
            )
            .into_bytes(),
        ];
        for body in invalid {
            let refusal = refused(&body);
            assert_eq!(refusal.code(), -32600, "{refusal:?}");
        }
        let full = format!(
            "[{}]",
            vec![r#"{"jsonrpc":"2.0","method":"ping"}"#; BATCH_MAX].join(",")
        );
        assert_eq!(read(full.as_bytes()).messages.len(), BATCH_MAX);
    }

    /// A 4 MiB batch of empty objects is refused after the bound, not read into
    /// 1.4 million messages.
    #[test]
    fn a_huge_batch_is_refused_after_its_bound() {
        let body = format!("[{}{{}}]", "{},".repeat(1_400_000));
        let refusal = refused(body.as_bytes());
        assert_eq!(refusal.code(), -32600);
    }

    #[test]
    fn tools_list_answers_are_narrowed_whatever_their_id() {
        for id in [
            json!(1),
            json!(1.0),
            json!(-0),
            json!(null),
            json!("1"),
            json!([1]),
        ] {
            let mut answer = json!({"jsonrpc":"2.0","id":id,"result":{"tools":[{"name":"a"},{"name":"b"},{"name":"c"}]}});
            assert!(narrow_tools(&mut answer, &allowed(&["a", "c"])));
            assert_eq!(
                answer["result"]["tools"],
                json!([{"name":"a"},{"name":"c"}])
            );
        }
        let mut other = json!({"jsonrpc":"2.0","id":2,"result":{"content":[{"name":"b"}]}});
        assert!(!narrow_tools(&mut other, &allowed(&["a"])));
    }

    #[test]
    fn sse_events_pass_one_by_one_and_only_tools_list_answers_change() {
        let mut narrower = SseNarrower::new(allowed(&["a"]));
        let progress = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n";
        assert_eq!(narrower.push(&progress[..10]), b"");
        assert_eq!(narrower.push(&progress[10..]), progress.to_vec());
        let answer = b"id: 9\ndata: {\"jsonrpc\":\"2.0\",\"id\":1.0,\"result\":{\"tools\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}\r\n\r\n";
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
