//! Claims against real files, real child processes and a manual clock: the seed's claims suite, as
//! revised by D8, plus heartbeat, ownership and bad input.

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

use mac_claims::{Claims, ClaimsOptions, ManualMonotonic, ProcessIdentity};
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

    /// A table with a heartbeat every 20 s and idle release after 40 s, both on `monotonic`,
    /// and no keeper thread: the test runs the keeper's passes with `maintain`.
    fn manual(&self, monotonic: &Arc<ManualMonotonic>) -> Claims {
        Claims::builder(self.path(), ClaimsOptions::default(), self.clock.clone())
            .monotonic(monotonic.clone())
            .keeper_thread(false)
            .build()
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
    assert!(claims.release("shared").unwrap());
    assert_eq!(fx.raw()["shared"]["pid"], other.pid());
    assert!(claims.snapshot().unwrap().is_claimed_by_other("shared"));
}

#[test]
fn dropping_guards_writes_nothing_and_the_account_is_released_after_the_idle_time() {
    let fx = Fixture::new();
    let monotonic = Arc::new(ManualMonotonic::new());
    let claims = fx.manual(&monotonic);
    let first = claims.claim("a").unwrap();
    let second = claims.claim("a").unwrap();
    let b = claims.claim("b").unwrap();
    assert_eq!(claims.guards("a"), 2);
    drop(first);
    drop(second);
    assert_eq!(claims.guards("a"), 0);
    assert_eq!(keys(&fx.raw()), ["a", "b"], "no guard left, but not idle yet");
    monotonic.advance(Duration::from_secs(39));
    claims.maintain().unwrap();
    assert_eq!(keys(&fx.raw()), ["a", "b"]);
    monotonic.advance(Duration::from_secs(1));
    claims.maintain().unwrap();
    assert_eq!(keys(&fx.raw()), ["b"], "idle for 40 s: released; `b` is still held");
    assert_eq!(claims.guards("b"), 1);
    drop(b);
    claims.release_all().unwrap();
    assert_eq!(fx.raw(), json!({}));
}

#[test]
fn an_explicit_release_waits_for_the_last_guard() {
    let fx = Fixture::new();
    let claims = fx.claims();
    let guard = claims.claim("a").unwrap();
    assert!(!claims.release("a").unwrap(), "a guard still holds it");
    assert_eq!(keys(&fx.raw()), ["a"]);
    drop(guard);
    assert!(claims.release("a").unwrap());
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
fn twenty_claim_release_cycles_write_once_and_leave_no_claim_after_release_all() {
    let fx = Fixture::new();
    let claims = fx.claims();
    for _ in 0..20 {
        drop(claims.claim("cycle").unwrap());
    }
    assert_eq!(claims.file_writes(), 1);
    claims.release_all().unwrap();
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
fn a_second_instance_in_this_process_sees_the_first_ones_claim_as_anothers() {
    let fx = Fixture::new();
    let first = fx.claims();
    let second = fx.claims();
    let _guard = first.claim("a").unwrap();
    let seen_by_second = second.snapshot().unwrap();
    assert!(seen_by_second.is_claimed_by_other("a"), "another instance is another holder");
    assert!(!seen_by_second.get("a").unwrap().mine);
    assert!(first.snapshot().unwrap().get("a").unwrap().mine);
}

#[test]
fn a_claim_stamped_in_the_future_by_a_clock_step_does_not_outlive_the_expiry() {
    let fx = Fixture::new();
    let other = OtherProcess::start();
    // Written an hour ahead of our clock: the wall clock has stepped back an hour since.
    fx.write_raw(&json!({"stepped": {"pid": other.pid(), "at": fx.now_ms() + 3_600_000}}));
    let claims = fx.claims();
    assert!(
        !claims.snapshot().unwrap().is_claimed_by_other("stepped"),
        "a heartbeat from the future is not a heartbeat"
    );
    // A small skew between writers is tolerated.
    fx.write_raw(&json!({"skewed": {"pid": other.pid(), "at": fx.now_ms() + 1_000}}));
    assert!(claims.snapshot().unwrap().is_claimed_by_other("skewed"));
}

/// The claims file's identity and change time: any replacement (a write renames a new file over
/// it) changes it.
#[cfg(unix)]
fn file_version(path: &Path) -> (u64, i64, i64) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).unwrap();
    (meta.ino(), meta.ctime(), meta.ctime_nsec())
}

#[cfg(unix)]
#[test]
fn a_thousand_requests_on_a_held_account_leave_the_claims_file_alone() {
    let fx = Fixture::new();
    let options = ClaimsOptions {
        heartbeat_interval: Some(Duration::from_secs(3600)),
        ..ClaimsOptions::default()
    };
    let claims = Claims::at_path(fx.path(), options, fx.clock.clone());
    drop(claims.claim("a").unwrap());
    let before = file_version(&fx.path());
    for _ in 0..1_000 {
        // What the executor does per request: claim, check, release.
        let guard = claims.claim("a").unwrap();
        assert!(claims.snapshot().unwrap().get("a").is_some_and(|c| c.mine));
        drop(guard);
    }
    assert_eq!(file_version(&fx.path()), before, "the claims file was rewritten");
    assert_eq!(claims.file_writes(), 1);
    assert_eq!(keys(&fx.raw()), ["a"], "the account stays claimed between requests");
}

#[test]
fn the_request_path_writes_nothing_and_the_keeper_pass_writes_the_first_claim() {
    let fx = Fixture::new();
    let monotonic = Arc::new(ManualMonotonic::new());
    let claims = fx.manual(&monotonic);
    let guard = claims.hold("a");
    assert!(!fx.path().exists(), "hold does no I/O");
    assert!(claims.cached_snapshot().is_empty());
    claims.maintain().unwrap();
    assert_eq!(keys(&fx.raw()), ["a"]);
    assert!(
        claims.cached_snapshot().get("a").is_some_and(|c| c.mine),
        "the pass refreshed the view"
    );
    drop(guard);
    for _ in 0..1_000 {
        monotonic.advance(Duration::from_millis(10));
        let guard = claims.hold("a");
        assert!(!claims.cached_snapshot().is_claimed_by_other("a"));
        drop(guard);
    }
    // 10 s of requests: no heartbeat due yet, nothing idle.
    claims.maintain().unwrap();
    assert_eq!(claims.file_writes(), 1, "one write for the first claim, none per request");
}

#[test]
fn the_heartbeat_renews_every_held_claim_in_one_write_by_the_monotonic_clock() {
    let fx = Fixture::new();
    let monotonic = Arc::new(ManualMonotonic::new());
    let claims = fx.manual(&monotonic);
    let _a = claims.hold("a");
    let _b = claims.hold("b");
    claims.maintain().unwrap();
    assert_eq!(claims.file_writes(), 1, "both first claims in one write");
    // The wall clock jumps a day ahead: renewal is not due by wall time, only by monotonic.
    fx.clock.advance(Duration::from_secs(86_400));
    monotonic.advance(Duration::from_secs(19));
    claims.maintain().unwrap();
    assert_eq!(claims.file_writes(), 1, "not due after 19 s");
    monotonic.advance(Duration::from_secs(1));
    claims.maintain().unwrap();
    assert_eq!(claims.file_writes(), 2, "one write renews both");
    assert_eq!(fx.raw()["a"]["at"], fx.now_ms());
    assert_eq!(fx.raw()["b"]["at"], fx.now_ms());
}

#[test]
fn a_holder_whose_wall_clock_stepped_back_keeps_renewing_and_stays_visible() {
    let fx = Fixture::new();
    let monotonic = Arc::new(ManualMonotonic::new());
    let holder = fx.manual(&monotonic);
    let observer = fx.claims();
    let _guard = holder.claim("a").unwrap();
    fx.clock.set(EpochMs::from_millis(START - 3_600_000));
    assert!(
        !observer.snapshot().unwrap().is_claimed_by_other("a"),
        "an hour in the future: not trusted"
    );
    monotonic.advance(Duration::from_secs(20));
    holder.maintain().unwrap();
    assert_eq!(fx.raw()["a"]["at"], fx.now_ms(), "renewed at the stepped-back time");
    assert!(observer.snapshot().unwrap().is_claimed_by_other("a"));
    // Without heartbeats it expires 60 s after the last one, not an hour later.
    fx.clock.advance(Duration::from_secs(61));
    assert!(!observer.snapshot().unwrap().is_claimed_by_other("a"));
}

#[test]
fn the_cached_view_asks_the_os_about_a_holder_only_after_the_liveness_ttl() {
    let fx = Fixture::new();
    let monotonic = Arc::new(ManualMonotonic::new());
    let claims = fx.manual(&monotonic);
    let other = OtherProcess::start();
    fx.write_raw(&json!({"theirs": {"pid": other.pid(), "at": fx.now_ms()}}));
    assert!(claims.cached_snapshot().is_empty(), "the cached view reads nothing by itself");
    claims.maintain().unwrap();
    assert!(claims.cached_snapshot().is_claimed_by_other("theirs"));
    drop(other);
    claims.maintain().unwrap();
    assert!(
        claims.cached_snapshot().is_claimed_by_other("theirs"),
        "the answer about the holder is younger than the ttl"
    );
    assert!(!claims.snapshot().unwrap().is_claimed_by_other("theirs"), "snapshot asks now");
    // The exact snapshot also refreshed the cached view and the liveness answer.
    assert!(!claims.cached_snapshot().is_claimed_by_other("theirs"));
}

#[test]
fn the_cached_view_drops_a_dead_holder_once_the_ttl_has_passed() {
    let fx = Fixture::new();
    let monotonic = Arc::new(ManualMonotonic::new());
    let claims = fx.manual(&monotonic);
    let other = OtherProcess::start();
    fx.write_raw(&json!({"theirs": {"pid": other.pid(), "at": fx.now_ms()}}));
    claims.maintain().unwrap();
    assert!(claims.cached_snapshot().is_claimed_by_other("theirs"));
    drop(other);
    monotonic.advance(Duration::from_secs(5));
    claims.maintain().unwrap();
    assert!(claims.cached_snapshot().is_claimed_by_other("theirs"), "5 s: still trusted");
    monotonic.advance(Duration::from_millis(1));
    claims.maintain().unwrap();
    assert!(!claims.cached_snapshot().is_claimed_by_other("theirs"));
}

#[test]
fn instances_in_one_process_take_over_and_never_release_each_other() {
    let fx = Fixture::new();
    let first = fx.claims();
    let second = fx.claims();
    let first_guard = first.claim("a").unwrap();
    let second_guard = second.claim("a").unwrap();
    assert!(first.snapshot().unwrap().is_claimed_by_other("a"), "taken over by the second");
    drop(first_guard);
    assert!(first.release("a").unwrap());
    first.release_all().unwrap();
    assert!(second.snapshot().unwrap().get("a").is_some_and(|c| c.mine));
    first.renew_held().unwrap();
    assert!(second.snapshot().unwrap().get("a").is_some_and(|c| c.mine), "renewal leaves it");
    drop(second_guard);
    second.release_all().unwrap();
    assert_eq!(fx.raw(), json!({}));
}

#[test]
fn the_keeper_thread_writes_a_held_claim_in_the_background() {
    let fx = Fixture::new();
    let claims = Claims::at_path(fx.path(), ClaimsOptions::default(), fx.clock.clone());
    let _guard = claims.hold("a");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !claims.cached_snapshot().get("a").is_some_and(|c| c.mine) {
        assert!(Instant::now() < deadline, "the keeper never wrote the claim");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(keys(&fx.raw()), ["a"]);
    claims.release_all().unwrap();
    assert_eq!(fx.raw(), json!({}));
}

#[test]
fn dropping_the_table_releases_its_claims() {
    let fx = Fixture::new();
    let claims = fx.claims();
    drop(claims.claim("a").unwrap());
    drop(claims);
    assert_eq!(fx.raw(), json!({}));
}

#[test]
fn a_claim_that_cannot_be_written_fails_and_leaves_no_hold_behind() {
    let fx = Fixture::new();
    let options = ClaimsOptions {
        heartbeat_interval: None,
        lock_timeout: Duration::from_millis(50),
        ..ClaimsOptions::default()
    };
    let claims = Claims::at_path(fx.path(), options, fx.clock.clone());
    let busy = mac_storage::LockedFile::acquire(&fx.path(), Duration::from_secs(1)).unwrap();
    assert!(claims.claim("a").is_err());
    drop(busy);
    assert_eq!(claims.guards("a"), 0);
    claims.maintain().unwrap();
    assert!(!fx.path().exists(), "the failed claim is not written later behind the caller");
}

#[test]
fn holds_and_releases_racing_the_keeper_leave_every_held_account_on_file() {
    let fx = Fixture::new();
    let options = ClaimsOptions {
        heartbeat_interval: Some(Duration::from_millis(2)),
        view_refresh: Duration::from_millis(1),
        idle_release: Duration::ZERO,
        ..ClaimsOptions::default()
    };
    let claims = Claims::at_path(fx.path(), options, fx.clock.clone());
    let accounts = ["a", "b", "c", "d"];
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let (claims, stop) = (&claims, &stop);
            scope.spawn(move || {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let guard = claims.hold(accounts[(thread + i) % accounts.len()]);
                    if i % 5_000 == 0 {
                        drop(claims.claim(accounts[i % accounts.len()]).unwrap());
                    }
                    drop(guard);
                    i += 1;
                }
            });
        }
        // Let the keeper release and re-claim under the holders' feet a hundred times.
        let deadline = Instant::now() + Duration::from_secs(20);
        while claims.file_writes() < 100 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    for account in accounts {
        assert_eq!(claims.guards(account), 0);
    }
    let guards: Vec<_> = accounts.iter().map(|account| claims.hold(account)).collect();
    claims.maintain().unwrap();
    let snapshot = claims.snapshot().unwrap();
    for account in accounts {
        assert!(snapshot.get(account).is_some_and(|c| c.mine), "{account} held but not on file");
    }
    drop(guards);
    claims.release_all().unwrap();
    assert_eq!(fx.raw(), json!({}));
}

/// A file system with whole-second modification times whose inode numbers and sizes never
/// tell versions apart: every version written within one second has the same stamp.
#[derive(Debug)]
struct CoarseStamps;

impl mac_storage::file::StampSource for CoarseStamps {
    fn observe(&self, stamp: mac_storage::file::FileStamp) -> mac_storage::file::FileStamp {
        let whole_seconds = stamp.modified().map(|modified| {
            let since = modified.duration_since(std::time::UNIX_EPOCH).unwrap();
            std::time::UNIX_EPOCH + Duration::from_secs(since.as_secs())
        });
        mac_storage::file::FileStamp::from_parts(stamp.dev(), 1, 1, whole_seconds)
    }
}

#[test]
fn with_coarse_file_stamps_a_reader_still_sees_every_new_version() {
    let fx = Fixture::new();
    let writer = fx.claims();
    let observer = Claims::builder(
        fx.path(),
        ClaimsOptions { heartbeat_interval: None, ..ClaimsOptions::default() },
        fx.clock.clone(),
    )
    .stamp_source(Arc::new(CoarseStamps))
    .build();
    let mut guards = Vec::new();
    for i in 0..20 {
        let account = format!("acct-{i}");
        guards.push(writer.claim(&account).unwrap());
        assert!(
            observer.snapshot().unwrap().is_claimed_by_other(&account),
            "version {i} not seen: a stale stamp-cached read"
        );
        observer.maintain().unwrap();
        assert!(observer.cached_snapshot().is_claimed_by_other(&account));
    }
}
