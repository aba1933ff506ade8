//! The fault driver of `mac-bench faults` (issue 10's fault table): the faults users meet,
//! injected under a steady load of real worker processes (`executor-worker load`), against the
//! loopback fake provider, with what each cost measured:
//! - [`token_outage`]: the token endpoint answers 503 for a whole minute while access tokens
//!   expire; no account may be disabled, and requests are served by accounts whose tokens are
//!   still valid or answered with a clear error, and served again once the endpoint is back.
//! - [`stopped_lock_holder`]: the process holding an account's refresh lock is `SIGSTOP`ped in
//!   the middle of its refresh; every other process pays at most one lock timeout, once.
//! - [`failed_write_after_rotation`]: the provider rotates the refresh token, the store write
//!   that follows cannot happen and the process is `SIGKILL`ed; the next process must use the
//!   rotated grant. A control run per round, on a copy of the accounts file without the
//!   pending-grant journal, shows the loss the driver would count without it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mac_storage::file::LockedFile;
use mac_storage::{
    AccountStore, Credentials, EpochMs, NewAccount, Provider, Secret, StoreOptions, StoredAccount,
};
use mac_test_support::{
    ChildGuard, Endpoint, FakeGrant, FakeProvider, Scripted, TempDataDir, spawn_guarded,
};

/// What one request of the load ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A response with this status from this account (a 200, or the last error response when
    /// the attempt budget ran out).
    Answered {
        /// The HTTP status.
        status: u16,
        /// The local uuid of the account that answered.
        account: String,
    },
    /// The pool's error, by kind (`all-cooling-down`, `exhausted`, …).
    Failed(String),
}

/// One request of the load, as a worker reported it.
#[derive(Clone, Debug)]
pub struct Request {
    /// When it started (wall clock, shared by every process).
    pub start: EpochMs,
    /// How long it took.
    pub latency: Duration,
    /// How it ended.
    pub outcome: Outcome,
}

impl Request {
    /// Whether the client got a 200.
    pub fn served(&self) -> bool {
        matches!(self.outcome, Outcome::Answered { status: 200, .. })
    }
}

/// The requests of every load worker.
#[derive(Clone, Debug, Default)]
pub struct Load {
    /// Every request, in no particular order.
    pub requests: Vec<Request>,
}

impl Load {
    /// The requests started in `[from, to)`.
    pub fn between(&self, from: EpochMs, to: EpochMs) -> impl Iterator<Item = &Request> {
        self.requests.iter().filter(move |r| r.start >= from && r.start < to)
    }

    /// The longest request.
    pub fn longest(&self) -> Duration {
        self.requests.iter().map(|r| r.latency).max().unwrap_or_default()
    }

    /// The failures by kind, as `kind × n` in first-seen order.
    pub fn failures(&self) -> String {
        let mut kinds: Vec<(String, usize)> = Vec::new();
        for request in &self.requests {
            if let Outcome::Failed(kind) = &request.outcome {
                match kinds.iter_mut().find(|(k, _)| k == kind) {
                    Some((_, n)) => *n += 1,
                    None => kinds.push((kind.clone(), 1)),
                }
            }
        }
        if kinds.is_empty() {
            return "none".into();
        }
        kinds.iter().map(|(kind, n)| format!("{kind} × {n}")).collect::<Vec<_>>().join(", ")
    }
}

/// Parses `r <start ms> <latency µs> <outcome>` lines.
fn parse_requests(lines: &str) -> Result<Vec<Request>, String> {
    lines
        .lines()
        .filter_map(|line| line.strip_prefix("r "))
        .map(|line| {
            let mut words = line.split(' ');
            let mut next = || words.next().ok_or_else(|| format!("short line {line:?}"));
            let start = next()?.parse::<i64>().map_err(|e| format!("{line:?}: {e}"))?;
            let latency = next()?.parse::<u64>().map_err(|e| format!("{line:?}: {e}"))?;
            let outcome = match next()?.split_once(':') {
                Some(("err", kind)) => Outcome::Failed(kind.to_owned()),
                Some((status, account)) => Outcome::Answered {
                    status: status.parse().map_err(|e| format!("{line:?}: {e}"))?,
                    account: account.to_owned(),
                },
                None => return Err(format!("bad outcome in {line:?}")),
            };
            Ok(Request {
                start: EpochMs::from_millis(start),
                latency: Duration::from_micros(latency),
                outcome,
            })
        })
        .collect()
}

/// How the load runs.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// Worker processes.
    pub processes: usize,
    /// Request loops per process.
    pub concurrency: usize,
    /// Pause between a loop's requests.
    pub pause: Duration,
    /// How long each worker sends.
    pub duration: Duration,
    /// The pool's refresh lock timeout (`PoolConfig` directly: `[refresh] lock_timeout` in
    /// config.toml has a 31 s minimum).
    pub lock_timeout: Option<Duration>,
    /// The pool's expiry margin.
    pub margin: Option<Duration>,
    /// The pool's strategy (`None`: the facade's default, sticky).
    pub strategy: Option<mac_executor::Strategy>,
}

/// Load workers started and waiting behind a start barrier.
struct Workers {
    children: Vec<(ChildGuard, PathBuf)>,
    duration: Duration,
    /// Holds the workers' output files.
    _out: TempDataDir,
}

impl Workers {
    fn spawn(worker: &Path, dir: &Path, origin: &str, spec: &LoadSpec) -> Result<Self, String> {
        let out = TempDataDir::new().map_err(|e| e.to_string())?;
        let mut children = Vec::with_capacity(spec.processes);
        for n in 0..spec.processes {
            let out_file = out.path().join(format!("requests-{n}.txt"));
            let mut command = Command::new(worker);
            command
                .arg("load")
                .arg(dir)
                .arg(origin)
                .arg(spec.duration.as_secs().to_string())
                .arg(spec.concurrency.to_string())
                .arg(spec.pause.as_millis().to_string())
                .arg(&out_file)
                .arg("--wait-go");
            if let Some(timeout) = spec.lock_timeout {
                command.arg("--lock-timeout-ms").arg(timeout.as_millis().to_string());
            }
            if let Some(margin) = spec.margin {
                command.arg("--margin-ms").arg(margin.as_millis().to_string());
            }
            if let Some(strategy) = spec.strategy {
                command.arg("--strategy").arg(strategy.as_str());
            }
            command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let child = spawn_guarded(&mut command).map_err(|e| format!("spawn worker: {e}"))?;
            children.push((child, out_file));
        }
        // Let every worker open its pool and block on the barrier.
        std::thread::sleep(Duration::from_millis(500));
        Ok(Self { children, duration: spec.duration, _out: out })
    }

    fn go(&mut self) -> Result<EpochMs, String> {
        let started = EpochMs::now();
        for (child, _) in &mut self.children {
            let stdin = child.child_mut().stdin.as_mut().ok_or("worker stdin missing")?;
            stdin.write_all(b"go\n").map_err(|e| e.to_string())?;
        }
        Ok(started)
    }

    fn finish(self) -> Result<Load, String> {
        let mut load = Load::default();
        for (child, out_file) in self.children {
            let output = child
                .wait_with_timeout(self.duration + Duration::from_secs(120))
                .map_err(|e| e.to_string())?;
            if !output.status.success() {
                return Err(format!(
                    "load worker failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            let lines = std::fs::read_to_string(&out_file).map_err(|e| e.to_string())?;
            load.requests.extend(parse_requests(&lines)?);
        }
        Ok(load)
    }
}

/// Adds account `n` to `store` and to the fake: a rotating grant whose refreshed access tokens
/// last an hour, and a first access token expiring at `expires_at`.
fn add_account(fake: &FakeProvider, store: &AccountStore, n: usize, expires_at: EpochMs) -> String {
    let grant = FakeGrant {
        access_token_prefix: format!("f{n}-access-"),
        ..FakeGrant::anthropic(&format!("remote-{n}"), &format!("f{n}@example.com"))
    };
    let refresh = format!("f{n}-refresh");
    fake.add_refresh_token(&refresh, grant.clone());
    let access = format!("f{n}-initial");
    fake.add_access_token(&access, grant);
    let mut new = NewAccount::from_credentials(Credentials {
        refresh_token: Secret::new(refresh),
        access_token: Some(Secret::new(access)),
        expires_at: Some(expires_at),
    });
    new.email = Some(format!("f{n}@example.com"));
    match store.add_account(&new, EpochMs::now()) {
        Ok(
            mac_storage::AddOutcome::Added { uuid } | mac_storage::AddOutcome::Updated { uuid, .. },
        ) => uuid,
        Err(err) => format!("(not added: {err})"),
    }
}

fn at(base: EpochMs, offset: Duration) -> EpochMs {
    base.saturating_add(offset)
}

fn accounts(store: &AccountStore) -> Result<Vec<StoredAccount>, String> {
    Ok(store.load().map_err(|e| e.to_string())?.accounts.clone())
}

/// What [`token_outage`] measured.
#[derive(Clone, Debug)]
pub struct OutageReport {
    /// The load's requests.
    pub load: Load,
    /// When the load started, and the outage's start and end.
    pub started: EpochMs,
    /// The outage window.
    pub outage: (EpochMs, EpochMs),
    /// Token requests the endpoint received during the outage (all answered 503).
    pub token_requests_in_outage: usize,
    /// Accounts disabled at the end.
    pub disabled: usize,
    /// Accounts whose stored failure count is not 0 at the end.
    pub failures_counted: usize,
    /// Accounts.
    pub accounts: usize,
    /// Accounts that served a request after the outage.
    pub serving_after: usize,
    /// When the first request after the outage that needed a refreshed token was served.
    pub first_refreshed_after: Option<EpochMs>,
    /// Token requests after the outage (all answered by the working endpoint).
    pub token_requests_after: usize,
}

/// The token endpoint down (503) for `outage` under a steady load: `processes` × 2 request
/// loops, 4 accounts whose access tokens expire during the outage (two after 10 s of it, two
/// after 35 s), facade defaults but round-robin (so every account meets the outage, where
/// sticky would stay on one) and a 2 s expiry margin (so a refresh is due when the token
/// expires, not a minute before). The load runs 5 s before the outage and `after` past it.
pub fn token_outage(
    worker: &Path,
    processes: usize,
    outage: Duration,
    after: Duration,
) -> Result<OutageReport, String> {
    const LEAD: Duration = Duration::from_secs(5);
    const OUTAGE_ANSWERS: usize = 20_000;
    let fake = FakeProvider::start_in_background().map_err(|e| e.to_string())?;
    let dir = TempDataDir::new().map_err(|e| e.to_string())?;
    let store = AccountStore::open(dir.data_dir(), Provider::Anthropic, StoreOptions::default())
        .map_err(|e| e.to_string())?;
    let spec = LoadSpec {
        processes,
        concurrency: 2,
        pause: Duration::from_millis(50),
        duration: LEAD + outage + after,
        lock_timeout: None,
        margin: Some(Duration::from_secs(2)),
        strategy: Some(mac_executor::Strategy::RoundRobin),
    };
    // The barrier opens ~0.5 s after the spawn; expiries are set from the planned start.
    let planned = at(EpochMs::now(), Duration::from_millis(600));
    let expiries = [10, 10, 35, 35].map(|s| at(planned, LEAD + Duration::from_secs(s)));
    let uuids: Vec<String> =
        expiries.iter().enumerate().map(|(n, &exp)| add_account(&fake, &store, n, exp)).collect();
    let mut workers = Workers::spawn(worker, dir.path(), &fake.origin(), &spec)?;
    let started = workers.go()?;
    std::thread::sleep(LEAD);
    // Down: every token request answers 503 until the script is cleared (far more answers
    // than the outage can use; checked below).
    fake.script(
        Endpoint::AnthropicToken,
        (0..OUTAGE_ANSWERS).map(|_| Scripted::server_error(503)).collect(),
    );
    let down = EpochMs::now();
    let before = fake.count(Endpoint::AnthropicToken);
    std::thread::sleep(outage);
    if fake.scripts_left(Endpoint::AnthropicToken) == 0 {
        return Err("the scripted outage ran out of answers before its end".into());
    }
    fake.clear_script(Endpoint::AnthropicToken);
    let up = EpochMs::now();
    let token_requests_in_outage = fake.count(Endpoint::AnthropicToken) - before;
    let load = workers.finish()?;
    let token_requests_after =
        fake.count(Endpoint::AnthropicToken) - before - token_requests_in_outage;
    let stored = accounts(&store)?;
    let serving_after = uuids
        .iter()
        .filter(|uuid| {
            load.between(up, EpochMs::from_millis(i64::MAX)).any(|r| {
                r.served()
                    && matches!(&r.outcome, Outcome::Answered { account, .. } if account == *uuid)
            })
        })
        .count();
    let first_refreshed_after = load
        .between(up, EpochMs::from_millis(i64::MAX))
        .filter(|r| r.served())
        .filter(|r| {
            matches!(&r.outcome, Outcome::Answered { account, .. }
                if uuids.iter().take(2).any(|u| u == account))
        })
        .map(|r| r.start)
        .min();
    Ok(OutageReport {
        started,
        outage: (down, up),
        token_requests_in_outage,
        disabled: stored.iter().filter(|a| a.is_auth_disabled).count(),
        failures_counted: stored.iter().filter(|a| a.consecutive_auth_failures != 0).count(),
        accounts: stored.len(),
        serving_after,
        first_refreshed_after,
        token_requests_after,
        load,
    })
}

/// What [`stopped_lock_holder`] measured.
#[derive(Clone, Debug)]
pub struct StoppedHolderReport {
    /// The load's requests.
    pub load: Load,
    /// The lock timeout the load's pools used.
    pub lock_timeout: Duration,
    /// Requests that took longer than half a lock timeout (they waited for the lock).
    pub waited: usize,
    /// Accounts disabled at the end.
    pub disabled: usize,
    /// Whether the stopped holder, once continued, finished its refresh and its request.
    pub holder_finished: bool,
}

/// The refresh lock of an account held by a `SIGSTOP`ped process, mid-refresh, under a steady
/// load of `processes` × 2 request loops for `duration`: account 0's access token has expired,
/// account 1's is valid for an hour. The load's pools use a refresh lock timeout of
/// `lock_timeout` (set in `PoolConfig`). The holder is continued at the end.
pub fn stopped_lock_holder(
    worker: &Path,
    processes: usize,
    lock_timeout: Duration,
    duration: Duration,
) -> Result<StoppedHolderReport, String> {
    let fake = FakeProvider::start_in_background().map_err(|e| e.to_string())?;
    let dir = TempDataDir::new().map_err(|e| e.to_string())?;
    let store = AccountStore::open(dir.data_dir(), Provider::Anthropic, StoreOptions::default())
        .map_err(|e| e.to_string())?;
    let now = EpochMs::now();
    add_account(&fake, &store, 0, EpochMs::from_millis(1_000));
    add_account(&fake, &store, 1, at(now, Duration::from_secs(3_600)));
    // The holder's token request is answered late, so it is mid-refresh when stopped.
    fake.set_delay(Endpoint::AnthropicToken, Duration::from_secs(2));
    let mut holder = {
        let mut command = Command::new(worker);
        command.arg(dir.path()).arg(fake.origin());
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        spawn_guarded(&mut command).map_err(|e| format!("spawn holder: {e}"))?
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.count(Endpoint::AnthropicToken) == 0 {
        if Instant::now() > deadline {
            return Err("the holder never started its refresh".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = rustix::process::Pid::from_child(holder.child_mut());
    rustix::process::kill_process(pid, rustix::process::Signal::STOP)
        .map_err(|e| format!("SIGSTOP: {e}"))?;
    let spec = LoadSpec {
        processes,
        concurrency: 2,
        pause: Duration::from_millis(50),
        duration,
        lock_timeout: Some(lock_timeout),
        margin: None,
        strategy: None,
    };
    let mut workers = Workers::spawn(worker, dir.path(), &fake.origin(), &spec)?;
    workers.go()?;
    let load = workers.finish()?;
    rustix::process::kill_process(pid, rustix::process::Signal::CONT)
        .map_err(|e| format!("SIGCONT: {e}"))?;
    let holder_finished = holder
        .wait_with_timeout(Duration::from_secs(60))
        .is_ok_and(|output| output.status.success());
    let stored = accounts(&store)?;
    Ok(StoppedHolderReport {
        waited: load.requests.iter().filter(|r| r.latency > lock_timeout / 2).count(),
        disabled: stored.iter().filter(|a| a.is_auth_disabled).count(),
        lock_timeout,
        holder_finished,
        load,
    })
}

/// What [`failed_write_after_rotation`] measured.
#[derive(Clone, Debug, Default)]
pub struct RotationReport {
    /// Rounds run.
    pub rounds: usize,
    /// Rounds where the provider rotated the refresh token before the process was killed.
    pub rotated: usize,
    /// Rounds where the next process could not use the rotated grant (its request failed, it
    /// refreshed with the spent token, or the file did not end with the current token).
    pub lost: usize,
    /// The same, for the control runs without the journal.
    pub lost_without_journal: usize,
    /// Accounts disabled at the end of the rounds (control copies excluded).
    pub disabled: usize,
}

/// `rounds` times: an expired account; a worker refreshes it while the accounts directory's
/// lock is held (so its store write cannot happen); once the provider rotated the token and
/// the grant is journaled, the worker is `SIGKILL`ed and the lock released; the next worker
/// process must serve its request with the rotated grant. The control worker of each round
/// runs on a copy of the accounts file without the journal.
pub fn failed_write_after_rotation(worker: &Path, rounds: usize) -> Result<RotationReport, String> {
    let mut report = RotationReport { rounds, ..RotationReport::default() };
    let fake = FakeProvider::start_in_background().map_err(|e| e.to_string())?;
    let run = |dir: &Path, wait_go: bool| -> Result<ChildGuard, String> {
        let mut command = Command::new(worker);
        command.arg(dir).arg(fake.origin());
        if wait_go {
            command.arg("--wait-go");
        }
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        spawn_guarded(&mut command).map_err(|e| format!("spawn worker: {e}"))
    };
    for round in 0..rounds {
        let dir = TempDataDir::new().map_err(|e| e.to_string())?;
        let store =
            AccountStore::open(dir.data_dir(), Provider::Anthropic, StoreOptions::default())
                .map_err(|e| e.to_string())?;
        let n = 100 + round;
        add_account(&fake, &store, n, EpochMs::from_millis(1_000));
        let original = format!("f{n}-refresh");
        let file = dir.accounts_file(Provider::Anthropic);
        let mut doomed = run(dir.path(), true)?;
        std::thread::sleep(Duration::from_millis(300));
        let held = LockedFile::acquire(&file, Duration::from_secs(5)).map_err(|e| e.to_string())?;
        let tokens_before = fake.count(Endpoint::AnthropicToken);
        let stdin = doomed.child_mut().stdin.as_mut().ok_or("worker stdin missing")?;
        stdin.write_all(b"go\n").map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while pending_journals(dir.path()).is_empty()
            || fake.count(Endpoint::AnthropicToken) == tokens_before
        {
            if Instant::now() > deadline {
                return Err(format!("round {round}: the worker never refreshed and journaled"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        doomed.kill().map_err(|e| e.to_string())?;
        drop(held);
        let rotated = fake.current_refresh_token(&original).unwrap_or_default();
        if rotated != original {
            report.rotated += 1;
        }
        // Control: the same accounts file without the journal.
        let bare = TempDataDir::new().map_err(|e| e.to_string())?;
        std::fs::copy(&file, bare.accounts_file(Provider::Anthropic)).map_err(|e| e.to_string())?;
        let control = run(bare.path(), false)?
            .wait_with_timeout(Duration::from_secs(60))
            .map_err(|e| e.to_string())?;
        if !control.status.success() {
            report.lost_without_journal += 1;
        }
        // The next process, on the real directory.
        let tokens_before = fake.count(Endpoint::AnthropicToken);
        let next = run(dir.path(), false)?
            .wait_with_timeout(Duration::from_secs(60))
            .map_err(|e| e.to_string())?;
        let spent_reused = fake.count(Endpoint::AnthropicToken) != tokens_before;
        let account = accounts(&store)?.into_iter().next().ok_or("the account vanished")?;
        let current = fake.current_refresh_token(&original).unwrap_or_default();
        if !next.status.success() || spent_reused || account.refresh_token.expose() != current {
            report.lost += 1;
        }
        if account.is_auth_disabled {
            report.disabled += 1;
        }
    }
    Ok(report)
}

fn pending_journals(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.to_string_lossy().ends_with(".pending"))
                .collect()
        })
        .unwrap_or_default()
}
