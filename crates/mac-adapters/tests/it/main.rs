//! Integration tests of `mac-adapters` (one test binary, modules by area).

// Test code: a failed unwrap is a failed assertion, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod http_refresh;
mod http_usage;
mod login_anthropic;
mod login_codex;
mod login_device;
mod profile;
mod props;
mod shaping;
mod sse;
mod stream;
mod token;
mod usage;

use std::sync::Arc;
use std::time::Duration;

use mac_adapters::{AdapterClient, ProviderDescriptor};
use mac_storage::{Clock, ManualClock, Provider};
use mac_test_support::FakeProvider;
// The shared fixtures, under the short names these tests use.
pub(crate) use mac_test_support::fake_provider::jwt;
pub(crate) use mac_test_support::fixtures::{
    NOW, at_secs as secs, epoch_secs_text as epoch_s, iso, usage, window,
};
use url::Url;

/// `provider`'s descriptor with every endpoint on the fake.
pub(crate) fn descriptor(provider: Provider, fake: &FakeProvider) -> ProviderDescriptor {
    ProviderDescriptor::for_provider(provider).with_origin(&fake.origin()).unwrap()
}

/// A client of `provider` talking to the fake, its clock standing at `NOW`, 5 s timeout.
pub(crate) fn client(provider: Provider, fake: &FakeProvider) -> AdapterClient {
    client_with(provider, fake, Arc::new(ManualClock::new(NOW)), Duration::from_secs(5))
}

/// A client of `provider` talking to the fake with `clock` and `timeout`.
pub(crate) fn client_with(
    provider: Provider,
    fake: &FakeProvider,
    clock: Arc<dyn Clock>,
    timeout: Duration,
) -> AdapterClient {
    AdapterClient::builder(descriptor(provider, fake))
        .clock(clock)
        .timeout(timeout)
        .no_proxy()
        .build()
        .unwrap()
}

/// The test's browser: follows no redirect, uses no proxy.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Opens `url` (an authorize URL on the fake) and returns where it redirects.
pub(crate) async fn authorize_redirect(url: &Url) -> Url {
    let response = browser().get(url.clone()).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 302, "{url}");
    Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
}

/// The first value of query parameter `name`.
pub(crate) fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(n, _)| n == name).map(|(_, v)| v.into_owned())
}

/// The query's keys, in order.
pub(crate) fn query_keys(url: &Url) -> Vec<String> {
    url.query_pairs().map(|(k, _)| k.into_owned()).collect()
}

/// Fails when `text` holds any of `secrets`.
#[track_caller]
pub(crate) fn assert_no_secret(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} leaked into {text:?}");
    }
}
