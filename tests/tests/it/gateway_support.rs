//! What the gateway tests share: a fake provider, a data directory with seeded accounts whose
//! tokens the fake knows, a configuration pointing every endpoint at the fake, and a gateway
//! started in-process in front of them.

use std::fmt::Write as _;
use std::time::Duration;

use mac_adapters::{ENDPOINTS, ProviderDescriptor};
use mac_core::MacConfig;
use mac_gateway::{Gateway, RunningGateway};
use mac_storage::{AccountStore, Provider, StoreOptions};
use mac_test_support::{FakeProvider, TempDataDir};

/// An account seeded into the pool and registered at the fake (mac-fake's `seed_account`).
pub(crate) use mac_test_support::fake_provider::SeededAccount as Seeded;

/// Every endpoint of both providers on the fake's origin: `(provider, key, url)`.
pub(crate) fn fake_endpoints(fake: &FakeProvider) -> Vec<(Provider, &'static str, String)> {
    let mut endpoints = Vec::new();
    for provider in Provider::ALL {
        let descriptor =
            ProviderDescriptor::for_provider(provider).with_origin(&fake.origin()).unwrap();
        for spec in ENDPOINTS {
            if let Some(url) = spec.get(&descriptor.endpoints) {
                endpoints.push((provider, spec.key, url.to_string()));
            }
        }
    }
    endpoints
}

/// The configuration of a test: every endpoint on the fake, a short wait for a cooling account
/// (so a test where every account is limited answers at once), no background refresh.
pub(crate) fn config(fake: &FakeProvider) -> MacConfig {
    let mut config = MacConfig::default();
    for (provider, key, url) in fake_endpoints(fake) {
        config.providers.get_mut(provider).endpoints.insert(key.to_owned(), url);
    }
    config.pool.max_wait = Duration::ZERO;
    config.pool.proactive.enabled = false;
    config.pool.server_retries = 0;
    config
}

/// The same as `config.toml` text, for `mac serve` child processes.
pub(crate) fn config_toml(fake: &FakeProvider) -> String {
    let mut text = String::from(
        "[pool]\nmax_wait = \"0s\"\n\n[refresh]\nproactive = false\n\n[retry]\nserver_retries = 0\n",
    );
    for provider in Provider::ALL {
        let _ = write!(text, "\n[providers.{provider}]\n");
        for (p, key, url) in fake_endpoints(fake) {
            if p == provider {
                let _ = writeln!(text, "{key} = \"{url}\"");
            }
        }
    }
    text
}

/// Seeds an account labelled `label` into `provider`'s pool with a live access token and a
/// refresh token, both known to the fake.
pub(crate) fn seed(
    dir: &TempDataDir,
    fake: &FakeProvider,
    provider: Provider,
    label: &str,
) -> Seeded {
    seed_with_expiry(dir, fake, provider, label, Duration::from_secs(3600))
}

/// As [`seed`], the stored access token expiring `valid_for` from now (zero: expired, so the
/// first request refreshes it).
pub(crate) fn seed_with_expiry(
    dir: &TempDataDir,
    fake: &FakeProvider,
    provider: Provider,
    label: &str,
    valid_for: Duration,
) -> Seeded {
    let store = AccountStore::open(dir.data_dir(), provider, StoreOptions::default()).unwrap();
    fake.seed_account(&store, provider, label, valid_for).unwrap()
}

/// A gateway in front of `fake` over `dir`, on a free loopback port.
pub(crate) async fn start(dir: &TempDataDir, config: MacConfig) -> RunningGateway {
    Gateway::new(dir.data_dir().clone(), config)
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// `http://ADDR`.
pub(crate) fn base_url(gateway: &RunningGateway) -> String {
    format!("http://{}", gateway.local_addr())
}

/// A Messages request body.
pub(crate) fn messages_body(stream: bool) -> String {
    format!(
        r#"{{"model":"claude-sonnet-4-5","max_tokens":64,"stream":{stream},"messages":[{{"role":"user","content":"hello"}}]}}"#
    )
}

/// A Responses request body.
pub(crate) fn responses_body(stream: bool) -> String {
    format!(r#"{{"model":"gpt-5-codex","stream":{stream},"input":"hello"}}"#)
}

/// The body of `response` as JSON.
pub(crate) async fn json_of(response: reqwest::Response) -> serde_json::Value {
    let bytes = response.bytes().await.unwrap();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&bytes)))
}

/// Each account's `(name, state)` as `GET /v1/pool` shows it.
pub(crate) async fn states(url: &str) -> Vec<(String, String)> {
    let pool = json_of(reqwest::get(format!("{url}/v1/pool")).await.unwrap()).await;
    let mut states = Vec::new();
    for pool in pool["pools"].as_array().unwrap() {
        for account in pool["accounts"].as_array().unwrap() {
            let name = account["name"].as_str().unwrap().to_owned();
            states.push((name, account["state"].as_str().unwrap().to_owned()));
        }
    }
    states
}

/// The state of the account named `name`, once it is not `ready` (bookkeeping is written
/// behind the request): polled for up to 10 s.
pub(crate) async fn state_once_marked(url: &str, name: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let state = states(url).await.into_iter().find(|(n, _)| n == name).map(|(_, s)| s);
        let state = state.unwrap_or_else(|| panic!("no account {name}"));
        if state != "ready" || tokio::time::Instant::now() > deadline {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The bearer tokens of the requests `endpoint` received, oldest first.
pub(crate) fn bearers(fake: &FakeProvider, endpoint: mac_test_support::Endpoint) -> Vec<String> {
    fake.requests(endpoint).iter().filter_map(|r| r.bearer().map(str::to_owned)).collect()
}

pub(crate) use mac_test_support::fake_provider::sse_event;

/// The first frames of an Anthropic stream that has begun its answer with `text`: after them
/// the gateway has passed its commit point.
pub(crate) fn anthropic_opening(text: &str) -> Vec<String> {
    vec![
        sse_event(
            "message_start",
            &serde_json::json!({"type": "message_start", "message": {"id": "m", "content": []}}),
        ),
        sse_event(
            "content_block_start",
            &serde_json::json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        sse_event(
            "content_block_delta",
            &serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        ),
    ]
}
