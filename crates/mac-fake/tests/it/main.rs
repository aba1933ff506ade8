//! The loopback fake provider, driven over real HTTP by `reqwest` (one test binary, modules by
//! area).

// Test code: a failed unwrap is a failed assertion, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
mod bench;
mod device;
mod login;
mod recording;
mod scripts;
mod tokens;

use mac_fake::{ANTHROPIC_CLIENT_ID, FakeProvider, OAUTH_BETA, OPENAI_CLIENT_ID};
use serde_json::{Value, json};

/// A client that neither follows redirects nor uses a proxy from the environment.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Status and body (parsed as JSON, `Value::Null` if it is not JSON).
async fn status_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn post_json(fake: &FakeProvider, path: &str, body: &Value) -> (u16, Value) {
    let response = client()
        .post(fake.url(path))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    status_json(response).await
}

async fn post_form(fake: &FakeProvider, path: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let response = client()
        .post(fake.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    status_json(response).await
}

async fn anthropic_refresh(fake: &FakeProvider, token: &str) -> (u16, Value) {
    let body = json!({ "grant_type": "refresh_token", "refresh_token": token, "client_id": ANTHROPIC_CLIENT_ID });
    post_json(fake, "/v1/oauth/token", &body).await
}

async fn openai_refresh(fake: &FakeProvider, token: &str) -> (u16, Value) {
    let pairs = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", OPENAI_CLIENT_ID),
    ];
    post_form(fake, "/oauth/token", &pairs).await
}

/// `GET path` with a bearer and, for Anthropic paths, the OAuth beta.
async fn get_with_bearer(fake: &FakeProvider, path: &str, token: &str) -> (u16, Value) {
    let response = client()
        .get(fake.url(path))
        .header("authorization", format!("Bearer {token}"))
        .header("anthropic-beta", OAUTH_BETA)
        .send()
        .await
        .unwrap();
    status_json(response).await
}

/// The claims of an unsigned JWT.
fn claims(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
