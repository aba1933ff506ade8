//! The optional OpenCode → Claude Code body transforms the seed's Claude plugin applied.

use std::borrow::Cow;

use bytes::Bytes;
use serde_json::Value;

/// The body with `system` text rebranded and tool names prefixed; the same bytes when the
/// body is not a JSON object or nothing changes. A changed body is re-serialized, so its
/// object keys come out sorted (the API does not care about key order).
pub(super) fn transform(body: &Bytes, tool_prefix: &str) -> Bytes {
    let Ok(Value::Object(mut top)) = serde_json::from_slice::<Value>(body) else {
        return body.clone();
    };
    let mut changed = false;
    match top.get_mut("system") {
        Some(Value::String(text)) => changed |= rebrand_in_place(text),
        Some(Value::Array(entries)) => {
            for entry in entries {
                if entry.get("type").and_then(Value::as_str) == Some("text")
                    && let Some(Value::String(text)) = entry.get_mut("text")
                {
                    changed |= rebrand_in_place(text);
                }
            }
        }
        _ => {}
    }
    if let Some(Value::Array(tools)) = top.get_mut("tools") {
        for tool in tools {
            changed |= prefix_name(tool, tool_prefix);
        }
    }
    if let Some(Value::Array(messages)) = top.get_mut("messages") {
        for message in messages {
            if let Some(Value::Array(blocks)) = message.get_mut("content") {
                for block in blocks {
                    if block.get("type").and_then(Value::as_str) == Some("tool_use") {
                        changed |= prefix_name(block, tool_prefix);
                    }
                }
            }
        }
    }
    if !changed {
        return body.clone();
    }
    serde_json::to_vec(&Value::Object(top)).map_or_else(|_| body.clone(), Bytes::from)
}

fn rebrand_in_place(text: &mut String) -> bool {
    match rebrand(text) {
        Cow::Borrowed(_) => false,
        Cow::Owned(new) => {
            *text = new;
            true
        }
    }
}

/// `OpenCode` → `Claude Code`, any other ASCII spelling of `opencode` → `Claude`, except
/// right after a `/` (paths such as `~/.config/opencode` survive).
pub(super) fn rebrand(text: &str) -> Cow<'_, str> {
    const WORD: &str = "opencode";
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i + WORD.len() <= bytes.len() {
        let candidate = &bytes[i..i + WORD.len()];
        if candidate.eq_ignore_ascii_case(WORD.as_bytes()) && (i == 0 || bytes[i - 1] != b'/') {
            // `o`/`O` is ASCII, so `i` and `i + 8` are character boundaries.
            out.push_str(&text[copied..i]);
            out.push_str(if candidate == b"OpenCode" { "Claude Code" } else { "Claude" });
            i += WORD.len();
            copied = i;
        } else {
            i += 1;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Puts `prefix` in front of `object.name` unless it is there already.
fn prefix_name(object: &mut Value, prefix: &str) -> bool {
    match object.get_mut("name") {
        Some(Value::String(name)) if !prefix.is_empty() && !name.starts_with(prefix) => {
            name.insert_str(0, prefix);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rebrand_follows_the_seed() {
        for (text, expected) in [
            ("You are OpenCode, the best", "You are Claude Code, the best"),
            ("opencode and OPENCODE and Opencode", "Claude and Claude and Claude"),
            ("see ~/.config/opencode/x and /OpenCode", "see ~/.config/opencode/x and /OpenCode"),
            ("nothing here", "nothing here"),
            ("héllo OpenCode ü", "héllo Claude Code ü"),
            ("OpenCodeopencode", "Claude CodeClaude"),
        ] {
            assert_eq!(rebrand(text), expected, "{text}");
        }
        assert!(matches!(rebrand("no brand"), Cow::Borrowed(_)));
    }

    fn run(body: &Value) -> Value {
        let out = transform(&Bytes::from(body.to_string()), "mcp_");
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn bodies_are_rebranded_and_tools_prefixed_once() {
        let body = json!({
            "model": "claude",
            "system": [{"type": "text", "text": "You are OpenCode."}, {"type": "image", "text": "OpenCode"}],
            "tools": [{"name": "read"}, {"name": "mcp_write"}, {"description": "no name"}],
            "messages": [
                {"role": "user", "content": "opencode?"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "OpenCode"},
                    {"type": "tool_use", "name": "read", "id": "t1", "input": {}},
                    {"type": "tool_use", "name": "mcp_write", "id": "t2", "input": {}}
                ]},
                {"role": "user"}
            ]
        });
        let expected = json!({
            "model": "claude",
            "system": [{"type": "text", "text": "You are Claude Code."}, {"type": "image", "text": "OpenCode"}],
            "tools": [{"name": "mcp_read"}, {"name": "mcp_write"}, {"description": "no name"}],
            "messages": [
                {"role": "user", "content": "opencode?"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "OpenCode"},
                    {"type": "tool_use", "name": "mcp_read", "id": "t1", "input": {}},
                    {"type": "tool_use", "name": "mcp_write", "id": "t2", "input": {}}
                ]},
                {"role": "user"}
            ]
        });
        assert_eq!(run(&body), expected);
        assert_eq!(run(&json!({"system": "OpenCode"})), json!({"system": "Claude Code"}));
        assert_eq!(
            run(&json!({"tools": [], "messages": []})),
            json!({"tools": [], "messages": []})
        );
    }

    #[test]
    fn other_bodies_are_the_same_bytes() {
        for raw in [&b"not json"[..], b"[1,2]", b"", b"{\"z\":1,  \"a\":[]}", b"\xff\xfe"] {
            let body = Bytes::copy_from_slice(raw);
            assert_eq!(transform(&body, "mcp_"), body);
        }
    }
}
