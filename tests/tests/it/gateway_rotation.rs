//! Rotation through the gateway, before the first byte reaches the client: a 429 in each
//! header form, a 401 refreshed once, a revoked 403, a 5xx, a 200 stream that opens with an
//! error frame (both providers); after the commit point an error frame passes through and
//! marks the account; every account limited is a 429 with `retry-after`, none usable a 503.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mac_storage::{AccountStore, Provider, StoreOptions};
use mac_test_support::fake_provider::http_date;
use mac_test_support::{Endpoint, FakeProvider, Scripted, TempDataDir};
use serde_json::json;

use crate::gateway_support::{
    anthropic_opening, base_url, bearers, config, json_of, messages_body, responses_body, seed,
    sse_event, start, state_once_marked, states,
};

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// One way to say "rate limited": its name, the provider, the headers.
type Form = (&'static str, Provider, Vec<(&'static str, String)>);

/// A 429 for `provider` with `headers`, in that provider's error shape.
fn limited(provider: Provider, headers: &[(&str, String)]) -> Scripted {
    let headers = headers.iter().map(|(n, v)| ((*n).to_owned(), v.clone())).collect();
    match provider {
        Provider::Anthropic => Scripted::rate_limited(headers),
        Provider::Codex => Scripted {
            headers,
            ..Scripted::json(
                429,
                json!({"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached"}}),
            )
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_rotates_to_the_next_account_in_every_header_form() {
    let soon = unix_now() + 3600;
    let forms: Vec<Form> = vec![
        ("retry-after seconds", Provider::Anthropic, vec![("retry-after", "120".into())]),
        (
            "retry-after date",
            Provider::Anthropic,
            vec![("retry-after", http_date(unix_now() + 300))],
        ),
        ("retry-after-ms", Provider::Anthropic, vec![("retry-after-ms", "90000".into())]),
        (
            "unified reset",
            Provider::Anthropic,
            vec![
                ("anthropic-ratelimit-unified-status", "rejected".into()),
                ("anthropic-ratelimit-unified-reset", soon.to_string()),
            ],
        ),
        (
            "unified 5h window",
            Provider::Anthropic,
            vec![
                ("anthropic-ratelimit-unified-5h-status", "rejected".into()),
                ("anthropic-ratelimit-unified-5h-reset", soon.to_string()),
            ],
        ),
        ("no header (ladder)", Provider::Anthropic, vec![]),
        (
            "codex primary window",
            Provider::Codex,
            vec![
                ("x-codex-primary-used-percent", "100".into()),
                ("x-codex-primary-window-minutes", "300".into()),
                ("x-codex-primary-reset-after-seconds", "3600".into()),
            ],
        ),
        ("codex retry-after", Provider::Codex, vec![("retry-after", "60".into())]),
    ];
    for (form, provider, headers) in forms {
        let fake = FakeProvider::start().await.unwrap();
        let dir = TempDataDir::new().unwrap();
        let first = seed(&dir, &fake, provider, "first");
        let second = seed(&dir, &fake, provider, "second");
        let gateway = start(&dir, config(&fake)).await;
        let url = base_url(&gateway);
        let (endpoint, path, body) = match provider {
            Provider::Anthropic => (Endpoint::Messages, "/v1/messages", messages_body(false)),
            Provider::Codex => (Endpoint::Responses, "/v1/responses", responses_body(false)),
        };
        fake.script(endpoint, vec![limited(provider, &headers)]);
        let answer =
            reqwest::Client::new().post(format!("{url}{path}")).body(body).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{form}");
        answer.bytes().await.unwrap();
        let used = bearers(&fake, endpoint);
        assert_eq!(used.len(), 2, "{form}: {used:?}");
        assert_ne!(used[0], used[1], "{form}: rotated to the other account");
        let limited_name = if used[0] == first.access { "first" } else { "second" };
        assert!(used[0] == first.access || used[0] == second.access, "{form}");
        let state = state_once_marked(&url, limited_name).await;
        assert!(state == "rate-limited" || state == "exhausted", "{form}: {state}");
        gateway.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_refreshes_the_token_once_and_retries_the_same_account() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    let only = seed(&dir, &fake, Provider::Anthropic, "only");
    let gateway = start(&dir, config(&fake)).await;
    let url = base_url(&gateway);
    fake.script(Endpoint::Messages, vec![Scripted::unauthorized()]);
    let answer = reqwest::Client::new()
        .post(format!("{url}/v1/messages"))
        .body(messages_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1);
    let used = bearers(&fake, Endpoint::Messages);
    assert_eq!(used.len(), 2);
    assert_eq!(used[0], only.access);
    assert_eq!(Some(&used[1]), fake.issued_access_tokens().last(), "retried with the new token");
    gateway.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refreshed_then_its_account_disabled_and_the_request_rotates() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    let first = seed(&dir, &fake, Provider::Anthropic, "first");
    let second = seed(&dir, &fake, Provider::Anthropic, "second");
    let gateway = start(&dir, config(&fake)).await;
    let url = base_url(&gateway);
    // Whichever account goes first: its token is revoked, and so is the one its refresh gets.
    fake.script(Endpoint::Messages, vec![Scripted::revoked(), Scripted::revoked()]);
    let answer = reqwest::Client::new()
        .post(format!("{url}/v1/messages"))
        .body(messages_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let used = bearers(&fake, Endpoint::Messages);
    assert_eq!(used.len(), 3, "{used:?}");
    let (revoked, other) =
        if used[0] == first.access { ("first", &second) } else { ("second", &first) };
    assert_eq!(used[2], other.access, "served by the other account");
    assert_eq!(state_once_marked(&url, revoked).await, "needs-login");
    gateway.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_rotates_and_when_every_account_fails_the_last_answer_is_passed_on() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    seed(&dir, &fake, Provider::Anthropic, "first");
    seed(&dir, &fake, Provider::Anthropic, "second");
    let gateway = start(&dir, config(&fake)).await;
    let url = base_url(&gateway);
    let http = reqwest::Client::new();
    fake.script(Endpoint::Messages, vec![Scripted::server_error(500)]);
    let answer =
        http.post(format!("{url}/v1/messages")).body(messages_body(false)).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let used = bearers(&fake, Endpoint::Messages);
    assert_eq!(used.len(), 2);
    assert_ne!(used[0], used[1]);
    // No account is marked for a server error.
    assert!(states(&url).await.iter().all(|(_, state)| state == "ready"));

    fake.reset_counts();
    fake.script(Endpoint::Messages, vec![Scripted::server_error(503); 20]);
    let answer =
        http.post(format!("{url}/v1/messages")).body(messages_body(false)).send().await.unwrap();
    assert_eq!(answer.status(), 503, "the provider's own answer");
    let json = json_of(answer).await;
    assert_eq!(json["error"]["type"], "api_error");
    gateway.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_whose_id_http_cannot_carry_is_passed_over_and_not_marked() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    // First in the file: the sticky strategy tries it first.
    let bad = seed(&dir, &fake, Provider::Codex, "bad");
    let good = seed(&dir, &fake, Provider::Codex, "good");
    // A control character: no `ChatGPT-Account-Id` header can carry it.
    let store =
        AccountStore::open(dir.data_dir(), Provider::Codex, StoreOptions::default()).unwrap();
    store
        .mutate(|document| {
            let account = document.accounts.iter_mut().find(|a| a.label.as_deref() == Some("bad"));
            account.unwrap().account_id = Some("chatgpt-bad\u{7}".to_owned());
            Ok(())
        })
        .unwrap();
    let gateway = start(&dir, config(&fake)).await;
    let url = base_url(&gateway);
    let http = reqwest::Client::new();
    for _ in 0..4 {
        let answer = http
            .post(format!("{url}/v1/responses"))
            .body(responses_body(false))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    // Every request left with the good account; none with the bad one's token.
    let used = bearers(&fake, Endpoint::Responses);
    assert_eq!(used, vec![good.access.clone(); 4]);
    assert!(!used.contains(&bad.access));
    assert!(states(&url).await.iter().all(|(_, state)| state == "ready"), "nothing marked");
    // The bad account was chosen and passed over, as a connection failure is.
    let metrics = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    let series = r#"mac_gateway_rotations_total{provider="codex",cause="network_error"} "#;
    let passed_over = metrics.lines().find_map(|line| line.strip_prefix(series));
    assert!(passed_over.is_some_and(|n| n.parse::<u64>().unwrap() >= 1), "{metrics}");
    gateway.shutdown().await.unwrap();
}

/// The script of a 200 stream that opens with an error frame, for `provider`.
fn opens_with_an_error(provider: Provider) -> Scripted {
    match provider {
        Provider::Anthropic => Scripted::sse(vec![
            sse_event(
                "message_start",
                &json!({"type": "message_start", "message": {"id": "m", "content": []}}),
            ),
            sse_event(
                "error",
                &json!({"type": "error", "error": {"type": "rate_limit_error", "message": "rate limited"}}),
            ),
        ]),
        Provider::Codex => Scripted::sse(vec![
            sse_event(
                "response.created",
                &json!({"type": "response.created", "response": {"id": "r"}}),
            ),
            sse_event(
                "response.failed",
                &json!({"type": "response.failed", "response": {"id": "r", "status": "failed", "error": {
                    "code": "usage_limit_reached", "message": "The usage limit has been reached",
                    "resets_in_seconds": 3600}}}),
            ),
        ]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_opens_with_an_error_frame_rotates_before_the_first_byte() {
    for provider in Provider::ALL {
        let fake = FakeProvider::start().await.unwrap();
        fake.set_stream_pause(Duration::from_millis(1));
        let dir = TempDataDir::new().unwrap();
        let first = seed(&dir, &fake, provider, "first");
        seed(&dir, &fake, provider, "second");
        let gateway = start(&dir, config(&fake)).await;
        let url = base_url(&gateway);
        let (endpoint, path, body, done) = match provider {
            Provider::Anthropic => {
                (Endpoint::Messages, "/v1/messages", messages_body(true), "message_stop")
            }
            Provider::Codex => {
                (Endpoint::Responses, "/v1/responses", responses_body(true), "response.completed")
            }
        };
        fake.script(endpoint, vec![opens_with_an_error(provider)]);
        let answer =
            reqwest::Client::new().post(format!("{url}{path}")).body(body).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{provider}");
        let text = answer.text().await.unwrap();
        assert!(text.contains(done), "{provider}: {text}");
        assert!(
            !text.contains("rate limited") && !text.contains("usage_limit_reached"),
            "{provider}: {text}"
        );
        let used = bearers(&fake, endpoint);
        assert_eq!(used.len(), 2, "{provider}");
        assert_ne!(used[0], used[1], "{provider}");
        let limited_name = if used[0] == first.access { "first" } else { "second" };
        let state = state_once_marked(&url, limited_name).await;
        assert!(state == "rate-limited" || state == "exhausted", "{provider}: {state}");
        gateway.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_frame_after_the_commit_point_passes_through_and_marks_the_account() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_stream_pause(Duration::from_millis(1));
    let dir = TempDataDir::new().unwrap();
    seed(&dir, &fake, Provider::Anthropic, "first");
    seed(&dir, &fake, Provider::Anthropic, "second");
    let gateway = start(&dir, config(&fake)).await;
    let url = base_url(&gateway);
    fake.script(
        Endpoint::Messages,
        vec![Scripted::sse(
            [
                anthropic_opening("Hel"),
                vec![sse_event(
                    "error",
                    &json!({"type": "error", "error": {"type": "rate_limit_error", "message": "rate limited mid-stream"}}),
                )],
            ]
            .concat(),
        )],
    );
    let answer = reqwest::Client::new()
        .post(format!("{url}/v1/messages"))
        .body(messages_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    assert!(text.contains("\"Hel\"") && text.contains("rate limited mid-stream"), "{text}");
    let used = bearers(&fake, Endpoint::Messages);
    assert_eq!(used.len(), 1, "no rotation after the commit point");
    let marked = states(&url).await;
    let name = if used[0].ends_with("first") { "first" } else { "second" };
    let state = state_once_marked(&url, name).await;
    assert_eq!(state, "rate-limited", "{marked:?}");
    gateway.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_account_limited_is_a_429_with_retry_after_and_none_usable_a_503() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    seed(&dir, &fake, Provider::Anthropic, "only");
    let gateway = start(&dir, config(&fake)).await;
    let url = base_url(&gateway);
    let http = reqwest::Client::new();
    fake.script(
        Endpoint::Messages,
        vec![limited(Provider::Anthropic, &[("retry-after", "120".into())])],
    );
    let answer =
        http.post(format!("{url}/v1/messages")).body(messages_body(false)).send().await.unwrap();
    assert_eq!(answer.status(), 429);
    let retry_after: u64 = answer.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((100..=121).contains(&retry_after), "{retry_after}");
    let json = json_of(answer).await;
    assert_eq!(json["error"]["type"], "rate_limit_error");

    // The Codex pool is empty: nothing to use, and the answer says what to run.
    let answer =
        http.post(format!("{url}/v1/responses")).body(responses_body(false)).send().await.unwrap();
    assert_eq!(answer.status(), 503);
    let json = json_of(answer).await;
    let message = json["error"]["message"].as_str().unwrap();
    assert!(message.contains("mac login codex") && message.contains("mac doctor"), "{message}");
    gateway.shutdown().await.unwrap();
}
