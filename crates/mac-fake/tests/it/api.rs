//! Usage and profile reads, Messages and Responses.

use std::time::Duration;

use mac_fake::{Endpoint, FakeGrant, FakeProvider};
use serde_json::{Value, json};

use crate::{client, get_with_bearer, status_json};

/// The `event:` names of an SSE text, in order.
fn event_names(text: &str) -> Vec<String> {
    text.lines().filter_map(|l| l.strip_prefix("event: ")).map(str::to_owned).collect()
}

/// POSTs `body` with a bearer; returns status, the body chunks as they arrived, and the
/// response headers' content type.
async fn post_chunks(
    fake: &FakeProvider,
    path: &str,
    token: &str,
    body: &Value,
) -> (u16, Vec<String>, String) {
    let mut response = client()
        .post(fake.url(path))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    let mut chunks = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        chunks.push(String::from_utf8(chunk.to_vec()).unwrap());
    }
    (status, chunks, content_type)
}

#[tokio::test]
async fn anthropic_usage_and_profile_need_a_valid_bearer_and_the_beta() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_access_token("tok", FakeGrant::anthropic("uuid-u", "u@example.com"));

    let (status, usage) = get_with_bearer(&fake, "/api/oauth/usage", "tok").await;
    assert_eq!(status, 200);
    assert_eq!(usage["five_hour"]["utilization"], 12.0);
    assert!(usage["seven_day"]["resets_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(usage["seven_day_sonnet"], Value::Null);
    let (status, profile) = get_with_bearer(&fake, "/api/oauth/profile", "tok").await;
    assert_eq!(status, 200);
    assert_eq!(
        profile,
        json!({ "account": { "uuid": "uuid-u", "email": "u@example.com",
                                             "has_claude_max": true, "has_claude_pro": false } })
    );

    assert_eq!(
        get_with_bearer(&fake, "/api/oauth/usage", "bad").await,
        (
            401,
            json!({
        "type": "error", "error": { "type": "authentication_error", "message": "invalid token" } })
        )
    );
    let no_beta = client()
        .get(fake.url("/api/oauth/usage"))
        .header("authorization", "Bearer tok")
        .send()
        .await
        .unwrap();
    assert_eq!(no_beta.status().as_u16(), 400);

    let custom = json!({ "five_hour": { "utilization": 99.0, "resets_at": null },
                         "seven_day": null, "seven_day_sonnet": null });
    fake.set_anthropic_usage(custom.clone());
    assert_eq!(get_with_bearer(&fake, "/api/oauth/usage", "tok").await.1, custom);
    let own = json!({ "five_hour": null, "seven_day": null, "seven_day_sonnet": null });
    fake.add_access_token("tok2", FakeGrant { usage: Some(own.clone()), ..FakeGrant::default() });
    assert_eq!(get_with_bearer(&fake, "/api/oauth/usage", "tok2").await.1, own);
}

#[tokio::test]
async fn codex_usage_reports_the_grant_plan_and_records_the_account_header() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_access_token("ctok", FakeGrant::codex("acct-x", "x@example.com", "pro"));
    let response = client()
        .get(fake.url("/backend-api/wham/usage"))
        .header("authorization", "Bearer ctok")
        .header("ChatGPT-Account-Id", "acct-x")
        .send()
        .await
        .unwrap();
    let (status, usage) = status_json(response).await;
    assert_eq!(status, 200);
    assert_eq!(usage["plan_type"], "pro");
    assert_eq!(usage["rate_limit"]["primary_window"]["used_percent"], 12.0);
    assert_eq!(usage["rate_limit"]["secondary_window"]["reset_after_seconds"], 72 * 3600);
    let seen = fake.last_request(Endpoint::CodexUsage).unwrap();
    assert_eq!(seen.header("chatgpt-account-id"), Some("acct-x"));
    assert_eq!(seen.bearer(), Some("ctok"));
    assert_eq!(get_with_bearer(&fake, "/backend-api/wham/usage", "nope").await.0, 401);
}

#[tokio::test]
async fn messages_stream_arrives_in_several_chunks_with_the_client_event_sequence() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_access_token("m", FakeGrant::default());
    fake.set_stream_pause(Duration::from_millis(20));
    fake.set_reply_text("Hi there, friend");
    let body = json!({ "model": "claude-x", "stream": true, "messages": [] });
    let (status, chunks, content_type) =
        post_chunks(&fake, "/v1/messages?beta=true", "m", &body).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/event-stream");
    assert!(chunks.len() >= 4, "{chunks:?}");
    let text = chunks.concat();
    assert_eq!(
        event_names(&text),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let deltas: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter(|v| v["type"] == "content_block_delta")
        .map(|v| v["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deltas, "Hi there, friend");
    assert!(text.contains(r#""model":"claude-x""#));
    assert_eq!(fake.last_request(Endpoint::Messages).unwrap().query.as_deref(), Some("beta=true"));
}

#[tokio::test]
async fn messages_and_responses_answer_json_without_stream_and_refuse_bad_bearers() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_access_token("k", FakeGrant::default());
    let (status, chunks, _) =
        post_chunks(&fake, "/v1/messages", "k", &json!({ "model": "m" })).await;
    let message: Value = serde_json::from_str(&chunks.concat()).unwrap();
    assert_eq!((status, message["type"].as_str()), (200, Some("message")));
    assert_eq!(message["content"][0]["text"], "Hello from the fake provider.");

    let (status, chunks, _) =
        post_chunks(&fake, "/v1/responses", "k", &json!({ "model": "g" })).await;
    let response: Value = serde_json::from_str(&chunks.concat()).unwrap();
    assert_eq!((status, response["status"].as_str()), (200, Some("completed")));
    assert_eq!(response["output"][0]["content"][0]["text"], "Hello from the fake provider.");

    let (status, _, _) = post_chunks(&fake, "/v1/messages", "wrong", &json!({})).await;
    assert_eq!(status, 401);
    let (status, _, _) =
        post_chunks(&fake, "/backend-api/codex/responses", "wrong", &json!({})).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn responses_stream_on_both_paths() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_access_token("r", FakeGrant::default());
    fake.set_stream_pause(Duration::ZERO);
    for path in ["/v1/responses", "/backend-api/codex/responses"] {
        let (status, chunks, _) =
            post_chunks(&fake, path, "r", &json!({ "model": "gpt", "stream": true })).await;
        assert_eq!(status, 200);
        assert_eq!(
            event_names(&chunks.concat()),
            [
                "response.created",
                "response.output_item.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_item.done",
                "response.completed",
            ]
        );
    }
    let paths: Vec<String> =
        fake.requests(Endpoint::Responses).into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v1/responses", "/backend-api/codex/responses"]);
}
