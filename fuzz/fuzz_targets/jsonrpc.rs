//! The gateway's reading of MCP traffic: request bodies (ids, methods, tool names) and
//! the narrowing of `tools/list` answers, whole and as Server-Sent Events.
//!
//! The policy property: any body either is refused, or it is UTF-8 JSON without a
//! byte-order mark that lenient parsers — serde_json keeping the last of duplicate keys
//! and a reader keeping the first — read as calling only tools the gateway saw (so only
//! allowed ones when it let the body through). The SSE narrower must give the same
//! bytes however the stream is cut into chunks, and pass a stream that carries no tool
//! list unchanged. An `Mcp-Name` header the check accepts names the tool those parsers
//! see. Input: a byte choosing the chunk sizes (and the header), then the body / stream.
#![no_main]

use std::fmt;

use clavis::jsonrpc::{self, SseNarrower};
use libfuzzer_sys::fuzz_target;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// serde_json's reading, except that the first of duplicate keys wins.
struct FirstWins;

impl<'de> serde::de::DeserializeSeed<'de> for FirstWins {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FirstWins {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(v.into())
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
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(FirstWins)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(FirstWins)?;
            out.entry(key).or_insert(value);
        }
        Ok(Value::Object(out))
    }
}

/// The tool names a lenient reader sees called (`None` for a name that is no string).
fn called(value: &Value) -> Vec<Option<String>> {
    let messages = match value {
        Value::Array(many) => many.iter().collect(),
        one => vec![one],
    };
    messages
        .into_iter()
        .filter(|m| m.get("method").and_then(Value::as_str) == Some("tools/call"))
        .map(|m| {
            m.get("params")
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let allowed = clavis::grant::AllowedTools::from_names(["search"]).expect("a tool name");

    if let Ok(inspection) = jsonrpc::inspect(body) {
        let text = std::str::from_utf8(body).expect("only UTF-8 is let through");
        assert!(!text.starts_with('\u{feff}'));
        let seen: Vec<Option<String>> =
            inspection.messages.iter().map(|m| m.tool.clone()).collect();
        let last_wins: Value = serde_json::from_str(text).expect("serde_json reads it too");
        let mut reader = serde_json::Deserializer::from_str(text);
        let first_wins = serde::de::DeserializeSeed::deserialize(FirstWins, &mut reader)
            .expect("and so does a first-wins reader");
        for lenient in [&last_wins, &first_wins] {
            let theirs = called(lenient);
            let ours: Vec<Option<String>> = seen.iter().filter(|t| t.is_some()).cloned().collect();
            assert_eq!(theirs, ours, "a lenient parser reads other tool calls");
        }
        if inspection.refused_call(&allowed).is_none() {
            assert!(seen.iter().flatten().all(|t| t == "search"));
        }
        // Headers that mirror the body: whatever the check lets through names the tool
        // the lenient readers see (the header is the body's `cut`-th byte onwards).
        let header = &body[usize::from(cut) % (body.len() + 1)..];
        let mirrors = jsonrpc::Mirrors {
            method: vec![b"tools/call".as_slice()],
            name: vec![header],
            ..jsonrpc::Mirrors::default()
        };
        if inspection.check_mirrors(&mirrors).is_ok() {
            let named = jsonrpc::header_text(header);
            assert!(named.is_some(), "an unreadable header was accepted");
            assert_eq!(
                called(&last_wins),
                vec![named],
                "the header names another tool"
            );
        }
        let _ = inspection.error_id();
        for tool in inspection.counted_tools() {
            assert!(tool.len() <= jsonrpc::TOOL_NAME_MAX);
            assert!(!tool.chars().any(char::is_control));
        }
    }

    if let Ok(mut answer) = serde_json::from_slice::<Value>(body) {
        let before = answer.clone();
        let changed = jsonrpc::narrow_tools(&mut answer, &allowed);
        if !changed {
            assert_eq!(answer, before, "an answer changed without a tool list");
        }
    }

    // The stream in one chunk and in chunks of 1..=8 bytes must come out the same.
    let mut whole = SseNarrower::new(allowed.clone());
    let mut expected = whole.push(body);
    expected.extend(whole.finish());
    let mut pieces = SseNarrower::new(allowed.clone());
    let mut out = Vec::new();
    let mut size = usize::from(cut % 8) + 1;
    let mut rest = body;
    while !rest.is_empty() {
        let (chunk, after) = rest.split_at(size.min(rest.len()));
        out.extend(pieces.push(chunk));
        rest = after;
        size = size % 8 + 1;
    }
    out.extend(pieces.finish());
    assert_eq!(out, expected, "the stream came out differently in chunks");

    // Nothing named "tools" (escaped or not), nothing to narrow.
    if !body.windows(5).any(|w| w == b"tools") && !body.contains(&b'\\') {
        assert_eq!(
            expected, body,
            "a stream with no tool list must pass unchanged"
        );
    }
});
