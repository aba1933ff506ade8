//! Recording, counts, unknown paths and shutdown.

use mac_fake::{Endpoint, FakeGrant, FakeProvider, codex_claims, jwt};
use serde_json::json;

use crate::{claims, client};

#[tokio::test]
async fn requests_are_recorded_with_lowercased_headers_query_and_body() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_access_token("tok", FakeGrant::default());
    let response = client()
        .post(fake.url("/v1/messages?beta=true"))
        .header("Authorization", "Bearer tok")
        .header("X-Claude-Code-Session-Id", "sess-1")
        .header("anthropic-beta", "a,b")
        .body(r#"{"model":"m"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let seen = fake.requests(Endpoint::Messages);
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/v1/messages"));
    assert_eq!(request.query.as_deref(), Some("beta=true"));
    assert!(request.headers.iter().any(|(n, v)| n == "x-claude-code-session-id" && v == "sess-1"));
    assert!(request.headers.iter().all(|(n, _)| *n == n.to_lowercase()));
    assert_eq!(request.bearer(), Some("tok"));
    assert_eq!(request.json(), Some(json!({ "model": "m" })));
    assert_eq!(fake.count(Endpoint::Messages), 1);
    assert_eq!(fake.count(Endpoint::Responses), 0);

    fake.reset_counts();
    assert_eq!(fake.count(Endpoint::Messages), 0);
    assert!(fake.all_requests().is_empty());
    assert!(fake.is_access_token_valid("tok"), "reset keeps tokens");
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_are_recorded_and_refused() {
    let fake = FakeProvider::start().await.unwrap();
    assert_eq!(client().get(fake.url("/v2/whatever")).send().await.unwrap().status().as_u16(), 404);
    assert_eq!(client().head(fake.url("/")).send().await.unwrap().status().as_u16(), 200);
    assert_eq!(client().get(fake.url("/v1/messages")).send().await.unwrap().status().as_u16(), 405);
    assert_eq!(fake.count(Endpoint::Unknown), 2);
    assert_eq!(fake.count(Endpoint::Messages), 1);
    assert_eq!(Endpoint::from_path("/backend-api/codex/responses"), Endpoint::Responses);
}

#[tokio::test]
async fn the_server_stops_when_dropped_or_shut_down() {
    let fake = FakeProvider::start().await.unwrap();
    let origin = fake.origin();
    assert!(origin.starts_with("http://127.0.0.1:"));
    fake.shutdown().await;
    assert!(client().get(format!("{origin}/")).send().await.is_err());

    let fake = FakeProvider::start().await.unwrap();
    let addr = fake.addr();
    drop(fake);
    // The stop is asynchronous: the listener closes once the server task runs.
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(refused);
}

#[test]
fn jwt_helpers_round_trip() {
    let token = jwt(&codex_claims("acct", "e@example.com", "plus"));
    assert_eq!(token.split('.').count(), 3);
    let decoded = claims(&token);
    assert_eq!(decoded["https://api.openai.com/auth"]["chatgpt_account_id"], "acct");
    assert_eq!(decoded["email"], "e@example.com");
}

#[test]
fn a_background_fake_serves_blocking_callers() {
    use std::io::{Read as _, Write as _};

    let fake = FakeProvider::start_in_background().unwrap();
    let mut stream = std::net::TcpStream::connect(fake.addr()).unwrap();
    stream
        .write_all(b"GET /api/oauth/usage HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert_eq!(fake.count(Endpoint::AnthropicUsage), 1);
    let addr = fake.addr();
    drop(fake);
    let refused = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::net::TcpStream::connect(addr).is_err()
    });
    assert!(refused);
}
