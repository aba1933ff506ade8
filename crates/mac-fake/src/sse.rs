//! Default model answers: Anthropic Messages and OpenAI Responses, as JSON or as the SSE event
//! sequences Claude Code, Codex CLI and OpenCode expect.

use serde_json::{Value, json};

/// One SSE event: `event: <name>` and one `data:` line, as a scripted stream's chunk.
pub fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// `text` in two pieces (split at a character boundary), so a stream carries several deltas.
fn pieces(text: &str) -> Vec<&str> {
    let middle = text.char_indices().nth(text.chars().count() / 2).map_or(text.len(), |(i, _)| i);
    let (head, tail) = text.split_at(middle);
    [head, tail].into_iter().filter(|p| !p.is_empty()).collect()
}

fn output_tokens(text: &str) -> usize {
    text.split_whitespace().count().max(1)
}

/// An Anthropic `message` object.
pub(crate) fn anthropic_message(id: &str, model: &str, text: &str) -> Value {
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{ "type": "text", "text": text }],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": { "input_tokens": 10, "output_tokens": output_tokens(text) },
    })
}

/// The Messages stream: `message_start`, `content_block_start`, `content_block_delta`
/// (`text_delta`, one per piece), `content_block_stop`, `message_delta`, `message_stop`.
pub(crate) fn anthropic_stream(id: &str, model: &str, text: &str) -> Vec<String> {
    let mut events = vec![
        event(
            "message_start",
            &json!({
                "type": "message_start",
                "message": {
                    "id": id, "type": "message", "role": "assistant", "model": model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": { "input_tokens": 10, "output_tokens": 1 },
                },
            }),
        ),
        event(
            "content_block_start",
            &json!({ "type": "content_block_start", "index": 0,
                     "content_block": { "type": "text", "text": "" } }),
        ),
    ];
    for piece in pieces(text) {
        events.push(event(
            "content_block_delta",
            &json!({ "type": "content_block_delta", "index": 0,
                     "delta": { "type": "text_delta", "text": piece } }),
        ));
    }
    events.push(event("content_block_stop", &json!({ "type": "content_block_stop", "index": 0 })));
    events.push(event(
        "message_delta",
        &json!({ "type": "message_delta",
                 "delta": { "stop_reason": "end_turn", "stop_sequence": null },
                 "usage": { "output_tokens": output_tokens(text) } }),
    ));
    events.push(event("message_stop", &json!({ "type": "message_stop" })));
    events
}

fn response_item(item_id: &str, text: &str, done: bool) -> Value {
    let content = if done {
        json!([{ "type": "output_text", "text": text, "annotations": [] }])
    } else {
        json!([])
    };
    json!({
        "id": item_id, "type": "message", "role": "assistant",
        "status": if done { "completed" } else { "in_progress" },
        "content": content,
    })
}

/// An OpenAI `response` object; `done` adds the output and usage.
pub(crate) fn openai_response(
    id: &str,
    model: &str,
    text: &str,
    created_at: u64,
    done: bool,
) -> Value {
    let mut response = json!({
        "id": id, "object": "response", "created_at": created_at, "model": model,
        "status": if done { "completed" } else { "in_progress" },
        "output": [],
    });
    if done {
        let tokens = output_tokens(text);
        response["output"] = json!([response_item(&format!("{id}_msg"), text, true)]);
        response["usage"] =
            json!({ "input_tokens": 10, "output_tokens": tokens, "total_tokens": 10 + tokens });
    }
    response
}

/// The Responses stream: `response.created`, `response.output_item.added`,
/// `response.output_text.delta` (one per piece), `response.output_item.done`,
/// `response.completed`.
pub(crate) fn openai_stream(id: &str, model: &str, text: &str, created_at: u64) -> Vec<String> {
    let item_id = format!("{id}_msg");
    let mut seq = 0_u64;
    let mut next = || {
        seq += 1;
        seq - 1
    };
    let mut events = vec![
        event(
            "response.created",
            &json!({ "type": "response.created", "sequence_number": next(),
                     "response": openai_response(id, model, text, created_at, false) }),
        ),
        event(
            "response.output_item.added",
            &json!({ "type": "response.output_item.added", "sequence_number": next(),
                     "output_index": 0, "item": response_item(&item_id, text, false) }),
        ),
    ];
    for piece in pieces(text) {
        events.push(event(
            "response.output_text.delta",
            &json!({ "type": "response.output_text.delta", "sequence_number": next(),
                     "item_id": item_id, "output_index": 0, "content_index": 0, "delta": piece }),
        ));
    }
    events.push(event(
        "response.output_item.done",
        &json!({ "type": "response.output_item.done", "sequence_number": next(),
                 "output_index": 0, "item": response_item(&item_id, text, true) }),
    ));
    events.push(event(
        "response.completed",
        &json!({ "type": "response.completed", "sequence_number": next(),
                 "response": openai_response(id, model, text, created_at, true) }),
    ));
    events
}
