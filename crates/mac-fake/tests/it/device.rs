//! The Codex device flow, as the real service speaks it to Codex CLI.

use mac_fake::{
    DEVICE_CALLBACK_PATH, DeviceOutcome, Endpoint, FakeGrant, FakeProvider, OPENAI_CLIENT_ID,
    pkce_challenge,
};
use serde_json::{Value, json};

use crate::{claims, post_form, post_json};

async fn start(fake: &FakeProvider) -> Value {
    let (status, body) = post_json(
        fake,
        "/api/accounts/deviceauth/usercode",
        &json!({ "client_id": OPENAI_CLIENT_ID }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn poll(fake: &FakeProvider, started: &Value) -> (u16, Value) {
    let body = json!({
        "device_auth_id": started["device_auth_id"],
        "user_code": started["user_code"],
    });
    post_json(fake, "/api/accounts/deviceauth/token", &body).await
}

/// The code exchange as Codex CLI sends it after a device login.
async fn exchange(fake: &FakeProvider, code: &str, redirect: &str, verifier: &str) -> (u16, Value) {
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("client_id", OPENAI_CLIENT_ID),
        ("code_verifier", verifier),
    ];
    post_form(fake, "/oauth/token", &pairs).await
}

#[tokio::test]
async fn pending_then_approved_then_exchanged_and_every_poll_is_timed() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_device_interval(2);
    fake.set_device_outcome(DeviceOutcome::ApproveAfterPolls(
        2,
        FakeGrant::codex("acct-d", "d@example.com", "plus"),
    ));
    let started = start(&fake).await;
    assert_eq!(started["interval"], "2", "a string, as the real service sends it");
    let fields: Vec<&str> = started.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields, ["device_auth_id", "interval", "user_code"]);
    let user_code = started["user_code"].as_str().unwrap();
    assert!(user_code.len() == 9 && user_code.as_bytes()[4] == b'-', "{user_code}");

    for _ in 0..2 {
        assert_eq!(poll(&fake, &started).await.0, 403, "not yet");
    }
    let (status, approval) = poll(&fake, &started).await;
    assert_eq!(status, 200, "{approval}");
    let verifier = approval["code_verifier"].as_str().unwrap();
    assert!(verifier.len() >= 43, "{verifier}");
    assert_eq!(approval["code_challenge"], pkce_challenge(verifier));
    assert_eq!(poll(&fake, &started).await.1["error"], "invalid_grant", "spent");

    let code = approval["authorization_code"].as_str().unwrap();
    let redirect = fake.url(DEVICE_CALLBACK_PATH);
    // Another verifier or redirect URI is refused (and does not spend the code).
    let wrong = exchange(&fake, code, &redirect, &"x".repeat(43)).await;
    assert_eq!((wrong.0, wrong.1["error"]["code"].as_str()), (400, Some("invalid_grant")));
    let wrong = exchange(&fake, code, &fake.url("/auth/callback"), verifier).await;
    assert_eq!(wrong.0, 400);
    let (status, tokens) = exchange(&fake, code, &redirect, verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(claims(tokens["id_token"].as_str().unwrap())["email"], "d@example.com");
    assert!(tokens["refresh_token"].is_string());

    let times = fake.device_poll_times();
    assert_eq!(times.len(), 4);
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(fake.count(Endpoint::DeviceCode), 1);
}

#[tokio::test]
async fn throttled_once_then_approved() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_device_outcome(DeviceOutcome::SlowDownOnce(FakeGrant::default()));
    let started = start(&fake).await;
    assert_eq!(poll(&fake, &started).await.0, 429);
    assert_eq!(poll(&fake, &started).await.0, 200);
}

#[tokio::test]
async fn denied_expired_unknown_and_textbook_polls() {
    let fake = FakeProvider::start().await.unwrap();
    for (outcome, error) in
        [(DeviceOutcome::Deny, "access_denied"), (DeviceOutcome::Expire, "expired_token")]
    {
        fake.set_device_outcome(outcome);
        let started = start(&fake).await;
        let (status, body) = poll(&fake, &started).await;
        assert_eq!((status, body["error"].as_str()), (400, Some(error)), "{body}");
    }
    // A code past its lifetime answers expired_token whatever the outcome.
    fake.set_device_outcome(DeviceOutcome::Pending);
    fake.set_device_expires_in(0);
    let started = start(&fake).await;
    assert_eq!(poll(&fake, &started).await.1["error"], "expired_token");

    // An unknown id, or a user code of another login, is not found.
    fake.set_device_expires_in(900);
    let started = start(&fake).await;
    let other = json!({ "device_auth_id": started["device_auth_id"], "user_code": "ZZZZ-ZZZZ" });
    assert_eq!(post_json(&fake, "/api/accounts/deviceauth/token", &other).await.0, 404);
    let unknown = json!({ "device_auth_id": "no-such-id", "user_code": started["user_code"] });
    assert_eq!(post_json(&fake, "/api/accounts/deviceauth/token", &unknown).await.0, 404);
    // The textbook poll (RFC 8628's `device_code`) is not this service's protocol.
    let textbook =
        json!({ "client_id": OPENAI_CLIENT_ID, "device_code": started["device_auth_id"] });
    let (status, body) = post_json(&fake, "/api/accounts/deviceauth/token", &textbook).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));

    let (status, _) =
        post_json(&fake, "/api/accounts/deviceauth/usercode", &json!({ "client_id": "x" })).await;
    assert_eq!(status, 401);
}
