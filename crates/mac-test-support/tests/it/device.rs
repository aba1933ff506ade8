//! The Codex device flow.

use mac_test_support::fake_provider::{
    DeviceOutcome, Endpoint, FakeGrant, FakeProvider, OPENAI_CLIENT_ID,
};
use serde_json::{Value, json};

use crate::{claims, post_json};

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

async fn poll(fake: &FakeProvider, device_code: &str) -> (u16, Value) {
    let body = json!({ "client_id": OPENAI_CLIENT_ID, "device_code": device_code });
    post_json(fake, "/api/accounts/deviceauth/token", &body).await
}

#[tokio::test]
async fn pending_then_approved_and_every_poll_is_timed() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_device_interval(2);
    fake.set_device_outcome(DeviceOutcome::ApproveAfterPolls(
        2,
        FakeGrant::codex("acct-d", "d@example.com", "plus"),
    ));
    let started = start(&fake).await;
    assert_eq!(started["interval"], 2);
    assert_eq!(started["expires_in"], 900);
    assert_eq!(started["device_auth_id"], started["device_code"]);
    let user_code = started["user_code"].as_str().unwrap();
    assert!(user_code.len() == 9 && user_code.as_bytes()[4] == b'-', "{user_code}");
    let code = started["device_code"].as_str().unwrap();

    for _ in 0..2 {
        assert_eq!(
            poll(&fake, code).await,
            (
                400,
                json!({
            "error": "authorization_pending", "error_description": "The user has not answered yet" })
            )
        );
    }
    let (status, body) = poll(&fake, code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims(body["id_token"].as_str().unwrap())["email"], "d@example.com");
    assert!(body["refresh_token"].is_string());
    assert_eq!(poll(&fake, code).await.1["error"], "invalid_grant");

    let times = fake.device_poll_times();
    assert_eq!(times.len(), 4);
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(fake.count(Endpoint::DeviceCode), 1);
}

#[tokio::test]
async fn slow_down_once_then_approve() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_device_outcome(DeviceOutcome::SlowDownOnce(FakeGrant::default()));
    let started = start(&fake).await;
    let code = started["device_code"].as_str().unwrap();
    assert_eq!(poll(&fake, code).await.1["error"], "slow_down");
    assert_eq!(poll(&fake, code).await.0, 200);
}

#[tokio::test]
async fn denied_expired_and_unknown_codes() {
    let fake = FakeProvider::start().await.unwrap();
    for (outcome, error) in
        [(DeviceOutcome::Deny, "access_denied"), (DeviceOutcome::Expire, "expired_token")]
    {
        fake.set_device_outcome(outcome);
        let started = start(&fake).await;
        assert_eq!(
            poll(&fake, started["device_code"].as_str().unwrap()).await,
            (
                400,
                json!({
            "error": error,
            "error_description": if error == "access_denied" { "The user denied the request" }
                                 else { "The device code has expired" } })
            )
        );
    }
    // A code past its `expires_in` answers expired_token whatever the outcome.
    fake.set_device_outcome(DeviceOutcome::Pending);
    fake.set_device_expires_in(0);
    let started = start(&fake).await;
    assert_eq!(
        poll(&fake, started["device_code"].as_str().unwrap()).await.1["error"],
        "expired_token"
    );

    assert_eq!(poll(&fake, "no-such-code").await.1["error"], "invalid_request");
    let (status, _) =
        post_json(&fake, "/api/accounts/deviceauth/usercode", &json!({ "client_id": "x" })).await;
    assert_eq!(status, 401);
}
