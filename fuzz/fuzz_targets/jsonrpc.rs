//! The gateway's reading of MCP traffic: request bodies (ids, methods, tool names) and
//! the narrowing of `tools/list` answers, whole and as Server-Sent Events. The SSE
//! narrower must give the same bytes however the stream is cut into chunks, and pass a
//! stream with nothing to narrow on unchanged. Input: a byte choosing the chunk sizes,
//! then the body / stream.
#![no_main]

use clavis::jsonrpc::{self, SseNarrower};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let allowed = vec!["search".to_owned()];

    let inspection = jsonrpc::inspect(body);
    let _ = inspection.error_id();
    if let Some(refused) = inspection.refused_call(&allowed) {
        assert_ne!(refused.tool.as_deref(), Some("search"));
    }
    for tool in inspection.counted_tools() {
        assert!(tool.len() <= jsonrpc::TOOL_NAME_MAX);
        assert!(!tool.chars().any(char::is_control));
    }
    let mut ids = inspection.tools_list_ids();
    ids.push(json!(1));

    if let Ok(mut answer) = serde_json::from_slice::<Value>(body) {
        let before = answer.clone();
        let changed = jsonrpc::narrow_tools(&mut answer, &allowed, &ids);
        assert_eq!(changed, answer != before);
    }

    // The stream in one chunk and in chunks of 1..=8 bytes must come out the same.
    let mut whole = SseNarrower::new(allowed.clone(), ids.clone());
    let mut expected = whole.push(body);
    expected.extend(whole.finish());
    let mut pieces = SseNarrower::new(allowed.clone(), ids.clone());
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

    let mut nothing = SseNarrower::new(allowed, Vec::new());
    let mut passed = nothing.push(body);
    passed.extend(nothing.finish());
    assert_eq!(
        passed, body,
        "a stream with no tools/list answer must pass unchanged"
    );
});
