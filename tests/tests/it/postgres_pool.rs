//! `[storage] backend = "postgres"` end to end: `MacPool::builder` opens the accounts on the
//! database named by `MAC_STORAGE_URL` and serves requests through the loopback fake provider,
//! with every change (refreshed tokens, a cooldown) in the database and no accounts file in
//! the data directory. Skips without a server unless `MAC_REQUIRE_POSTGRES=1`.

use mac_core::config::{MacConfig, StorageBackend};
use mac_core::storage::{Credentials, EpochMs, NewAccount, Secret};
use mac_core::{
    AttemptResponse, MacPool, Provider, ProviderDescriptor, RequestInfo, SetupError, http_response,
    open_account_store,
};
use mac_postgres::testing::TestDatabase;
use mac_test_support::{Endpoint, FakeGrant, FakeProvider, Scripted, TempDataDir};

const BODY: &str =
    r#"{"model":"claude","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;

/// The configuration of `config.toml` text `file` with `vars` as the environment.
fn config(file: &str, vars: &[(&str, String)]) -> MacConfig {
    let vars = vars.to_vec();
    MacConfig::parse(file, "config.toml", move |name| {
        vars.iter().find(|(var, _)| *var == name).map(|(_, value)| value.clone())
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_on_postgres_serves_requests_through_the_fake() {
    let Some(database) = TestDatabase::create("pool_on_postgres") else { return };
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    let config = config(
        "[pool]\nstrategy = \"round-robin\"\nmax_wait = \"0s\"\n\n[refresh]\nproactive = false\n",
        &[
            ("MAC_STORAGE_BACKEND", "postgres".to_owned()),
            ("MAC_STORAGE_URL", database.url().expose().to_owned()),
        ],
    );
    assert_eq!(config.storage.backend, StorageBackend::Postgres);

    let seeding = {
        let (config, data_dir) = (config.clone(), dir.data_dir().clone());
        tokio::task::spawn_blocking(move || {
            open_account_store(&config, &data_dir, Provider::Anthropic)
        })
    };
    let store = seeding.await.unwrap().unwrap();
    for n in 0..2 {
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

    let pool = MacPool::builder(dir.data_dir().clone(), Provider::Anthropic)
        .config(config)
        .descriptor(ProviderDescriptor::anthropic().with_origin(&fake.origin()).unwrap())
        .start()
        .unwrap();
    assert!(pool.pool().store().path().display().to_string().starts_with("postgres://"));
    fake.script(
        Endpoint::Messages,
        vec![Scripted::rate_limited(vec![("retry-after".into(), "120".into())])],
    );
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = fake.url("/v1/messages");
    for _ in 0..3 {
        let done = pool
            .execute(&RequestInfo::default(), |attempt| {
                http_response::send(
                    http.post(&url).bearer_auth(attempt.access_token.expose()).body(BODY),
                )
            })
            .await
            .unwrap();
        assert_eq!(done.response.status(), 200);
        let text = String::from_utf8(done.response.bytes().await.unwrap().to_vec()).unwrap();
        assert!(text.contains("Hello from the fake provider"), "{text}");
    }
    pool.shutdown().await;
    assert_eq!(fake.count(Endpoint::AnthropicToken), 2, "each account refreshed once");
    let bearers: Vec<String> = fake
        .requests(Endpoint::Messages)
        .iter()
        .map(|r| r.bearer().unwrap()[..2].to_owned())
        .collect();
    assert_eq!(bearers[..2], ["a0", "a1"], "the 429 rotated to the second account");

    // What the pool wrote is in the database, read by a store of its own.
    let reader = {
        let config = pool.config().clone();
        let data_dir = dir.data_dir().clone();
        tokio::task::spawn_blocking(move || {
            open_account_store(&config, &data_dir, Provider::Anthropic).unwrap().load().unwrap()
        })
    };
    let document = reader.await.unwrap();
    assert_eq!(document.accounts.len(), 2);
    let mut access: Vec<&str> = document
        .accounts
        .iter()
        .map(|account| &account.access_token.as_ref().unwrap().expose()[..3])
        .collect();
    access.sort_unstable();
    assert_eq!(access, ["a0-", "a1-"], "the refreshed tokens are in the database");
    assert!(
        document.accounts.iter().any(|account| account.rate_limit_reset_at.is_some()),
        "the 429's cooldown is in the database"
    );
    assert!(!dir.accounts_file(Provider::Anthropic).exists(), "no accounts file was written");
}

#[test]
fn postgres_without_a_url_is_refused_naming_both_keys() {
    let dir = TempDataDir::new().unwrap();
    let config = config("[storage]\nbackend = \"postgres\"\n", &[]);
    let err = open_account_store(&config, dir.data_dir(), Provider::Codex).unwrap_err();
    assert!(matches!(err, SetupError::StorageUrlMissing), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains("[storage] url") && shown.contains("MAC_STORAGE_URL"), "{shown}");
}

#[test]
fn an_unreachable_database_is_named_without_its_password() {
    let dir = TempDataDir::new().unwrap();
    let config = config(
        "[storage]\nbackend = \"postgres\"\nurl = \"postgres://mac:pg-pass-77@127.0.0.1:9/pools?connect_timeout=2\"\n",
        &[],
    );
    let err = open_account_store(&config, dir.data_dir(), Provider::Codex).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains("cannot connect to PostgreSQL at postgres://mac@127.0.0.1:9/pools"),
        "{shown}"
    );
    assert!(!shown.contains("pg-pass-77"), "{shown}");
}
