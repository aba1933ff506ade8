//! `AdapterClient::refresh` against the loopback fake (D12).

use std::sync::Arc;
use std::time::{Duration, Instant};

use mac_adapters::{
    AdapterClient, FailureKind, PermanentReason, ProviderDescriptor, RefreshFailure, TokenGrant,
};
use mac_storage::{ManualClock, Provider, Secret};
use mac_test_support::{Endpoint, FakeGrant, FakeProvider, Scripted, ScriptedBody};
use serde_json::json;

use crate::{NOW, assert_no_secret, client, client_with, descriptor, secs};

const PROVIDERS: [Provider; 2] = [Provider::Anthropic, Provider::Codex];

fn token_endpoint(provider: Provider) -> Endpoint {
    match provider {
        Provider::Anthropic => Endpoint::AnthropicToken,
        Provider::Codex => Endpoint::OpenAiToken,
    }
}

fn grant_for(provider: Provider) -> FakeGrant {
    match provider {
        Provider::Anthropic => FakeGrant::anthropic("uuid-1", "a@example.com"),
        Provider::Codex => FakeGrant::codex("acct-1", "c@example.com", "plus"),
    }
}

/// A fake holding refresh token `rt-<provider>-0` and a client of `provider` for it.
async fn setup(provider: Provider) -> (FakeProvider, AdapterClient, Secret) {
    let fake = FakeProvider::start().await.unwrap();
    let token = format!("rt-{provider}-0");
    fake.add_refresh_token(&token, grant_for(provider));
    let client = client(provider, &fake);
    (fake, client, Secret::new(token))
}

/// The failure's message and `Debug` hold no token.
#[track_caller]
fn assert_clean(failure: &RefreshFailure, token: &Secret) {
    assert_no_secret(&failure.to_string(), &[token.expose(), "fake-refresh", "fake-access"]);
    assert_no_secret(&format!("{failure:?}"), &[token.expose(), "fake-refresh", "fake-access"]);
}

#[tokio::test]
async fn a_refresh_rotates_and_names_the_account() {
    for provider in PROVIDERS {
        let (fake, client, token) = setup(provider).await;
        let grant = client.refresh(&token).await.unwrap();
        let rotated = fake.current_refresh_token(token.expose()).unwrap();
        assert_ne!(rotated, token.expose());
        assert_eq!(grant.refresh_token.as_ref().map(Secret::expose), Some(rotated.as_str()));
        assert!(fake.is_access_token_valid(grant.access_token.expose()));
        assert_eq!(grant.expires_at, secs(3600), "started at the clock's now + expires_in");
        let debug = format!("{grant:?}");
        assert_no_secret(&debug, &[&rotated, grant.access_token.expose()]);

        let patch = grant.clone().into_patch();
        assert_eq!(patch.refresh_token, Some(Secret::new(rotated.clone())));
        assert_eq!(patch.access_token, grant.access_token);
        match provider {
            Provider::Anthropic => {
                assert_eq!(patch.account_uuid.as_deref(), Some("uuid-1"));
                assert_eq!(patch.email.as_deref(), Some("a@example.com"));
                assert_eq!(patch.account_id, None);
            }
            Provider::Codex => {
                assert_eq!(patch.account_id.as_deref(), Some("acct-1"));
                assert_eq!(patch.email.as_deref(), Some("c@example.com"));
                assert_eq!(patch.account_uuid, None);
                assert!(grant.id_token.is_some());
            }
        }
        // The rotated token refreshes again.
        let again = client.refresh(&Secret::new(rotated)).await.unwrap();
        assert!(again.refresh_token.is_some());
    }
}

#[tokio::test]
async fn a_refresh_without_rotation_keeps_the_stored_token() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_refresh_token("rt-keep", FakeGrant { rotate: false, ..FakeGrant::default() });
    let grant = client(Provider::Anthropic, &fake).refresh(&Secret::new("rt-keep")).await.unwrap();
    assert_eq!(grant.refresh_token, None);
    assert_eq!((&grant.account_uuid, &grant.email), (&None, &None));
    assert_eq!(grant.into_patch().refresh_token, None);
}

#[tokio::test]
async fn refresh_requests_have_the_exact_shape() {
    let (fake, client, token) = setup(Provider::Anthropic).await;
    client.refresh(&token).await.unwrap();
    let request = fake.last_request(Endpoint::AnthropicToken).unwrap();
    assert_eq!(fake.url(&request.path), client.descriptor().endpoints.token_url.as_str());
    assert_eq!((request.method.as_str(), request.query.as_deref()), ("POST", None));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("user-agent"), Some("claude-cli/2.1.197 (external, cli)"));
    assert_eq!(request.header("authorization"), None);
    assert_eq!(
        request.json().unwrap(),
        json!({"grant_type": "refresh_token", "refresh_token": "rt-anthropic-0",
               "client_id": "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
               "scope": "user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload"})
    );

    let (fake, client, token) = setup(Provider::Codex).await;
    client.refresh(&token).await.unwrap();
    let request = fake.last_request(Endpoint::OpenAiToken).unwrap();
    assert_eq!(request.path, "/oauth/token");
    assert_eq!(fake.url(&request.path), client.descriptor().endpoints.token_url.as_str());
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("user-agent"), Some("opencode/1.1.53"));
    assert_eq!(request.header("originator"), Some("opencode"), "Codex CLI's refresh sends one");
    assert_eq!(
        request.json().unwrap(),
        json!({"client_id": "app_EMoamEEZ73f0CkXaXp7hrann", "grant_type": "refresh_token",
               "refresh_token": "rt-codex-0"})
    );
}

#[tokio::test]
async fn a_reused_or_revoked_token_is_permanent() {
    for (provider, status, code, reason) in [
        (Provider::Anthropic, 400, "invalid_grant", PermanentReason::InvalidGrant),
        (Provider::Codex, 401, "refresh_token_reused", PermanentReason::RefreshTokenReused),
    ] {
        let (_fake, client, token) = setup(provider).await;
        client.refresh(&token).await.unwrap();
        let failure = client.refresh(&token).await.unwrap_err();
        assert_eq!(failure.kind, FailureKind::Permanent(reason), "{provider}: {failure}");
        assert_eq!((failure.status, failure.error_code.as_deref()), (Some(status), Some(code)));
        assert!(failure.to_string().contains("log in again"), "{failure}");
        assert_clean(&failure, &token);
    }
    let (fake, client, token) = setup(Provider::Codex).await;
    fake.revoke_refresh_token(token.expose());
    let failure = client.refresh(&token).await.unwrap_err();
    assert_eq!(failure.permanent_reason(), Some(PermanentReason::Revoked));
}

#[tokio::test]
async fn server_errors_are_transient_and_spend_nothing() {
    for provider in PROVIDERS {
        let (fake, client, token) = setup(provider).await;
        fake.script(
            token_endpoint(provider),
            vec![Scripted::server_error(500), Scripted::server_error(502), Scripted::status(503)],
        );
        for status in [500, 502, 503] {
            let failure = client.refresh(&token).await.unwrap_err();
            assert_eq!((failure.kind, failure.status), (FailureKind::Transient, Some(status)));
            assert!(failure.to_string().contains(&format!("HTTP {status}")), "{failure}");
            assert_clean(&failure, &token);
        }
        assert!(client.refresh(&token).await.is_ok(), "the token was not spent");
    }
}

#[tokio::test]
async fn a_bare_client_error_is_transient() {
    for provider in PROVIDERS {
        let (fake, client, token) = setup(provider).await;
        let answers = vec![
            Scripted::status(400),
            Scripted::status(401),
            Scripted::status(403),
            Scripted::unauthorized(),
            Scripted::revoked(),
            Scripted::json(400, json!({"error": "invalid_request"})),
        ];
        let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        fake.script(token_endpoint(provider), answers);
        for status in statuses {
            let failure = client.refresh(&token).await.unwrap_err();
            assert!(!failure.is_permanent(), "{provider} {status}: {failure}");
            assert_eq!(failure.status, Some(status));
            assert_clean(&failure, &token);
        }
    }
}

#[tokio::test]
async fn unreadable_bodies_are_transient_with_clear_messages() {
    let big = Scripted {
        body: ScriptedBody::Bytes(vec![b' '; 2 * 1024 * 1024]),
        ..Scripted::status(200)
    };
    for provider in PROVIDERS {
        let (fake, _, token) = setup(provider).await;
        // The 2 MiB body is read by a debug build on a loaded CI machine: the request timeout
        // is not what this test checks, so it is generous.
        let clock = Arc::new(ManualClock::new(NOW));
        let client = client_with(provider, &fake, clock, Duration::from_secs(60));
        fake.script(
            token_endpoint(provider),
            vec![
                Scripted::html_error_page(200),
                Scripted::html_error_page(403),
                Scripted::truncated_json(),
                Scripted::non_utf8(),
                big.clone(),
                Scripted::ok_json(json!({"token_type": "Bearer"})),
            ],
        );
        for expected in [
            "the token response (HTTP 200) is not JSON; will retry",
            "the token endpoint answered HTTP 403 and its body is not JSON; will retry",
            "the token response (HTTP 200) is not JSON; will retry",
            "the token response (HTTP 200) is not UTF-8; will retry",
            "the token response (HTTP 200) is larger than 1 MiB; will retry",
            "the token response (HTTP 200) has no access_token; will retry",
        ] {
            let failure = client.refresh(&token).await.unwrap_err();
            assert_eq!(failure.kind, FailureKind::Transient);
            assert_eq!(failure.to_string(), expected, "{provider}");
            assert_no_secret(&failure.to_string(), &["fake-trunc", "<html", "DOCTYPE"]);
        }
    }
}

#[tokio::test]
async fn a_slow_token_endpoint_times_out_as_a_transient_network_error() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_refresh_token("rt-slow", FakeGrant::default());
    fake.script(Endpoint::AnthropicToken, vec![Scripted::slow(Duration::from_secs(3))]);
    let client = client_with(
        Provider::Anthropic,
        &fake,
        Arc::new(ManualClock::new(NOW)),
        Duration::from_millis(300),
    );
    assert_eq!(client.timeout(), Duration::from_millis(300));
    let begun = Instant::now();
    let failure = client.refresh(&Secret::new("rt-slow")).await.unwrap_err();
    assert!(begun.elapsed() < Duration::from_secs(2), "{:?}", begun.elapsed());
    assert_eq!((failure.kind, failure.status), (FailureKind::Transient, None));
    let message = failure.to_string();
    let host = fake.addr().to_string();
    assert!(
        message.starts_with(&format!("network error: {host}: timed out after 300ms")),
        "{message}"
    );
    assert_no_secret(&message, &["rt-slow", "/v1/oauth/token"]);
}

#[tokio::test]
async fn a_dropped_connection_or_a_closed_port_is_transient() {
    for provider in PROVIDERS {
        let (fake, client, token) = setup(provider).await;
        fake.script(token_endpoint(provider), vec![Scripted::dropped()]);
        let failure = client.refresh(&token).await.unwrap_err();
        assert_eq!((failure.kind, failure.status), (FailureKind::Transient, None));
        assert!(failure.to_string().starts_with("network error: 127.0.0.1:"), "{failure}");
        assert_clean(&failure, &token);
    }

    // Nothing listens on a port just released.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let descriptor =
        ProviderDescriptor::codex().with_origin(&format!("http://127.0.0.1:{port}")).unwrap();
    let client = AdapterClient::builder(descriptor).no_proxy().build().unwrap();
    let failure = client.refresh(&Secret::new("rt-x")).await.unwrap_err();
    assert!(!failure.is_permanent());
    assert!(
        failure
            .to_string()
            .starts_with(&format!("network error: 127.0.0.1:{port}: could not connect")),
        "{failure}"
    );
}

#[tokio::test]
async fn an_empty_refresh_token_is_permanent_without_a_request() {
    for provider in PROVIDERS {
        let fake = FakeProvider::start().await.unwrap();
        let failure = client(provider, &fake).refresh(&Secret::new("")).await.unwrap_err();
        assert_eq!(failure, RefreshFailure::missing_refresh_token());
        assert_eq!(failure.permanent_reason(), Some(PermanentReason::MissingRefreshToken));
        assert_eq!(fake.count(token_endpoint(provider)), 0);
        assert!(fake.all_requests().is_empty());
    }
}

#[tokio::test]
async fn clients_share_nothing() {
    // Two fakes, two clients: each refresh lands on its own fake (no global state).
    let (fake_a, client_a, token_a) = setup(Provider::Anthropic).await;
    let (fake_b, client_b, token_b) = setup(Provider::Anthropic).await;
    let _: TokenGrant = client_a.refresh(&token_a).await.unwrap();
    let _: TokenGrant = client_b.refresh(&token_b).await.unwrap();
    assert_eq!(
        (fake_a.count(Endpoint::AnthropicToken), fake_b.count(Endpoint::AnthropicToken)),
        (1, 1)
    );
    assert_ne!(descriptor(Provider::Anthropic, &fake_a), descriptor(Provider::Anthropic, &fake_b));
}
