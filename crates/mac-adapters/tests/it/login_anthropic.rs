//! Anthropic's login end to end against the fake: the test plays the browser and the user
//! who pastes `code#state` (SEED §2.12, §5.25).

use mac_adapters::{AnthropicLogin, FailureKind, Identity, LoginError, PermanentReason};
use mac_storage::Provider;
use mac_test_support::{Endpoint, FakeGrant, FakeProvider, Scripted};
use serde_json::json;

use crate::{assert_no_secret, authorize_redirect, browser, client, descriptor, param, query_keys};

async fn fake() -> FakeProvider {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_authorize_grant(FakeGrant::anthropic("uuid-login", "login@example.com"));
    fake
}

/// Starts a login and approves it in the "browser": `(login, code, state)`.
async fn approved(fake: &FakeProvider) -> (AnthropicLogin, String, String) {
    let (login, url) = AnthropicLogin::start(&descriptor(Provider::Anthropic, fake)).unwrap();
    let location = authorize_redirect(&url).await;
    assert_eq!(location.path(), "/oauth/code/callback");
    (login, param(&location, "code").unwrap(), param(&location, "state").unwrap())
}

#[tokio::test]
async fn the_authorize_url_has_every_parameter_and_an_independent_state() {
    let fake = fake().await;
    let descriptor = descriptor(Provider::Anthropic, &fake);
    let (_login, url) = AnthropicLogin::start(&descriptor).unwrap();
    assert_eq!(url.as_str().split('?').next(), Some(fake.url("/cai/oauth/authorize").as_str()));
    assert_eq!(
        query_keys(&url),
        [
            "code",
            "client_id",
            "response_type",
            "redirect_uri",
            "scope",
            "code_challenge",
            "code_challenge_method",
            "state"
        ]
    );
    assert_eq!(param(&url, "code").as_deref(), Some("true"));
    assert_eq!(param(&url, "client_id").as_deref(), Some("9d1c250a-e61b-44d9-88ed-5944d1962f5e"));
    assert_eq!(param(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(
        param(&url, "redirect_uri").as_deref(),
        Some(descriptor.endpoints.redirect_uri.as_str())
    );
    assert_eq!(
        param(&url, "scope").as_deref(),
        Some(
            "org:create_api_key user:profile user:inference user:sessions:claude_code \
             user:mcp_servers user:file_upload"
        )
    );
    assert_eq!(param(&url, "code_challenge_method").as_deref(), Some("S256"));
    let state = param(&url, "state").unwrap();
    assert_eq!(state.len(), 43);
    assert_ne!(Some(&state), param(&url, "code_challenge").as_ref());
    let (_other, again) = AnthropicLogin::start(&descriptor).unwrap();
    assert_ne!(param(&again, "state"), Some(state));
}

#[tokio::test]
async fn a_pasted_code_and_state_log_in() {
    let fake = fake().await;
    let client = client(Provider::Anthropic, &fake);
    let (login, code, state) = approved(&fake).await;
    // The code page shows the same `code#state` the user copies.
    let page = browser()
        .get(fake.url(&format!("/oauth/code/callback?code={code}&state={state}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(page, format!("{code}#{state}"));

    let outcome = login.finish(&client, &format!("  {page}\n")).await.unwrap();
    assert_eq!(
        outcome.identity,
        Identity {
            email: Some("login@example.com".into()),
            plan_tier: Some("max".into()),
            account_uuid: Some("uuid-login".into()),
            account_id: None,
        }
    );
    let credentials = &outcome.credentials;
    let access = credentials.access_token.as_ref().unwrap();
    assert!(fake.is_access_token_valid(access.expose()));
    assert_eq!(credentials.expires_at, Some(crate::secs(3600)));
    assert_no_secret(
        &format!("{outcome:?}"),
        &[access.expose(), credentials.refresh_token.expose()],
    );

    // The exchange: JSON with code, state, verifier and the descriptor's redirect URI.
    let exchange = fake.last_request(Endpoint::AnthropicToken).unwrap();
    assert_eq!(exchange.header("content-type"), Some("application/json"));
    let body = exchange.json().unwrap();
    assert_eq!(body["grant_type"], "authorization_code");
    assert_eq!(
        (body["code"].as_str(), body["state"].as_str()),
        (Some(code.as_str()), Some(state.as_str()))
    );
    assert_eq!(body["redirect_uri"], json!(client.descriptor().endpoints.redirect_uri.as_str()));
    assert_eq!(body["code_verifier"].as_str().unwrap().len(), 64);
    assert_ne!(body["code_verifier"].as_str(), Some(state.as_str()));
    assert_eq!(fake.count(Endpoint::AnthropicProfile), 1);

    // The login's refresh token works, and the outcome becomes a pool account.
    let refresh = credentials.refresh_token.clone();
    assert!(client.refresh(&refresh).await.is_ok());
    let account = outcome.into_new_account();
    assert_eq!(account.label, None);
    assert_eq!(account.account_uuid.as_deref(), Some("uuid-login"));
    assert_eq!(account.plan_tier.as_deref(), Some("max"));
    assert_eq!(account.credentials.refresh_token, refresh);
}

#[tokio::test]
async fn a_bare_code_is_sent_with_the_logins_own_state() {
    let fake = fake().await;
    let (login, code, state) = approved(&fake).await;
    let outcome = login.finish(&client(Provider::Anthropic, &fake), &code).await.unwrap();
    assert_eq!(outcome.identity.account_uuid.as_deref(), Some("uuid-login"));
    let body = fake.last_request(Endpoint::AnthropicToken).unwrap().json().unwrap();
    assert_eq!(body["state"].as_str(), Some(state.as_str()));
}

#[tokio::test]
async fn a_wrong_state_fails_before_any_request() {
    let fake = fake().await;
    let (login, code, _state) = approved(&fake).await;
    let err = login
        .finish(&client(Provider::Anthropic, &fake), &format!("{code}#someone-elses-state"))
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::StateMismatch), "{err:?}");
    assert!(err.to_string().contains("state mismatch"), "{err}");
    assert_eq!(fake.count(Endpoint::AnthropicToken), 0);
}

#[tokio::test]
async fn malformed_pastes_and_rejected_codes_fail_clearly() {
    let fake = fake().await;
    let client = client(Provider::Anthropic, &fake);
    let (login, _, _) = approved(&fake).await;
    let err = login.finish(&client, "  \n").await.unwrap_err();
    assert!(matches!(err, LoginError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains("code#state"), "{err}");

    let (login, _, state) = approved(&fake).await;
    let err = login.finish(&client, &format!("never-issued-code#{state}")).await.unwrap_err();
    let LoginError::TokenExchange { source } = &err else { panic!("{err:?}") };
    assert_eq!(source.kind, FailureKind::Permanent(PermanentReason::InvalidGrant));
    assert!(err.to_string().starts_with("token exchange failed: "), "{err}");
    assert_no_secret(&err.to_string(), &["never-issued-code"]);
    assert_no_secret(&format!("{err:?}"), &["never-issued-code"]);
}

#[tokio::test]
async fn a_profile_failure_leaves_the_plan_unknown() {
    let fake = fake().await;
    fake.script(Endpoint::AnthropicProfile, vec![Scripted::server_error(500)]);
    let (login, code, state) = approved(&fake).await;
    let outcome = login
        .finish(&client(Provider::Anthropic, &fake), &format!("{code}#{state}"))
        .await
        .unwrap();
    assert_eq!(outcome.identity.plan_tier, None);
    assert_eq!(outcome.identity.email.as_deref(), Some("login@example.com"));
    assert!(!outcome.credentials.refresh_token.is_empty());
}

#[tokio::test]
async fn another_providers_descriptor_or_client_is_refused() {
    let fake = fake().await;
    let err = AnthropicLogin::start(&descriptor(Provider::Codex, &fake)).unwrap_err();
    assert!(matches!(err, LoginError::ProviderMismatch { .. }), "{err:?}");
    let (login, code, state) = approved(&fake).await;
    let err = login.finish(&client(Provider::Codex, &fake), &format!("{code}#{state}")).await;
    assert!(matches!(err, Err(LoginError::ProviderMismatch { .. })));
}
