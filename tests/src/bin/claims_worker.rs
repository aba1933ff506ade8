//! A child process for multi-process claims tests and benchmarks: reads commands on stdin,
//! answers one line per command on stdout.
//!
//! ```text
//! claims-worker FILE [--no-heartbeat]
//!   claim ACCOUNT      → ok        (blocking claim: on file when it answers)
//!   release ACCOUNT    → ok        (drops one guard; the last one also releases on file)
//!   bulk PREFIX N      → ok <µs>   (claims PREFIX-0 .. PREFIX-N-1 and holds them)
//!   cycle ACCOUNT N    → ok <µs> <misses> <writes>
//!                        (N × blocking claim, exact snapshot check, drop)
//!   requests ACCOUNT N → ok <µs> <misses> <writes> <ns> <ns> ...
//!                        (one claim, then N × the per-request path — hold, cached check,
//!                        drop — each timed in ns; writes = claims-file writes during the N)
//!   exit               → (releases everything, then exits)
//! ```
//!
//! Must not depend on: nothing beyond `mac-tests`' own dependencies.

// A command-line worker reports on stdout/stderr by design.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mac_claims::{ClaimGuard, Claims, ClaimsOptions};
use mac_storage::SystemClock;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        eprintln!("claims-worker: usage: claims-worker FILE [--no-heartbeat]");
        return ExitCode::FAILURE;
    };
    let options = ClaimsOptions {
        heartbeat_interval: if args.iter().any(|a| a == "--no-heartbeat") {
            None
        } else {
            Some(Duration::from_secs(20))
        },
        lock_timeout: Duration::from_secs(60),
        ..ClaimsOptions::default()
    };
    let claims = Claims::at_path(file, options, Arc::new(SystemClock));
    match serve(&claims) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("claims-worker: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(claims: &Claims) -> Result<(), String> {
    let mut held: HashMap<String, Vec<ClaimGuard>> = HashMap::new();
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            ["claim", account] => {
                let guard = claims.claim(account).map_err(|e| e.to_string())?;
                held.entry((*account).to_owned()).or_default().push(guard);
                "ok".to_owned()
            }
            ["release", account] => {
                held.get_mut(*account).and_then(Vec::pop);
                // `false` while another of this worker's guards holds it: kept, as asked.
                claims.release(account).map_err(|e| e.to_string())?;
                "ok".to_owned()
            }
            ["bulk", prefix, count] => {
                let count: usize = count.parse().map_err(|_| format!("bad count {count:?}"))?;
                let started = Instant::now();
                for i in 0..count {
                    let account = format!("{prefix}-{i}");
                    let guard = claims.claim(&account).map_err(|e| e.to_string())?;
                    held.entry(account).or_default().push(guard);
                }
                format!("ok {}", started.elapsed().as_micros())
            }
            ["cycle", account, count] => {
                let count: usize = count.parse().map_err(|_| format!("bad count {count:?}"))?;
                let writes = claims.file_writes();
                let started = Instant::now();
                let mut misses = 0;
                for _ in 0..count {
                    let guard = claims.claim(account).map_err(|e| e.to_string())?;
                    let snapshot = claims.snapshot().map_err(|e| e.to_string())?;
                    if !snapshot.get(account).is_some_and(|claim| claim.mine) {
                        misses += 1;
                    }
                    drop(guard);
                }
                let elapsed = started.elapsed().as_micros();
                format!("ok {elapsed} {misses} {}", claims.file_writes() - writes)
            }
            ["requests", account, count] => {
                let count: usize = count.parse().map_err(|_| format!("bad count {count:?}"))?;
                requests(claims, account, count)?
            }
            ["exit"] => {
                claims.release_all().map_err(|e| e.to_string())?;
                return Ok(());
            }
            _ => return Err(format!("unknown command {line:?}")),
        };
        let mut out = stdout.lock();
        writeln!(out, "{reply}").and_then(|()| out.flush()).map_err(|e| e.to_string())?;
    }
    claims.release_all().map_err(|e| e.to_string())
}

/// The steady state of a process serving requests on `account`: claimed once (the first use,
/// a write), then `count` requests each taking a guard, asking the cached view whether the
/// account is ours, and dropping the guard — timed one by one.
fn requests(claims: &Claims, account: &str, count: usize) -> Result<String, String> {
    drop(claims.claim(account).map_err(|e| e.to_string())?);
    let writes = claims.file_writes();
    let mut latencies_ns = Vec::with_capacity(count);
    let mut misses = 0;
    let started = Instant::now();
    for _ in 0..count {
        let request = Instant::now();
        let guard = claims.hold(account);
        let mine = claims.cached_snapshot().get(account).is_some_and(|claim| claim.mine);
        drop(guard);
        latencies_ns.push(request.elapsed().as_nanos());
        misses += usize::from(!mine);
    }
    let elapsed = started.elapsed().as_micros();
    let writes = claims.file_writes() - writes;
    let latencies: Vec<String> = latencies_ns.iter().map(u128::to_string).collect();
    Ok(format!("ok {elapsed} {misses} {writes} {}", latencies.join(" ")))
}
