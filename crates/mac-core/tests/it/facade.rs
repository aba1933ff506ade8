//! The facade end to end: a pool set up from a data directory and its `config.toml`, sending
//! requests through the loopback fake with `http_response::send`.

use mac_core::storage::{AccountStore, Credentials, EpochMs, NewAccount, Secret, StoreOptions};
use mac_core::{
    AttemptResponse, MacConfig, MacPool, Provider, ProviderDescriptor, RequestInfo, http_response,
};
use mac_test_support::{Endpoint, FakeGrant, FakeProvider, Scripted, TempDataDir};

const BODY: &str =
    r#"{"model":"claude","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;

fn seed(fake: &FakeProvider, dir: &TempDataDir, accounts: usize) {
    let store =
        AccountStore::open(dir.data_dir(), Provider::Anthropic, StoreOptions::default()).unwrap();
    for n in 0..accounts {
        let grant = FakeGrant {
            access_token_prefix: format!("a{n}-"),
            ..FakeGrant::anthropic(&format!("remote-{n}"), &format!("a{n}@x.io"))
        };
        fake.add_refresh_token(&format!("a{n}-refresh"), grant);
        let credentials = Credentials {
            refresh_token: Secret::new(format!("a{n}-refresh")),
            access_token: None,
            expires_at: None,
        };
        store.add_account(&NewAccount::from_credentials(credentials), EpochMs::now()).unwrap();
    }
}

/// One Messages request through `pool` to the fake.
async fn send_message(
    pool: &MacPool,
    fake: &FakeProvider,
) -> mac_core::Executed<http_response::HttpResponse> {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = fake.url("/v1/messages");
    pool.execute(&RequestInfo::default(), |attempt| {
        http_response::send(http.post(&url).bearer_auth(attempt.access_token.expose()).body(BODY))
    })
    .await
    .unwrap()
}

fn start(fake: &FakeProvider, dir: &TempDataDir) -> MacPool {
    let config = MacConfig::load(&dir.data_dir().config_file(), mac_core::config::no_env).unwrap();
    MacPool::builder(dir.data_dir().clone(), Provider::Anthropic)
        .config(config)
        .descriptor(ProviderDescriptor::anthropic().with_origin(&fake.origin()).unwrap())
        .start()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_from_a_data_dir_and_its_config_rotates_through_the_fake() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    seed(&fake, &dir, 2);
    std::fs::write(
        dir.data_dir().config_file(),
        "[pool]\nstrategy = \"round-robin\"\nmax_wait = \"0s\"\n\n[refresh]\nproactive = false\n",
    )
    .unwrap();
    let pool = start(&fake, &dir);
    assert_eq!(pool.config().pool.strategy, mac_core::Strategy::RoundRobin);

    fake.script(
        Endpoint::Messages,
        vec![Scripted::rate_limited(vec![("retry-after".into(), "120".into())])],
    );
    let done = send_message(&pool, &fake).await;
    assert_eq!(done.response.status(), 200);
    let text = String::from_utf8(done.response.bytes().await.unwrap().to_vec()).unwrap();
    assert!(text.contains("Hello from the fake provider"), "{text}");
    assert_eq!(
        fake.count(Endpoint::AnthropicToken),
        2,
        "both accounts were refreshed on first use"
    );
    let bearers: Vec<String> = fake
        .requests(Endpoint::Messages)
        .iter()
        .map(|r| r.bearer().unwrap()[..2].to_owned())
        .collect();
    assert_eq!(bearers, ["a0", "a1"], "the 429 rotated to the second account");
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_error_response_still_yields_its_whole_body() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    seed(&fake, &dir, 1);
    let long_message = "x".repeat(200_000);
    fake.script(
        Endpoint::Messages,
        vec![Scripted::json(
            403,
            serde_json::json!({"error": {"type": "permission_error", "message": long_message}}),
        )],
    );
    let pool = start(&fake, &dir);
    let done = send_message(&pool, &fake).await;
    assert_eq!(done.response.status(), 403);
    // The executor read a 64 KiB prefix to look for "revoked"; the caller still gets it all.
    let body = done.response.bytes().await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"]["message"].as_str().unwrap().len(), 200_000);
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_file_stops_the_setup_with_its_location() {
    let dir = TempDataDir::new().unwrap();
    std::fs::write(dir.data_dir().config_file(), "[pool]\nstrategy = \"fastest\"\n").unwrap();
    let err = MacPool::builder(dir.data_dir().clone(), Provider::Anthropic).start().err().unwrap();
    let shown = err.to_string();
    assert!(shown.contains("config.toml:2:") && shown.contains("[pool] strategy"), "{shown}");
}
