//! Claims against real files, real child processes and a manual clock: the claims items of the
//! seed's checklist (SEED §3.4) as revised by D8, plus heartbeat, ownership and bad input.

#![allow(
    clippy::disallowed_methods,
    reason = "tests write fixture files directly and read their harness's environment"
)]
// Test code: a failed unwrap is a failed assertion, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mac_claims::{Claims, ClaimsOptions, ProcessIdentity};
use mac_storage::{EpochMs, ManualClock};
use serde_json::{Value, json};

const START: i64 = 1_800_000_000_000;

struct Fixture {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
}

impl Fixture {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            clock: Arc::new(ManualClock::new(EpochMs::from_millis(START))),
        }
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("anthropic-claims.json")
    }

    /// A table without a heartbeat thread (tests drive renewals by hand).
    fn claims(&self) -> Claims {
        let options = ClaimsOptions { heartbeat_interval: None, ..ClaimsOptions::default() };
        Claims::at_path(self.path(), options, self.clock.clone())
    }

    fn raw(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.path()).unwrap()).unwrap()
    }

    fn write_raw(&self, value: &Value) {
        std::fs::write(self.path(), serde_json::to_vec(value).unwrap()).unwrap();
    }

    fn now_ms(&self) -> i64 {
        mac_storage::Clock::now(&*self.clock).as_millis()
    }
}

/// A live process that is not this one (killed on drop).
struct OtherProcess(Child);

impl OtherProcess {
    fn start() -> Self {
        Self(Command::new("sleep").arg("30").spawn().unwrap())
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for OtherProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[test]
fn a_missing_file_has_no_claims_and_is_not_created_by_reading() {
    let fx = Fixture::new();
    assert!(fx.claims().snapshot().unwrap().is_empty());
    assert!(!fx.path().exists());
}

#[test]
fn a_claim_records_this_process_and_the_clock() {
    let fx = Fixture::new();
    let claims = fx.claims();
    let guard = claims.claim("acct-1").unwrap();
    assert_eq!(guard.account(), "acct-1");
    let raw = fx.raw();
    let me = ProcessIdentity::current();
    assert_eq!(raw["acct-1"]["pid"], me.pid);
    assert_eq!(raw["acct-1"]["at"], fx.now_ms());
    assert_eq!(raw["acct-1"]["claimedAt"], fx.now_ms());
    if let Some(start) = me.start {
        assert_eq!(raw["acct-1"]["startTime"], start);
    }
    let snapshot = claims.snapshot().unwrap();
    let claim = snapshot.get("acct-1").unwrap();
    assert!(claim.mine);
    assert!(!snapshot.is_claimed_by_other("acct-1"), "our own claim is not another's");
}

#[test]
fn expired_and_dead_claims_are_not_live_and_are_pruned() {
    let fx = Fixture::new();
    let other = OtherProcess::start();
    let now = fx.now_ms();
    fx.write_raw(&json!({
        "fresh": {"pid": other.pid(), "at": now - 59_000},
        "old": {"pid": other.pid(), "at": now - 61_000},
        "dead": {"pid": 99_999_999, "at": now},
    }));
    let claims = fx.claims();
    let snapshot = claims.snapshot().unwrap();
    assert!(snapshot.is_claimed_by_other("fresh"));
    assert!(!snapshot.is_claimed_by_other("old"));
    assert!(!snapshot.is_claimed_by_other("dead"));
    assert_eq!(snapshot.len(), 1);

    claims.prune().unwrap();
    assert_eq!(keys(&fx.raw()), ["fresh"]);
    fx.clock.advance(Duration::from_secs(2));
    claims.prune().unwrap();
    assert_eq!(fx.raw(), json!({}), "everything expired: the file becomes {{}}");
}

#[test]
fn claiming_prunes_expired_entries_and_keeps_fresh_ones() {
    let fx = Fixture::new();
    let other = OtherProcess::start();
    let now = fx.now_ms();
    fx.write_raw(&json!({
        "fresh": {"pid": other.pid(), "at": now},
        "old": {"pid": other.pid(), "at": now - 120_000},
    }));
    let _guard = fx.claims().claim("mine").unwrap();
    assert_eq!(keys(&fx.raw()), ["fresh", "mine"]);
}

#[test]
fn claiming_takes_over_another_live_process_claim_and_release_never_removes_others() {
    let fx = Fixture::new();
    let other = OtherProcess::start();
    let now = fx.now_ms();
    fx.write_raw(&json!({"shared": {"pid": other.pid(), "at": now - 1_000}}));
    let claims = fx.claims();
    fx.clock.advance(Duration::from_secs(1));
    let guard = claims.claim("shared").unwrap();
    assert_eq!(fx.raw()["shared"]["pid"], std::process::id());
    assert_eq!(fx.raw()["shared"]["at"], fx.now_ms());

    // The other process takes it back; our release must leave its claim alone.
    let mut raw = fx.raw();
    raw["shared"] = json!({"pid": other.pid(), "at": fx.now_ms()});
    fx.write_raw(&raw);
    drop(guard);
    assert_eq!(fx.raw()["shared"]["pid"], other.pid());
    assert!(claims.snapshot().unwrap().is_claimed_by_other("shared"));
}

#[test]
fn dropping_the_guard_releases_and_nested_guards_release_with_the_last() {
    let fx = Fixture::new();
    let claims = fx.claims();
    let first = claims.claim("a").unwrap();
    let second = claims.claim("a").unwrap();
    let _b = claims.claim("b").unwrap();
    drop(first);
    assert_eq!(keys(&fx.raw()), ["a", "b"], "one guard of `a` remains");
    drop(second);
    assert_eq!(keys(&fx.raw()), ["b"]);
    claims.release_all().unwrap();
    assert_eq!(fx.raw(), json!({}));
}

#[test]
fn release_all_with_nothing_held_leaves_others_intact() {
    let fx = Fixture::new();
    let other = OtherProcess::start();
    fx.write_raw(&json!({"theirs": {"pid": other.pid(), "at": fx.now_ms()}}));
    fx.claims().release_all().unwrap();
    assert_eq!(keys(&fx.raw()), ["theirs"]);
}

#[test]
fn another_instance_in_this_process_does_not_release_our_claim() {
    let fx = Fixture::new();
    let ours = fx.claims();
    let other_instance = fx.claims();
    let _guard = ours.claim("a").unwrap();
    let theirs = other_instance.claim("b").unwrap();
    drop(theirs);
    other_instance.release_all().unwrap();
    assert_eq!(keys(&fx.raw()), ["a"]);
}

#[test]
fn four_claims_of_different_accounts_all_survive() {
    let fx = Fixture::new();
    let claims = fx.claims();
    let guards: Vec<_> = ["w", "x", "y", "z"]
        .iter()
        .map(|account| {
            fx.clock.advance(Duration::from_millis(30));
            claims.claim(account).unwrap()
        })
        .collect();
    assert_eq!(keys(&fx.raw()), ["w", "x", "y", "z"]);
    assert_eq!(claims.snapshot().unwrap().len(), 4);
    drop(guards);
}

#[test]
fn twenty_claim_release_cycles_leave_no_claim() {
    let fx = Fixture::new();
    let claims = fx.claims();
    for _ in 0..20 {
        drop(claims.claim("cycle").unwrap());
    }
    assert_eq!(fx.raw(), json!({}));
}

#[test]
fn renewing_moves_the_heartbeat_and_revives_a_lapsed_claim() {
    let fx = Fixture::new();
    let claims = fx.claims();
    let guard = claims.claim("a").unwrap();
    fx.clock.advance(Duration::from_secs(50));
    guard.renew().unwrap();
    assert_eq!(fx.raw()["a"]["at"], fx.now_ms());
    assert_eq!(fx.raw()["a"]["claimedAt"], START, "the claim time stays");
    fx.clock.advance(Duration::from_secs(61));
    assert!(claims.snapshot().unwrap().get("a").is_none(), "no heartbeat for 61 s: expired");
    claims.renew_held().unwrap();
    assert!(claims.snapshot().unwrap().get("a").is_some(), "a held claim comes back on renewal");
}

#[test]
fn the_heartbeat_thread_renews_held_claims() {
    let fx = Fixture::new();
    let options = ClaimsOptions {
        heartbeat_interval: Some(Duration::from_millis(10)),
        ..ClaimsOptions::default()
    };
    let claims = Claims::at_path(fx.path(), options, fx.clock.clone());
    let _guard = claims.claim("a").unwrap();
    fx.clock.advance(Duration::from_secs(30));
    let target = fx.now_ms();
    let deadline = Instant::now() + Duration::from_secs(10);
    while fx.raw()["a"]["at"] != target {
        assert!(Instant::now() < deadline, "the heartbeat never renewed the claim");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_reused_pid_is_not_the_owner() {
    if ProcessIdentity::current().start.is_none() {
        return; // start times are only known on Linux
    }
    let fx = Fixture::new();
    let other = OtherProcess::start();
    let start = mac_claims::start_time(other.pid()).unwrap();
    let now = fx.now_ms();
    fx.write_raw(&json!({
        "same-process": {"pid": other.pid(), "startTime": start, "at": now},
        "reused-pid": {"pid": other.pid(), "startTime": start + 1, "at": now},
        "our-pid-earlier-process": {"pid": std::process::id(), "startTime": 1, "at": now},
    }));
    let snapshot = fx.claims().snapshot().unwrap();
    assert!(snapshot.is_claimed_by_other("same-process"));
    assert!(!snapshot.is_claimed_by_other("reused-pid"));
    assert!(snapshot.get("our-pid-earlier-process").is_none());
}

#[test]
fn a_malformed_file_reads_as_empty_and_is_backed_up_once_then_replaced() {
    let fx = Fixture::new();
    std::fs::write(fx.path(), b"[not, claims").unwrap();
    let claims = fx.claims();
    assert!(claims.snapshot().unwrap().is_empty());
    let guard = claims.claim("a").unwrap();
    assert_eq!(keys(&fx.raw()), ["a"]);
    drop(guard);
    let backups: Vec<_> = std::fs::read_dir(fx.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".corrupt."))
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(std::fs::read(&backups[0]).unwrap(), b"[not, claims");
    assert_mode_0600(&backups[0]);
}

#[test]
fn the_claims_file_is_0600() {
    let fx = Fixture::new();
    let _guard = fx.claims().claim("a").unwrap();
    assert_mode_0600(&fx.path());
}

fn assert_mode_0600(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            path.display()
        );
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[test]
fn a_second_guard_on_a_held_claim_writes_nothing_while_the_heartbeat_runs() {
    let fx = Fixture::new();
    let options = ClaimsOptions {
        heartbeat_interval: Some(Duration::from_secs(3600)),
        ..ClaimsOptions::default()
    };
    let claims = Claims::at_path(fx.path(), options, fx.clock.clone());
    let first = claims.claim("a").unwrap();
    let written = std::fs::metadata(fx.path()).unwrap().modified().unwrap();
    fx.clock.advance(Duration::from_secs(1));
    let second = claims.claim("a").unwrap();
    assert_eq!(std::fs::metadata(fx.path()).unwrap().modified().unwrap(), written);
    drop(first);
    assert_eq!(keys(&fx.raw()), ["a"], "the second guard still holds it");
    drop(second);
    assert_eq!(fx.raw(), json!({}));
}
