//! A pool built from a data directory, sending one request — here against the loopback fake
//! provider, so it runs offline: `cargo run -p mac-core --example pool`.
//!
//! Must not depend on: nothing beyond mac-core and its dev-dependencies.

// An example prints its result.
#![allow(clippy::print_stdout)]

use mac_core::storage::{
    AccountStore, Credentials, DataDir, EpochMs, NewAccount, Secret, StoreOptions,
};
use mac_core::{
    AttemptResponse, MacConfig, MacPool, Provider, ProviderDescriptor, RequestInfo, http_response,
};
use mac_test_support::{FakeGrant, FakeProvider, TempDataDir};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fake = FakeProvider::start().await?;
    let dir = TempDataDir::new()?;
    seed_one_account(&fake, dir.data_dir())?;

    // The pool: data dir + provider + config → ready, with rotation, refresh and waiting.
    let pool = MacPool::builder(dir.data_dir().clone(), Provider::Anthropic)
        .config(MacConfig::default())
        .descriptor(ProviderDescriptor::anthropic().with_origin(&fake.origin())?)
        .start()?;
    let http = reqwest::Client::new();
    let url = fake.url("/v1/messages");
    let done = pool
        .execute(&RequestInfo::default(), |attempt| {
            http_response::send(
                http.post(&url).bearer_auth(attempt.access_token.expose()).body(BODY),
            )
        })
        .await?;
    println!("HTTP {} from account {}", done.response.status().as_u16(), done.account);
    println!("{}", String::from_utf8_lossy(&done.response.bytes().await?));
    pool.shutdown().await;
    Ok(())
}

const BODY: &str =
    r#"{"model":"claude","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;

/// The offline world: one logged-in account, known to the fake, whose access token has expired
/// (so the first request also shows a refresh).
fn seed_one_account(
    fake: &FakeProvider,
    data_dir: &DataDir,
) -> Result<(), Box<dyn std::error::Error>> {
    fake.add_refresh_token(
        "example-refresh",
        FakeGrant::anthropic("remote-uuid", "me@example.com"),
    );
    let store = AccountStore::open(data_dir, Provider::Anthropic, StoreOptions::default())?;
    let credentials = Credentials {
        refresh_token: Secret::new("example-refresh"),
        access_token: None,
        expires_at: None,
    };
    store.add_account(&NewAccount::from_credentials(credentials), EpochMs::now())?;
    Ok(())
}
