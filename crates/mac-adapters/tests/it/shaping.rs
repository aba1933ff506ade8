//! Request shaping: the seed's request transforms.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use mac_adapters::{
    AnthropicShaping, HttpRequest, ProviderDescriptor, shape_anthropic, shape_codex,
};
use mac_storage::Secret;
use mac_test_support::fixtures::header_map;
use serde_json::{Value, json};
use url::Url;

fn request(url: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpRequest {
    HttpRequest {
        method: Method::POST,
        url: Url::parse(url).unwrap(),
        headers: header_map(headers).unwrap(),
        body: Bytes::copy_from_slice(body),
    }
}

/// The expected headers of a `(name, value)` table, to compare with a shaped request's: names
/// in any case, each name's values in order (the order between names is not HTTP's to keep).
fn map(table: &[(&str, &str)]) -> HeaderMap {
    header_map(table).unwrap()
}

/// The first value of `name`, as text.
fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|value| value.to_str().unwrap())
}

fn token() -> Secret {
    Secret::new("at-secret")
}

#[test]
fn anthropic_headers() {
    let incoming = request(
        "http://127.0.0.1:8080/v1/messages",
        &[
            ("Authorization", "Bearer caller"),
            ("X-Api-Key", "sk-caller"),
            ("Host", "127.0.0.1:8080"),
            ("Content-Length", "2"),
            ("anthropic-beta", " interleaved-thinking-2025-05-14, files-api-2025-04-14 ,"),
            ("Anthropic-Beta", "oauth-2025-04-20,context-1m"),
            ("anthropic-version", "2023-06-01"),
            ("User-Agent", "curl"),
            ("x-claude-code-session-id", "s1"),
        ],
        b"{}",
    );
    let shaped = shape_anthropic(
        &incoming,
        &ProviderDescriptor::anthropic(),
        &token(),
        AnthropicShaping::default(),
    )
    .unwrap();
    assert_eq!(
        shaped.headers,
        map(&[
            (
                "anthropic-beta",
                "oauth-2025-04-20,interleaved-thinking-2025-05-14,files-api-2025-04-14,context-1m"
            ),
            ("anthropic-version", "2023-06-01"),
            ("user-agent", "claude-cli/2.1.197 (external, cli)"),
            ("x-claude-code-session-id", "s1"),
            ("authorization", "Bearer at-secret"),
        ])
    );
    let debug = format!("{shaped:?}");
    assert!(!debug.contains("at-secret"), "{debug}");
    // The caller's request is unchanged (the executor replays it with another account).
    assert_eq!(get(&incoming.headers, "authorization"), Some("Bearer caller"));
}

#[test]
fn anthropic_betas_without_incoming_ones_are_the_required_list() {
    let shaped = shape_anthropic(
        &request("http://127.0.0.1/v1/messages", &[], b""),
        &ProviderDescriptor::anthropic(),
        &token(),
        AnthropicShaping::default(),
    )
    .unwrap();
    assert_eq!(
        get(&shaped.headers, "anthropic-beta"),
        Some("oauth-2025-04-20,interleaved-thinking-2025-05-14")
    );
}

#[test]
fn anthropic_urls() {
    let descriptor = ProviderDescriptor::anthropic();
    for (incoming, expected) in [
        ("http://127.0.0.1:8080/v1/messages", "https://api.anthropic.com/v1/messages?beta=true"),
        (
            "http://127.0.0.1:8080/v1/messages?stream=1",
            "https://api.anthropic.com/v1/messages?stream=1&beta=true",
        ),
        (
            "http://127.0.0.1:8080/v1/messages?beta=false",
            "https://api.anthropic.com/v1/messages?beta=false",
        ),
        ("http://127.0.0.1:8080/v1/messages?beta", "https://api.anthropic.com/v1/messages?beta"),
        (
            "http://127.0.0.1:8080/v1/messages/count_tokens",
            "https://api.anthropic.com/v1/messages/count_tokens",
        ),
        ("http://127.0.0.1:8080/v1/models?limit=5", "https://api.anthropic.com/v1/models?limit=5"),
        (
            "https://api.anthropic.com/v1/messages?beta=true",
            "https://api.anthropic.com/v1/messages?beta=true",
        ),
    ] {
        let shaped = shape_anthropic(
            &request(incoming, &[], b""),
            &descriptor,
            &token(),
            AnthropicShaping::default(),
        )
        .unwrap();
        assert_eq!(shaped.url.as_str(), expected, "{incoming}");
    }
    let fake = ProviderDescriptor::anthropic().with_origin("http://127.0.0.1:9999").unwrap();
    let shaped = shape_anthropic(
        &request("http://127.0.0.1:8080/v1/messages", &[], b""),
        &fake,
        &token(),
        AnthropicShaping::default(),
    )
    .unwrap();
    assert_eq!(shaped.url.as_str(), "http://127.0.0.1:9999/v1/messages?beta=true");
}

#[test]
fn anthropic_body_transforms_are_opt_in() {
    let body = json!({"system": [{"type": "text", "text": "You are OpenCode"}],
        "tools": [{"name": "bash"}]})
    .to_string();
    let incoming = request("http://127.0.0.1/v1/messages", &[], body.as_bytes());
    let descriptor = ProviderDescriptor::anthropic();
    let plain =
        shape_anthropic(&incoming, &descriptor, &token(), AnthropicShaping::default()).unwrap();
    assert_eq!(plain.body.as_ptr(), incoming.body.as_ptr(), "the same bytes, not a copy");
    let branded = shape_anthropic(
        &incoming,
        &descriptor,
        &token(),
        AnthropicShaping { branding_transforms: true },
    )
    .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&branded.body).unwrap(),
        json!({"system": [{"type": "text", "text": "You are Claude Code"}],
            "tools": [{"name": "mcp_bash"}]})
    );
    let not_json = request("http://127.0.0.1/v1/messages", &[], b"plain text OpenCode");
    let shaped = shape_anthropic(
        &not_json,
        &descriptor,
        &token(),
        AnthropicShaping { branding_transforms: true },
    )
    .unwrap();
    assert_eq!(shaped.body, not_json.body);
}

#[test]
fn codex_headers() {
    let incoming = request(
        "http://127.0.0.1:8080/v1/responses",
        &[
            ("authorization", "Bearer caller"),
            ("x-api-key", "sk-caller"),
            ("chatgpt-account-id", "someone-else"),
            ("Originator", "codex_cli_rs"),
            ("session_id", "s1"),
            ("content-type", "application/json"),
        ],
        b"{}",
    );
    let descriptor = ProviderDescriptor::codex();
    let shaped = shape_codex(&incoming, &descriptor, &token(), Some("acct-1")).unwrap();
    assert_eq!(
        shaped.headers,
        map(&[
            ("ChatGPT-Account-Id", "acct-1"),
            ("originator", "opencode"),
            ("session_id", "s1"),
            ("content-type", "application/json"),
            ("authorization", "Bearer at-secret"),
            ("User-Agent", "opencode/1.1.53"),
        ])
    );
    for account_id in [None, Some("")] {
        let shaped = shape_codex(&incoming, &descriptor, &token(), account_id).unwrap();
        assert!(!shaped.headers.contains_key("chatgpt-account-id"), "{account_id:?}");
        assert_eq!(get(&shaped.headers, "AUTHORIZATION"), Some("Bearer at-secret"));
    }
    assert_eq!(shaped.body.as_ptr(), incoming.body.as_ptr());
}

#[test]
fn codex_urls() {
    let descriptor = ProviderDescriptor::codex();
    for (incoming, expected) in [
        ("http://127.0.0.1:8080/v1/responses", "https://chatgpt.com/backend-api/codex/responses"),
        (
            "http://127.0.0.1:8080/v1/responses?stream=true",
            "https://chatgpt.com/backend-api/codex/responses?stream=true",
        ),
        (
            "http://127.0.0.1:8080/v1/chat/completions",
            "https://chatgpt.com/backend-api/codex/responses",
        ),
        ("https://api.openai.com/v1/responses", "https://chatgpt.com/backend-api/codex/responses"),
        ("http://127.0.0.1:8080/v1/models", "https://chatgpt.com/v1/models"),
        ("http://127.0.0.1:8080/v1/embeddings?x=1", "https://chatgpt.com/v1/embeddings?x=1"),
    ] {
        let shaped =
            shape_codex(&request(incoming, &[], b""), &descriptor, &token(), None).unwrap();
        assert_eq!(shaped.url.as_str(), expected, "{incoming}");
        assert_eq!(shaped.method, Method::POST);
    }
    let fake = ProviderDescriptor::codex().with_origin("http://127.0.0.1:9999").unwrap();
    let shaped =
        shape_codex(&request("http://x/v1/responses?a=b", &[], b""), &fake, &token(), None)
            .unwrap();
    assert_eq!(shaped.url.as_str(), "http://127.0.0.1:9999/backend-api/codex/responses?a=b");
}

#[test]
fn values_that_are_not_utf8_pass_through_and_a_token_http_cannot_carry_fails() {
    let mut incoming = request("http://127.0.0.1/v1/messages", &[], b"");
    let opaque = HeaderValue::from_bytes(b"caf\xe9").unwrap();
    incoming.headers.insert("x-opaque", opaque.clone());
    incoming.headers.append("anthropic-beta", HeaderValue::from_bytes(b"b\xe9ta, ctx").unwrap());
    let descriptor = ProviderDescriptor::anthropic();
    let shaped =
        shape_anthropic(&incoming, &descriptor, &token(), AnthropicShaping::default()).unwrap();
    assert_eq!(shaped.headers["x-opaque"], opaque);
    assert_eq!(
        shaped.headers["anthropic-beta"].as_bytes(),
        b"oauth-2025-04-20,interleaved-thinking-2025-05-14,b\xe9ta,ctx"
    );

    let bad = Secret::new("at\nsecret");
    let err =
        shape_anthropic(&incoming, &descriptor, &bad, AnthropicShaping::default()).unwrap_err();
    assert_eq!(err.header(), "Authorization");
    assert!(!err.to_string().contains("secret"), "{err}");
    let codex = ProviderDescriptor::codex();
    assert!(shape_codex(&incoming, &codex, &bad, None).is_err());
    let err = shape_codex(&incoming, &codex, &token(), Some("acct\r1")).unwrap_err();
    assert_eq!(err.header(), "ChatGPT-Account-Id");
}
