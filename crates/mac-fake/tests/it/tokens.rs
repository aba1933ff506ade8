//! Token refresh: rotation, reuse, error shapes, revocation, client ids.

use std::time::Duration;

use mac_fake::{ANTHROPIC_CLIENT_ID, Endpoint, FakeGrant, FakeProvider};
use serde_json::json;

use crate::{anthropic_refresh, claims, get_with_bearer, openai_refresh, post_form, post_json};

#[tokio::test]
async fn anthropic_refresh_rotates_once_and_reuse_is_invalid_grant() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_refresh_token("rt-1", FakeGrant::anthropic("uuid-1", "a@example.com"));

    let (status, body) = anthropic_refresh(&fake, "rt-1").await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let rotated = body["refresh_token"].as_str().unwrap().to_owned();
    assert!(access.starts_with("fake-access-"), "{access}");
    assert_ne!(rotated, "rt-1");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["account"], json!({ "uuid": "uuid-1", "email_address": "a@example.com" }));
    assert_eq!(fake.current_refresh_token("rt-1").as_deref(), Some(rotated.as_str()));
    assert_eq!(fake.issued_access_tokens(), vec![access.clone()]);
    assert!(fake.is_access_token_valid(&access));

    let (status, body) = anthropic_refresh(&fake, "rt-1").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({ "error": "invalid_grant",
                "error_description": "Refresh token is invalid, expired or already used" })
    );

    // The rotated token works once, with the same grant.
    let (status, body) = anthropic_refresh(&fake, &rotated).await;
    assert_eq!(status, 200);
    assert_eq!(body["account"]["uuid"], "uuid-1");
    assert_eq!(fake.current_refresh_token("rt-1").as_deref(), body["refresh_token"].as_str());
    assert_eq!(anthropic_refresh(&fake, "never-issued").await.0, 400);
    assert_eq!(fake.count(Endpoint::AnthropicToken), 4);
}

#[tokio::test]
async fn openai_refresh_issues_jwts_and_answers_nested_errors() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_refresh_token("rt-c", FakeGrant::codex("acct-1", "c@example.com", "pro"));

    let (status, body) = openai_refresh(&fake, "rt-c").await;
    assert_eq!(status, 200, "{body}");
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["https://api.openai.com/auth"]["chatgpt_account_id"], "acct-1");
    assert_eq!(id["https://api.openai.com/profile"]["email"], "c@example.com");
    let access = body["access_token"].as_str().unwrap();
    let access_claims = claims(access);
    assert_eq!(access_claims["https://api.openai.com/auth"]["chatgpt_plan_type"], "pro");
    assert!(access_claims["jti"].as_str().unwrap().starts_with("fake-access-"));
    assert!(fake.is_access_token_valid(access));
    assert!(body.get("account").is_none());

    let (status, body) = openai_refresh(&fake, "rt-c").await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("refresh_token_reused")));
    let (status, body) = openai_refresh(&fake, "unknown").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_grant")));

    let current = fake.current_refresh_token("rt-c").unwrap();
    fake.revoke_refresh_token(&current);
    let (status, body) = openai_refresh(&fake, &current).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("refresh_token_invalidated")));
    assert_eq!(fake.current_refresh_token("rt-c"), None);
}

#[tokio::test]
async fn client_ids_and_body_formats_are_checked() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_refresh_token("rt", FakeGrant::default());
    let wrong =
        json!({ "grant_type": "refresh_token", "refresh_token": "rt", "client_id": "other" });
    assert_eq!(
        post_json(&fake, "/v1/oauth/token", &wrong).await,
        (
            401,
            json!({
        "error": "invalid_client", "error_description": "Client authentication failed" })
        )
    );
    let (status, body) = post_form(
        &fake,
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt"),
            ("client_id", ANTHROPIC_CLIENT_ID),
        ],
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_client")));
    // Anthropic wants JSON: a form body is refused, and the token is not spent.
    let (status, body) = post_form(
        &fake,
        "/v1/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt"),
            ("client_id", ANTHROPIC_CLIENT_ID),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    assert_eq!(anthropic_refresh(&fake, "rt").await.0, 200);
}

#[tokio::test]
async fn a_grant_without_rotation_keeps_its_refresh_token() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_refresh_token("stay", FakeGrant { rotate: false, ..FakeGrant::default() });
    for _ in 0..2 {
        let (status, body) = anthropic_refresh(&fake, "stay").await;
        assert_eq!(status, 200);
        assert!(body.get("refresh_token").is_none(), "{body}");
    }
    assert_eq!(fake.current_refresh_token("stay").as_deref(), Some("stay"));
    assert_eq!(fake.issued_access_tokens().len(), 2);
}

#[tokio::test]
async fn expired_and_revoked_access_tokens_are_refused() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_refresh_token("short", FakeGrant { expires_in: 0, ..FakeGrant::default() });
    let (_, body) = anthropic_refresh(&fake, "short").await;
    let expired = body["access_token"].as_str().unwrap();
    assert!(!fake.is_access_token_valid(expired));
    assert_eq!(get_with_bearer(&fake, "/api/oauth/usage", expired).await.0, 401);

    fake.add_access_token("direct", FakeGrant::default());
    assert_eq!(get_with_bearer(&fake, "/api/oauth/usage", "direct").await.0, 200);
    fake.revoke_access_token("direct");
    assert_eq!(get_with_bearer(&fake, "/api/oauth/usage", "direct").await.0, 401);
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_succeed_once() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_refresh_token("race", FakeGrant::default());
    fake.set_delay(Endpoint::AnthropicToken, Duration::from_millis(100));
    let (a, b) = tokio::join!(anthropic_refresh(&fake, "race"), anthropic_refresh(&fake, "race"));
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400]);
    assert_eq!(fake.count(Endpoint::AnthropicToken), 2);
}
