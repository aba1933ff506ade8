//! The gateway benchmark's load generator against the bench fake: every request counted, every
//! delta's age taken, percentiles exact.

use std::time::Duration;

use mac_test_support::BenchProvider;
use mac_test_support::fake_provider::DELTAS;
use mac_tests::load::{LoadSpec, percentile_ms, run, run_observed};

fn spec(origin: &str, streaming: bool, concurrency: usize) -> LoadSpec {
    let body = serde_json::json!({ "model": "m", "stream": streaming });
    LoadSpec {
        url: format!("{origin}/v1/messages"),
        body: body.to_string().into(),
        streaming,
        headers: vec![("x-claude-code-session-id".to_owned(), "s".to_owned())],
        concurrency,
        duration: Duration::from_millis(300),
        warmup: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_sse_runs_keep_every_sample() {
    let fake = BenchProvider::start().await.unwrap();
    let json = run(&spec(&fake.origin(), false, 4)).await.unwrap();
    assert!(json.requests > 0);
    assert_eq!(json.errors, 0);
    assert_eq!(json.latency_us.len(), json.requests);
    assert_eq!(json.ttfb_us.len(), json.requests);
    assert!(json.first_delta_us.is_empty() && json.chunk_age_us.is_empty());
    assert!(json.latency_us.is_sorted());

    let sse = run(&spec(&fake.origin(), true, 3)).await.unwrap();
    assert!(sse.requests >= 3, "{}", sse.requests);
    assert_eq!(sse.errors, 0);
    assert_eq!(sse.first_delta_us.len(), sse.requests);
    assert_eq!(sse.chunk_age_us.len(), sse.requests * DELTAS);
    assert!(sse.chunk_age_us.is_sorted() && sse.first_delta_us.is_sorted());
    // The first delta is sent 20 ms after the request: it cannot arrive sooner.
    assert!(sse.first_delta_us[0] >= 20_000, "{:?}", sse.first_delta_us);
    fake.shutdown().await;
}

#[tokio::test]
async fn failures_are_counted_as_errors() {
    let fake = BenchProvider::start().await.unwrap();
    let mut missing = spec(&fake.origin(), false, 2);
    missing.url = format!("{}/v1/unknown", fake.origin());
    let report = run(&missing).await.unwrap();
    assert_eq!(report.requests, 0);
    assert!(report.errors > 0);
    fake.shutdown().await;
}

#[test]
fn percentiles_are_nearest_rank() {
    let sorted: Vec<u64> = (1..=100).map(|v| v * 1000).collect();
    assert!((percentile_ms(&sorted, 0.5) - 50.0).abs() < 1e-9);
    assert!((percentile_ms(&sorted, 0.99) - 99.0).abs() < 1e-9);
    assert!((percentile_ms(&sorted, 1.0) - 100.0).abs() < 1e-9);
    assert!((percentile_ms(&[7000], 0.5) - 7.0).abs() < 1e-9);
    assert!(percentile_ms(&[], 0.5).abs() < 1e-9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observer_runs_once_after_the_warm_up() {
    let fake = BenchProvider::start().await.unwrap();
    let spec = spec(&fake.origin(), false, 2);
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let (report, seen) = run_observed(&spec, || {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::time::Instant::now()
    })
    .await
    .unwrap();
    assert_eq!(calls.into_inner(), 1);
    assert_eq!(report.errors, 0);
    // Measured requests start at the observer's call, so the run lasts at least the duration
    // after it.
    assert!(seen.elapsed() >= spec.duration, "{:?}", seen.elapsed());
}
