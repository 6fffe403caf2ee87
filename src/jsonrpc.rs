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
//!
//! MCP 2026-07-28 mirrors parts of the body in HTTP headers (`MCP-Protocol-Version`,
//! `Mcp-Method`, `Mcp-Name`), and whoever reads the body must refuse a disagreement:
//! [`Inspection::check_mirrors`] does, with the revision's rules (one value per header,
//! the `=?base64?…?=` form, a modern request needs them), so an intermediary or server
//! behind Clavis that routes on headers sees what Clavis decided on.

use std::{borrow::Cow, collections::HashSet, fmt};

use base64::Engine as _;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::grant::AllowedTools;

/// Longest tool name counted under its own name; longer ones are counted as `(invalid)`.
pub const TOOL_NAME_MAX: usize = 128;

/// Most messages in one batch; a larger batch is refused whole.
pub const BATCH_MAX: usize = 100;

/// JSON-RPC error code of a header that disagrees with the body (MCP 2026-07-28).
pub const HEADER_MISMATCH: i64 = -32020;
/// JSON-RPC error code of a call over a credential's calls-per-minute limit (SPEC §20;
/// an implementation-defined server error: JSON-RPC and MCP name none for it).
pub const RATE_LIMITED: i64 = -32029;

/// Where a modern request's protocol version travels in its body.
const VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";

/// One JSON-RPC message of a request body.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The id (`None` for a notification or a response without one).
    pub id: Option<Value>,
    pub method: Option<String>,
    /// `params.name` of a `tools/call`.
    pub tool: Option<String>,
    /// `params._meta["io.modelcontextprotocol/protocolVersion"]`: set by modern requests.
    pub version: Scalar,
    /// What `Mcp-Name` mirrors for this method (`params.name`, `params.uri` or
    /// `params.taskId`); `None` for a method without one.
    pub named: Option<Scalar>,
}

/// A member of the body that a header may mirror.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Scalar {
    #[default]
    Absent,
    Text(String),
    /// Present, but not a string (it cannot equal a header).
    Other,
}

/// The `params` member `Mcp-Name` mirrors for `method`.
#[must_use]
pub fn name_source(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => Some("uri"),
        "tasks/get" | "tasks/update" | "tasks/cancel" => Some("taskId"),
        _ => None,
    }
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
        let mut params = Seen::default();
        let mut answer = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_ref() {
                "jsonrpc" => version = Some(map.next_value::<String>()?),
                "id" => id = Some(map.next_value_seed(Id)?),
                "method" => method = Some(map.next_value::<String>()?),
                // Only an object: positional params would let a parser take the first
                // element for the name.
                "params" => params = map.next_value_seed(Params)?,
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
        let named = method.as_deref().and_then(name_source).map(|source| {
            match source {
                "uri" => &params.uri,
                "taskId" => &params.task_id,
                _ => &params.name,
            }
            .clone()
        });
        let tool = match (method.as_deref(), params.name) {
            (Some("tools/call"), Scalar::Text(name)) => Some(name),
            _ => None,
        };
        Ok(Message {
            // `"id": null` is an id too, but answers to it carry null either way.
            id: id.filter(|v: &Value| !v.is_null()),
            method,
            tool,
            version: params.version,
            named,
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

/// The `params` members Clavis reads, as a reader ignoring case would fold them.
const PARAMS_MEMBERS: [&str; 4] = ["name", "uri", "taskid", "_meta"];

/// What `params` holds that Clavis reads: the members headers mirror.
#[derive(Default)]
struct Seen {
    name: Scalar,
    uri: Scalar,
    task_id: Scalar,
    version: Scalar,
}

/// `params`, an object (null counts as absent).
struct Params;

impl<'de> DeserializeSeed<'de> for Params {
    type Value = Seen;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Seen, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Params {
    type Value = Seen;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("params, an object")
    }

    fn visit_unit<E>(self) -> Result<Seen, E> {
        Ok(Seen::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Seen, A::Error> {
        let mut seen = Seen::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "name" => seen.name = map.next_value_seed(ScalarSeed)?,
                "uri" => seen.uri = map.next_value_seed(ScalarSeed)?,
                "taskId" => seen.task_id = map.next_value_seed(ScalarSeed)?,
                "_meta" => seen.version = map.next_value_seed(Meta)?,
                other if PARAMS_MEMBERS.iter().any(|m| folds_to(other, m)) => {
                    return Err(de::Error::custom(
                        "a params member name differs from name, uri, taskId or _meta only in case",
                    ));
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(seen)
    }
}

/// `params._meta`: its protocol version.
struct Meta;

impl<'de> DeserializeSeed<'de> for Meta {
    type Value = Scalar;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Scalar, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Meta {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("params._meta")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        let mut version = Scalar::Absent;
        while let Some(key) = map.next_key::<String>()? {
            if key == VERSION_META {
                version = map.next_value_seed(ScalarSeed)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(version)
    }

    // Anything else: no version (the upstream judges the rest).
    fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
        Ok(Scalar::Absent)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Scalar, E> {
        Ok(Scalar::Absent)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Scalar, E> {
        Ok(Scalar::Absent)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Scalar, E> {
        Ok(Scalar::Absent)
    }
    fn visit_str<E>(self, _: &str) -> Result<Scalar, E> {
        Ok(Scalar::Absent)
    }
    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Absent)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| Scalar::Absent)
    }
}

/// A member headers may mirror: its text when it is a string; anything else is skipped
/// without being built.
struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Scalar, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarSeed {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a name")
    }

    fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_owned()))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar, A::Error> {
        IgnoredAny.visit_map(map).map(|_| Scalar::Other)
    }
}

/// The request headers that mirror the body (MCP 2026-07-28), each with every value
/// received (HTTP allows repeats; a repeat is refused, not resolved).
#[derive(Debug, Default)]
pub struct Mirrors<'a> {
    pub protocol_version: Vec<&'a [u8]>,
    pub method: Vec<&'a [u8]>,
    pub name: Vec<&'a [u8]>,
}

/// A mirrored header's value as text: without surrounding spaces and tabs, decoded from
/// the `=?base64?…?=` form (standard alphabet, padded, UTF-8; lowercase markers — other
/// spellings are literal). `None` for a value outside visible ASCII, spaces and tabs, or
/// an undecodable base64 form.
#[must_use]
pub fn header_text(value: &[u8]) -> Option<String> {
    let value = trim_ows(value);
    if !value
        .iter()
        .all(|&b| b == b'\t' || (0x20..=0x7e).contains(&b))
    {
        return None;
    }
    let text = std::str::from_utf8(value).ok()?;
    match text
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    {
        Some(encoded) => String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()?,
        )
        .ok(),
        None => Some(text.to_owned()),
    }
}

/// `value` without HTTP's optional whitespace (spaces and tabs) around it.
fn trim_ows(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

/// The one value of a header, as text (`decode`: the `=?base64?…?=` form too, which
/// only `Mcp-Name` and `Mcp-Param-*` may use); an error for a repeat or an unreadable
/// value.
fn single(values: &[&[u8]], header: &str, decode: bool) -> Result<Option<String>, String> {
    let invalid = || format!("Header mismatch: the {header} header is not a valid value");
    match values {
        [] => Ok(None),
        [value] if decode => header_text(value).map(Some).ok_or_else(invalid),
        [value] => std::str::from_utf8(trim_ows(value))
            .ok()
            .filter(|v| v.bytes().all(|b| (0x21..=0x7e).contains(&b)))
            .map(|v| Some(v.to_owned()))
            .ok_or_else(invalid),
        _ => Err(format!("Header mismatch: more than one {header} header")),
    }
}

/// Whether an `MCP-Protocol-Version` is of the stateless era (2026-07-28 or later):
/// its requests mirror their body in headers. Handshake-era and unknown values are not.
#[must_use]
pub fn is_modern_version(version: &str) -> bool {
    version.len() == 10
        && version.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        })
        && version >= "2026-07-28"
}

impl Inspection {
    /// Whether the headers agree with the body (MCP 2026-07-28, Streamable HTTP, "Server
    /// Validation"), or what to answer (`HEADER_MISMATCH`, HTTP `400`). A modern request
    /// (a protocol version in its `_meta`, or a modern `MCP-Protocol-Version`) needs
    /// `Mcp-Method`, and `Mcp-Name` when its method has a name; whatever header is
    /// present must match in any era, so nothing behind Clavis that routes on headers can
    /// be told one thing while the body says another.
    pub fn check_mirrors(&self, mirrors: &Mirrors<'_>) -> Result<(), String> {
        let version = single(&mirrors.protocol_version, "MCP-Protocol-Version", false)?;
        let method = single(&mirrors.method, "Mcp-Method", false)?;
        let name = single(&mirrors.name, "Mcp-Name", true)?;
        let message = match (self.batch, self.messages.as_slice()) {
            (false, [message]) => message,
            _ if method.is_some() || name.is_some() => {
                return Err(
                    "Header mismatch: a batch has no single method or name to mirror".to_owned(),
                );
            }
            _ => return Ok(()),
        };
        let modern =
            message.version != Scalar::Absent || version.as_deref().is_some_and(is_modern_version);
        let request = message.method.is_some() && message.id.is_some();
        match (&message.version, &version) {
            (Scalar::Absent, _) => {}
            (Scalar::Text(body), Some(header)) if body == header => {}
            (_, None) => {
                return Err(format!(
                    "Header mismatch: a request with params._meta[\"{VERSION_META}\"] needs the MCP-Protocol-Version header"
                ));
            }
            _ => {
                return Err(format!(
                    "Header mismatch: the MCP-Protocol-Version header does not match params._meta[\"{VERSION_META}\"]"
                ));
            }
        }
        match (&method, &message.method) {
            (Some(header), Some(body)) if header == body => {}
            (Some(_), _) => {
                return Err(
                    "Header mismatch: the Mcp-Method header does not match the body's method"
                        .to_owned(),
                );
            }
            (None, _) if modern && request => {
                return Err(
                    "Header mismatch: a request of this protocol version needs the Mcp-Method header"
                        .to_owned(),
                );
            }
            (None, _) => {}
        }
        let source = message.method.as_deref().and_then(name_source);
        match (&name, &message.named, source) {
            (Some(header), Some(Scalar::Text(body)), _) if header == body => Ok(()),
            (Some(_), Some(_), Some(source)) => Err(format!(
                "Header mismatch: the Mcp-Name header does not match the body's params.{source}"
            )),
            (Some(_), _, _) => {
                Err("Header mismatch: an Mcp-Name header on a method that names nothing".to_owned())
            }
            (None, Some(Scalar::Text(_) | Scalar::Other), Some(source)) if modern && request => {
                Err(format!(
                    "Header mismatch: a request of this protocol version needs the Mcp-Name header (params.{source})"
                ))
            }
            (None, _, _) => Ok(()),
        }
    }

    /// The id to put in an error answer: the request's, when the body was one request.
    #[must_use]
    pub fn error_id(&self) -> Value {
        match (self.batch, self.messages.as_slice()) {
            (false, [one]) => one.id.clone().unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// The first `tools/call` of a tool `allowed` does not allow.
    #[must_use]
    pub fn refused_call(&self, allowed: &AllowedTools) -> Option<&Message> {
        if !allowed.is_limited() {
            return None;
        }
        self.messages
            .iter()
            .find(|m| m.tool.as_deref().is_some_and(|t| !allowed.allows(t)))
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

/// Narrows the `result.tools` of every answer (a single one or a batch) to the tools
/// `allowed`, whatever its id, and marks it `cacheScope: "private"` (MCP 2026-07-28: a
/// shared cache must not hand one credential's list to another; `ttlMs` stays).
/// Returns whether it found such an answer (and so rewrote it).
pub fn narrow_tools(answer: &mut Value, allowed: &AllowedTools) -> bool {
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
            tools.retain(|tool| {
                tool.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|name| allowed.allows(name))
            });
            if let Some(Value::Object(result)) = object.get_mut("result") {
                result.insert("cacheScope".to_owned(), Value::from("private"));
            }
            true
        }
        _ => false,
    }
}

/// Narrows `tools/list` answers in a Server-Sent Events stream, event by event: each
/// complete event is passed on as soon as its blank line arrives, rewritten only if it
/// carries such an answer. Partial events wait for the rest of their bytes.
pub struct SseNarrower {
    allowed: AllowedTools,
    pending: Vec<u8>,
}
/// Takes the first complete Server-Sent Event (through its blank line) off `pending`.
pub fn next_event(pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let end = event_end(pending)?;
    Some(pending.drain(..end).collect())
}

/// An event's data: its `data:` lines (one space after the colon dropped) joined by
/// newlines; `None` without any.
#[must_use]
pub fn event_data(event: &str) -> Option<String> {
    let data: Vec<&str> = event
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|value| value.strip_prefix(' ').unwrap_or(value))
        .collect();
    (!data.is_empty()).then(|| data.join("\n"))
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
    pub fn new(allowed: AllowedTools) -> Self {
        Self {
            allowed,
            pending: Vec::new(),
        }
    }

    /// Takes the next chunk of the stream; returns the bytes ready to pass on.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(event) = next_event(&mut self.pending) {
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
        let Some(data) = event_data(text) else {
            return event.to_vec();
        };
        let Ok(mut answer) = serde_json::from_str::<Value>(&data) else {
            return event.to_vec();
        };
        if !narrow_tools(&mut answer, &self.allowed) {
            return event.to_vec();
        }
        let mut out = String::new();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with("data:"))
        {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("data: ");
        out.push_str(&answer.to_string());
        out.push_str("\n\n");
        out.into_bytes()
    }
}

/// W3C trace context a request carries in `params._meta` (MCP 2026-07-28; SPEC §20).
#[derive(Debug, PartialEq, Eq)]
pub struct TraceMeta<'a> {
    /// Borrowed from the body when written without escapes.
    pub traceparent: Cow<'a, str>,
    pub tracestate: Option<String>,
}

/// The trace context in `params._meta` of the request object `body` (one message: the
/// 2026-07-28 revision has no batches), if it has a `traceparent` string. Reads the
/// body once, keeping nothing but those two members (anything else is skipped unread);
/// every level must be an object (serde would read a struct from an array too), and a
/// member named twice on the way is refused. `None` for anything else.
#[must_use]
pub fn trace_context(body: &[u8]) -> Option<TraceMeta<'_>> {
    // Most bodies carry none: found without reading them, its key written plainly or
    // with escapes.
    if memchr::memmem::find(body, b"traceparent").is_none()
        && memchr::memmem::find(body, b"\\u").is_none()
    {
        return None;
    }
    let mut reader = serde_json::Deserializer::from_slice(body);
    let meta = TracePath(&["params", "_meta"])
        .deserialize(&mut reader)
        .ok()?;
    reader.end().ok()?;
    meta
}

/// Descends through the objects named by its path to the one holding `traceparent`.
struct TracePath(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for TracePath {
    type Value = Option<TraceMeta<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TracePath {
    type Value = Option<TraceMeta<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let twice = || de::Error::custom("a member named twice");
        let (mut inner, mut traceparent, mut tracestate) = (None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match self.0 {
                [next, rest @ ..] if key == *next => {
                    if inner
                        .replace(map.next_value_seed(TracePath(rest))?)
                        .is_some()
                    {
                        return Err(twice());
                    }
                }
                [] if key == "traceparent" => {
                    if traceparent.replace(map.next_value_seed(Text)?).is_some() {
                        return Err(twice());
                    }
                }
                [] if key == "tracestate" => {
                    if tracestate.replace(map.next_value::<String>()?).is_some() {
                        return Err(twice());
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(match self.0 {
            [] => traceparent.map(|traceparent| TraceMeta {
                traceparent,
                tracestate,
            }),
            _ => inner.flatten(),
        })
    }
}

/// A string, borrowed from the input when it has no escapes.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(text))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text.to_owned()))
    }
}

/// `body` with the value of its `params._meta.traceparent` replaced by `traceparent`
/// (the gateway's span for the call: SPEC §20), every other byte as it was — only when
/// both name the same trace (Clavis continued it: a caller's trace Clavis did not join
/// is left alone), and the value is written without escapes. `None` otherwise.
#[must_use]
pub fn replace_traceparent(body: &[u8], traceparent: &str) -> Option<Vec<u8>> {
    // `00-<trace id>-…`: the trace id is the second field.
    let trace_id = |value: &str| value.split('-').nth(1).map(str::to_ascii_lowercase);
    let meta = trace_context(body)?;
    let Cow::Borrowed(old) = meta.traceparent else {
        return None;
    };
    if trace_id(old).is_none() || trace_id(old) != trace_id(traceparent) {
        return None;
    }
    // A borrowed string is the body's own bytes between the quotes.
    let start = (old.as_ptr() as usize).checked_sub(body.as_ptr() as usize)?;
    let end = start.checked_add(old.len())?;
    if body.get(start..end)? != old.as_bytes() {
        return None;
    }
    let escaped = serde_json::to_string(traceparent).ok()?;
    let mut replaced = Vec::with_capacity(body.len() + escaped.len());
    replaced.extend_from_slice(&body[..start]);
    replaced.extend_from_slice(escaped.trim_matches('"').as_bytes());
    replaced.extend_from_slice(&body[end..]);
    Some(replaced)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn allowed(names: &[&str]) -> AllowedTools {
        AllowedTools::from_names(names.iter().copied()).unwrap_or_else(|e| panic!("{e}"))
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
        assert_eq!(call.refused_call(&AllowedTools::EVERY), None);
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
            br#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"a","URI":"b"}}"#.to_vec(),
            br#"{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"taskId":"a","TASKID":"b"}}"#.to_vec(),
            call(r#"{"name":"safe","_meta":{},"_META":{}}"#).into_bytes(),
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

    /// A modern request's body: `method`, `params` plus the protocol version in `_meta`.
    fn modern(method: &str, params: &Value) -> Inspection {
        let mut params = params.clone();
        params["_meta"] = json!({ "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                  "io.modelcontextprotocol/clientCapabilities": {} });
        let body = json!({"jsonrpc":"2.0","id":7,"method":method,"params":params});
        inspect(body.to_string().as_bytes()).unwrap_or_default()
    }

    fn mirrors<'a>(version: &[&'a str], method: &[&'a str], name: &[&'a str]) -> Mirrors<'a> {
        Mirrors {
            protocol_version: version.iter().map(|v| v.as_bytes()).collect(),
            method: method.iter().map(|v| v.as_bytes()).collect(),
            name: name.iter().map(|v| v.as_bytes()).collect(),
        }
    }

    #[test]
    fn modern_headers_must_agree_with_the_body() {
        const V: &str = "2026-07-28";
        let call = modern("tools/call", &json!({"name": "search", "arguments": {}}));
        let ok = |m: &Mirrors| call.check_mirrors(m).is_ok();
        assert!(ok(&mirrors(&[V], &["tools/call"], &["search"])));
        // HTTP's optional whitespace; the base64 form, even where plain would do.
        assert!(ok(&mirrors(
            &[V],
            &[" tools/call\t"],
            &["=?base64?c2VhcmNo?="]
        )));
        for (headers, why) in [
            (mirrors(&[V], &["tools/call"], &["secret"]), "another name"),
            (mirrors(&[V], &["tools/call"], &[]), "no Mcp-Name"),
            (mirrors(&[V], &[], &["search"]), "no Mcp-Method"),
            (
                mirrors(&[], &["tools/call"], &["search"]),
                "no version header",
            ),
            (
                mirrors(&["2026-08-01"], &["tools/call"], &["search"]),
                "another version",
            ),
            (
                mirrors(&[V], &["TOOLS/CALL"], &["search"]),
                "values are case-sensitive",
            ),
            (
                mirrors(&[V], &["tools/call"], &["search", "secret"]),
                "two names",
            ),
            (
                mirrors(&[V], &["tools/call"], &["search", "search"]),
                "a repeat",
            ),
            (
                mirrors(&[V, V], &["tools/call"], &["search"]),
                "two versions",
            ),
            (
                mirrors(&[V], &["tools/call"], &["=?base64?c2VjcmV0?="]),
                "base64 of another",
            ),
            (
                mirrors(&[V], &["tools/call"], &["=?base64?c2VhcmNo?"]),
                "a broken form",
            ),
            (
                mirrors(&[V], &["tools/call"], &["=?base64?c2VhcmNo=?="]),
                "bad padding",
            ),
            (
                mirrors(&[V], &["tools/call"], &["=?BASE64?c2VhcmNo?="]),
                "markers are lowercase",
            ),
            (
                mirrors(&[V], &["=?base64?dG9vbHMvY2FsbA==?="], &["search"]),
                "the method is never encoded",
            ),
            (
                mirrors(
                    &["=?base64?MjAyNi0wNy0yOA==?="],
                    &["tools/call"],
                    &["search"],
                ),
                "nor the version",
            ),
        ] {
            let refusal = call.check_mirrors(&headers);
            assert!(
                refusal
                    .as_ref()
                    .is_err_and(|m| m.starts_with("Header mismatch: ")),
                "{why}: {refusal:?}"
            );
        }
        let raw = Mirrors {
            name: vec![b"s\xe9arch".as_slice()],
            ..mirrors(&[V], &["tools/call"], &[])
        };
        assert!(call.check_mirrors(&raw).is_err(), "bytes outside ASCII");

        // Non-ASCII names travel base64; a name that looks numeric is a string.
        let unicode = modern("tools/call", &json!({"name": "café"}));
        assert!(
            unicode
                .check_mirrors(&mirrors(&[V], &["tools/call"], &["=?base64?Y2Fmw6k=?="]))
                .is_ok()
        );
        let digits = modern("prompts/get", &json!({"name": "42"}));
        assert!(
            digits
                .check_mirrors(&mirrors(&[V], &["prompts/get"], &["42"]))
                .is_ok()
        );
        let number = modern("prompts/get", &json!({"name": 42}));
        assert!(
            number
                .check_mirrors(&mirrors(&[V], &["prompts/get"], &["42"]))
                .is_err()
        );
        // resources/read mirrors its uri, tasks its taskId; other methods name nothing.
        let read = modern("resources/read", &json!({"uri": "file:///a b"}));
        assert!(
            read.check_mirrors(&mirrors(&[V], &["resources/read"], &["file:///a b"]))
                .is_ok()
        );
        assert!(
            read.check_mirrors(&mirrors(&[V], &["resources/read"], &[]))
                .is_err()
        );
        let task = modern("tasks/get", &json!({"taskId": "t-1"}));
        assert!(
            task.check_mirrors(&mirrors(&[V], &["tasks/get"], &["t-1"]))
                .is_ok()
        );
        let list = modern("tools/list", &json!({}));
        assert!(
            list.check_mirrors(&mirrors(&[V], &["tools/list"], &[]))
                .is_ok()
        );
        assert!(
            list.check_mirrors(&mirrors(&[V], &["tools/list"], &["x"]))
                .is_err()
        );
        let discover = modern("server/discover", &json!({}));
        assert!(
            discover
                .check_mirrors(&mirrors(&[V], &["server/discover"], &[]))
                .is_ok()
        );
    }

    #[test]
    fn handshake_era_requests_need_no_headers_but_may_not_contradict() {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search"}}"#;
        let call = inspect(body).unwrap_or_default();
        assert!(call.check_mirrors(&mirrors(&[], &[], &[])).is_ok());
        assert!(
            call.check_mirrors(&mirrors(&["2025-11-25"], &[], &[]))
                .is_ok()
        );
        assert!(
            call.check_mirrors(&mirrors(&["2025-06-18"], &[], &["secret"]))
                .is_err()
        );
        assert!(
            call.check_mirrors(&mirrors(&[], &["tools/list"], &[]))
                .is_err()
        );
        // A modern version header makes it a modern request, whose headers are due; an
        // older or unknown one does not (TypeScript SDK 1.x still offers 2024-10-07).
        for (version, modern) in [
            ("2026-07-28", true),
            ("2027-01-15", true),
            ("2024-10-07", false),
            ("later", false),
        ] {
            let headers = mirrors(&[version], &[], &[]);
            assert_eq!(call.check_mirrors(&headers).is_err(), modern, "{version}");
        }
        // Notifications and answers carry no name.
        let answer = inspect(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#).unwrap_or_default();
        assert!(
            answer
                .check_mirrors(&mirrors(&["2026-07-28"], &[], &[]))
                .is_ok()
        );
        assert!(
            answer
                .check_mirrors(&mirrors(&[], &["tools/call"], &[]))
                .is_err()
        );
        let batch =
            inspect(format!("[{}]", std::str::from_utf8(body).unwrap_or_default()).as_bytes())
                .unwrap_or_default();
        assert!(batch.check_mirrors(&mirrors(&[], &[], &[])).is_ok());
        assert!(
            batch
                .check_mirrors(&mirrors(&[], &["tools/call"], &[]))
                .is_err()
        );
    }

    #[test]
    fn narrowed_lists_are_private_and_keep_their_ttl() {
        let mut answer = json!({"jsonrpc":"2.0","id":1,"result":{
            "tools":[{"name":"a"},{"name":"b"}],"ttlMs":60000,"cacheScope":"public"}});
        assert!(narrow_tools(&mut answer, &allowed(&["a"])));
        assert_eq!(
            answer["result"],
            json!({"tools":[{"name":"a"}],"ttlMs":60000,"cacheScope":"private"})
        );
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

    #[test]
    #[expect(clippy::unwrap_used, reason = "tests fail loudly")]
    fn trace_context_is_read_from_meta_and_replaced_byte_for_byte() {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"n":1.10,"_meta":{"traceparent":"inner"}},"_meta":{"traceparent":"00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01","tracestate":"k=v"}}}"#;
        let meta = trace_context(body).unwrap();
        assert_eq!(
            meta.traceparent,
            "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01"
        );
        assert_eq!(meta.tracestate.as_deref(), Some("k=v"));
        let ours = "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-cccccccccccccccc-01";
        let replaced = replace_traceparent(body, ours).unwrap();
        let expected =
            String::from_utf8_lossy(body).replace("bbbbbbbbbbbbbbbb", "cccccccccccccccc");
        assert_eq!(String::from_utf8(replaced).unwrap(), expected);
        // Another trace than the one Clavis continued is left alone.
        let other = "00-dddddddddddddddddddddddddddddddd-cccccccccccccccc-01";
        assert_eq!(replace_traceparent(body, other), None);

        // Nothing to read or replace: no _meta, no traceparent, not a string, a batch,
        // arrays where objects belong, a member named twice, trailing bytes, not JSON.
        for body in [
            &br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#[..],
            br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{}}}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"traceparent":7}}}"#,
            br#"[{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"traceparent":"00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01"}}}]"#,
            br#"{"params":{"_meta":["00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01"]}}"#,
            br#"{"params":[{"traceparent":"00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01"}]}"#,
            br#"{"params":{"_meta":{"traceparent":"a","traceparent":"b"}}}"#,
            br#"{"params":{"_meta":{"traceparent":"a"},"_meta":{}}}"#,
            br#"{"params":{"_meta":{"traceparent":"a"}}} {}"#,
            b"not json",
        ] {
            assert_eq!(trace_context(body), None, "{}", String::from_utf8_lossy(body));
            assert_eq!(replace_traceparent(body, ours), None);
        }
        // Written with escapes (in the value or the key): read, but left for the header.
        let escaped = br#"{"params":{"_meta":{"trace\u0070arent":"\u0030\u0030-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01"}}}"#;
        assert_eq!(
            trace_context(escaped).unwrap().traceparent,
            "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01"
        );
        assert_eq!(replace_traceparent(escaped, ours), None);
    }
}
