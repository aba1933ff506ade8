//! [`Claims`]: one provider pool's claims table as this process uses it, and the [`ClaimGuard`]
//! a request holds an account through. The logic is the same whatever keeps the entries (a
//! [`ClaimsStore`]: the claims file, or a database table shared by several hosts).
//!
//! Two halves. The request path — [`Claims::hold`], dropping a [`ClaimGuard`],
//! [`Claims::cached_snapshot`], [`Claims::guards`] — works in memory only: no file or network
//! I/O, no syscall, nothing waited on but a short in-process mutex, so async code may call it
//! on a runtime worker. Everything that touches the store — writing a first claim, renewing,
//! releasing, reading the others' claims and asking whether their holders live — is done by
//! the keeper thread (see the `keeper` module) in the background, or by the methods documented
//! as **blocking**, which an async caller runs on `spawn_blocking`.
//!
//! Every write is a read-modify-write under the store's lock, and this instance's writes are
//! serialized in-process with the decisions behind them (`writing`), so a release decided
//! before a re-claim is also written before it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use mac_storage::file::{OsStamps, StampSource};
use mac_storage::{Clock, DataDir, EpochMs, Provider};

use crate::claims_file::{ClaimEntry, ClaimMap};
use crate::error::ClaimsError;
use crate::file_store::FileClaims;
use crate::holds::{Holds, Plan};
use crate::keeper::Keeper;
use crate::liveness::LivenessCache;
use crate::monotonic::{Monotonic, SystemMonotonic};
use crate::options::ClaimsOptions;
use crate::snapshot::{ClaimsSnapshot, LiveClaim};
use crate::store::{AliveCheck, ClaimsStore, Holder};

/// A provider pool's claims, as used by this process. Cheap to clone (clones share one
/// identity); use one per pool per process. Each instance has its own identity (`instance` in
/// the entries): another instance, even in the same process, is another holder, whose claims
/// it neither counts as its own nor releases.
#[derive(Clone, Debug)]
pub struct Claims {
    inner: Arc<Inner>,
}

/// Builds a [`Claims`] with a non-default monotonic clock or without the keeper thread.
#[derive(Debug)]
pub struct ClaimsBuilder {
    store: StoreChoice,
    options: ClaimsOptions,
    clock: Arc<dyn Clock>,
    monotonic: Arc<dyn Monotonic>,
    keeper_thread: bool,
}

/// Where a builder's claims live.
#[derive(Debug)]
enum StoreChoice {
    /// A claims file (made at `build`, with these file stamps).
    File { path: PathBuf, stamps: Arc<dyn StampSource> },
    /// A store the caller made.
    Given(Arc<dyn ClaimsStore>),
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn ClaimsStore>,
    options: ClaimsOptions,
    clock: Arc<dyn Clock>,
    monotonic: Arc<dyn Monotonic>,
    /// This instance as a holder (the store's).
    me: Holder,
    /// The accounts this instance holds (in memory; the request path).
    holds: Mutex<Holds>,
    /// Held while this instance decides and performs a write of the store.
    writing: Mutex<()>,
    liveness: Mutex<LivenessCache>,
    /// The view [`Claims::cached_snapshot`] serves.
    view: Mutex<Arc<ClaimsSnapshot>>,
    keeper: OnceLock<Keeper>,
}

/// How a read decides whether another holder lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Liveness {
    /// Ask the store (once per holder per read).
    Fresh,
    /// Trust an answer younger than `liveness_ttl` (the keeper's periodic view).
    Cached,
}

/// A held claim on one account: an in-memory hold, taken and dropped without I/O. Several
/// guards may hold the same account. Dropping the last one does not write: the account stays
/// claimed by this process (renewed by the heartbeat) until it has been idle for
/// [`ClaimsOptions::idle_release`], or until [`Claims::release`] / [`Claims::release_all`].
#[derive(Debug)]
pub struct ClaimGuard {
    inner: Arc<Inner>,
    account: String,
}

impl Claims {
    /// The claims of `provider`'s pool in `data_dir` (created `0700` if missing). Starts the
    /// keeper thread when `options.heartbeat_interval` is set. Blocking (creates the directory).
    pub fn open(
        data_dir: &DataDir,
        provider: Provider,
        options: ClaimsOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ClaimsError> {
        data_dir.ensure()?;
        Ok(Self::at_path(data_dir.claims_file(provider), options, clock))
    }

    /// Claims kept in an explicit file whose directory exists; creates nothing. Starts the
    /// keeper thread when `options.heartbeat_interval` is set.
    pub fn at_path(
        path: impl Into<PathBuf>,
        options: ClaimsOptions,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::builder(path, options, clock).build()
    }

    /// A builder for claims kept in `path`.
    pub fn builder(
        path: impl Into<PathBuf>,
        options: ClaimsOptions,
        clock: Arc<dyn Clock>,
    ) -> ClaimsBuilder {
        let store = StoreChoice::File { path: path.into(), stamps: Arc::new(OsStamps) };
        ClaimsBuilder::new(store, options, clock)
    }

    /// A builder for claims kept in `store` (one store per instance: it carries the
    /// instance's holder identity), e.g. a database table shared by several hosts.
    pub fn builder_with_store(
        store: Arc<dyn ClaimsStore>,
        options: ClaimsOptions,
        clock: Arc<dyn Clock>,
    ) -> ClaimsBuilder {
        ClaimsBuilder::new(StoreChoice::Given(store), options, clock)
    }

    /// Where the claims are kept: the claims file, or a description of the store.
    pub fn path(&self) -> &Path {
        self.inner.store.location()
    }

    /// This instance as a holder.
    pub fn holder(&self) -> &Holder {
        &self.inner.me
    }

    /// Holds `account` for the caller: **no I/O, never blocks** — the per-request call. The
    /// first hold of an account (or the first after it was released) queues its claim, which
    /// the keeper thread writes at once in the background, taking the account over if another
    /// process holds it (claims are soft reservations). Without a keeper thread the claim is
    /// written by the next [`Claims::maintain`] or [`Claims::claim`].
    pub fn hold(&self, account: &str) -> ClaimGuard {
        let inner = &self.inner;
        let pending = inner.holds().take(account, inner.monotonic.elapsed());
        if pending && let Some(keeper) = inner.keeper.get() {
            keeper.wake();
        }
        ClaimGuard { inner: Arc::clone(inner), account: account.to_owned() }
    }

    /// Holds `account` and makes sure its claim is on file before returning. **Blocking** on
    /// the first hold of an account (one locked, fsynced write, waiting up to
    /// [`ClaimsOptions::lock_timeout`] for other writers); later calls cost what
    /// [`Claims::hold`] costs.
    #[tracing::instrument(level = "debug", skip(self), fields(path = %self.path().display()))]
    pub fn claim(&self, account: &str) -> Result<ClaimGuard, ClaimsError> {
        let guard = self.hold(account);
        let pending = self.inner.holds().is_pending(account);
        if !pending {
            return Ok(guard);
        }
        let written = self.inner.write_plan(|holds, _| Plan {
            claim: if holds.is_pending(account) { vec![account.to_owned()] } else { Vec::new() },
            ..Plan::default()
        });
        if let Err(err) = written {
            // Undo the hold, so a claim that failed is not written later behind the caller's
            // back (unless another guard holds the account meanwhile).
            drop(guard);
            let _writing = self.inner.writing();
            let mut holds = self.inner.holds();
            if holds.is_pending(account) {
                holds.forget_unused(account);
            }
            return Err(err);
        }
        Ok(guard)
    }

    /// The live claims as of the keeper's last refresh (at most about
    /// [`ClaimsOptions::view_refresh`] old; liveness answers up to
    /// [`ClaimsOptions::liveness_ttl`] old): **no I/O, never blocks** — what a selector asks per
    /// request. Empty until the first refresh (the keeper's first pass runs when the table is
    /// built; without a keeper, [`Claims::snapshot`] or [`Claims::maintain`] refresh it).
    pub fn cached_snapshot(&self) -> Arc<ClaimsSnapshot> {
        Arc::clone(&self.inner.view.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The live claims now, every holder's liveness asked of the store. **Blocking**: for the
    /// file, a `stat`, a lock-free read when the file changed, a `kill(pid, 0)` and a `/proc`
    /// read per holding process; for a database, two queries. Also refreshes
    /// [`Claims::cached_snapshot`]. For `mac status`, tests and callers off the request path.
    pub fn snapshot(&self) -> Result<ClaimsSnapshot, ClaimsError> {
        let view = self.inner.refresh_view(Liveness::Fresh)?;
        Ok(ClaimsSnapshot::clone(&view))
    }

    /// One keeper pass, done now: writes queued first claims, renews every held claim when a
    /// heartbeat is due (by the monotonic clock), releases accounts idle for
    /// [`ClaimsOptions::idle_release`] — all in one locked write, none when nothing is to do —
    /// then refreshes the cached view. **Blocking.** The keeper thread calls this every tick;
    /// call it yourself when the table has no keeper thread.
    pub fn maintain(&self) -> Result<(), ClaimsError> {
        self.inner.maintain()
    }

    /// Renews the heartbeat of every claim this instance holds now, re-taking one that lapsed
    /// (what a due heartbeat does). A claim another live process has taken over is left to it.
    /// **Blocking.**
    pub fn renew_held(&self) -> Result<(), ClaimsError> {
        self.inner.write_plan(|holds, _| Plan { renew: holds.accounts(), ..Plan::default() })
    }

    /// Removes dead and expired entries from the store (every write does this too).
    /// **Blocking.**
    pub fn prune(&self) -> Result<(), ClaimsError> {
        let _writing = self.inner.writing();
        self.inner.write(|_, _| ())
    }

    /// Releases this instance's claim on `account` now, unless a guard still holds it
    /// (`Ok(false)`, nothing done). Removes the entry only if this instance owns it.
    /// **Blocking.**
    pub fn release(&self, account: &str) -> Result<bool, ClaimsError> {
        let inner = &self.inner;
        let _writing = inner.writing();
        if !inner.holds().forget_unused(account) {
            return Ok(false);
        }
        inner.remove_mine(&[account.to_owned()])?;
        Ok(true)
    }

    /// Releases every claim this instance holds, whatever guards remain (clean shutdown; call
    /// it before the process exits — dropping the table releases too, but only as a fallback).
    /// **Blocking.**
    pub fn release_all(&self) -> Result<(), ClaimsError> {
        self.inner.release_all()
    }

    /// How many guards of this instance hold `account` now (in memory).
    pub fn guards(&self, account: &str) -> usize {
        self.inner.holds().guards(account)
    }

    /// How many times this instance has written its store (for benchmarks and tests: in
    /// steady state it grows by one per heartbeat, not per request).
    pub fn file_writes(&self) -> u64 {
        self.inner.store.writes()
    }
}

impl ClaimsBuilder {
    fn new(store: StoreChoice, options: ClaimsOptions, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            options,
            clock,
            monotonic: Arc::new(SystemMonotonic::new()),
            keeper_thread: true,
        }
    }

    /// The monotonic clock for renewal and idle decisions (default: the OS's).
    #[must_use]
    pub fn monotonic(mut self, monotonic: Arc<dyn Monotonic>) -> Self {
        self.monotonic = monotonic;
        self
    }

    /// Where file stamps come from (default: the OS; tests simulate coarse file systems).
    /// Only for claims kept in a file.
    #[must_use]
    pub fn stamp_source(mut self, stamps: Arc<dyn StampSource>) -> Self {
        if let StoreChoice::File { stamps: file_stamps, .. } = &mut self.store {
            *file_stamps = stamps;
        }
        self
    }

    /// Whether to start the keeper thread when a heartbeat interval is set (default `true`;
    /// `false` leaves [`Claims::maintain`] to the caller, for deterministic tests).
    #[must_use]
    pub fn keeper_thread(mut self, start: bool) -> Self {
        self.keeper_thread = start;
        self
    }

    /// The table.
    pub fn build(self) -> Claims {
        let tick =
            self.options.heartbeat_interval.map(|every| every.min(self.options.view_refresh));
        let store: Arc<dyn ClaimsStore> = match self.store {
            StoreChoice::File { path, stamps } => Arc::new(
                FileClaims::new(path, &self.options)
                    .with_stamp_source(stamps)
                    .with_clock(Arc::clone(&self.clock)),
            ),
            StoreChoice::Given(store) => store,
        };
        let inner = Arc::new(Inner {
            me: store.holder().clone(),
            store,
            options: self.options,
            clock: self.clock,
            monotonic: self.monotonic,
            holds: Mutex::new(Holds::default()),
            writing: Mutex::new(()),
            liveness: Mutex::new(LivenessCache::default()),
            view: Mutex::new(Arc::new(ClaimsSnapshot::default())),
            keeper: OnceLock::new(),
        });
        if self.keeper_thread
            && let Some(tick) = tick
        {
            match Keeper::start(
                Arc::downgrade(&inner),
                tick.max(Duration::from_millis(1)),
                keeper_pass,
            ) {
                Ok(keeper) => {
                    let _ = inner.keeper.set(keeper);
                }
                Err(err) => {
                    tracing::warn!(path = %inner.store.location().display(), error = %err, "cannot start the claims keeper thread; claims are written only by blocking calls");
                }
            }
        }
        Claims { inner }
    }
}

/// What the keeper thread does every tick.
fn keeper_pass(inner: &Inner) {
    if let Err(err) = inner.maintain() {
        tracing::warn!(path = %inner.store.location().display(), error = %err, "claims keeper pass failed; retrying next tick");
    }
}

impl ClaimGuard {
    /// The claimed account's local uuid.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Renews this claim's heartbeat now (re-taking it if it lapsed). **Blocking.**
    pub fn renew(&self) -> Result<(), ClaimsError> {
        self.inner.write_plan(|holds, _| Plan {
            // Nothing to renew once `release_all` let go of it.
            renew: if holds.guards(&self.account) > 0 {
                vec![self.account.clone()]
            } else {
                Vec::new()
            },
            ..Plan::default()
        })
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        let now = self.inner.monotonic.elapsed();
        self.inner.holds().put_back(&self.account, now);
    }
}

impl Inner {
    fn holds(&self) -> MutexGuard<'_, Holds> {
        self.holds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn liveness(&self) -> MutexGuard<'_, LivenessCache> {
        self.liveness.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn writing(&self) -> MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn entry(&self, claimed_at: EpochMs, now: EpochMs) -> ClaimEntry {
        ClaimEntry { holder: self.me.clone(), claimed_at, at: now }
    }

    /// Whether this instance wrote `entry`.
    fn is_mine(&self, entry: &ClaimEntry) -> bool {
        entry.holder == self.me
    }

    fn maintain(&self) -> Result<(), ClaimsError> {
        let options = &self.options;
        let written = self.write_plan(|holds, now| {
            holds.plan(now, options.heartbeat_interval, options.idle_release)
        });
        let viewed = self.refresh_view(Liveness::Cached);
        written.and(viewed.map(drop))
    }

    /// Decides under `writing` what to write (`decide` sees the holds and the monotonic time),
    /// writes it in one locked read-modify-write, and records the written claims.
    fn write_plan(
        &self,
        decide: impl FnOnce(&mut Holds, Duration) -> Plan,
    ) -> Result<(), ClaimsError> {
        let _writing = self.writing();
        let started = self.monotonic.elapsed();
        let plan = decide(&mut self.holds(), started);
        if plan.is_empty() {
            return Ok(());
        }
        self.write(|map, now| {
            for account in &plan.release {
                if map.get(account).is_some_and(|entry| self.is_mine(entry)) {
                    map.remove(account);
                }
            }
            for account in &plan.claim {
                let since =
                    map.get(account).filter(|e| self.is_mine(e)).map_or(now, |e| e.claimed_at);
                map.insert(account.clone(), self.entry(since, now));
            }
            for account in &plan.renew {
                self.renew_entry(map, account, now);
            }
        })?;
        // Measured from before the write: the heartbeat interval counts from the oldest
        // moment the new `at` can stand for.
        self.holds().mark_written(plan.written(), started);
        Ok(())
    }

    /// The live entries of `map`: heartbeat current (see [`ClaimEntry::is_current`]), and the
    /// holder alive — this instance always; another holder as `alive` (the store) answers, or
    /// the cache does when `how` allows. Every holder not answered by the cache is asked in
    /// one call.
    fn live_entries(
        &self,
        map: &ClaimMap,
        now: EpochMs,
        how: Liveness,
        alive: &mut AliveCheck<'_>,
    ) -> Result<ClaimMap, ClaimsError> {
        let mono = self.monotonic.elapsed();
        let current: Vec<(&String, &ClaimEntry)> =
            map.iter().filter(|(_, entry)| entry.is_current(now, self.options.expiry)).collect();
        let mut answers: HashMap<Holder, bool> = HashMap::new();
        let mut ask: Vec<Holder> = Vec::new();
        {
            let cache = self.liveness();
            for (_, entry) in &current {
                let holder = &entry.holder;
                if *holder == self.me || answers.contains_key(holder) || ask.contains(holder) {
                    continue;
                }
                let cached = match how {
                    Liveness::Cached => cache.get(holder, mono, self.options.liveness_ttl),
                    Liveness::Fresh => None,
                };
                match cached {
                    Some(answer) => {
                        answers.insert(holder.clone(), answer);
                    }
                    None => ask.push(holder.clone()),
                }
            }
        }
        if !ask.is_empty() {
            let told = alive(&ask)?;
            let mut cache = self.liveness();
            for (holder, answer) in ask.into_iter().zip(told) {
                cache.put(holder.clone(), answer, mono);
                answers.insert(holder, answer);
            }
        }
        let live: ClaimMap = current
            .into_iter()
            // A holder the store did not answer about counts as alive: claims are soft, and
            // its heartbeat still retires it.
            .filter(|(_, entry)| {
                entry.holder == self.me || answers.get(&entry.holder).copied().unwrap_or(true)
            })
            .map(|(account, entry)| (account.clone(), entry.clone()))
            .collect();
        if how == Liveness::Cached {
            self.liveness().retain(|holder| map.values().any(|entry| entry.holder == *holder));
        }
        Ok(live)
    }

    /// Renews `account` in a map of live entries: our entry gets a new heartbeat, a missing one
    /// is re-taken, another live holder's is left to it.
    fn renew_entry(&self, live: &mut ClaimMap, account: &str, now: EpochMs) {
        match live.get_mut(account) {
            Some(entry) if self.is_mine(entry) => entry.at = now,
            Some(_) => {}
            None => {
                live.insert(account.to_owned(), self.entry(now, now));
            }
        }
    }

    fn release_all(&self) -> Result<(), ClaimsError> {
        let _writing = self.writing();
        let held = self.holds().drain();
        self.remove_mine(&held)
    }

    /// Removes this instance's entries for `accounts`. The caller holds `writing`.
    fn remove_mine(&self, accounts: &[String]) -> Result<(), ClaimsError> {
        if accounts.is_empty() {
            return Ok(());
        }
        self.write(|map, _| {
            for account in accounts {
                if map.get(account).is_some_and(|entry| self.is_mine(entry)) {
                    map.remove(account);
                }
            }
        })
    }

    /// Rebuilds the cached view from the store (read without its lock) and returns it.
    fn refresh_view(&self, how: Liveness) -> Result<Arc<ClaimsSnapshot>, ClaimsError> {
        let map = self.store.read()?;
        let now = self.clock.now();
        let live = self.live_entries(&map, now, how, &mut |holders| self.store.alive(holders))?;
        Ok(self.publish(&live))
    }

    /// Makes `live` (entries already found live) the cached view, and returns it.
    fn publish(&self, live: &ClaimMap) -> Arc<ClaimsSnapshot> {
        let live = live
            .iter()
            .map(|(account, entry)| {
                let claim = LiveClaim {
                    account: account.clone(),
                    pid: entry.holder.pid,
                    host: entry.holder.host.clone(),
                    mine: self.is_mine(entry),
                    claimed_at: entry.claimed_at,
                    heartbeat_at: entry.at,
                };
                (account.clone(), claim)
            })
            .collect();
        let view = Arc::new(ClaimsSnapshot::new(live));
        *self.view.lock().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&view);
        view
    }

    /// Read-modify-write under the store's lock: `change` sees the entries with dead and
    /// expired ones already removed (holders' liveness asked fresh). It may run more than once
    /// (a store retries a transaction that failed). The caller holds `writing`.
    fn write(&self, change: impl Fn(&mut ClaimMap, EpochMs)) -> Result<(), ClaimsError> {
        let stored = self.store.update(&mut |before, alive| {
            let now = self.clock.now();
            let mut map = self.live_entries(before, now, Liveness::Fresh, alive)?;
            change(&mut map, now);
            Ok(map)
        })?;
        // What was just read under the lock is the freshest view there is: a claim this
        // instance just wrote shows as its own at once.
        self.publish(&stored);
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last clone and guard are gone (each holds the Arc): release what is still held,
        // as a fallback for a `release_all` never called. The keeper may be the one dropping
        // it, moments after the owner let go; a process about to exit calls `release_all`.
        if let Err(err) = self.release_all() {
            tracing::warn!(path = %self.store.location().display(), error = %err, "could not release claims at shutdown");
        }
    }
}
