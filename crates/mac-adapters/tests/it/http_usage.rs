//! `AdapterClient::fetch_usage` and `fetch_profile` against the loopback fake (SEED §2.12,
//! §3.14).

// Utilizations are whole numbers parsed from JSON: exact.
#![allow(clippy::float_cmp)]

use std::sync::Arc;
use std::time::Duration;

use mac_adapters::{BodyError, FetchError, Profile, UsageReport, parse_anthropic_usage};
use mac_storage::{EpochMs, Provider, Secret, SystemClock, UsageLimits, parse_rfc3339};
use mac_test_support::fake_provider::{codex_claims, jwt};
use mac_test_support::{Endpoint, FakeGrant, FakeProvider, Scripted};
use serde_json::{Value, json};

use crate::{assert_no_secret, client, client_with};

const ANTHROPIC_TOKEN: &str = "at-anthropic-usage";
const CODEX_TOKEN: &str = "at-codex-usage";

fn anthropic_usage_body() -> Value {
    json!({
        "five_hour": {"utilization": 50, "resets_at": "2026-03-11T05:00:00Z"},
        "seven_day": {"utilization": 30.5, "resets_at": "2026-03-14T00:00:00Z"},
        "seven_day_sonnet": null,
        "seven_day_opus": {"utilization": 1, "resets_at": null}
    })
}

#[track_caller]
fn assert_clean(err: &FetchError, token: &str) {
    assert_no_secret(&err.to_string(), &[token]);
    assert_no_secret(&format!("{err:?}"), &[token]);
}

#[tokio::test]
async fn anthropic_usage_is_read_with_bearer_beta_and_agent() {
    let fake = FakeProvider::start().await.unwrap();
    let grant = FakeGrant {
        usage: Some(anthropic_usage_body()),
        ..FakeGrant::anthropic("uuid-u", "u@example.com")
    };
    fake.add_access_token(ANTHROPIC_TOKEN, grant);
    let client = client(Provider::Anthropic, &fake);
    let report = client.fetch_usage(&Secret::new(ANTHROPIC_TOKEN), Some("ignored")).await.unwrap();
    let expected = parse_anthropic_usage(anthropic_usage_body().to_string().as_bytes()).unwrap();
    assert_eq!(report, UsageReport { limits: expected, plan_type: None });

    let request = fake.last_request(Endpoint::AnthropicUsage).unwrap();
    assert_eq!(fake.url(&request.path), client.descriptor().endpoints.usage_url.as_str());
    assert_eq!(request.method, "GET");
    assert_eq!(request.bearer(), Some(ANTHROPIC_TOKEN));
    assert_eq!(request.header("anthropic-beta"), Some("oauth-2025-04-20"));
    assert_eq!(request.header("user-agent"), Some("claude-cli/2.1.197 (external, cli)"));
    assert_eq!(request.header("chatgpt-account-id"), None);
}

fn codex_usage_body() -> Value {
    json!({
        "plan_type": "plus",
        "rate_limit": {
            "primary_window": {"used_percent": 9, "reset_after_seconds": 3600,
                               "limit_window_seconds": 18000},
            "secondary_window": {"used_percent": 3, "reset_after_seconds": 86400}
        },
        "credits": null
    })
}

fn reset_of(report: &UsageReport, five_hour: bool) -> EpochMs {
    let window = if five_hour { &report.limits.five_hour } else { &report.limits.seven_day };
    parse_rfc3339(window.as_ref().unwrap().resets_at.as_deref().unwrap()).unwrap()
}

#[tokio::test]
async fn codex_usage_maps_primary_and_secondary_windows() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_access_token(CODEX_TOKEN, FakeGrant::codex("acct-u", "u@example.com", "plus"));
    fake.set_codex_usage(codex_usage_body());
    let client = client_with(Provider::Codex, &fake, Arc::new(SystemClock), Duration::from_secs(5));
    let before = EpochMs::now();
    let report = client.fetch_usage(&Secret::new(CODEX_TOKEN), None).await.unwrap();
    let after = EpochMs::now();

    let five = report.limits.five_hour.as_ref().unwrap();
    let seven = report.limits.seven_day.as_ref().unwrap();
    assert_eq!((five.utilization, seven.utilization), (9.0, 3.0));
    assert_eq!(five.extra["limit_window_seconds"], json!(18000));
    assert_eq!(report.limits.seven_day_sonnet, None);
    assert_eq!(report.plan_type.as_deref(), Some("plus"));
    // ISO text keeps milliseconds: reset = now + reset_after_seconds, now between the bounds.
    let hour = Duration::from_secs(3600);
    let reset = reset_of(&report, true);
    assert!(reset >= before.saturating_add(hour) && reset <= after.saturating_add(hour));
    let reset = reset_of(&report, false);
    assert!(reset >= before.saturating_add(24 * hour) && reset <= after.saturating_add(24 * hour));

    let request = fake.last_request(Endpoint::CodexUsage).unwrap();
    assert_eq!(request.path, "/backend-api/wham/usage");
    assert_eq!(fake.url(&request.path), client.descriptor().endpoints.usage_url.as_str());
    assert_eq!(request.method, "GET");
    assert_eq!(request.bearer(), Some(CODEX_TOKEN));
    assert_eq!(request.header("user-agent"), Some("opencode/1.1.53"));
    assert_eq!(request.header("anthropic-beta"), None);
}

#[tokio::test]
async fn codex_sends_the_account_id_only_when_given() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_access_token(CODEX_TOKEN, FakeGrant::codex("acct-u", "u@example.com", "plus"));
    let client = client(Provider::Codex, &fake);
    let token = Secret::new(CODEX_TOKEN);
    for (given, sent) in [(Some("acct-u"), Some("acct-u")), (None, None), (Some(""), None)] {
        client.fetch_usage(&token, given).await.unwrap();
        let request = fake.last_request(Endpoint::CodexUsage).unwrap();
        assert_eq!(request.header("chatgpt-account-id"), sent, "{given:?}");
    }
    // The fake's default body (plan from the grant).
    let report = client.fetch_usage(&token, None).await.unwrap();
    assert_eq!(report.plan_type.as_deref(), Some("plus"));
    assert_eq!(report.limits.five_hour.unwrap().utilization, 12.0);
}

#[tokio::test]
async fn codex_missing_windows_are_none() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_access_token(CODEX_TOKEN, FakeGrant::default());
    let client = client(Provider::Codex, &fake);
    let token = Secret::new(CODEX_TOKEN);
    fake.set_codex_usage(json!({}));
    assert_eq!(client.fetch_usage(&token, None).await.unwrap(), UsageReport::default());
    fake.set_codex_usage(
        json!({"rate_limit": {"secondary_window": {"used_percent": 3, "reset_after_seconds": 60}}}),
    );
    let report = client.fetch_usage(&token, None).await.unwrap();
    assert_eq!(report.limits.five_hour, None);
    assert_eq!(report.plan_type, None);
    assert_eq!(report.limits.seven_day.unwrap().utilization, 3.0);
}

#[tokio::test]
async fn non_2xx_answers_are_errors_with_their_status() {
    for provider in [Provider::Anthropic, Provider::Codex] {
        let fake = FakeProvider::start().await.unwrap();
        let token = Secret::new("at-status");
        fake.add_access_token(token.expose(), FakeGrant::default());
        let endpoint = match provider {
            Provider::Anthropic => Endpoint::AnthropicUsage,
            Provider::Codex => Endpoint::CodexUsage,
        };
        fake.script(endpoint, vec![Scripted::server_error(503), Scripted::revoked()]);
        let client = client(provider, &fake);

        let err = client.fetch_usage(&token, None).await.unwrap_err();
        assert_eq!(err.status(), Some(503));
        assert!(!err.is_unauthorized() && !err.is_network());
        assert_eq!(
            err.to_string(),
            format!("the {provider} usage request answered HTTP 503 Service Unavailable")
        );
        let err = client.fetch_usage(&token, None).await.unwrap_err();
        assert!(err.is_unauthorized() && err.status() == Some(403), "{err}");
        assert_clean(&err, token.expose());

        // A bearer the fake does not know: its own 401.
        let unknown = Secret::new("at-unknown");
        let err = client.fetch_usage(&unknown, None).await.unwrap_err();
        assert!(err.is_unauthorized(), "{err}");
        assert_eq!(err.status(), Some(401));
        assert_clean(&err, unknown.expose());
        assert_no_secret(&err.to_string(), &["authentication_error", "invalid token"]);
    }
}

#[tokio::test]
async fn a_malformed_usage_body_is_a_body_error() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_access_token(CODEX_TOKEN, FakeGrant::default());
    fake.set_codex_usage(json!({"rate_limit": "unlimited-secret-word"}));
    let client = client(Provider::Codex, &fake);
    let err = client.fetch_usage(&Secret::new(CODEX_TOKEN), None).await.unwrap_err();
    assert!(matches!(err, FetchError::Body { source: BodyError::Usage { .. } }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the codex usage response's `rate_limit` is neither an object nor null"
    );
    assert_no_secret(&err.to_string(), &["unlimited-secret-word"]);

    fake.script(Endpoint::CodexUsage, vec![Scripted::html_error_page(200)]);
    let err = client.fetch_usage(&Secret::new(CODEX_TOKEN), None).await.unwrap_err();
    assert!(err.to_string().starts_with("the codex usage response is not JSON"), "{err}");
}

#[tokio::test]
async fn network_failures_are_network_errors() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_access_token(ANTHROPIC_TOKEN, FakeGrant::default());
    fake.script(Endpoint::AnthropicUsage, vec![Scripted::dropped()]);
    fake.script(Endpoint::AnthropicProfile, vec![Scripted::slow(Duration::from_secs(3))]);
    let client =
        client_with(Provider::Anthropic, &fake, Arc::new(SystemClock), Duration::from_millis(300));
    let token = Secret::new(ANTHROPIC_TOKEN);
    let err = client.fetch_usage(&token, None).await.unwrap_err();
    assert!(err.is_network() && err.status().is_none(), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "the anthropic usage request failed: network error: {}",
            fake.addr()
        )),
        "{err}"
    );
    assert_clean(&err, ANTHROPIC_TOKEN);
    let err = client.fetch_profile(&token).await.unwrap_err();
    assert!(err.is_network(), "{err:?}");
    assert!(err.to_string().contains("timed out after 300ms"), "{err}");
}

#[tokio::test]
async fn anthropic_profile_names_the_account_and_plan() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_access_token(ANTHROPIC_TOKEN, FakeGrant::anthropic("uuid-p", "p@example.com"));
    let pro = FakeGrant {
        profile: Some(json!({"account": {"email": "q@example.com", "has_claude_pro": true}})),
        ..FakeGrant::default()
    };
    fake.add_access_token("at-pro", pro);
    let client = client(Provider::Anthropic, &fake);

    let profile = client.fetch_profile(&Secret::new(ANTHROPIC_TOKEN)).await.unwrap();
    assert_eq!(
        profile,
        Profile {
            email: Some("p@example.com".into()),
            plan_tier: "max".into(),
            account_uuid: Some("uuid-p".into()),
            account_id: None,
        }
    );
    let request = fake.last_request(Endpoint::AnthropicProfile).unwrap();
    assert_eq!(request.method, "GET");
    assert_eq!(request.bearer(), Some(ANTHROPIC_TOKEN));
    assert_eq!(request.header("anthropic-beta"), Some("oauth-2025-04-20"));
    assert_eq!(request.header("user-agent"), Some("claude-cli/2.1.197 (external, cli)"));

    let profile = client.fetch_profile(&Secret::new("at-pro")).await.unwrap();
    assert_eq!(
        (profile.plan_tier.as_str(), profile.email.as_deref()),
        ("pro", Some("q@example.com"))
    );

    fake.script(Endpoint::AnthropicProfile, vec![Scripted::ok_json(json!({"account": 5}))]);
    let err = client.fetch_profile(&Secret::new(ANTHROPIC_TOKEN)).await.unwrap_err();
    assert!(matches!(err, FetchError::Body { source: BodyError::Profile { .. } }), "{err:?}");
    assert_eq!(err.to_string(), "the anthropic profile response's `account` is not an object");

    let mut descriptor = client.descriptor().clone();
    descriptor.endpoints.profile_url = None;
    let bare = mac_adapters::AdapterClient::builder(descriptor).no_proxy().build().unwrap();
    let err = bare.fetch_profile(&Secret::new(ANTHROPIC_TOKEN)).await.unwrap_err();
    assert!(err.to_string().contains("`profile_url`"), "{err}");
}

#[tokio::test]
async fn codex_profile_reads_the_token_without_a_request() {
    let fake = FakeProvider::start().await.unwrap();
    let client = client(Provider::Codex, &fake);
    let token = Secret::new(jwt(&codex_claims("acct-p", "p@example.com", "Pro")));
    let profile = client.fetch_profile(&token).await.unwrap();
    assert_eq!(
        profile,
        Profile {
            email: Some("p@example.com".into()),
            plan_tier: "pro".into(),
            account_uuid: None,
            account_id: Some("acct-p".into()),
        }
    );
    let opaque = client.fetch_profile(&Secret::new("not-a-jwt")).await.unwrap();
    assert_eq!(opaque, Profile { plan_tier: "free".into(), ..Profile::default() });
    assert!(fake.all_requests().is_empty());
}

#[tokio::test]
async fn usage_limits_round_trip_into_the_accounts_shape() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_access_token(ANTHROPIC_TOKEN, FakeGrant::default());
    fake.set_anthropic_usage(anthropic_usage_body());
    let report = client(Provider::Anthropic, &fake)
        .fetch_usage(&Secret::new(ANTHROPIC_TOKEN), None)
        .await
        .unwrap();
    let written: UsageLimits =
        serde_json::from_value(serde_json::to_value(&report.limits).unwrap()).unwrap();
    assert_eq!(serde_json::to_value(&written).unwrap(), anthropic_usage_body());
}
