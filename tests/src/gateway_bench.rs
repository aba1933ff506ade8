//! The gateway benchmark (`cargo xtask bench gateway`): the load generator ([`crate::load`])
//! against the fake's bench mode (`BenchProvider`), direct and through the real gateway — the
//! release `mac` command (`mac-child`, which runs exactly `mac_cli::main`) started as a child
//! process with `mac --home DIR serve --listen 127.0.0.1:0` — in the same run, row by row.
//!
//! Cores (the bench machine has two): this process — the fake on a thread and one-thread
//! runtime of its own, the load generator on a one-worker runtime — is pinned to core 0; the
//! gateway to core 1 (`taskset`, all its threads, moved once its address line is read; it was
//! started from the core-0 process, so its runtime sized itself to one worker, which is what
//! one core should run). Without `taskset` the run is unpinned and says so.
//!
//! Rows: JSON and SSE without a session header (the gateway derives the session key from the
//! 48 KB body: parse and hash, the worst case), and JSON with `x-claude-code-session-id` (as
//! Claude Code sends it; Codex CLI sends `session_id`), at concurrency 1, 16 and 64.
//!
//! What it measures, besides the load generator's figures per row: the gateway's CPU time per
//! request (utime+stime of `/proc/<pid>/stat` over the measured phase of a row, divided by the
//! requests of that phase), its RSS idle (after start-up) and its peak (`VmHWM` after every
//! row), its memory per in-flight request (a fresh gateway, SSE streams at concurrency 256 —
//! each lasts 215 ms at the fake — the highest `VmRSS` sampled during the measured phase minus
//! the idle RSS, over 256), and its start-up time (spawn to the `listening on` line, median of
//! several starts). Then the same figures beside the targets.
//!
//! Profiling: every gateway is stopped with SIGTERM (SIGKILL only after a deadline), so it exits
//! through `mac serve`'s graceful path and a tool it runs under writes its profile.
//! `MAC_BENCH_GATEWAY_WRAPPER` names such a tool's command line (e.g. `valgrind --tool=dhat
//! --dhat-out-file=/tmp/dhat.%p`), `MAC_BENCH_GATEWAY_ONLY` picks the parts to run (e.g.
//! `json/64` or `inflight`); docs/BENCHMARKS.md shows both. Figures taken under a wrapper are
//! the wrapper's, not the gateway's.

// A benchmark report goes to stdout by design.
#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use mac_adapters::{ENDPOINTS, ProviderDescriptor};
use mac_storage::{AccountStore, Credentials, EpochMs, NewAccount, Provider, Secret, StoreOptions};
use mac_test_support::{ChildGuard, TempDataDir, spawn_guarded};

use crate::load::{LoadReport, LoadSpec, percentile_ms, run_observed};

/// Concurrency of the rows.
const CONCURRENCY: [usize; 3] = [1, 16, 64];
/// Requests in flight for the memory figure.
const IN_FLIGHT: usize = 256;
/// Starts timed for the start-up figure.
const STARTS: usize = 9;
/// Measured time per row.
const ROW: Duration = Duration::from_secs(3);
/// Size of the padding in every request body (real clients send 40–80 KB).
const BODY_PADDING: usize = 48 * 1024;

/// The targets, in the units printed.
mod target {
    pub(super) const ADDED_P50_MS: f64 = 0.25;
    pub(super) const ADDED_P99_MS: f64 = 0.5;
    pub(super) const ADDED_TTFB_MS: f64 = 0.5;
    pub(super) const ADDED_AGE_MS: f64 = 0.1;
    pub(super) const CPU_US_JSON: f64 = 150.0;
    pub(super) const IDLE_RSS_MB: f64 = 12.0;
    pub(super) const PEAK_RSS_MB: f64 = 30.0;
    pub(super) const PER_IN_FLIGHT_KB: f64 = 150.0;
    pub(super) const START_MS: f64 = 10.0;
    pub(super) const RATIO_C64: f64 = 0.5;
}

/// One row's pair of runs.
struct Row {
    streaming: bool,
    /// Whether requests carry `x-claude-code-session-id` (as Claude Code sends it), so the
    /// gateway takes the session key from the header instead of the body.
    session_header: bool,
    concurrency: usize,
    direct: LoadReport,
    through: LoadReport,
    /// Gateway CPU µs per request over the measured phase of the through run.
    cpu_us: f64,
}

/// Runs the gateway area with `mac` (the release `mac-child`) and prints its tables.
///
/// # Errors
///
/// When the fake, the gateway or a runtime cannot be started, or a `/proc` figure cannot be read.
pub fn run(mac: &Path) -> Result<(), String> {
    let pinned = pin_self(0);
    let result = run_pinned(mac, pinned);
    if pinned {
        // Later areas (none today) run on both cores again.
        let _ = taskset_all(std::process::id(), "0-1");
    }
    result
}

fn run_pinned(mac: &Path, pinned: bool) -> Result<(), String> {
    let (origin_tx, origin_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let fake_thread = std::thread::Builder::new()
        .name("bench-fake".into())
        .spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let fake =
                    mac_test_support::BenchProvider::start().await.map_err(|e| e.to_string())?;
                let _ = origin_tx.send(fake.origin());
                let _ = stop_rx.await;
                fake.shutdown().await;
                Ok(())
            })
        })
        .map_err(|e| e.to_string())?;
    let origin = origin_rx.recv().map_err(|_| "the bench fake did not start".to_owned())?;
    let outcome = measure(mac, &origin, pinned);
    let _ = stop_tx.send(());
    fake_thread.join().map_err(|_| "the bench fake thread panicked".to_owned())??;
    outcome
}

fn measure(mac: &Path, origin: &str, pinned: bool) -> Result<(), String> {
    let home = TempDataDir::new().map_err(|e| e.to_string())?;
    prepare_home(&home, origin)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let clock_ticks = clock_ticks_per_second();
    let only = Only::from_env()?;

    let mut starts = Vec::with_capacity(STARTS);
    if only.wants("startup") {
        for _ in 0..STARTS {
            let (gateway, took) = Gateway::start(mac, &home, pinned)?;
            starts.push(took);
            gateway.stop();
        }
    }
    starts.sort_unstable();
    let start_ms = starts.get(starts.len() / 2).map_or(f64::NAN, |s| s.as_secs_f64() * 1000.0);

    let (gateway, _) = Gateway::start(mac, &home, pinned)?;
    std::thread::sleep(Duration::from_millis(500));
    let idle_kb = gateway.status_kb("VmRSS")?;
    let mut rows = Vec::new();
    for (streaming, session_header) in [(false, false), (true, false), (false, true)] {
        for concurrency in CONCURRENCY {
            let name = match (streaming, session_header) {
                (true, _) => "sse",
                (false, false) => "json",
                (false, true) => "json-session",
            };
            if !only.wants(&format!("{name}/{concurrency}")) {
                continue;
            }
            let spec = |url: &str| LoadSpec {
                url: format!("{url}/v1/messages"),
                body: request_body(streaming),
                streaming,
                headers: if session_header {
                    vec![("x-claude-code-session-id".to_owned(), "bench-session".to_owned())]
                } else {
                    Vec::new()
                },
                concurrency,
                duration: ROW,
                warmup: 5,
            };
            let direct = runtime.block_on(run_observed(&spec(origin), || ()))?.0;
            let (through, before) =
                runtime.block_on(run_observed(&spec(&gateway.url), || gateway.cpu_ticks()))?;
            let spent = gateway.cpu_ticks()? - before?;
            #[allow(clippy::cast_precision_loss)] // counts far below 2^52
            let cpu_us = spent as f64 * 1e6
                / clock_ticks
                / (through.requests + through.errors).max(1) as f64;
            rows.push(Row { streaming, session_header, concurrency, direct, through, cpu_us });
        }
    }
    let peak_kb = gateway.status_kb("VmHWM")?;
    let after_kb = gateway.status_kb("VmRSS")?;
    gateway.stop();

    let (in_flight, in_flight_kb, fresh_idle_kb) = if only.wants("inflight") {
        let (fresh, _) = Gateway::start(mac, &home, pinned)?;
        std::thread::sleep(Duration::from_millis(500));
        let fresh_idle_kb = fresh.status_kb("VmRSS")?;
        let (in_flight, in_flight_kb) = runtime.block_on(in_flight_rss(&fresh))?;
        fresh.stop();
        (in_flight, in_flight_kb, fresh_idle_kb)
    } else {
        (LoadReport::default(), 0, 0)
    };

    print_rows(&rows, pinned);
    print_added(&rows);
    #[allow(clippy::cast_precision_loss)] // memory figures far below 2^52
    let resources = Resources {
        start_ms,
        idle_mb: idle_kb as f64 / 1024.0,
        peak_mb: peak_kb as f64 / 1024.0,
        after_mb: after_kb as f64 / 1024.0,
        in_flight_kb: if only.wants("inflight") {
            in_flight_kb.saturating_sub(fresh_idle_kb) as f64 / IN_FLIGHT as f64
        } else {
            f64::NAN
        },
        in_flight_rss_mb: in_flight_kb as f64 / 1024.0,
        in_flight_errors: in_flight.errors,
    };
    print_targets(&rows, &resources);
    Ok(())
}

/// The request every row posts: an Anthropic Messages body padded to about 48 KB.
fn request_body(streaming: bool) -> bytes::Bytes {
    serde_json::json!({
        "model": "claude-bench",
        "stream": streaming,
        "max_tokens": 1024,
        "messages": [{ "role": "user", "content": "x".repeat(BODY_PADDING) }],
    })
    .to_string()
    .into()
}

/// SSE at [`IN_FLIGHT`] through `gateway` for 2 s; the report and the highest `VmRSS` (KB)
/// sampled every 50 ms during the measured phase.
async fn in_flight_rss(gateway: &Gateway) -> Result<(LoadReport, u64), String> {
    let spec = LoadSpec {
        url: format!("{}/v1/messages", gateway.url),
        body: request_body(true),
        streaming: true,
        headers: Vec::new(),
        concurrency: IN_FLIGHT,
        duration: Duration::from_secs(2),
        warmup: 1,
    };
    let measuring = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let highest = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (measuring, done, highest) =
            (Arc::clone(&measuring), Arc::clone(&done), Arc::clone(&highest));
        let status = gateway.status_path.clone();
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if measuring.load(Ordering::Relaxed)
                    && let Ok(kb) = status_field_kb(&status, "VmRSS")
                {
                    highest.fetch_max(kb, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let (report, ()) = run_observed(&spec, || measuring.store(true, Ordering::Relaxed)).await?;
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    Ok((report, highest.load(Ordering::Relaxed)))
}

/// Writes `config.toml` (every endpoint of both providers on the bench fake, no proactive
/// refresh, no waiting, no server retries) and one Anthropic account with a token fresh for
/// hours (the bench fake checks no bearer; one account is one user's setup, and claims are
/// soft, so it serves every concurrent request).
fn prepare_home(home: &TempDataDir, origin: &str) -> Result<(), String> {
    let mut config = String::from(
        "[pool]\nmax_wait = \"0s\"\n\n[refresh]\nproactive = false\n\n[retry]\nserver_retries = 0\n",
    );
    for provider in Provider::ALL {
        let _ = write!(config, "\n[providers.{provider}]\n");
        let descriptor = ProviderDescriptor::for_provider(provider)
            .with_origin(origin)
            .map_err(|e| e.to_string())?;
        for spec in ENDPOINTS {
            if let Some(url) = spec.get(&descriptor.endpoints) {
                let _ = writeln!(config, "{} = \"{url}\"", spec.key);
            }
        }
    }
    mac_storage::file::write_private_atomic(&home.data_dir().config_file(), config.as_bytes())
        .map_err(|e| e.to_string())?;
    let store = AccountStore::open(home.data_dir(), Provider::Anthropic, StoreOptions::default())
        .map_err(|e| e.to_string())?;
    let now = EpochMs::now();
    let account = NewAccount {
        credentials: Credentials {
            refresh_token: Secret::new("bench-refresh".to_owned()),
            access_token: Some(Secret::new("bench-access".to_owned())),
            expires_at: Some(now.saturating_add(Duration::from_secs(10 * 3_600))),
        },
        email: Some("bench@example.com".to_owned()),
        plan_tier: None,
        account_uuid: None,
        account_id: None,
        label: Some("bench".to_owned()),
    };
    store.add_account(&account, now).map_err(|e| e.to_string())?;
    Ok(())
}

/// A running `mac serve`.
struct Gateway {
    child: ChildGuard,
    url: String,
    stat_path: String,
    status_path: String,
    /// Kept open: the gateway's standard output stays a live pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Gateway {
    /// Starts `mac --home HOME serve --listen 127.0.0.1:0` (its log to a file in the home's
    /// parent), waits for its address line and moves it to core 1; the time from spawn to the
    /// line.
    fn start(mac: &Path, home: &TempDataDir, pin: bool) -> Result<(Self, Duration), String> {
        let log = File::create(home.outer().join("gateway.log")).map_err(|e| e.to_string())?;
        let mut command = match wrapper() {
            Some(words) => {
                let mut command = Command::new(&words[0]);
                command.args(&words[1..]).arg(mac);
                command
            }
            None => Command::new(mac),
        };
        command
            .arg("--home")
            .arg(home.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let (sender, receiver) = mpsc::channel();
        let spawned = Instant::now();
        let mut child =
            spawn_guarded(&mut command).map_err(|e| format!("{}: {e}", mac.display()))?;
        let stdout = child.child_mut().stdout.take().ok_or("no stdout pipe")?;
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = sender.send((Instant::now(), line, reader));
        });
        let (at, line, stdout) = receiver.recv_timeout(START_DEADLINE).map_err(|_| {
            format!("the gateway printed no address line within {}s", START_DEADLINE.as_secs())
        })?;
        let url = line
            .strip_prefix("listening on ")
            .map(str::trim_end)
            .ok_or_else(|| format!("unexpected first line from the gateway: {line:?}"))?
            .to_owned();
        let pid = child.child_mut().id();
        if pin {
            taskset_all(pid, "1")?;
        }
        let gateway = Self {
            child,
            url,
            stat_path: format!("/proc/{pid}/stat"),
            status_path: format!("/proc/{pid}/status"),
            _stdout: stdout,
        };
        Ok((gateway, at - spawned))
    }

    /// utime + stime, in clock ticks.
    fn cpu_ticks(&self) -> Result<u64, String> {
        let stat = std::fs::read_to_string(&self.stat_path).map_err(|e| e.to_string())?;
        // Fields after the command name (which may hold spaces) start at field 3 (state);
        // utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or("malformed stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let tick = |i: usize| -> Result<u64, String> {
            fields.get(i).and_then(|f| f.parse().ok()).ok_or_else(|| "malformed stat".to_owned())
        };
        Ok(tick(11)? + tick(12)?)
    }

    /// A `kB` field of `/proc/<pid>/status`.
    fn status_kb(&self, field: &str) -> Result<u64, String> {
        status_field_kb(&self.status_path, field)
    }

    /// Stops the gateway as `mac serve` is meant to be stopped: SIGTERM, then it drains (no
    /// request is in flight here) and exits by itself, so a wrapper such as valgrind writes its
    /// profile on the way out. SIGKILL only when it is still running after [`STOP_DEADLINE`].
    fn stop(self) {
        let mut child = self.child;
        let pid = rustix::process::Pid::from_child(child.child_mut());
        if rustix::process::kill_process(pid, rustix::process::Signal::TERM).is_ok() {
            let deadline = Instant::now() + STOP_DEADLINE;
            while Instant::now() < deadline {
                if matches!(child.child_mut().try_wait(), Ok(Some(_)) | Err(_)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            println!(
                "note: the gateway (pid {}) was still running {}s after SIGTERM; killed",
                pid.as_raw_nonzero(),
                STOP_DEADLINE.as_secs()
            );
        }
        let _ = child.kill();
    }
}

/// How long the gateway may take to print its address line (generous: a wrapper such as
/// valgrind starts it 20–50 times slower).
const START_DEADLINE: Duration = Duration::from_secs(120);
/// How long the gateway may take to exit after SIGTERM before it is killed (a wrapper writing
/// its profile on the way out takes seconds).
const STOP_DEADLINE: Duration = Duration::from_secs(60);
/// The environment variable naming a command line the gateway is run under, split at
/// whitespace, the `mac` command and its arguments appended (e.g. `valgrind --tool=dhat`).
pub const WRAPPER_VAR: &str = "MAC_BENCH_GATEWAY_WRAPPER";
/// The environment variable restricting which parts run, a comma-separated list of
/// `startup`, `inflight` and rows as `MODE/C` (`json/64`, `sse/1`, `json-session/16`); every
/// part when unset. With a wrapper each gateway is slow and profiles what it ran, so a profile
/// of one row is cleaner than one of the whole run.
pub const ONLY_VAR: &str = "MAC_BENCH_GATEWAY_ONLY";

/// The wrapper command line of [`WRAPPER_VAR`], if set and not blank.
fn wrapper() -> Option<Vec<String>> {
    let value = mac_core::config::process_env(WRAPPER_VAR)?;
    let words: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
    (!words.is_empty()).then_some(words)
}

/// Which parts of the run [`ONLY_VAR`] selects.
struct Only(Option<Vec<String>>);

impl Only {
    /// Reads [`ONLY_VAR`]; an unknown part is an error naming it and the known ones.
    fn from_env() -> Result<Self, String> {
        let Some(value) = mac_core::config::process_env(ONLY_VAR) else { return Ok(Self(None)) };
        let parts: Vec<String> =
            value.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
        let known = |part: &str| {
            part == "startup"
                || part == "inflight"
                || part.split_once('/').is_some_and(|(mode, c)| {
                    ["json", "sse", "json-session"].contains(&mode)
                        && CONCURRENCY.iter().any(|k| k.to_string() == c)
                })
        };
        if let Some(bad) = parts.iter().find(|p| !known(p)) {
            return Err(format!(
                "{ONLY_VAR}: unknown part {bad:?}; parts are `startup`, `inflight` and \
                 MODE/C with MODE json, sse or json-session and C one of {CONCURRENCY:?}"
            ));
        }
        Ok(Self(Some(parts)))
    }

    fn wants(&self, part: &str) -> bool {
        self.0.as_ref().is_none_or(|parts| parts.iter().any(|p| p == part))
    }
}

fn status_field_kb(path: &str, field: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("{path}: no {field}"))
}

/// Pins this process (all its threads; threads started later inherit it) to `core`; false when
/// `taskset` is not there.
fn pin_self(core: usize) -> bool {
    taskset_all(std::process::id(), &core.to_string()).is_ok()
}

fn taskset_all(pid: u32, cores: &str) -> Result<(), String> {
    let output = Command::new("taskset")
        .args(["-a", "-p", "-c", cores, &pid.to_string()])
        .output()
        .map_err(|e| format!("taskset: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("taskset: {}", String::from_utf8_lossy(&output.stderr).trim()))
    }
}

/// `getconf CLK_TCK`, 100 (the Linux value) when it cannot be asked.
#[allow(clippy::cast_precision_loss)] // a small number
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse::<u64>().ok())
        .unwrap_or(100) as f64
}

fn ms(v: f64) -> String {
    format!("{v:.3}")
}

fn p(samples: &[u64], q: f64) -> f64 {
    percentile_ms(samples, q)
}

fn mode(row: &Row) -> &'static str {
    match (row.streaming, row.session_header) {
        (true, _) => "sse",
        (false, false) => "json",
        (false, true) => "json + session header",
    }
}

fn print_rows(rows: &[Row], pinned: bool) {
    println!(
        "## gateway: load generator -> bench fake (direct) and -> `mac serve` -> bench fake \
         (through); {} s per row after 5 warm-up requests per worker; 48 KB request bodies",
        ROW.as_secs()
    );
    println!();
    if pinned {
        println!("Cores: fake and load generator on core 0, the gateway on core 1 (taskset).");
    } else {
        println!("Cores: unpinned (no taskset).");
    }
    println!();
    println!(
        "| mode | c | path | reqs | req/s | errors | p50 | p99 | TTFB p50 | TTFB p99 | \
         delta1 p50 | delta1 p99 | age p50 | age p99 | gateway CPU µs/req |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        for (path, report) in [("direct", &row.direct), ("through", &row.through)] {
            let sse = |v: &[u64], q| if row.streaming { ms(p(v, q)) } else { "-".to_owned() };
            let cpu = if path == "through" { format!("{:.0}", row.cpu_us) } else { "-".to_owned() };
            println!(
                "| {} | {} | {path} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {cpu} |",
                mode(row),
                row.concurrency,
                report.requests,
                report.requests_per_second(),
                report.errors,
                ms(p(&report.latency_us, 0.5)),
                ms(p(&report.latency_us, 0.99)),
                ms(p(&report.ttfb_us, 0.5)),
                ms(p(&report.ttfb_us, 0.99)),
                sse(&report.first_delta_us, 0.5),
                sse(&report.first_delta_us, 0.99),
                sse(&report.chunk_age_us, 0.5),
                sse(&report.chunk_age_us, 0.99),
            );
        }
    }
    println!();
    println!("(times in ms; percentiles exact over every sample)");
    println!();
}

/// `through − direct` of a percentile, ms.
fn added(row: &Row, pick: fn(&LoadReport) -> &Vec<u64>, q: f64) -> f64 {
    p(pick(&row.through), q) - p(pick(&row.direct), q)
}

fn ratio(row: &Row) -> f64 {
    row.through.requests_per_second() / row.direct.requests_per_second().max(f64::MIN_POSITIVE)
}

fn print_added(rows: &[Row]) {
    println!("## gateway: added by the gateway (through − direct)");
    println!();
    println!(
        "| mode | c | p50 | p99 | TTFB p50 | first delta p50 | chunk age p50 | req/s through/direct | CPU µs/req | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let sse = |pick: fn(&LoadReport) -> &Vec<u64>| {
            if row.streaming { ms(added(row, pick, 0.5)) } else { "-".to_owned() }
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.3} | {:.0} | {} |",
            mode(row),
            row.concurrency,
            ms(added(row, |r| &r.latency_us, 0.5)),
            ms(added(row, |r| &r.latency_us, 0.99)),
            ms(added(row, |r| &r.ttfb_us, 0.5)),
            sse(|r| &r.first_delta_us),
            sse(|r| &r.chunk_age_us),
            ratio(row),
            row.cpu_us,
            row.through.errors,
        );
    }
    println!();
}

/// The gateway's own resources.
struct Resources {
    start_ms: f64,
    idle_mb: f64,
    peak_mb: f64,
    after_mb: f64,
    in_flight_kb: f64,
    in_flight_rss_mb: f64,
    in_flight_errors: usize,
}

#[allow(clippy::too_many_lines)] // one line per target, in the order
fn print_targets(rows: &[Row], resources: &Resources) {
    let find = |streaming: bool, session_header: bool, concurrency: usize| {
        rows.iter().find(|r| {
            r.streaming == streaming
                && r.session_header == session_header
                && r.concurrency == concurrency
        })
    };
    println!("## gateway: figures beside the issue's targets");
    println!();
    println!("| figure | measured | target | met |");
    println!("|---|---:|---:|---|");
    let line = |figure: &str, measured: f64, unit: &str, target: f64, at_most: bool| {
        if measured.is_nan() {
            // A part left out by `MAC_BENCH_GATEWAY_ONLY`.
            return;
        }
        let met = if at_most { measured <= target } else { measured >= target };
        let sign = if at_most { "≤" } else { "≥" };
        println!(
            "| {figure} | {measured:.3} {unit} | {sign} {target} {unit} | {} |",
            if met { "yes" } else { "**no**" }
        );
    };
    if let Some(row) = find(false, false, 1) {
        line(
            "added p50, JSON, c=1",
            added(row, |r| &r.latency_us, 0.5),
            "ms",
            target::ADDED_P50_MS,
            true,
        );
        line(
            "added p99, JSON, c=1",
            added(row, |r| &r.latency_us, 0.99),
            "ms",
            target::ADDED_P99_MS,
            true,
        );
        line(
            "added TTFB p50, JSON, c=1",
            added(row, |r| &r.ttfb_us, 0.5),
            "ms",
            target::ADDED_TTFB_MS,
            true,
        );
    }
    if let Some(row) = find(true, false, 1) {
        line(
            "added TTFB p50, SSE, c=1",
            added(row, |r| &r.ttfb_us, 0.5),
            "ms",
            target::ADDED_TTFB_MS,
            true,
        );
        line(
            "added first delta p50, SSE, c=1",
            added(row, |r| &r.first_delta_us, 0.5),
            "ms",
            target::ADDED_TTFB_MS,
            true,
        );
        line(
            "added chunk age p50, SSE, c=1",
            added(row, |r| &r.chunk_age_us, 0.5),
            "ms",
            target::ADDED_AGE_MS,
            true,
        );
    }
    for row in rows.iter().filter(|r| !r.streaming) {
        line(
            &format!("CPU per request, {}, c={}", mode(row), row.concurrency),
            row.cpu_us,
            "µs",
            target::CPU_US_JSON,
            true,
        );
    }
    line("RSS idle (after start-up)", resources.idle_mb, "MB", target::IDLE_RSS_MB, true);
    line(
        "RSS peak under load (VmHWM after every row)",
        resources.peak_mb,
        "MB",
        target::PEAK_RSS_MB,
        true,
    );
    println!("| RSS after the rows (idle again) | {:.3} MB | - | - |", resources.after_mb);
    if !resources.in_flight_kb.is_nan() {
        println!(
            "| RSS with {IN_FLIGHT} SSE requests in flight (fresh gateway) | {:.3} MB | - | - |",
            resources.in_flight_rss_mb
        );
    }
    line(
        &format!("memory per in-flight request ({IN_FLIGHT} in flight)"),
        resources.in_flight_kb,
        "KB",
        target::PER_IN_FLIGHT_KB,
        true,
    );
    line(
        &format!("start-up, spawn to `listening on` (median of {STARTS})"),
        resources.start_ms,
        "ms",
        target::START_MS,
        true,
    );
    let errors: usize =
        rows.iter().map(|r| r.through.errors).sum::<usize>() + resources.in_flight_errors;
    #[allow(clippy::cast_precision_loss)] // a count
    line(
        "errors through the gateway (all rows and the in-flight run)",
        errors as f64,
        "",
        0.0,
        true,
    );
    for (streaming, session_header) in [(false, false), (true, false), (false, true)] {
        if let Some(row) = find(streaming, session_header, 64) {
            line(
                &format!("req/s through/direct, {}, c=64", mode(row)),
                ratio(row),
                "",
                target::RATIO_C64,
                false,
            );
        }
    }
    println!();
}
