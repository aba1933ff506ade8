//! Prometheus metrics from atomics: the request path only increments counters (no lock, no
//! allocation); `/metrics` renders the text format on demand. Counted: requests by route,
//! status class and outcome; rotations by cause; refreshes; cooldowns by class; accounts
//! disabled; how streams ended; the upstream latency to the response headers as a histogram.
//! The per-account state gauge is read from the pools when `/metrics` is asked.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mac_executor::{PoolEvent, RotationCause, StreamEndKind};
use mac_ratelimit::RateLimitClass;
use mac_storage::Provider;

use crate::events::{Outcome, Route};

const ROUTES: usize = Route::ALL.len();
const OUTCOMES: usize = Outcome::ALL.len();
/// Status classes 1xx–5xx (index 0–4), and anything else (index 5).
const CLASSES: usize = 6;
const PROVIDERS: usize = Provider::ALL.len();
// The label values are the lower crates' own names (`as_str`), in their `ALL` / `NAMES` order.
const CAUSES: [&str; 5] = RotationCause::NAMES;
const LIMITS: usize = RateLimitClass::ALL.len();
const ENDS: usize = StreamEndKind::ALL.len();
/// Upper bounds of the latency buckets, in milliseconds.
const BUCKETS_MS: [u64; 14] =
    [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000];

/// Every counter of the gateway.
pub(crate) struct Metrics {
    requests: [[[AtomicU64; OUTCOMES]; CLASSES]; ROUTES],
    rotations: [[AtomicU64; CAUSES.len()]; PROVIDERS],
    refreshes: [[AtomicU64; 2]; PROVIDERS],
    cooldowns: [[AtomicU64; LIMITS]; PROVIDERS],
    disabled: [AtomicU64; PROVIDERS],
    stream_ends: [[AtomicU64; ENDS]; PROVIDERS],
    latency: [Histogram; PROVIDERS],
}

/// A latency histogram: cumulative buckets are summed when rendered.
struct Histogram {
    buckets: [AtomicU64; BUCKETS_MS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    const fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; BUCKETS_MS.len() + 1],
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: [const { [const { [const { AtomicU64::new(0) }; OUTCOMES] }; CLASSES] };
                ROUTES],
            rotations: [const { [const { AtomicU64::new(0) }; CAUSES.len()] }; PROVIDERS],
            refreshes: [const { [const { AtomicU64::new(0) }; 2] }; PROVIDERS],
            cooldowns: [const { [const { AtomicU64::new(0) }; LIMITS] }; PROVIDERS],
            disabled: [const { AtomicU64::new(0) }; PROVIDERS],
            stream_ends: [const { [const { AtomicU64::new(0) }; ENDS] }; PROVIDERS],
            latency: [const { Histogram::new() }; PROVIDERS],
        }
    }
}

fn provider_index(provider: Provider) -> usize {
    match provider {
        Provider::Anthropic => 0,
        Provider::Codex => 1,
    }
}

fn route_index(route: Route) -> usize {
    Route::ALL.iter().position(|r| *r == route).unwrap_or(ROUTES - 1)
}

fn outcome_index(outcome: Outcome) -> usize {
    Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0)
}

fn class_index(status: u16) -> usize {
    match status / 100 {
        1..=5 => usize::from(status / 100) - 1,
        _ => CLASSES - 1,
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// A finished request.
    pub(crate) fn request(&self, route: Route, status: u16, outcome: Outcome) {
        bump(&self.requests[route_index(route)][class_index(status)][outcome_index(outcome)]);
    }

    /// The time one attempt waited for the provider's response headers.
    pub(crate) fn upstream_latency(&self, provider: Provider, elapsed: Duration) {
        let histogram = &self.latency[provider_index(provider)];
        let millis = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let bucket = BUCKETS_MS.iter().position(|&le| millis < le).unwrap_or(BUCKETS_MS.len());
        bump(&histogram.buckets[bucket]);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        histogram.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// A pool's event.
    pub(crate) fn pool_event(&self, provider: Provider, event: &PoolEvent) {
        let p = provider_index(provider);
        match event {
            PoolEvent::Rotated { why, .. } => {
                bump(&self.rotations[p][why.index()]);
            }
            PoolEvent::Refreshed { adopted, .. } => bump(&self.refreshes[p][usize::from(*adopted)]),
            PoolEvent::CooledDown { class, .. } => {
                if let Some(i) = RateLimitClass::ALL.iter().position(|c| c == class) {
                    bump(&self.cooldowns[p][i]);
                }
            }
            PoolEvent::Disabled { .. } => bump(&self.disabled[p]),
            PoolEvent::StreamEnded { end, .. } => {
                if let Some(i) = StreamEndKind::ALL.iter().position(|e| e == end) {
                    bump(&self.stream_ends[p][i]);
                }
            }
            PoolEvent::Selected { .. } | PoolEvent::Waiting { .. } => {}
        }
    }

    /// The counters in Prometheus' text format (the per-account gauge is appended by the
    /// caller, who reads the pools).
    pub(crate) fn render(&self, out: &mut String) {
        let limits = RateLimitClass::ALL.map(RateLimitClass::as_str);
        let ends = StreamEndKind::ALL.map(StreamEndKind::as_str);
        self.render_requests(out);
        per_provider(
            out,
            "rotations",
            "Requests that moved on from an account, by cause.",
            "cause",
            &CAUSES,
            |p, i| read(&self.rotations[p][i]),
        );
        per_provider(
            out,
            "cooldowns",
            "Accounts blocked by a rate limit or an overload, by class.",
            "class",
            &limits,
            |p, i| read(&self.cooldowns[p][i]),
        );
        per_provider(
            out,
            "refreshes",
            "Tokens renewed (adopted: another process had renewed it).",
            "adopted",
            &["false", "true"],
            |p, i| read(&self.refreshes[p][i]),
        );
        per_provider(
            out,
            "stream_ends",
            "Responses handed to clients, by how they ended.",
            "end",
            &ends,
            |p, i| read(&self.stream_ends[p][i]),
        );
        per_provider(
            out,
            "disabled",
            "Accounts disabled (they need a new login).",
            "reason",
            &["evidence"],
            |p, _| read(&self.disabled[p]),
        );
        self.render_latency(out);
    }

    fn render_requests(&self, out: &mut String) {
        let name = "mac_gateway_requests_total";
        header(out, name, "counter", "Requests answered, by route, status class and outcome.");
        for (r, route) in Route::ALL.iter().enumerate() {
            for class in 0..CLASSES {
                for (o, outcome) in Outcome::ALL.iter().enumerate() {
                    let n = read(&self.requests[r][class][o]);
                    if n == 0 {
                        continue;
                    }
                    let status = match class {
                        0..5 => format!("{}xx", class + 1),
                        _ => "other".to_owned(),
                    };
                    let (route, outcome) = (route.as_str(), outcome.as_str());
                    let _ = writeln!(
                        out,
                        "{name}{{route=\"{route}\",status=\"{status}\",outcome=\"{outcome}\"}} {n}"
                    );
                }
            }
        }
    }

    fn render_latency(&self, out: &mut String) {
        let name = "mac_gateway_upstream_latency_seconds";
        let help = "Time from sending an attempt to the provider's response headers.";
        header(out, name, "histogram", help);
        for provider in Provider::ALL {
            let histogram = &self.latency[provider_index(provider)];
            let mut cumulative = 0;
            for (i, le) in BUCKETS_MS.iter().enumerate() {
                cumulative += read(&histogram.buckets[i]);
                let le = seconds(*le);
                let _ = writeln!(
                    out,
                    "{name}_bucket{{provider=\"{provider}\",le=\"{le}\"}} {cumulative}"
                );
            }
            cumulative += read(&histogram.buckets[BUCKETS_MS.len()]);
            let _ =
                writeln!(out, "{name}_bucket{{provider=\"{provider}\",le=\"+Inf\"}} {cumulative}");
            let sum = read(&histogram.sum_micros);
            let (whole, micros) = (sum / 1_000_000, sum % 1_000_000);
            let _ = writeln!(out, "{name}_sum{{provider=\"{provider}\"}} {whole}.{micros:06}");
            let _ = writeln!(out, "{name}_count{{provider=\"{provider}\"}} {cumulative}");
        }
    }
}

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// A counter per provider and label value: `mac_gateway_<name>_total{provider, label}`.
fn per_provider(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: &[&str],
    count: impl Fn(usize, usize) -> u64,
) {
    let name = format!("mac_gateway_{name}_total");
    header(out, &name, "counter", help);
    for provider in Provider::ALL {
        for (i, value) in values.iter().enumerate() {
            let n = count(provider_index(provider), i);
            let _ = writeln!(out, "{name}{{provider=\"{provider}\",{label}=\"{value}\"}} {n}");
        }
    }
}

/// `1500` ms as `1.5`.
fn seconds(millis: u64) -> String {
    let text = format!("{}.{:03}", millis / 1000, millis % 1000);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The `# HELP` and `# TYPE` lines of a metric.
pub(crate) fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_in_the_text_format() {
        let metrics = Metrics::default();
        metrics.request(Route::Messages, 200, Outcome::Completed);
        metrics.request(Route::Messages, 200, Outcome::Completed);
        metrics.request(Route::Unknown, 404, Outcome::Refused);
        metrics.pool_event(
            Provider::Codex,
            &PoolEvent::Rotated { from: "a".into(), why: RotationCause::RateLimited },
        );
        metrics.upstream_latency(Provider::Anthropic, Duration::from_micros(3_500));
        let mut text = String::new();
        metrics.render(&mut text);
        assert!(text.contains("mac_gateway_requests_total{route=\"messages\",status=\"2xx\",outcome=\"completed\"} 2"), "{text}");
        assert!(text.contains(
            "mac_gateway_requests_total{route=\"unknown\",status=\"4xx\",outcome=\"refused\"} 1"
        ));
        assert!(
            text.contains(
                "mac_gateway_rotations_total{provider=\"codex\",cause=\"rate_limited\"} 1"
            )
        );
        assert!(text.contains(
            "mac_gateway_upstream_latency_seconds_bucket{provider=\"anthropic\",le=\"0.002\"} 0"
        ));
        assert!(text.contains(
            "mac_gateway_upstream_latency_seconds_bucket{provider=\"anthropic\",le=\"0.005\"} 1"
        ));
        assert!(
            text.contains(
                "mac_gateway_upstream_latency_seconds_sum{provider=\"anthropic\"} 0.003500"
            )
        );
        assert!(
            text.contains("mac_gateway_upstream_latency_seconds_count{provider=\"anthropic\"} 1")
        );
        assert_eq!(seconds(30_000), "30");
        assert_eq!(seconds(2_500), "2.5");
    }
}
