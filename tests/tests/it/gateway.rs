//! The gateway over loopback in front of the fake provider, in-process: requests of both
//! providers served by a pool account (JSON and SSE), the client's own credentials replaced,
//! errors in the provider's shape (404, 413, malformed JSON), the inbound key.

use mac_gateway::Gateway;
use mac_storage::Provider;
use mac_test_support::{Endpoint, FakeProvider, TempDataDir};
use serde_json::Value;

use crate::gateway_support::{
    base_url, config, json_of, messages_body, responses_body, seed, start,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_providers_are_served_by_a_pool_account_json_and_sse() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    let claude = seed(&dir, &fake, Provider::Anthropic, "claude-one");
    let codex = seed(&dir, &fake, Provider::Codex, "codex-one");
    let gateway = start(&dir, config(&fake)).await;
    let http = reqwest::Client::new();
    let url = base_url(&gateway);

    let answer = http
        .post(format!("{url}/v1/messages"))
        .header("x-api-key", "the-clients-own-key")
        .header("anthropic-version", "2023-06-01")
        .header("accept-encoding", "gzip")
        .body(messages_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let json = json_of(answer).await;
    assert_eq!(json["type"], "message");
    let seen = fake.last_request(Endpoint::Messages).unwrap();
    assert_eq!(seen.bearer(), Some(claude.access.as_str()));
    assert_eq!(seen.header("x-api-key"), None);
    assert_eq!(seen.header("accept-encoding"), Some("identity"));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(seen.query_param("beta").as_deref(), Some("true"));

    let answer = http
        .post(format!("{url}/v1/messages?beta=true"))
        .body(messages_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let text = answer.text().await.unwrap();
    assert!(
        text.contains("event: message_start") && text.contains("event: message_stop"),
        "{text}"
    );

    // count_tokens goes to the Anthropic pool too (the fake has no such endpoint: its 404 is
    // passed on as the provider's answer).
    let answer = http
        .post(format!("{url}/v1/messages/count_tokens"))
        .body(messages_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let seen = fake.last_request(Endpoint::Unknown).unwrap();
    assert_eq!(seen.path, "/v1/messages/count_tokens");
    assert_eq!(seen.bearer(), Some(claude.access.as_str()));

    for path in ["/v1/responses", "/backend-api/codex/responses"] {
        let answer = http
            .post(format!("{url}{path}"))
            .bearer_auth("the-clients-own-token")
            .body(responses_body(true))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        let text = answer.text().await.unwrap();
        assert!(text.contains("response.completed"), "{path}: {text}");
        let seen = fake.last_request(Endpoint::Responses).unwrap();
        assert_eq!(seen.bearer(), Some(codex.access.as_str()), "{path}");
        assert_eq!(seen.header("chatgpt-account-id"), Some("chatgpt-codex-one"), "{path}");
    }
    gateway.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_of_the_gateway_take_the_providers_shape() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    seed(&dir, &fake, Provider::Anthropic, "claude-one");
    let mut config = config(&fake);
    config.gateway.body_limit = 4096;
    let gateway = start(&dir, config).await;
    let http = reqwest::Client::new();
    let url = base_url(&gateway);

    let answer = http.get(format!("{url}/v1/nothing-here")).send().await.unwrap();
    assert_eq!(answer.status(), 404);
    let json = json_of(answer).await;
    assert_eq!(json["type"], "error");
    assert_eq!(json["error"]["type"], "not_found_error");

    let answer = http.post(format!("{url}/v1/chat/completions")).body("{}").send().await.unwrap();
    assert_eq!(answer.status(), 404);
    let json = json_of(answer).await;
    assert_eq!(json["error"]["code"], "not_found", "{json}");

    let big = format!(r#"{{"model":"m","pad":"{}"}}"#, "x".repeat(8192));
    let answer = http.post(format!("{url}/v1/messages")).body(big.clone()).send().await.unwrap();
    assert_eq!(answer.status(), 413);
    let json = json_of(answer).await;
    assert_eq!(json["error"]["type"], "request_too_large");
    // A body without a declared length (chunked) is cut at the limit too.
    let chunks = [big[..3000].to_owned(), big[3000..].to_owned()].map(|chunk| {
        Ok::<_, std::convert::Infallible>(http_body::Frame::data(bytes::Bytes::from(chunk)))
    });
    let chunked = http_body_util::StreamBody::new(futures_util::stream::iter(chunks));
    let answer = http
        .post(format!("{url}/v1/responses"))
        .body(reqwest::Body::wrap(chunked))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 413);
    let json = json_of(answer).await;
    assert_eq!(json["error"]["code"], "request_too_large");

    let answer = http.post(format!("{url}/v1/messages")).body("{\"model\": ").send().await.unwrap();
    assert_eq!(answer.status(), 400);
    let json = json_of(answer).await;
    assert_eq!(json["error"]["type"], "invalid_request_error");

    assert_eq!(fake.count(Endpoint::Messages) + fake.count(Endpoint::Responses), 0);
    assert_eq!(http.get(format!("{url}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(http.head(url.clone()).send().await.unwrap().status(), 200);
    gateway.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_address_needs_an_inbound_key() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    let refused = Gateway::new(dir.data_dir().clone(), config(&fake))
        .start("0.0.0.0:0".parse().unwrap())
        .await
        .unwrap_err();
    let message = refused.to_string();
    assert!(message.contains("inbound_key") && message.contains("0.0.0.0"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_inbound_key_every_route_but_healthz_requires_it() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    let claude = seed(&dir, &fake, Provider::Anthropic, "claude-one");
    let mut config = config(&fake);
    config.gateway.inbound_key = Some(mac_storage::Secret::new("gw-inbound-key"));
    let gateway = start(&dir, config).await;
    let http = reqwest::Client::new();
    let url = base_url(&gateway);

    assert_eq!(http.get(format!("{url}/healthz")).send().await.unwrap().status(), 200);
    for (path, method) in
        [("/v1/messages", "POST"), ("/v1/pool", "GET"), ("/metrics", "GET"), ("/", "HEAD")]
    {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let answer = http
            .request(method, format!("{url}{path}"))
            .body(messages_body(false))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "{path}");
    }
    let wrong = http
        .post(format!("{url}/v1/messages"))
        .header("x-api-key", "gw-inbound-kex")
        .body(messages_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let json = json_of(wrong).await;
    assert_eq!(json["error"]["type"], "authentication_error");

    let by_key = http
        .post(format!("{url}/v1/messages"))
        .header("x-api-key", "gw-inbound-key")
        .body(messages_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(by_key.status(), 200);
    let by_bearer =
        http.get(format!("{url}/v1/pool")).bearer_auth("gw-inbound-key").send().await.unwrap();
    assert_eq!(by_bearer.status(), 200);
    // The inbound key never reaches the provider: the account's token replaces it.
    let seen = fake.last_request(Endpoint::Messages).unwrap();
    assert_eq!(seen.bearer(), Some(claude.access.as_str()));
    assert_eq!(seen.header("x-api-key"), None);
    gateway.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_and_metrics_show_the_accounts_without_secrets() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    let claude = seed(&dir, &fake, Provider::Anthropic, "claude-one");
    let gateway = start(&dir, config(&fake)).await;
    let http = reqwest::Client::new();
    let url = base_url(&gateway);
    let answer =
        http.post(format!("{url}/v1/messages")).body(messages_body(false)).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    answer.bytes().await.unwrap();

    let pool = http.get(format!("{url}/v1/pool")).send().await.unwrap().text().await.unwrap();
    let json: Value = serde_json::from_str(&pool).unwrap();
    assert_eq!(json["pools"][0]["provider"], "anthropic");
    assert_eq!(json["pools"][0]["accounts"][0]["name"], "claude-one");
    assert_eq!(json["pools"][0]["accounts"][0]["state"], "ready");
    let metrics = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(
            "mac_gateway_requests_total{route=\"messages\",status=\"2xx\",outcome=\"completed\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        "mac_gateway_account_state{provider=\"anthropic\",account=\"claude-one\",state=\"ready\"} 1"
    ));
    assert!(
        metrics.contains("mac_gateway_upstream_latency_seconds_count{provider=\"anthropic\"} 1")
    );
    for text in [&pool, &metrics] {
        assert!(!text.contains(&claude.access) && !text.contains(&claude.refresh));
    }
    gateway.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_counters_run_only_while_a_page_watches() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    seed(&dir, &fake, Provider::Anthropic, "claude-one");
    let gateway = start(&dir, config(&fake)).await;
    let http = reqwest::Client::new();
    let url = base_url(&gateway);
    let request = || async {
        let answer = http
            .post(format!("{url}/v1/messages"))
            .body(messages_body(false))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        answer.bytes().await.unwrap();
    };
    request().await;
    // Nobody watches: the request path publishes to nobody (no event is even built).
    assert!(!gateway.events().has_subscribers());
    let mut page = http.get(format!("{url}/v1/events")).send().await.unwrap();
    let first = page.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("\"type\":\"activity\""));
    assert!(gateway.events().has_subscribers());
    drop(page);
    // Once the gateway notices the page left (its next event write fails) and the feeding
    // task sees one more event, nothing listens again.
    let mut rounds = 0;
    while gateway.events().has_subscribers() {
        rounds += 1;
        assert!(rounds < 500, "the counters kept running after the page left");
        request().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    gateway.shutdown().await.unwrap();
}
