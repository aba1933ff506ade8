//! Codex's device login against the fake, which speaks the protocol Codex CLI speaks
//! (`device_auth_id`, `user_code`, a string `interval`, 403 while pending, an authorization
//! code exchanged with the service's verifier at `<issuer>/deviceauth/callback`). The fake
//! records when each poll arrived but does not enforce the interval, so these tests check the
//! gaps themselves.

use std::time::Duration;

use mac_adapters::{
    DEVICE_LOGIN_MAX_WAIT, DeviceAuthorization, DevicePolling, Identity, LoginError, LoginOutcome,
};
use mac_storage::Provider;
use mac_test_support::{DeviceOutcome, Endpoint, FakeGrant, FakeProvider, Scripted};
use serde_json::json;

use crate::{assert_no_secret, client, descriptor};

fn grant() -> FakeGrant {
    FakeGrant::codex("acct-device", "device@example.com", "plus")
}

/// Short gaps for tests: the server's interval is 0, so these decide.
const FAST: DevicePolling = DevicePolling {
    min_interval: Duration::from_millis(100),
    slow_down_step: Duration::from_millis(200),
    max_wait: DEVICE_LOGIN_MAX_WAIT,
};

async fn login(fake: &FakeProvider, polling: DevicePolling) -> Result<LoginOutcome, LoginError> {
    let client = client(Provider::Codex, fake);
    let authorization = DeviceAuthorization::start(&client).await.unwrap();
    authorization.poll(&client, polling).await
}

#[tokio::test]
async fn approval_after_two_pending_polls_is_exchanged_like_codex_cli() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_device_outcome(DeviceOutcome::ApproveAfterPolls(2, grant()));
    let client = client(Provider::Codex, &fake);
    let authorization = DeviceAuthorization::start(&client).await.unwrap();
    assert_eq!(authorization.verification_url.as_str(), fake.url("/codex/device"));
    assert_eq!(authorization.interval, Duration::from_secs(1), "read from the string \"1\"");
    assert_eq!(authorization.expires_in, Duration::from_secs(15 * 60), "Codex CLI's limit");
    let user_code = authorization.user_code.clone();
    assert!(user_code.len() == 9 && user_code.as_bytes()[4] == b'-', "{user_code}");
    assert_no_secret(&format!("{authorization:?}"), &["fake-device-"]);
    let start = fake.last_request(Endpoint::DeviceCode).unwrap();
    assert_eq!(start.json().unwrap(), json!({"client_id": "app_EMoamEEZ73f0CkXaXp7hrann"}));
    assert_eq!(start.header("content-type"), Some("application/json"));

    let polling =
        DevicePolling { min_interval: Duration::from_millis(50), ..DevicePolling::default() };
    let outcome = authorization.poll(&client, polling).await.unwrap();
    assert_eq!(
        outcome.identity,
        Identity {
            email: Some("device@example.com".into()),
            plan_tier: Some("plus".into()),
            account_uuid: None,
            account_id: Some("acct-device".into()),
        }
    );
    assert!(
        fake.is_access_token_valid(outcome.credentials.access_token.as_ref().unwrap().expose())
    );

    let times = fake.device_poll_times();
    assert_eq!(times.len(), 3);
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_secs(1), "the server's interval wins: {gap:?}");
    }
    let poll = fake.last_request(Endpoint::DeviceToken).unwrap();
    assert_eq!(poll.header("content-type"), Some("application/json"));
    let poll = poll.json().unwrap();
    assert_eq!(poll.as_object().unwrap().len(), 2, "{poll}");
    assert!(poll["device_auth_id"].as_str().unwrap().starts_with("fake-device-"));
    assert_eq!(poll["user_code"], user_code);

    // The exchange: a form like the browser login's, the service's verifier, the device
    // redirect URI under the issuer.
    let exchange = fake.last_request(Endpoint::OpenAiToken).unwrap();
    assert_eq!(exchange.header("content-type"), Some("application/x-www-form-urlencoded"));
    let form = exchange.form();
    let keys: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["grant_type", "code", "redirect_uri", "client_id", "code_verifier"]);
    let field = |name: &str| form.iter().find(|(k, _)| k == name).unwrap().1.clone();
    assert_eq!(field("grant_type"), "authorization_code");
    assert!(field("code").starts_with("fake-device-code-"));
    assert_eq!(field("redirect_uri"), fake.url("/deviceauth/callback"));
    assert!(field("code_verifier").starts_with("fake-device-verifier-"));
}

#[tokio::test]
async fn not_found_polls_are_pending_too() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_device_interval(0);
    fake.set_device_outcome(DeviceOutcome::ApproveAfterPolls(0, grant()));
    fake.script(Endpoint::DeviceToken, vec![Scripted::status(404), Scripted::status(403)]);
    let outcome = login(&fake, FAST).await.unwrap();
    assert_eq!(outcome.identity.account_id.as_deref(), Some("acct-device"));
    assert_eq!(fake.count(Endpoint::DeviceToken), 3);
}

#[tokio::test]
async fn a_throttled_poll_lengthens_the_gap_by_the_step() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_device_interval(0);
    fake.set_device_outcome(DeviceOutcome::SlowDownOnce(grant()));
    let outcome = login(&fake, FAST).await.unwrap();
    assert_eq!(outcome.identity.account_id.as_deref(), Some("acct-device"));
    let times = fake.device_poll_times();
    assert_eq!(times.len(), 2);
    let gap = times[1] - times[0];
    assert!(gap >= FAST.min_interval + FAST.slow_down_step, "{gap:?}");
}

#[tokio::test]
async fn the_minimum_interval_applies_when_the_server_names_none() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_device_interval(0);
    fake.set_device_outcome(DeviceOutcome::ApproveAfterPolls(1, grant()));
    login(&fake, FAST).await.unwrap();
    let times = fake.device_poll_times();
    assert_eq!(times.len(), 2);
    assert!(times[1] - times[0] >= FAST.min_interval);
}

#[tokio::test]
async fn denied_and_expired_codes_end_the_login() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_device_interval(0);
    fake.set_device_outcome(DeviceOutcome::Deny);
    let err = login(&fake, FAST).await.unwrap_err();
    assert!(matches!(err, LoginError::DeviceDenied), "{err:?}");
    assert_eq!(err.to_string(), "Device authorization denied by user.");

    fake.set_device_outcome(DeviceOutcome::Expire);
    let err = login(&fake, FAST).await.unwrap_err();
    assert!(matches!(err, LoginError::DeviceCodeExpired), "{err:?}");
    assert_eq!(err.to_string(), "Device code expired. Start authentication again.");
    assert_eq!(fake.count(Endpoint::OpenAiToken), 0, "nothing to exchange");
}

#[tokio::test]
async fn the_deadline_times_the_login_out() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_device_interval(0);
    fake.set_device_outcome(DeviceOutcome::Pending);
    let polling = DevicePolling {
        min_interval: Duration::from_millis(250),
        max_wait: Duration::from_secs(1),
        ..FAST
    };
    let err = login(&fake, polling).await.unwrap_err();
    assert!(matches!(err, LoginError::TimedOut { .. }), "{err:?}");
    assert_eq!(err.to_string(), "Device authorization timed out after 1s");
    // Polls at 0, 0.25, 0.5 and 0.75 s (one fewer on a slow machine); none would end past
    // the deadline.
    assert!((3..=4).contains(&fake.count(Endpoint::DeviceToken)));
}

#[tokio::test]
async fn the_code_is_bound_to_the_device_redirect_uri() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_device_interval(0);
    fake.set_device_outcome(DeviceOutcome::ApproveAfterPolls(0, grant()));
    // The browser login's redirect URI is not the one the service bound the code to.
    let mut wrong = descriptor(Provider::Codex, &fake);
    wrong.set_endpoint("device_redirect_uri", "http://localhost:1455/auth/callback").unwrap();
    let client = mac_adapters::AdapterClient::builder(wrong).no_proxy().build().unwrap();
    let authorization = DeviceAuthorization::start(&client).await.unwrap();
    let err = authorization.poll(&client, FAST).await.unwrap_err();
    let LoginError::TokenExchange { source } = &err else { panic!("{err:?}") };
    assert_eq!(source.error_code.as_deref(), Some("invalid_grant"), "{err}");
}

#[tokio::test]
async fn start_and_poll_failures_name_the_status() {
    let fake = FakeProvider::start().await.unwrap();
    let client = client(Provider::Codex, &fake);
    fake.script(Endpoint::DeviceCode, vec![Scripted::status(503)]);
    let err = DeviceAuthorization::start(&client).await.unwrap_err();
    assert_eq!(err.to_string(), "Failed to start device authorization: 503");
    assert!(err.is_retryable());

    fake.script(Endpoint::DeviceCode, vec![Scripted::status(404)]);
    let err = DeviceAuthorization::start(&client).await.unwrap_err();
    assert!(matches!(err, LoginError::DeviceLoginUnavailable), "{err:?}");
    assert!(err.to_string().starts_with("device code login is not enabled"), "{err}");
    assert!(!err.is_retryable());

    // The textbook answer (`device_code`, no `device_auth_id`) is not the service's.
    fake.script(
        Endpoint::DeviceCode,
        vec![Scripted::ok_json(json!({"device_code": "dc", "user_code": "ABCD-EFGH"}))],
    );
    let err = DeviceAuthorization::start(&client).await.unwrap_err();
    assert_eq!(err.to_string(), "the device authorization response has no device_auth_id");

    fake.set_device_interval(0);
    fake.script(Endpoint::DeviceToken, vec![Scripted::server_error(500)]);
    let err = login(&fake, FAST).await.unwrap_err();
    assert_eq!(err.to_string(), "Device token polling failed: 500");

    // An approval without the PKCE pair is not the service's either.
    fake.script(Endpoint::DeviceToken, vec![Scripted::ok_json(json!({"access_token": "a"}))]);
    let err = login(&fake, FAST).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the device authorization response approval has no authorization_code"
    );

    // A numeric interval and `usercode` are read too.
    fake.script(
        Endpoint::DeviceCode,
        vec![Scripted::ok_json(json!({
            "device_auth_id": "fake-device-x", "usercode": "WXYZ-0000", "interval": 0
        }))],
    );
    let authorization = DeviceAuthorization::start(&client).await.unwrap();
    assert_eq!(authorization.user_code, "WXYZ-0000");
    assert_eq!(authorization.interval, Duration::ZERO);
}
