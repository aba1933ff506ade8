//! Issue 10 item 2 with a real killed process: a rotated refresh token is never lost.
//!
//! A worker process refreshes an expired account; the fake provider rotates the refresh token
//! (the old one is spent: it answers `invalid_grant` from then on). The store write that follows
//! cannot happen because this test holds the accounts directory's write lock, and the worker is
//! `SIGKILL`ed while it waits for that lock — after the refresh, before the accounts file changed.
//! The next process must find the pending-grant journal and use the rotated grant.
//!
//! The control run shows what the journal buys: the same accounts file, copied to a directory
//! without the journal, is what a process found before the journal existed (at commit `b7eecc4`
//! the grant lived only in the killed process's memory). Its request fails, because the stored
//! refresh token is the spent one.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mac_storage::file::LockedFile;
use mac_storage::{AccountStore, Credentials, EpochMs, NewAccount, Provider, Secret, StoreOptions};
use mac_test_support::{ChildGuard, Endpoint, FakeGrant, FakeProvider, TempDataDir, spawn_guarded};

fn worker() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_executor-worker"))
}

fn spawn_worker(dir: &Path, origin: &str, wait_go: bool) -> ChildGuard {
    let mut command = Command::new(worker());
    command.arg(dir).arg(origin);
    if wait_go {
        command.arg("--wait-go");
    }
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    spawn_guarded(&mut command).unwrap()
}

fn pending_journals(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.to_string_lossy().ends_with(".pending"))
        .collect()
}

fn expired_account(dir: &TempDataDir) -> AccountStore {
    let store =
        AccountStore::open(dir.data_dir(), Provider::Anthropic, StoreOptions::default()).unwrap();
    let expired = Credentials {
        refresh_token: Secret::new("journal-refresh"),
        access_token: Some(Secret::new("long-expired")),
        expires_at: Some(EpochMs::from_millis(1_000)),
    };
    store.add_account(&NewAccount::from_credentials(expired), EpochMs::now()).unwrap();
    store
}

#[test]
fn a_grant_rotated_by_a_process_killed_before_its_store_write_is_used_by_the_next_process() {
    let fake = FakeProvider::start_in_background().unwrap();
    let grant = FakeGrant {
        access_token_prefix: "rotated-".into(),
        ..FakeGrant::anthropic("remote-uuid", "journal@example.com")
    };
    fake.add_refresh_token("journal-refresh", grant);
    let dir = TempDataDir::new().unwrap();
    let store = expired_account(&dir);
    let accounts_file = dir.accounts_file(Provider::Anthropic);

    // The worker starts (opens its store and claims), then the store becomes unwritable.
    let mut doomed = spawn_worker(dir.path(), &fake.origin(), true);
    std::thread::sleep(Duration::from_millis(300));
    let held = LockedFile::acquire(&accounts_file, Duration::from_secs(5)).unwrap();
    doomed.child_mut().stdin.as_mut().unwrap().write_all(b"go\n").unwrap();

    // Wait until the provider rotated and the grant is journaled, then SIGKILL the worker while
    // it waits for the accounts file's lock.
    let deadline = Instant::now() + Duration::from_secs(30);
    while pending_journals(dir.path()).is_empty() || fake.count(Endpoint::AnthropicToken) == 0 {
        assert!(Instant::now() < deadline, "the worker never refreshed and journaled");
        std::thread::sleep(Duration::from_millis(10));
    }
    let rotated = fake.current_refresh_token("journal-refresh").unwrap();
    assert_ne!(rotated, "journal-refresh", "the provider rotated the refresh token");
    doomed.kill().unwrap();
    drop(held);
    let stored = store.load().unwrap();
    assert_eq!(
        stored.accounts[0].refresh_token.expose(),
        "journal-refresh",
        "the killed worker never wrote the accounts file: only the journal has the new token"
    );

    // Control: without the journal, the next process has only the spent refresh token.
    let bare = TempDataDir::new().unwrap();
    std::fs::copy(&accounts_file, bare.accounts_file(Provider::Anthropic)).unwrap();
    let control = spawn_worker(bare.path(), &fake.origin(), false)
        .wait_with_timeout(Duration::from_secs(60))
        .unwrap();
    assert!(
        !control.status.success(),
        "without the journal the spent token cannot be refreshed: {}",
        String::from_utf8_lossy(&control.stdout)
    );
    assert_eq!(fake.current_refresh_token("journal-refresh").unwrap(), rotated);

    // The next process finds the journal and serves the request with the rotated grant.
    let tokens_before = fake.count(Endpoint::AnthropicToken);
    let next = spawn_worker(dir.path(), &fake.origin(), false)
        .wait_with_timeout(Duration::from_secs(60))
        .unwrap();
    assert!(
        next.status.success(),
        "stdout: {} stderr: {}",
        String::from_utf8_lossy(&next.stdout),
        String::from_utf8_lossy(&next.stderr)
    );
    assert_eq!(
        fake.count(Endpoint::AnthropicToken),
        tokens_before,
        "the journaled access token was used; no refresh with the spent token was sent"
    );
    let bearer = fake.last_request(Endpoint::Messages).unwrap();
    assert!(bearer.bearer().unwrap().starts_with("rotated-"), "the rotated grant's access token");
    let account = &store.load().unwrap().accounts[0];
    assert_eq!(account.refresh_token.expose(), rotated, "the rotated token reached the file");
    assert!(!account.is_auth_disabled);
    assert!(pending_journals(dir.path()).is_empty(), "the journal was applied and removed");
}
