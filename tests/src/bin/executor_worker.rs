//! A child process that sends requests through a pool: one for the cross-process refresh race
//! and the grant-journal test, a steady load for the fault driver (`mac-bench faults`).
//!
//! ```text
//! executor-worker DATA_DIR FAKE_ORIGIN [--wait-go]
//!     one request; prints `status=<code> account=<uuid>`; exit 0 on a 200
//! executor-worker load DATA_DIR FAKE_ORIGIN SECONDS CONCURRENCY PAUSE_MS OUT_FILE
//!         [--lock-timeout-ms N] [--margin-ms N] [--strategy NAME] [--wait-go]
//!     CONCURRENCY request loops for SECONDS through one pool (facade defaults: sticky, claims
//!     on; proactive refresh off; the strategy, refresh lock timeout and expiry margin as
//!     given), PAUSE_MS
//!     between a loop's requests; writes one line per request to OUT_FILE (a pipe that nobody
//!     reads until the worker exits would fill up and stall it),
//!     `r <start, epoch ms> <latency µs> <outcome>`, the outcome being `<status>:<account>` or
//!     `err:<kind>` (see `mac_tests::fault_driver::Outcome`)
//! ```
//!
//! Must not depend on: nothing beyond `mac-tests`' own dependencies.

// A command-line worker reports on stdout/stderr by design.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Write as _;
use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mac_executor::{
    AttemptResponse as _, ExecuteError, PoolConfig, ProactiveConfig, RefreshConfig, RequestInfo,
    Strategy,
};
use mac_storage::EpochMs;
use mac_tests::executor_work::{messages_sender, open_pool, open_pool_with};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("load") {
        load(&args[1..]).map(|()| true)
    } else {
        one_request(&args)
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("executor-worker: {message}");
            ExitCode::FAILURE
        }
    }
}

fn wait_go(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--wait-go") {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn one_request(args: &[String]) -> Result<bool, String> {
    let [data_dir, origin, ..] = args else {
        return Err("usage: executor-worker DATA_DIR FAKE_ORIGIN [--wait-go]".into());
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let pool = open_pool(Path::new(data_dir), origin)?;
        let send = messages_sender(origin)?;
        wait_go(args)?;
        let done = pool.execute(&RequestInfo::default(), send).await.map_err(|e| e.to_string())?;
        let status = done.response.status().as_u16();
        println!("status={status} account={}", done.account);
        pool.shutdown().await;
        Ok(status == 200)
    })
}

/// The value after `flag`, in milliseconds.
fn millis_flag(args: &[String], flag: &str) -> Result<Option<Duration>, String> {
    match args.iter().position(|a| a == flag) {
        None => Ok(None),
        Some(i) => {
            let value = args.get(i + 1).ok_or_else(|| format!("{flag} needs a value"))?;
            let ms: u64 = value.parse().map_err(|_| format!("{flag} {value:?} is not a number"))?;
            Ok(Some(Duration::from_millis(ms)))
        }
    }
}

fn load(args: &[String]) -> Result<(), String> {
    let usage = "usage: executor-worker load DATA_DIR FAKE_ORIGIN SECONDS CONCURRENCY PAUSE_MS \
                 OUT_FILE [--lock-timeout-ms N] [--margin-ms N] [--strategy NAME] [--wait-go]";
    let [data_dir, origin, seconds, concurrency, pause, out_file, ..] = args else {
        return Err(usage.into());
    };
    let number = |text: &str| text.parse::<u64>().map_err(|_| format!("{text:?}: {usage}"));
    let duration = Duration::from_secs(number(seconds)?);
    let concurrency = usize::try_from(number(concurrency)?).map_err(|e| e.to_string())?;
    let pause = Duration::from_millis(number(pause)?);
    let defaults = RefreshConfig::default();
    let refresh = RefreshConfig {
        lock_timeout: millis_flag(args, "--lock-timeout-ms")?.unwrap_or(defaults.lock_timeout),
        expiry_margin: millis_flag(args, "--margin-ms")?.unwrap_or(defaults.expiry_margin),
        ..defaults
    };
    let strategy = match args.iter().position(|a| a == "--strategy") {
        None => Strategy::default(),
        Some(i) => {
            let name = args.get(i + 1).ok_or("--strategy needs a value")?;
            name.parse::<Strategy>().map_err(|e| e.to_string())?
        }
    };
    let config = PoolConfig {
        strategy,
        refresh,
        proactive: ProactiveConfig { enabled: false, ..ProactiveConfig::default() },
        ..PoolConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let pool = open_pool_with(Path::new(data_dir), origin, config)?;
        wait_go(args)?;
        let end = Instant::now() + duration;
        let mut loops = Vec::with_capacity(concurrency);
        for _ in 0..concurrency {
            let (pool, send) = (pool.clone(), messages_sender(origin)?);
            loops.push(tokio::spawn(async move {
                let mut send = send;
                let mut lines = String::new();
                while Instant::now() < end {
                    let start_ms = EpochMs::now().as_millis();
                    let started = Instant::now();
                    let result = pool.execute(&RequestInfo::default(), &mut send).await;
                    let latency_us = started.elapsed().as_micros();
                    let outcome = match result {
                        Ok(done) => format!("{}:{}", done.response.status().as_u16(), done.account),
                        Err(err) => format!("err:{}", error_kind(&err)),
                    };
                    let _ = writeln!(lines, "r {start_ms} {latency_us} {outcome}");
                    tokio::time::sleep(pause).await;
                }
                lines
            }));
        }
        let mut out = String::new();
        for handle in loops {
            out.push_str(&handle.await.map_err(|e| e.to_string())?);
        }
        pool.shutdown().await;
        #[allow(
            clippy::disallowed_methods,
            reason = "a report for the fault driver, read once after the exit: not durable data"
        )]
        std::fs::write(out_file, out).map_err(|e| format!("{out_file}: {e}"))
    })
}

/// A short name for each way a request can fail.
fn error_kind(err: &ExecuteError) -> &'static str {
    match err {
        ExecuteError::NoUsableAccount { .. } => "no-usable-account",
        ExecuteError::AllRateLimited { .. } => "all-cooling-down",
        ExecuteError::Exhausted { .. } => "exhausted",
        ExecuteError::Send { .. } => "send",
        ExecuteError::Store { .. } => "store",
        ExecuteError::Internal { .. } => "internal",
    }
}
