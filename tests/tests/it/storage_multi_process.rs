//! Many OS processes change one accounts file at once: no update is lost (D5; the
//! seed's multi-process suite, as revised).
//! CI runs a small size; `cargo xtask bench storage` runs 8 × 200.

use std::collections::HashSet;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use mac_storage::{AccountStore, Provider, StoreOptions};
use mac_test_support::{ChildGuard, TempDataDir, spawn_guarded};
use mac_tests::storage_work::{add_accounts, counter_sum};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::storage_worker;

const TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) fn wait_ok(child: ChildGuard) -> String {
    let output = child.wait_with_timeout(TIMEOUT).unwrap();
    assert!(output.status.success(), "worker failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn multi_process_increments_are_never_lost() {
    const WRITERS: usize = 8;
    const EACH: usize = 40;
    let dir = TempDataDir::new().unwrap();
    let file = dir.accounts_file(Provider::Anthropic);
    let store = AccountStore::at_path(&file, StoreOptions::default());
    add_accounts(&store, "seed", 10).unwrap();

    let children = spawn_incrementers(&file, WRITERS, EACH, &[]);
    for child in children {
        let stdout = wait_ok(child);
        let latencies = stdout.trim().strip_prefix("latencies_us=").unwrap().split(',').count();
        assert_eq!(latencies, EACH);
    }

    let document = store.load().unwrap();
    assert_eq!(counter_sum(&document), (WRITERS * EACH) as u64);
    assert_eq!(document.accounts.len(), 10);
    assert_eq!(document.generation, (10 + WRITERS * EACH) as u64, "one write per mutation");
}

fn spawn_adder(file: &std::path::Path, prefix: &str, count: usize) -> ChildGuard {
    let mut command = storage_worker();
    command
        .args(["add", file.to_str().unwrap(), prefix, &count.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    spawn_guarded(&mut command).unwrap()
}

#[test]
fn multi_process_adds_from_five_workers_all_land() {
    let dir = TempDataDir::new().unwrap();
    let file = dir.accounts_file(Provider::Anthropic);
    let workers: Vec<ChildGuard> =
        (0..5).map(|i| spawn_adder(&file, &format!("w{i}"), 1)).collect();
    let reported: HashSet<String> =
        workers.into_iter().map(|w| wait_ok(w).trim().to_owned()).collect();

    let document = AccountStore::at_path(&file, StoreOptions::default()).load().unwrap();
    let stored: HashSet<String> = document.accounts.iter().filter_map(|a| a.uuid.clone()).collect();
    assert_eq!(stored, reported);
    assert_eq!(stored.len(), 5);
}

#[test]
fn multi_process_two_workers_adding_two_each_and_an_in_process_add() {
    let dir = TempDataDir::new().unwrap();
    let file = dir.accounts_file(Provider::Codex);
    let store = AccountStore::at_path(&file, StoreOptions::default());
    let a = spawn_adder(&file, "a", 2);
    let b = spawn_adder(&file, "b", 2);
    add_accounts(&store, "local", 1).unwrap();
    wait_ok(a);
    wait_ok(b);
    let tokens: HashSet<String> = store
        .load()
        .unwrap()
        .accounts
        .iter()
        .map(|a| a.refresh_token.expose().to_owned())
        .collect();
    let expected: HashSet<String> =
        ["a-0", "a-1", "b-0", "b-1", "local-0"].into_iter().map(str::to_owned).collect();
    assert_eq!(tokens, expected);
}

fn spawn_incrementers(
    file: &std::path::Path,
    writers: usize,
    each: usize,
    flags: &[&str],
) -> Vec<ChildGuard> {
    spawn_incrementers_on(file.to_str().unwrap(), writers, each, flags, &[])
}

/// `writers` workers incrementing `each` times the store `target` (a file, or with
/// `--postgres` a schema), started together; `env` is added to their environment.
pub(crate) fn spawn_incrementers_on(
    target: &str,
    writers: usize,
    each: usize,
    flags: &[&str],
    env: &[(&str, &str)],
) -> Vec<ChildGuard> {
    let mut children: Vec<ChildGuard> = (0..writers)
        .map(|_| {
            let mut command = storage_worker();
            command
                .args(["increment", target, &each.to_string(), "--wait-go"])
                .envs(env.iter().copied())
                .args(flags)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            spawn_guarded(&mut command).unwrap()
        })
        .collect();
    for child in &mut children {
        child.child_mut().stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }
    children
}

/// Issue 9 item 1: on a file system with whole-second times and reused inodes (simulated by
/// the workers' stamp source), every process's increments are kept.
#[test]
fn coarse_timestamps_lose_no_update_across_processes() {
    const WRITERS: usize = 4;
    const EACH: usize = 300;
    let dir = TempDataDir::new().unwrap();
    let file = dir.accounts_file(Provider::Anthropic);
    let store = AccountStore::at_path(&file, StoreOptions::default());
    add_accounts(&store, "seed", 10).unwrap();
    let children = spawn_incrementers(&file, WRITERS, EACH, &["--no-fsync", "--coarse-stamps"]);
    for child in children {
        wait_ok(child);
    }
    let kept = counter_sum(&store.load().unwrap());
    assert_eq!(kept, (WRITERS * EACH) as u64, "kept {kept} of {}", WRITERS * EACH);
}

/// Issue 9 item 3: people delete `*.lock` files by habit. With every lock, waiting-room and
/// temp file deleted in a loop while writers run, every reported success is on disk.
#[test]
fn deleting_lock_and_temp_files_lets_no_second_writer_in() {
    const WRITERS: usize = 3;
    const EACH: usize = 300;
    let dir = TempDataDir::new().unwrap();
    let file = dir.accounts_file(Provider::Anthropic);
    let store = AccountStore::at_path(&file, StoreOptions::default());
    add_accounts(&store, "seed", 10).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let cleaner = {
        let (stop, folder, keep) = (Arc::clone(&stop), dir.path().to_owned(), file.clone());
        std::thread::spawn(move || {
            let mut deleted = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                for entry in std::fs::read_dir(&folder).unwrap().flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let doomed = name.ends_with(".lock")
                        || name.ends_with(".waiters")
                        || name.contains(".tmp");
                    if entry.path() != keep && doomed && std::fs::remove_file(entry.path()).is_ok()
                    {
                        deleted += 1;
                    }
                }
            }
            deleted
        })
    };
    let children = spawn_incrementers(&file, WRITERS, EACH, &["--no-fsync", "--keep-going"]);
    let succeeded: u64 = children
        .into_iter()
        .map(|child| {
            let stdout = wait_ok(child);
            stdout.trim().strip_prefix("succeeded=").unwrap().parse::<u64>().unwrap()
        })
        .sum();
    stop.store(true, Ordering::Relaxed);
    let deleted = cleaner.join().unwrap();
    let on_disk = counter_sum(&store.load().unwrap());
    assert_eq!(
        on_disk, succeeded,
        "{succeeded} reported successes, {on_disk} on disk ({deleted} files deleted meanwhile)"
    );
    assert!(succeeded > 0);
}
