//! [`Claims`]: one provider pool's claims table as this process uses it, and the [`ClaimGuard`]
//! a request holds an account through.
//!
//! Two halves. The request path — [`Claims::hold`], dropping a [`ClaimGuard`],
//! [`Claims::cached_snapshot`], [`Claims::guards`] — works in memory only: no file I/O, no
//! syscall, nothing waited on but a short in-process mutex, so async code may call it on a
//! runtime worker. Everything that touches the file — writing a first claim, renewing,
//! releasing, reading the others' claims and asking the OS whether their holders live — is done
//! by the keeper thread (see the `keeper` module) in the background, or by the methods
//! documented as **blocking**, which an async caller runs on `spawn_blocking`.
//!
//! Every write is a read-modify-write under the claims file's OS lock, and this instance's
//! writes are serialized in-process with the decisions behind them (`writing`), so a release
//! decided before a re-claim is also written before it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use mac_storage::{Clock, DataDir, EpochMs, FileStamp, LockedFile, Provider, read_file};
use snafu::ResultExt;

use crate::claims_file::{ClaimEntry, ClaimMap, Parsed, decode, encode};
use crate::error::{ClaimsError, EncodeSnafu};
use crate::holds::{Holds, Plan};
use crate::keeper::Keeper;
use crate::liveness::{LivenessCache, ProcessIdentity};
use crate::monotonic::{Monotonic, SystemMonotonic};
use crate::options::ClaimsOptions;
use crate::snapshot::{ClaimsSnapshot, LiveClaim};

/// The largest claims file read; a larger one reads as malformed (claims are small: one entry
/// per account).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A provider pool's claims file, as used by this process. Cheap to clone (clones share one
/// identity); use one per pool per process. Each instance has its own identity (`instance` in
/// the file): another instance, even in the same process, is another holder, whose claims it
/// neither counts as its own nor releases.
#[derive(Clone, Debug)]
pub struct Claims {
    inner: Arc<Inner>,
}

/// Builds a [`Claims`] with a non-default monotonic clock or without the keeper thread.
#[derive(Debug)]
pub struct ClaimsBuilder {
    path: PathBuf,
    options: ClaimsOptions,
    clock: Arc<dyn Clock>,
    monotonic: Arc<dyn Monotonic>,
    keeper_thread: bool,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    options: ClaimsOptions,
    clock: Arc<dyn Clock>,
    monotonic: Arc<dyn Monotonic>,
    me: ProcessIdentity,
    instance: String,
    /// The accounts this instance holds (in memory; the request path).
    holds: Mutex<Holds>,
    /// Held while this instance decides and performs a write of the claims file.
    writing: Mutex<()>,
    /// The file as last read or written, by its stamp (lock-free reads cost one `stat`).
    file: Mutex<Option<(Option<FileStamp>, Arc<ClaimMap>)>>,
    liveness: Mutex<LivenessCache>,
    /// The view [`Claims::cached_snapshot`] serves.
    view: Mutex<Arc<ClaimsSnapshot>>,
    file_writes: AtomicU64,
    keeper: OnceLock<Keeper>,
}

/// How a read decides whether another holder lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Liveness {
    /// Ask the OS (once per holding process per read).
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
        ClaimsBuilder {
            path: path.into(),
            options,
            clock,
            monotonic: Arc::new(SystemMonotonic::new()),
            keeper_thread: true,
        }
    }

    /// The claims file.
    pub fn path(&self) -> &Path {
        &self.inner.path
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
    #[tracing::instrument(level = "debug", skip(self), fields(path = %self.inner.path.display()))]
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

    /// The live claims now, every holder's liveness asked of the OS. **Blocking**: a `stat`,
    /// a lock-free read when the file changed, a `kill(pid, 0)` and a `/proc` read per holding
    /// process. Also refreshes [`Claims::cached_snapshot`]. For `mac status`, tests and callers
    /// off the request path.
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

    /// Removes dead and expired entries from the file (every write does this too).
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

    /// How many times this instance has replaced the claims file (for benchmarks and tests:
    /// in steady state it grows by one per heartbeat, not per request).
    pub fn file_writes(&self) -> u64 {
        self.inner.file_writes.load(Ordering::Relaxed)
    }
}

impl ClaimsBuilder {
    /// The monotonic clock for renewal and idle decisions (default: the OS's).
    #[must_use]
    pub fn monotonic(mut self, monotonic: Arc<dyn Monotonic>) -> Self {
        self.monotonic = monotonic;
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
        let inner = Arc::new(Inner {
            path: self.path,
            options: self.options,
            clock: self.clock,
            monotonic: self.monotonic,
            me: ProcessIdentity::current(),
            instance: uuid::Uuid::new_v4().simple().to_string(),
            holds: Mutex::new(Holds::default()),
            writing: Mutex::new(()),
            file: Mutex::new(None),
            liveness: Mutex::new(LivenessCache::default()),
            view: Mutex::new(Arc::new(ClaimsSnapshot::default())),
            file_writes: AtomicU64::new(0),
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
                    tracing::warn!(path = %inner.path.display(), error = %err, "cannot start the claims keeper thread; claims are written only by blocking calls");
                }
            }
        }
        Claims { inner }
    }
}

/// What the keeper thread does every tick.
fn keeper_pass(inner: &Inner) {
    if let Err(err) = inner.maintain() {
        tracing::warn!(path = %inner.path.display(), error = %err, "claims keeper pass failed; retrying next tick");
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

    fn writing(&self) -> MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn entry(&self, claimed_at: EpochMs, now: EpochMs) -> ClaimEntry {
        ClaimEntry {
            pid: self.me.pid,
            start: self.me.start,
            instance: Some(self.instance.clone()),
            claimed_at,
            at: now,
        }
    }

    /// Whether this instance wrote `entry`.
    fn is_mine(&self, entry: &ClaimEntry) -> bool {
        entry.pid == self.me.pid
            && entry.start == self.me.start
            && entry.instance.as_deref() == Some(self.instance.as_str())
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
    /// holding process alive. The OS is asked once per holding process per call at most.
    fn live_entries(&self, map: &ClaimMap, now: EpochMs, how: Liveness) -> ClaimMap {
        let mono = self.monotonic.elapsed();
        let mut cache = self.liveness.lock().unwrap_or_else(PoisonError::into_inner);
        let mut asked: HashMap<ProcessIdentity, bool> = HashMap::new();
        let live: ClaimMap = map
            .iter()
            .filter(|(_, entry)| {
                if !entry.is_current(now, self.options.expiry) {
                    return false;
                }
                let holder = ProcessIdentity { pid: entry.pid, start: entry.start };
                if holder.pid == self.me.pid {
                    // Ourselves, unless an earlier process with our pid wrote it.
                    return holder.start.is_none() || holder.start == self.me.start;
                }
                *asked.entry(holder).or_insert_with(|| {
                    let cached = match how {
                        Liveness::Cached => cache.get(holder, mono, self.options.liveness_ttl),
                        Liveness::Fresh => None,
                    };
                    cached.unwrap_or_else(|| {
                        let alive = holder.is_alive();
                        cache.put(holder, alive, mono);
                        alive
                    })
                })
            })
            .map(|(account, entry)| (account.clone(), entry.clone()))
            .collect();
        if how == Liveness::Cached {
            cache.retain(|holder| {
                map.values().any(|e| e.pid == holder.pid && e.start == holder.start)
            });
        }
        live
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

    /// Rebuilds the cached view from the file (read without a lock) and returns it.
    fn refresh_view(&self, how: Liveness) -> Result<Arc<ClaimsSnapshot>, ClaimsError> {
        let map = self.read()?;
        let now = self.clock.now();
        Ok(self.publish(&self.live_entries(&map, now, how)))
    }

    /// Makes `live` (entries already found live) the cached view, and returns it.
    fn publish(&self, live: &ClaimMap) -> Arc<ClaimsSnapshot> {
        let live = live
            .iter()
            .map(|(account, entry)| {
                let claim = LiveClaim {
                    account: account.clone(),
                    pid: entry.pid,
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

    /// The file's entries, read without a lock (one `stat` when unchanged since the last read
    /// or write). A malformed file reads as empty.
    fn read(&self) -> Result<Arc<ClaimMap>, ClaimsError> {
        let stamp = FileStamp::of_path(&self.path).ok().flatten();
        let mut cache = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((cached_stamp, map)) = cache.as_ref()
            && *cached_stamp == stamp
        {
            return Ok(Arc::clone(map));
        }
        let (stamp, map) = match read_file(&self.path, MAX_FILE_BYTES)? {
            None => (None, ClaimMap::new()),
            Some(contents) => match decode(&contents.bytes) {
                Parsed::Entries(map) if contents.stamp.len() <= MAX_FILE_BYTES => {
                    (Some(contents.stamp), map)
                }
                _ => (Some(contents.stamp), ClaimMap::new()),
            },
        };
        let map = Arc::new(map);
        *cache = Some((stamp, Arc::clone(&map)));
        Ok(map)
    }

    /// Read-modify-write under the claims file's lock: `change` sees the well-formed entries
    /// with dead and expired ones already removed (holders' liveness asked fresh). A file that
    /// did not parse is backed up once before it is replaced. The caller holds `writing`.
    fn write(&self, change: impl FnOnce(&mut ClaimMap, EpochMs)) -> Result<(), ClaimsError> {
        let locked = LockedFile::acquire(&self.path, self.options.lock_timeout)?;
        let now = self.clock.now();
        let (stamp, before, malformed) = self.read_locked(&locked, now)?;
        let mut map = self.live_entries(&before, now, Liveness::Fresh);
        change(&mut map, now);
        // What was just read under the lock is the freshest view there is: a claim this
        // instance just wrote shows as its own at once (once it is on file).
        if map == before && !malformed {
            self.publish(&map);
            return Ok(());
        }
        let bytes = encode(&map).context(EncodeSnafu { path: &self.path })?;
        let new_stamp = locked.replace(&bytes, stamp.as_ref(), self.options.durability)?;
        drop(locked);
        self.file_writes.fetch_add(1, Ordering::Relaxed);
        self.publish(&map);
        *self.file.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Some(new_stamp), Arc::new(map)));
        Ok(())
    }

    /// The file's entries for the lock holder, and whether the file was malformed (in which
    /// case it has been backed up once and must be replaced).
    fn read_locked(
        &self,
        locked: &LockedFile,
        now: EpochMs,
    ) -> Result<(Option<FileStamp>, ClaimMap, bool), ClaimsError> {
        let Some(contents) = locked.read(MAX_FILE_BYTES)? else {
            return Ok((None, ClaimMap::new(), false));
        };
        if let Parsed::Entries(map) = decode(&contents.bytes)
            && contents.stamp.len() <= MAX_FILE_BYTES
        {
            return Ok((Some(contents.stamp), map, false));
        }
        match mac_storage::backup_once(&self.path, now) {
            Ok(backup) => {
                tracing::warn!(path = %self.path.display(), backup = %backup.display(), "replacing an unreadable claims file");
            }
            Err(err) => {
                tracing::warn!(path = %self.path.display(), error = %err, "replacing an unreadable claims file without a backup");
            }
        }
        Ok((Some(contents.stamp), ClaimMap::new(), true))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last clone and guard are gone (each holds the Arc): release what is still held,
        // as a fallback for a `release_all` never called. The keeper may be the one dropping
        // it, moments after the owner let go; a process about to exit calls `release_all`.
        if let Err(err) = self.release_all() {
            tracing::warn!(path = %self.path.display(), error = %err, "could not release claims at shutdown");
        }
    }
}
