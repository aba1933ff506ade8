//! Scripted answers: errors, broken bodies, slow answers and dropped connections.

use std::time::{Duration, Instant};

use mac_fake::{Endpoint, FakeGrant, FakeProvider, Scripted};
use serde_json::json;

use crate::{anthropic_refresh, client, status_json};

async fn messages(fake: &FakeProvider) -> Result<reqwest::Response, reqwest::Error> {
    client()
        .post(fake.url("/v1/messages"))
        .header("authorization", "Bearer tok")
        .body(json!({ "model": "m" }).to_string())
        .send()
        .await
}

fn fake_with_token(fake: &FakeProvider) {
    fake.add_access_token("tok", FakeGrant::default());
}

#[tokio::test]
async fn a_scripted_429_carries_its_headers_then_the_default_resumes() {
    let fake = FakeProvider::start().await.unwrap();
    fake_with_token(&fake);
    fake.script(
        Endpoint::Messages,
        vec![Scripted::rate_limited(vec![
            ("retry-after".into(), "7".into()),
            ("anthropic-ratelimit-unified-status".into(), "rejected".into()),
        ])],
    );
    assert_eq!(fake.scripts_left(Endpoint::Messages), 1);
    let limited = messages(&fake).await.unwrap();
    assert_eq!(limited.headers()["retry-after"], "7");
    assert_eq!(limited.headers()["anthropic-ratelimit-unified-status"], "rejected");
    let (status, body) = status_json(limited).await;
    assert_eq!((status, body["error"]["type"].as_str()), (429, Some("rate_limit_error")));
    assert_eq!(fake.scripts_left(Endpoint::Messages), 0);

    let (status, body) = status_json(messages(&fake).await.unwrap()).await;
    assert_eq!((status, body["type"].as_str()), (200, Some("message")));
    assert_eq!(fake.count(Endpoint::Messages), 2);
}

#[tokio::test]
async fn error_constructors_have_the_provider_shapes() {
    let fake = FakeProvider::start().await.unwrap();
    fake_with_token(&fake);
    fake.script(
        Endpoint::Messages,
        vec![
            Scripted::revoked(),
            Scripted::unauthorized(),
            Scripted::server_error(502),
            Scripted::overloaded(),
            Scripted::status(418),
        ],
    );
    let expected = [
        (403, "permission_error"),
        (401, "authentication_error"),
        (502, "api_error"),
        (529, "overloaded_error"),
    ];
    for (status, kind) in expected {
        let (got, body) = status_json(messages(&fake).await.unwrap()).await;
        assert_eq!((got, body["error"]["type"].as_str()), (status, Some(kind)), "{body}");
    }
    let (status, body) = status_json(messages(&fake).await.unwrap()).await;
    assert_eq!((status, body), (418, serde_json::Value::Null));
    assert_eq!(
        status_json(messages(&fake).await.unwrap()).await.1["error"],
        serde_json::Value::Null,
        "the queue is empty: the default answer"
    );
}

#[tokio::test]
async fn bad_bodies_are_delivered_as_scripted() {
    let fake = FakeProvider::start().await.unwrap();
    fake.script(
        Endpoint::AnthropicUsage,
        vec![Scripted::html_error_page(502), Scripted::truncated_json(), Scripted::non_utf8()],
    );
    let get = || client().get(fake.url("/api/oauth/usage")).send();
    let html = get().await.unwrap();
    assert_eq!(html.status().as_u16(), 502);
    assert_eq!(html.headers()["content-type"], "text/html; charset=utf-8");
    assert!(html.text().await.unwrap().starts_with("<!DOCTYPE html>"));
    let truncated = get().await.unwrap().bytes().await.unwrap();
    assert!(serde_json::from_slice::<serde_json::Value>(&truncated).is_err());
    let bytes = get().await.unwrap().bytes().await.unwrap();
    assert!(std::str::from_utf8(&bytes).is_err());
    // Scripts apply before authentication: the next request is refused by default.
    assert_eq!(get().await.unwrap().status().as_u16(), 401);
}

#[tokio::test]
async fn a_dropped_connection_is_an_error_and_then_the_default_answers() {
    let fake = FakeProvider::start().await.unwrap();
    fake_with_token(&fake);
    fake.script(Endpoint::Messages, vec![Scripted::dropped()]);
    let error = messages(&fake).await.unwrap_err();
    assert!(!error.is_status(), "{error:?}");
    assert_eq!(messages(&fake).await.unwrap().status().as_u16(), 200);
    assert_eq!(fake.count(Endpoint::Messages), 2);
}

#[tokio::test]
async fn a_stream_cut_midway_is_an_error_while_reading() {
    let fake = FakeProvider::start().await.unwrap();
    fake.script(
        Endpoint::Messages,
        vec![Scripted::sse(vec!["event: message_start\ndata: {}\n\n".into()]).with_drop()],
    );
    let mut response = messages(&fake).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"event: message_start"));
    assert!(response.chunk().await.is_err());
}

#[tokio::test]
async fn delays_and_slow_scripts_hold_the_answer() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_refresh_token("rt", FakeGrant::default());
    fake.script(
        Endpoint::AnthropicToken,
        vec![Scripted::server_error(500), Scripted::slow(Duration::from_millis(150))],
    );
    // A scripted failure does not spend the refresh token; the slow script answers normally.
    assert_eq!(anthropic_refresh(&fake, "rt").await.0, 500);
    let started = Instant::now();
    let (status, body) = anthropic_refresh(&fake, "rt").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(status, 200, "{body}");

    fake.set_delay(Endpoint::Unknown, Duration::from_millis(100));
    let started = Instant::now();
    assert_eq!(client().get(fake.url("/nothing")).send().await.unwrap().status().as_u16(), 404);
    assert!(started.elapsed() >= Duration::from_millis(100));
}
