//! A child process for multi-process claims tests and benchmarks: reads commands on stdin,
//! answers one line per command on stdout.
//!
//! ```text
//! claims-worker FILE [--no-heartbeat]
//!   claim ACCOUNT      → ok
//!   release ACCOUNT    → ok        (drops this worker's guard)
//!   bulk PREFIX N      → ok <µs>   (claims PREFIX-0 .. PREFIX-N-1 and holds them)
//!   cycle ACCOUNT N    → ok <µs> <misses>   (N × claim, check it is on file, release)
//!   exit               → (exits, releasing everything)
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
                format!("ok {} {misses}", started.elapsed().as_micros())
            }
            ["exit"] => return Ok(()),
            _ => return Err(format!("unknown command {line:?}")),
        };
        let mut out = stdout.lock();
        writeln!(out, "{reply}").and_then(|()| out.flush()).map_err(|e| e.to_string())?;
    }
    Ok(())
}
