//! The project's own HTTP load generator for the gateway benchmark: a closed loop of
//! `concurrency` workers, each sending one request after another over its keep-alive
//! connection (one shared `reqwest` pool sized to the concurrency), for a fixed time.
//!
//! Every sample is kept and sorted, so percentiles are exact (nearest rank), not estimated.
//! Per request: latency (send to last byte), time to first byte (send to the first body chunk;
//! the headers arrive with it or before), and for SSE the time to the first text delta and each
//! delta's age on arrival: the receive time minus the `sent_us` wall-clock stamp the bench
//! fake writes into every delta (both on the same machine, so one clock). Frames are cut with
//! the adapters' own `SseScanner`, so what is measured is what a client sees. A request is an
//! error when it fails, answers a non-2xx status, or (SSE) carries no delta.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mac_adapters::SseScanner;
use serde_json::Value;

/// One load run's shape.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// The URL every request is posted to.
    pub url: String,
    /// The request body (JSON).
    pub body: Bytes,
    /// Whether the answer is an SSE stream of stamped deltas.
    pub streaming: bool,
    /// Headers sent with every request besides `content-type`.
    pub headers: Vec<(String, String)>,
    /// Workers, each with one request in flight.
    pub concurrency: usize,
    /// How long requests are started for (after the warm-up).
    pub duration: Duration,
    /// Requests per worker before measuring (opens the connections).
    pub warmup: usize,
}

/// What one request measured, in microseconds.
#[derive(Clone, Debug, Default)]
struct Sample {
    latency: u64,
    ttfb: u64,
    first_delta: Option<u64>,
    ages: Vec<u64>,
}

/// The sorted samples of a run.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Requests completed without error.
    pub requests: usize,
    /// Failed requests.
    pub errors: usize,
    /// From the first measured request's start to the last one's end.
    pub elapsed: Duration,
    /// Latency of every successful request, µs, sorted.
    pub latency_us: Vec<u64>,
    /// Time to first byte, µs, sorted.
    pub ttfb_us: Vec<u64>,
    /// Time to the first delta (SSE), µs, sorted.
    pub first_delta_us: Vec<u64>,
    /// Age of every delta on arrival (SSE), µs, sorted.
    pub chunk_age_us: Vec<u64>,
}

impl LoadReport {
    /// Successful requests per second.
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// The exact `quantile` (0..=1) of sorted microseconds by nearest rank, in milliseconds; 0 when
/// empty.
#[allow(clippy::cast_precision_loss)] // microsecond figures far below 2^52
pub fn percentile_ms(sorted_us: &[u64], quantile: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // in 0..=len
    let rank = ((quantile * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}

/// Runs `spec` on the current runtime and returns every sample, sorted.
///
/// # Errors
///
/// When the HTTP client cannot be built.
pub async fn run(spec: &LoadSpec) -> Result<LoadReport, String> {
    Ok(run_observed(spec, || ()).await?.0)
}

/// As [`run`], calling `at_start` once the warm-up is over, as the measured phase begins (to
/// read a process's CPU time or start sampling its memory there), and returning what it gave.
///
/// # Errors
///
/// When the HTTP client cannot be built.
pub async fn run_observed<T>(
    spec: &LoadSpec,
    at_start: impl FnOnce() -> T,
) -> Result<(LoadReport, T), String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(spec.concurrency)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| format!("load client: {e}"))?;
    let spec = Arc::new(spec.clone());
    let mut workers = Vec::with_capacity(spec.concurrency);
    for _ in 0..spec.concurrency {
        let (client, spec) = (client.clone(), Arc::clone(&spec));
        workers.push(tokio::spawn(async move {
            for _ in 0..spec.warmup {
                let _ = one(&client, &spec).await;
            }
            (client, spec)
        }));
    }
    let mut ready = Vec::with_capacity(workers.len());
    for worker in workers {
        ready.push(worker.await.map_err(|e| format!("warm-up worker: {e}"))?);
    }
    let observed = at_start();
    let start = Instant::now();
    let deadline = start + spec.duration;
    let mut measured = Vec::with_capacity(ready.len());
    for (client, spec) in ready {
        measured.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                match one(&client, &spec).await {
                    Some(sample) => samples.push(sample),
                    None => errors += 1,
                }
            }
            (samples, errors)
        }));
    }
    let mut report = LoadReport::default();
    for worker in measured {
        let (samples, errors) = worker.await.map_err(|e| format!("load worker: {e}"))?;
        report.errors += errors;
        for sample in samples {
            report.requests += 1;
            report.latency_us.push(sample.latency);
            report.ttfb_us.push(sample.ttfb);
            report.first_delta_us.extend(sample.first_delta);
            report.chunk_age_us.extend(sample.ages);
        }
    }
    report.elapsed = start.elapsed();
    for samples in [
        &mut report.latency_us,
        &mut report.ttfb_us,
        &mut report.first_delta_us,
        &mut report.chunk_age_us,
    ] {
        samples.sort_unstable();
    }
    Ok((report, observed))
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// One request, measured; `None` on any failure.
async fn one(client: &reqwest::Client, spec: &LoadSpec) -> Option<Sample> {
    let sent = Instant::now();
    let mut request = client.post(&spec.url).header("content-type", "application/json");
    for (name, value) in &spec.headers {
        request = request.header(name, value);
    }
    let mut response = request.body(spec.body.clone()).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let mut sample = Sample::default();
    let mut first = true;
    let mut scanner = SseScanner::default();
    while let Some(chunk) = response.chunk().await.ok()? {
        if first {
            sample.ttfb = micros(sent.elapsed());
            first = false;
        }
        if spec.streaming {
            let arrived = wall_us();
            for frame in scanner.feed(&chunk).ok()? {
                let Some(stamp) = serde_json::from_str::<Value>(&frame.data)
                    .ok()
                    .and_then(|data| data.get("sent_us").and_then(Value::as_u64))
                else {
                    continue;
                };
                sample.first_delta.get_or_insert_with(|| micros(sent.elapsed()));
                sample.ages.push(arrived.saturating_sub(stamp));
            }
        }
    }
    sample.latency = micros(sent.elapsed());
    if spec.streaming && sample.ages.is_empty() {
        return None;
    }
    Some(sample)
}
