//! The executor workload of multi-process tests and benchmarks: a pool over a data directory
//! whose provider is the loopback fake, and a send closure for Anthropic Messages (its
//! responses adapted by mac-core's `http_response`, the one reqwest-to-executor adapter).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use mac_adapters::{AdapterClient, ProviderDescriptor};
use mac_claims::{Claims, ClaimsOptions};
use mac_core::http_response::{self, HttpResponse};
use mac_executor::{Attempt, Pool, PoolConfig, ProactiveConfig, SendError};
use mac_storage::{AccountStore, DataDir, Provider, StoreOptions, SystemClock};

/// The future a [`messages_sender`] returns.
pub type SendFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, SendError>> + Send>>;

/// A pool for the Anthropic accounts in `data_dir`, talking to the fake at `origin`, with
/// claims on and proactive refresh off (a worker lives for one request).
pub fn open_pool(data_dir: &Path, origin: &str) -> Result<Pool, String> {
    let config = PoolConfig {
        proactive: ProactiveConfig { enabled: false, ..ProactiveConfig::default() },
        ..PoolConfig::default()
    };
    open_pool_with(data_dir, origin, config)
}

/// [`open_pool`] with the pool's settings given.
pub fn open_pool_with(data_dir: &Path, origin: &str, config: PoolConfig) -> Result<Pool, String> {
    let data_dir = DataDir::at(data_dir);
    let store = Arc::new(
        AccountStore::open(&data_dir, Provider::Anthropic, StoreOptions::default())
            .map_err(|e| e.to_string())?,
    );
    let descriptor =
        ProviderDescriptor::anthropic().with_origin(origin).map_err(|e| e.to_string())?;
    let client =
        AdapterClient::builder(descriptor).no_proxy().build().map_err(|e| e.to_string())?;
    let claims = Claims::open(
        &data_dir,
        Provider::Anthropic,
        ClaimsOptions::default(),
        Arc::new(SystemClock),
    )
    .map_err(|e| e.to_string())?;
    Ok(Pool::builder(store, client).config(config).claims(claims).build())
}

/// A send closure: `POST <origin>/v1/messages` with the attempt's bearer.
pub fn messages_sender(
    origin: &str,
) -> Result<impl FnMut(Attempt) -> SendFuture + Send + use<>, String> {
    let client = reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?;
    let url = format!("{origin}/v1/messages");
    Ok(move |attempt: Attempt| -> SendFuture {
        let request = client
            .post(&url)
            .bearer_auth(attempt.access_token.expose())
            .header("content-type", "application/json")
            .body(
                r#"{"model":"claude","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#,
            );
        Box::pin(http_response::send(request))
    })
}
