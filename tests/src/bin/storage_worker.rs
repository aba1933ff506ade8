//! A child process for multi-process storage tests and benchmarks.
//!
//! ```text
//! storage-worker increment FILE COUNT [--no-fsync] [--wait-go] [--coarse-stamps] [--keep-going]
//!     COUNT increments spread over the file's accounts; prints `latencies_us=<n>,<n>,...`.
//!     With --wait-go, waits for a line on stdin first (a start barrier). With
//!     --coarse-stamps, the store sees whole-second times on one reused inode. With
//!     --keep-going, a failed increment is counted instead of ending the run, and the output
//!     is `succeeded=<n>`.
//! storage-worker floor FILE COUNT [--no-fsync] [--wait-go]
//!     The benchmark floor: COUNT times the same locked crash-safe replace a mutation does
//!     (lock, temp file, fsync, rename, directory fsync) of the file's current bytes, with no
//!     reading or parsing; prints `latencies_us=...` like `increment`.
//! storage-worker add FILE PREFIX N     adds N accounts with refresh tokens PREFIX-<i>
//! storage-worker churn FILE            rewrites the file in a loop until killed
//! storage-worker hold-lock FILE ACCOUNT
//!     Takes ACCOUNT's refresh lock (the file locks beside FILE; waiting up to 60 s), prints
//!     `locked` and holds it until killed (the account-locks conformance suite's holder).
//! ```
//!
//! With `--postgres`, `increment`, `add` and `hold-lock` use the PostgreSQL backend instead of a file: FILE
//! is then the schema, in the database whose URL is in `MAC_STORAGE_URL` (an environment
//! variable, not an argument, so that no process listing shows its password).
//!
//! Must not depend on: nothing beyond `mac-tests`' own dependencies.

// A command-line worker reports on stdout/stderr by design.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, Write as _};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mac_storage::file::LockedFile;
use mac_storage::{AccountLocks, AccountStore, Durability, FileAccountLocks, StoreOptions};
use mac_tests::storage_work::{
    add_accounts, churn_step, increment, postgres_account_locks, postgres_store, store_at,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("storage-worker: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let flag = |name: &str| args.iter().any(|a| a == name);
    let positional: Vec<&str> =
        args.iter().filter(|a| !a.starts_with("--")).map(String::as_str).collect();
    let options = StoreOptions {
        durability: if flag("--no-fsync") { Durability::NoFsync } else { Durability::Fsync },
        lock_timeout: Duration::from_secs(60),
        ..StoreOptions::default()
    };
    match positional.as_slice() {
        ["increment", file, count] => {
            let count: usize =
                count.parse().map_err(|_| format!("COUNT {count:?} is not a number"))?;
            let store = if flag("--postgres") {
                postgres_store(&postgres_url()?, file, options)?
            } else {
                store_at(std::path::Path::new(file), options, flag("--coarse-stamps"))
            };
            let uuids: Vec<String> = store
                .load()
                .map_err(|e| e.to_string())?
                .accounts
                .iter()
                .filter_map(|a| a.uuid.clone())
                .collect();
            if uuids.is_empty() {
                return Err(format!("{file} has no accounts to increment"));
            }
            if flag("--wait-go") {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line).map_err(|e| e.to_string())?;
            }
            let offset = std::process::id() as usize;
            if flag("--keep-going") {
                let succeeded = (0..count)
                    .filter(|i| increment(&store, &uuids[(offset + i) % uuids.len()]).is_ok())
                    .count();
                println!("succeeded={succeeded}");
                return Ok(());
            }
            let mut latencies = Vec::with_capacity(count);
            for i in 0..count {
                let started = Instant::now();
                increment(&store, &uuids[(offset + i) % uuids.len()]).map_err(|e| e.to_string())?;
                latencies.push(started.elapsed().as_micros().to_string());
            }
            println!("latencies_us={}", latencies.join(","));
            Ok(())
        }
        ["floor", file, count] => {
            let count: usize =
                count.parse().map_err(|_| format!("COUNT {count:?} is not a number"))?;
            let path = std::path::Path::new(file);
            let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
            if flag("--wait-go") {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line).map_err(|e| e.to_string())?;
            }
            let mut latencies = Vec::with_capacity(count);
            for _ in 0..count {
                let started = Instant::now();
                let locked =
                    LockedFile::acquire(path, options.lock_timeout).map_err(|e| e.to_string())?;
                locked.replace(&bytes, None, options.durability).map_err(|e| e.to_string())?;
                drop(locked);
                latencies.push(started.elapsed().as_micros().to_string());
            }
            println!("latencies_us={}", latencies.join(","));
            Ok(())
        }
        ["add", file, prefix, count] => {
            let count: usize = count.parse().map_err(|_| format!("N {count:?} is not a number"))?;
            let store = if flag("--postgres") {
                postgres_store(&postgres_url()?, file, options)?
            } else {
                AccountStore::at_path(*file, options)
            };
            let uuids = add_accounts(&store, prefix, count).map_err(|e| e.to_string())?;
            println!("{}", uuids.join(","));
            Ok(())
        }
        ["hold-lock", file, account] => hold_lock(file, account, flag("--postgres")),
        ["churn", file] => {
            let store = AccountStore::at_path(*file, options);
            loop {
                churn_step(&store).map_err(|e| e.to_string())?;
            }
        }
        _ => Err(format!("unknown arguments {args:?}; see the module docs for usage")),
    }
}

/// Takes `account`'s refresh lock, says `locked` and holds it until killed.
fn hold_lock(file: &str, account: &str, postgres: bool) -> Result<(), String> {
    let locks: Box<dyn AccountLocks> = if postgres {
        Box::new(postgres_account_locks(&postgres_url()?, file)?)
    } else {
        Box::new(FileAccountLocks::beside(file))
    };
    let _held = locks.lock(account, Duration::from_secs(60)).map_err(|e| e.to_string())?;
    println!("locked");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    loop {
        std::thread::park();
    }
}

/// `MAC_STORAGE_URL`, for `--postgres`.
#[allow(clippy::disallowed_methods, reason = "a worker's one input besides its arguments")]
fn postgres_url() -> Result<mac_storage::Secret, String> {
    std::env::var("MAC_STORAGE_URL")
        .map(mac_storage::Secret::new)
        .map_err(|_| "--postgres needs the database URL in MAC_STORAGE_URL".to_owned())
}
