//! The conformance suite of the claims-store contract ([`crate::ClaimsStore`]): the behaviour
//! of [`Claims`] that every store (the claims file, a database table) must give. Enabled by
//! the cargo feature `conformance`; a store's tests call [`run_all`] with a way to make fresh,
//! empty storage.
//!
//! Each check opens several holders on one storage — as several processes (or hosts) would —
//! with one manual wall clock and a manual monotonic clock each, no keeper thread (the checks
//! run the keeper's passes with [`Claims::maintain`]), and reports a [`Failure`] instead of
//! panicking. What only real processes can show — a holder that dies — is each store's own
//! test (pid and start time for the file, the session for a database).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mac_storage::{EpochMs, ManualClock};

use crate::{ClaimGuard, Claims, ClaimsError, ClaimsOptions, ClaimsStore, ManualMonotonic};

/// Opens a new holder's store on one storage.
pub type Open<'a> = &'a (dyn Fn() -> Arc<dyn ClaimsStore> + Sync);

/// Makes fresh, empty storage and returns how to open holders' stores on it.
pub type NewStorage<'a> = &'a dyn Fn() -> Box<dyn Fn() -> Arc<dyn ClaimsStore> + Sync>;

/// A check that did not hold.
#[derive(Debug)]
pub struct Failure {
    check: &'static str,
    message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "claims conformance check `{}` failed: {}", self.check, self.message)
    }
}

impl std::error::Error for Failure {}

/// The wall-clock start of every check.
const START: i64 = 1_800_000_000_000;

/// Runs every check, each on fresh storage.
pub fn run_all(new_storage: NewStorage<'_>) -> Result<(), Failure> {
    let checks: [fn(Open<'_>) -> Result<(), Failure>; 8] = [
        a_claim_is_seen_by_other_holders,
        a_take_over_wins_and_a_release_removes_only_ones_own,
        expired_claims_are_not_live_and_renewal_revives_them,
        the_heartbeat_renews_every_held_claim_in_one_write,
        an_idle_account_is_released_and_the_request_path_writes_nothing,
        dropping_a_holder_releases_its_claims,
        concurrent_holders_lose_no_claim,
        a_heartbeat_from_the_future_is_not_trusted,
    ];
    for check in checks {
        let open = new_storage();
        check(&*open)?;
    }
    Ok(())
}

/// One check's holders, clocks and failure reporting.
struct Bench<'a> {
    check: &'static str,
    open: Open<'a>,
    clock: Arc<ManualClock>,
}

impl<'a> Bench<'a> {
    fn new(check: &'static str, open: Open<'a>) -> Self {
        Self { check, open, clock: Arc::new(ManualClock::new(EpochMs::from_millis(START))) }
    }

    /// A holder without a keeper thread, renewing every 20 s and releasing after 40 s idle
    /// on `monotonic`.
    fn holder(&self, monotonic: &Arc<ManualMonotonic>) -> Claims {
        Claims::builder_with_store((self.open)(), ClaimsOptions::default(), self.clock.clone())
            .monotonic(monotonic.clone())
            .keeper_thread(false)
            .build()
    }

    fn ensure(&self, holds: bool, message: impl FnOnce() -> String) -> Result<(), Failure> {
        if holds { Ok(()) } else { Err(Failure { check: self.check, message: message() }) }
    }

    fn ok<T>(&self, result: Result<T, ClaimsError>) -> Result<T, Failure> {
        result.map_err(|err| Failure {
            check: self.check,
            message: format!("unexpected claims error: {err}"),
        })
    }

    fn now(&self) -> EpochMs {
        mac_storage::Clock::now(&*self.clock)
    }
}

fn a_claim_is_seen_by_other_holders(open: Open<'_>) -> Result<(), Failure> {
    let bench = Bench::new("a_claim_is_seen_by_other_holders", open);
    let mono = Arc::new(ManualMonotonic::new());
    let (a, b) = (bench.holder(&mono), bench.holder(&mono));
    bench.ensure(bench.ok(b.snapshot())?.is_empty(), || "fresh storage has claims".into())?;
    let _guard = bench.ok(a.claim("acct"))?;
    let seen = bench.ok(b.snapshot())?;
    bench.ensure(seen.is_claimed_by_other("acct"), || "B does not see A's claim".into())?;
    let claim = seen.get("acct");
    bench.ensure(claim.is_some_and(|c| c.pid == std::process::id()), || {
        format!("the claim does not name A's process: {claim:?}")
    })?;
    bench.ensure(claim.is_some_and(|c| c.heartbeat_at == bench.now()), || {
        format!("the heartbeat is not the claim time: {claim:?}")
    })?;
    let own = bench.ok(a.snapshot())?;
    bench.ensure(own.get("acct").is_some_and(|c| c.mine), || "A does not see its own".into())?;
    bench.ensure(!own.is_claimed_by_other("acct"), || "A counts its own as another's".into())?;
    bench.ok(b.maintain())?;
    bench.ensure(b.cached_snapshot().is_claimed_by_other("acct"), || {
        "a keeper pass did not refresh B's cached view".into()
    })
}

fn a_take_over_wins_and_a_release_removes_only_ones_own(open: Open<'_>) -> Result<(), Failure> {
    let bench = Bench::new("a_take_over_wins_and_a_release_removes_only_ones_own", open);
    let mono = Arc::new(ManualMonotonic::new());
    let (a, b) = (bench.holder(&mono), bench.holder(&mono));
    let a_guard = bench.ok(a.claim("acct"))?;
    bench.clock.advance(Duration::from_secs(1));
    let b_guard = bench.ok(b.claim("acct"))?;
    bench.ensure(bench.ok(a.snapshot())?.is_claimed_by_other("acct"), || {
        "B's take-over is not seen by A".into()
    })?;
    drop(a_guard);
    bench.ensure(bench.ok(a.release("acct"))?, || "A could not release".into())?;
    bench.ok(a.release_all())?;
    bench.ok(a.renew_held())?;
    let seen = bench.ok(b.snapshot())?;
    bench.ensure(seen.get("acct").is_some_and(|c| c.mine), || {
        format!("A's release or renewal removed B's claim: {seen:?}")
    })?;
    drop(b_guard);
    bench.ok(b.release_all())?;
    bench.ensure(bench.ok(a.snapshot())?.is_empty(), || "claims left after release_all".into())
}

fn expired_claims_are_not_live_and_renewal_revives_them(open: Open<'_>) -> Result<(), Failure> {
    let bench = Bench::new("expired_claims_are_not_live_and_renewal_revives_them", open);
    let mono = Arc::new(ManualMonotonic::new());
    let (a, b) = (bench.holder(&mono), bench.holder(&mono));
    let guard = bench.ok(a.claim("acct"))?;
    bench.clock.advance(Duration::from_secs(60));
    bench.ensure(bench.ok(b.snapshot())?.is_claimed_by_other("acct"), || {
        "a claim 60 s old is no longer live".into()
    })?;
    bench.clock.advance(Duration::from_secs(1));
    bench.ensure(!bench.ok(b.snapshot())?.is_claimed_by_other("acct"), || {
        "a claim without a heartbeat for 61 s is still live".into()
    })?;
    bench.ok(guard.renew())?;
    bench.ensure(bench.ok(b.snapshot())?.is_claimed_by_other("acct"), || {
        "a renewed claim did not come back".into()
    })
}

fn the_heartbeat_renews_every_held_claim_in_one_write(open: Open<'_>) -> Result<(), Failure> {
    let bench = Bench::new("the_heartbeat_renews_every_held_claim_in_one_write", open);
    let (mono, other) = (Arc::new(ManualMonotonic::new()), Arc::new(ManualMonotonic::new()));
    let (a, b) = (bench.holder(&mono), bench.holder(&other));
    let _guards = [a.hold("x"), a.hold("y"), a.hold("z")];
    bench.ok(a.maintain())?;
    bench.ensure(a.file_writes() == 1, || {
        format!("{} writes for 3 first claims", a.file_writes())
    })?;
    bench.clock.advance(Duration::from_secs(86_400));
    mono.advance(Duration::from_secs(19));
    bench.ok(a.maintain())?;
    bench.ensure(a.file_writes() == 1, || "renewed before the heartbeat was due".into())?;
    mono.advance(Duration::from_secs(1));
    bench.ok(a.maintain())?;
    bench.ensure(a.file_writes() == 2, || {
        format!("{} writes: not one per heartbeat", a.file_writes())
    })?;
    let seen = bench.ok(b.snapshot())?;
    for account in ["x", "y", "z"] {
        bench.ensure(seen.get(account).is_some_and(|c| c.heartbeat_at == bench.now()), || {
            format!("{account} was not renewed: {seen:?}")
        })?;
    }
    Ok(())
}

fn an_idle_account_is_released_and_the_request_path_writes_nothing(
    open: Open<'_>,
) -> Result<(), Failure> {
    let bench = Bench::new("an_idle_account_is_released_and_the_request_path_writes_nothing", open);
    let (mono, other) = (Arc::new(ManualMonotonic::new()), Arc::new(ManualMonotonic::new()));
    let (a, b) = (bench.holder(&mono), bench.holder(&other));
    drop(a.hold("idle"));
    let _busy = a.hold("busy");
    bench.ok(a.maintain())?;
    for _ in 0..1_000 {
        mono.advance(Duration::from_millis(10));
        let guard = a.hold("busy");
        bench.ensure(!a.cached_snapshot().is_claimed_by_other("busy"), || {
            "the cached view lost our own claim".into()
        })?;
        drop(guard);
    }
    bench.ensure(a.file_writes() == 1, || {
        format!("{} writes for 1000 requests on held accounts", a.file_writes())
    })?;
    mono.advance(Duration::from_secs(30));
    bench.ok(a.maintain())?;
    let seen = bench.ok(b.snapshot())?;
    bench.ensure(!seen.is_claimed_by_other("idle") && seen.is_claimed_by_other("busy"), || {
        format!("idle for 40 s should be released, a held one kept: {seen:?}")
    })
}

fn dropping_a_holder_releases_its_claims(open: Open<'_>) -> Result<(), Failure> {
    let bench = Bench::new("dropping_a_holder_releases_its_claims", open);
    let mono = Arc::new(ManualMonotonic::new());
    let (a, b) = (bench.holder(&mono), bench.holder(&mono));
    drop(bench.ok(a.claim("acct"))?);
    drop(a);
    bench.ensure(bench.ok(b.snapshot())?.is_empty(), || "a dropped holder kept its claim".into())
}

fn concurrent_holders_lose_no_claim(open: Open<'_>) -> Result<(), Failure> {
    let bench = Bench::new("concurrent_holders_lose_no_claim", open);
    let mono = Arc::new(ManualMonotonic::new());
    let holders: Vec<Claims> = (0..4).map(|_| bench.holder(&mono)).collect();
    let results: Vec<Result<Vec<ClaimGuard>, ClaimsError>> = std::thread::scope(|scope| {
        let threads: Vec<_> = holders
            .iter()
            .enumerate()
            .map(|(n, holder)| {
                scope.spawn(move || (0..5).map(|i| holder.claim(&format!("h{n}-{i}"))).collect())
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| {
                thread.join().unwrap_or_else(|_| {
                    Err(ClaimsError::Store { source: "a claiming thread panicked".into() })
                })
            })
            .collect()
    });
    let mut guards = Vec::new();
    for result in results {
        guards.push(bench.ok(result)?);
    }
    let observer = bench.holder(&mono);
    let seen = bench.ok(observer.snapshot())?;
    bench.ensure(seen.len() == 20, || format!("{} of 20 claims survived", seen.len()))
}

fn a_heartbeat_from_the_future_is_not_trusted(open: Open<'_>) -> Result<(), Failure> {
    let bench = Bench::new("a_heartbeat_from_the_future_is_not_trusted", open);
    let mono = Arc::new(ManualMonotonic::new());
    let (a, b) = (bench.holder(&mono), bench.holder(&mono));
    let _guard = bench.ok(a.claim("acct"))?;
    bench.clock.set(EpochMs::from_millis(START - 3_600_000));
    bench.ensure(!bench.ok(b.snapshot())?.is_claimed_by_other("acct"), || {
        "a heartbeat an hour ahead is trusted".into()
    })?;
    bench.clock.set(EpochMs::from_millis(START - 4_000));
    bench.ensure(bench.ok(b.snapshot())?.is_claimed_by_other("acct"), || {
        "a heartbeat 4 s ahead (within the tolerance) is not trusted".into()
    })
}
