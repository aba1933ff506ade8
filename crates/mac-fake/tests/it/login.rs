//! Browser logins: the authorize redirect, Anthropic's code page, code exchange with PKCE.

use mac_fake::{
    ANTHROPIC_CLIENT_ID, AuthorizeOutcome, Endpoint, FakeGrant, FakeProvider, OPENAI_CLIENT_ID,
    pkce_challenge,
};
use serde_json::json;
use url::Url;

use crate::{client, post_form, post_json};

const CODEX_REDIRECT: &str = "http://localhost:1455/auth/callback";
const VERIFIER: &str = "verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTU";

/// Visits the authorize page as a browser would; returns the redirect target.
async fn authorize(fake: &FakeProvider, client_id: &str, redirect_uri: &str, state: &str) -> Url {
    let mut url = Url::parse(&fake.url("/oauth/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "openid profile email offline_access")
        .append_pair("code_challenge", &pkce_challenge(VERIFIER))
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", state);
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 302);
    Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(n, _)| n == name).map(|(_, v)| v.into_owned())
}

async fn codex_exchange(
    fake: &FakeProvider,
    code: &str,
    verifier: &str,
    redirect: &str,
) -> (u16, serde_json::Value) {
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
async fn codex_authorize_redirects_with_a_code_bound_to_the_challenge() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_authorize_grant(FakeGrant::codex("acct-9", "n@example.com", "plus"));
    let target = authorize(&fake, OPENAI_CLIENT_ID, CODEX_REDIRECT, "st-1").await;
    assert_eq!(target.as_str().split('?').next(), Some(CODEX_REDIRECT));
    assert_eq!(param(&target, "state").as_deref(), Some("st-1"));
    let code = param(&target, "code").unwrap();
    let seen = fake.last_request(Endpoint::Authorize).unwrap();
    assert_eq!(seen.query_param("code_challenge_method").as_deref(), Some("S256"));

    // A wrong verifier or redirect is refused and does not spend the code.
    let (status, body) = codex_exchange(&fake, &code, "wrong-verifier", CODEX_REDIRECT).await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (400, Some("PKCE verification failed"))
    );
    assert_eq!(codex_exchange(&fake, &code, VERIFIER, "http://localhost:1/x").await.0, 400);

    let (status, body) = codex_exchange(&fake, &code, VERIFIER, CODEX_REDIRECT).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string() && body["refresh_token"].is_string());
    let (status, body) = codex_exchange(&fake, &code, VERIFIER, CODEX_REDIRECT).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn anthropic_login_goes_through_the_code_page() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_authorize_grant(FakeGrant::anthropic("uuid-7", "p@example.com"));
    let redirect = fake.url("/oauth/code/callback");
    let target = authorize(&fake, ANTHROPIC_CLIENT_ID, &redirect, VERIFIER).await;

    // Following the redirect shows the `code#state` string the user pastes.
    let page = client().get(target.as_str()).send().await.unwrap().text().await.unwrap();
    let (code, state) = page.split_once('#').unwrap();
    assert_eq!(state, VERIFIER);
    assert_eq!(fake.count(Endpoint::CodeCallback), 1);

    let exchange = |state: &str| {
        json!({ "grant_type": "authorization_code", "code": code, "state": state,
                "client_id": ANTHROPIC_CLIENT_ID, "redirect_uri": redirect,
                "code_verifier": VERIFIER })
    };
    let (status, body) = post_json(&fake, "/v1/oauth/token", &exchange("other-state")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    let (status, body) = post_json(&fake, "/v1/oauth/token", &exchange(state)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["account"], json!({ "uuid": "uuid-7", "email_address": "p@example.com" }));
}

#[tokio::test]
async fn authorize_can_deny_or_return_the_wrong_state() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_authorize_outcome(AuthorizeOutcome::Deny);
    let target = authorize(&fake, OPENAI_CLIENT_ID, CODEX_REDIRECT, "s").await;
    assert_eq!(param(&target, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&target, "state").as_deref(), Some("s"));
    assert_eq!(param(&target, "code"), None);

    fake.set_authorize_outcome(AuthorizeOutcome::WrongState);
    let target = authorize(&fake, OPENAI_CLIENT_ID, CODEX_REDIRECT, "s").await;
    assert!(param(&target, "code").is_some());
    assert_ne!(param(&target, "state").as_deref(), Some("s"));

    let response =
        client().get(fake.url("/oauth/authorize?client_id=nobody")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
}

#[tokio::test]
async fn registered_codes_check_redirect_and_challenge() {
    let fake = FakeProvider::start().await.unwrap();
    fake.add_authorization_code("plain-code", FakeGrant::default(), None);
    assert_eq!(codex_exchange(&fake, "plain-code", "anything", CODEX_REDIRECT).await.0, 200);
    assert_eq!(codex_exchange(&fake, "plain-code", "anything", CODEX_REDIRECT).await.0, 400);

    fake.add_authorization_code_with_challenge(
        "pkce-code",
        FakeGrant::default(),
        Some(CODEX_REDIRECT.into()),
        &pkce_challenge(VERIFIER),
    );
    assert_eq!(codex_exchange(&fake, "pkce-code", "nope", CODEX_REDIRECT).await.0, 400);
    assert_eq!(codex_exchange(&fake, "pkce-code", VERIFIER, "http://elsewhere/").await.0, 400);
    assert_eq!(codex_exchange(&fake, "pkce-code", VERIFIER, CODEX_REDIRECT).await.0, 200);
}
