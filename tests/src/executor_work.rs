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
use mac_executor::{
    Attempt, BufferedResponse, Pool, PoolConfig, ProactiveConfig, RequestInfo, SendError,
};
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

/// The executor benches' send: a 200 with an empty body at once, so what a timing measures is
/// the pool's own share of a request (selection, claims, bookkeeping), no HTTP.
pub async fn answer_ok(_: Attempt) -> Result<BufferedResponse, SendError> {
    Ok(BufferedResponse::new(http::StatusCode::OK, bytes::Bytes::new()))
}

/// Warms `pool` up (two requests per account, at least 20) and lets its bookkeeping and
/// claims keeper settle, so the timed requests that follow see a steady state.
pub async fn warm_up(pool: &Pool, accounts: usize) -> Result<(), String> {
    let request = RequestInfo::default();
    for _ in 0..accounts.max(10) * 2 {
        pool.execute(&request, answer_ok).await.map_err(|e| e.to_string())?;
    }
    pool.settle().await;
    // Let the claims keeper write the first claims of the warm-up.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    Ok(())
}

/// `rounds` timed `execute`s of [`answer_ok`], then the pool settled; each one's time in ns.
pub async fn timed_rounds(pool: &Pool, rounds: usize) -> Result<Vec<u128>, String> {
    let request = RequestInfo::default();
    let mut latencies = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = std::time::Instant::now();
        pool.execute(&request, answer_ok).await.map_err(|e| e.to_string())?;
        latencies.push(started.elapsed().as_nanos());
    }
    pool.settle().await;
    Ok(latencies)
}
