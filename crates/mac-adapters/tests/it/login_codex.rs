//! Codex's browser login end to end, the test acting as the browser: the authorize page on the
//! fake redirects to the loopback callback server, which hands the code to the waiting login
//! (SEED §2.12). Also the manual mode with a pasted redirect URL.

use std::time::Duration;

use mac_adapters::{
    AdapterClient, CodexBrowserLogin, CodexManualLogin, Identity, LoginError, LoginOutcome,
};
use mac_storage::Provider;
use mac_test_support::{AuthorizeOutcome, Endpoint, FakeGrant, FakeProvider};
use tokio::task::JoinHandle;
use url::Url;

use crate::{assert_no_secret, authorize_redirect, browser, client, descriptor, param, query_keys};

async fn fake() -> FakeProvider {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_authorize_grant(FakeGrant::codex("acct-login", "codex@example.com", "pro"));
    fake
}

/// Starts a browser login on a free port and waits for it in a task.
async fn start(
    fake: &FakeProvider,
    timeout: Duration,
) -> (Url, Url, JoinHandle<Result<LoginOutcome, LoginError>>) {
    let (login, url) =
        CodexBrowserLogin::start(&descriptor(Provider::Codex, fake), 0).await.unwrap();
    let redirect_uri = login.redirect_uri().clone();
    let client: AdapterClient = client(Provider::Codex, fake);
    let waiting = tokio::spawn(async move { login.wait(&client, timeout).await });
    (url, redirect_uri, waiting)
}

/// The browser follows the authorize page's redirect to the callback server: its status.
async fn browse(url: &Url) -> u16 {
    let location = authorize_redirect(url).await;
    browser().get(location).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_browser_login_delivers_the_account() {
    let fake = fake().await;
    let (url, redirect_uri, waiting) = start(&fake, Duration::from_secs(10)).await;
    assert_eq!(url.as_str().split('?').next(), Some(fake.url("/oauth/authorize").as_str()));
    assert_eq!(
        query_keys(&url),
        [
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "code_challenge",
            "code_challenge_method",
            "id_token_add_organizations",
            "codex_cli_simplified_flow",
            "state",
            "originator"
        ]
    );
    let port = redirect_uri.port().unwrap();
    assert_eq!(redirect_uri.as_str(), format!("http://localhost:{port}/auth/callback"));
    assert_eq!(param(&url, "redirect_uri").as_deref(), Some(redirect_uri.as_str()));
    assert_eq!(param(&url, "client_id").as_deref(), Some("app_EMoamEEZ73f0CkXaXp7hrann"));
    assert_eq!(
        param(&url, "scope").as_deref(),
        Some("openid profile email offline_access api.connectors.read api.connectors.invoke")
    );
    assert_eq!(param(&url, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param(&url, "id_token_add_organizations").as_deref(), Some("true"));
    assert_eq!(param(&url, "codex_cli_simplified_flow").as_deref(), Some("true"));
    assert_eq!(param(&url, "originator").as_deref(), Some("opencode"));
    assert_eq!(param(&url, "state").unwrap().len(), 43);

    let location = authorize_redirect(&url).await;
    assert!(location.as_str().starts_with(redirect_uri.as_str()), "{location}");
    let page = browser().get(location).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("Authentication Complete"));

    let outcome = waiting.await.unwrap().unwrap();
    assert_eq!(
        outcome.identity,
        Identity {
            email: Some("codex@example.com".into()),
            plan_tier: Some("pro".into()),
            account_uuid: None,
            account_id: Some("acct-login".into()),
        }
    );
    let access = outcome.credentials.access_token.clone().unwrap();
    assert!(fake.is_access_token_valid(access.expose()));
    assert_no_secret(&format!("{outcome:?}"), &[access.expose()]);

    // The exchange: a form with the callback server's redirect URI and the verifier, no state.
    let exchange = fake.last_request(Endpoint::OpenAiToken).unwrap();
    assert_eq!(exchange.header("content-type"), Some("application/x-www-form-urlencoded"));
    let form = exchange.form();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(field("grant_type"), Some("authorization_code"));
    assert_eq!(field("redirect_uri"), Some(redirect_uri.as_str()));
    assert_eq!(field("code_verifier").map(str::len), Some(64));
    assert_eq!(field("state"), None);

    let account = outcome.into_new_account();
    assert_eq!(account.account_id.as_deref(), Some("acct-login"));
    assert_eq!(account.label, None);
}

#[tokio::test]
async fn a_denied_login_fails_with_the_providers_reason() {
    let fake = fake().await;
    fake.set_authorize_outcome(AuthorizeOutcome::Deny);
    let (url, _, waiting) = start(&fake, Duration::from_secs(10)).await;
    assert_eq!(browse(&url).await, 400);
    let err = waiting.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, LoginError::Denied { message } if message == "The user denied the request"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "the provider refused the login: The user denied the request");
    assert_eq!(fake.count(Endpoint::OpenAiToken), 0);
}

#[tokio::test]
async fn a_wrong_state_fails_without_an_exchange() {
    let fake = fake().await;
    fake.set_authorize_outcome(AuthorizeOutcome::WrongState);
    let (url, _, waiting) = start(&fake, Duration::from_secs(10)).await;
    assert_eq!(browse(&url).await, 400);
    let err = waiting.await.unwrap().unwrap_err();
    assert!(matches!(err, LoginError::StateMismatch), "{err:?}");
    assert_eq!(fake.count(Endpoint::OpenAiToken), 0);
}

#[tokio::test]
async fn cancel_and_timeout_end_the_wait() {
    let fake = fake().await;
    let (_url, redirect_uri, waiting) = start(&fake, Duration::from_secs(10)).await;
    let mut cancel = redirect_uri.clone();
    cancel.set_path("/cancel");
    assert_eq!(browser().get(cancel).send().await.unwrap().status().as_u16(), 200);
    let err = waiting.await.unwrap().unwrap_err();
    assert!(matches!(err, LoginError::Cancelled), "{err:?}");

    let (_url, _, waiting) = start(&fake, Duration::from_millis(200)).await;
    let err = waiting.await.unwrap().unwrap_err();
    assert!(matches!(err, LoginError::TimedOut { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.to_string(), "Waiting for the login callback timed out after 200ms");
}

#[tokio::test]
async fn a_taken_port_is_a_bind_error() {
    let fake = fake().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err =
        CodexBrowserLogin::start(&descriptor(Provider::Codex, &fake), port).await.unwrap_err();
    assert!(matches!(err, LoginError::CallbackBind { .. }), "{err:?}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[tokio::test]
async fn the_manual_login_reads_a_pasted_redirect_url() {
    let fake = fake().await;
    let client = client(Provider::Codex, &fake);
    let (login, url) = CodexManualLogin::start(&descriptor(Provider::Codex, &fake)).unwrap();
    assert_eq!(param(&url, "redirect_uri").as_deref(), Some("http://localhost:1455/auth/callback"));
    assert_eq!(query_keys(&url).last().map(String::as_str), Some("originator"));
    // The browser lands on a page that does not load; the user copies its address.
    let location = authorize_redirect(&url).await;
    assert!(location.as_str().starts_with("http://localhost:1455/auth/callback?code="));
    let outcome = login.finish(&client, &format!(" {location}\n")).await.unwrap();
    assert_eq!(outcome.identity.account_id.as_deref(), Some("acct-login"));
    assert_eq!(outcome.identity.plan_tier.as_deref(), Some("pro"));
    let form = fake.last_request(Endpoint::OpenAiToken).unwrap().form();
    assert!(form.contains(&("redirect_uri".into(), "http://localhost:1455/auth/callback".into())));

    // A redirect of another login, or text that is not a URL, is refused.
    let (login, _) = CodexManualLogin::start(&descriptor(Provider::Codex, &fake)).unwrap();
    let err = login.finish(&client, location.as_str()).await.unwrap_err();
    assert!(matches!(err, LoginError::StateMismatch), "{err:?}");
    let (login, _) = CodexManualLogin::start(&descriptor(Provider::Codex, &fake)).unwrap();
    let err = login.finish(&client, "fake-code-1").await.unwrap_err();
    assert!(matches!(err, LoginError::Callback { .. }), "{err:?}");
    assert_eq!(fake.count(Endpoint::OpenAiToken), 1);
}
