//! [`Claims`]: one provider pool's claims table as seen by this process, and the
//! [`ClaimGuard`] a claim is held through.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mac_storage::{
    Clock, DataDir, Durability, EpochMs, FileStamp, LockedFile, Provider, read_file,
};
use snafu::ResultExt;

use crate::claims_file::{ClaimEntry, ClaimMap, Parsed, decode, encode};
use crate::error::{ClaimsError, EncodeSnafu};
use crate::heartbeat::Heartbeat;
use crate::liveness::ProcessIdentity;

/// The largest claims file read; a larger one reads as malformed (claims are small: one entry
/// per account).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// How claims are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimsOptions {
    /// A claim without a heartbeat for this long is expired. Default 60 s (SEED §2.4).
    pub expiry: Duration,
    /// How often held claims are renewed; `None` renews only on [`ClaimGuard::renew`].
    /// Default 20 s, a third of the expiry.
    pub heartbeat_interval: Option<Duration>,
    /// The longest a write waits for another process's write. Default 10 s.
    pub lock_timeout: Duration,
    /// Whether writes fsync. Claims are soft state, but a torn file would still cost every
    /// process its claims, so the default is [`Durability::Fsync`].
    pub durability: Durability,
}

impl Default for ClaimsOptions {
    fn default() -> Self {
        Self {
            expiry: Duration::from_secs(60),
            heartbeat_interval: Some(Duration::from_secs(20)),
            lock_timeout: Duration::from_secs(10),
            durability: Durability::Fsync,
        }
    }
}

/// A live claim, as [`ClaimsSnapshot`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveClaim {
    /// The claimed account's local uuid.
    pub account: String,
    /// The holding process.
    pub pid: u32,
    /// Whether the holder is this process.
    pub mine: bool,
    /// When the claim was taken.
    pub claimed_at: EpochMs,
    /// Its last heartbeat.
    pub heartbeat_at: EpochMs,
}

/// The live claims of a pool at one moment: dead and expired entries already left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimsSnapshot {
    live: HashMap<String, LiveClaim>,
}

impl ClaimsSnapshot {
    /// Whether another live process holds `account` (what the selector asks).
    pub fn is_claimed_by_other(&self, account: &str) -> bool {
        self.live.get(account).is_some_and(|claim| !claim.mine)
    }

    /// The live claim on `account`, if any.
    pub fn get(&self, account: &str) -> Option<&LiveClaim> {
        self.live.get(account)
    }

    /// Every live claim, by account uuid (for `mac status`: which process holds what).
    pub fn live(&self) -> impl Iterator<Item = &LiveClaim> {
        self.live.values()
    }

    /// How many live claims there are.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no account is claimed.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

/// A provider pool's claims file, as used by this process. Cheap to clone; use one per pool per
/// process (each instance has its own identity, so two instances in one process do not release
/// each other's claims).
#[derive(Clone, Debug)]
pub struct Claims {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    options: ClaimsOptions,
    clock: Arc<dyn Clock>,
    me: ProcessIdentity,
    instance: String,
    /// Claims this instance holds, with how many guards hold each.
    held: Mutex<HashMap<String, usize>>,
    heartbeat: Mutex<Option<Heartbeat>>,
    cache: Mutex<Option<(Option<FileStamp>, Arc<ClaimMap>)>>,
}

/// A held claim on one account; released when dropped (a blocking, locked write). Several
/// guards of one [`Claims`] may hold the same account: the claim goes when the last one does.
#[derive(Debug)]
pub struct ClaimGuard {
    inner: Arc<Inner>,
    account: String,
}

impl Claims {
    /// The claims of `provider`'s pool in `data_dir` (created `0700` if missing).
    pub fn open(
        data_dir: &DataDir,
        provider: Provider,
        options: ClaimsOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ClaimsError> {
        data_dir.ensure()?;
        Ok(Self::at_path(data_dir.claims_file(provider), options, clock))
    }

    /// Claims kept in an explicit file whose directory exists.
    pub fn at_path(
        path: impl Into<PathBuf>,
        options: ClaimsOptions,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let inner = Inner {
            path: path.into(),
            options,
            clock,
            me: ProcessIdentity::current(),
            instance: uuid::Uuid::new_v4().simple().to_string(),
            held: Mutex::new(HashMap::new()),
            heartbeat: Mutex::new(None),
            cache: Mutex::new(None),
        };
        Self { inner: Arc::new(inner) }
    }

    /// The claims file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Claims `account` for this process: records it (taking it over if another process holds
    /// it — claims are soft reservations) and returns the guard that keeps it. A second guard
    /// on an account this instance already holds costs no write while the heartbeat runs.
    #[tracing::instrument(level = "debug", skip(self), fields(path = %self.inner.path.display()))]
    pub fn claim(&self, account: &str) -> Result<ClaimGuard, ClaimsError> {
        let inner = &self.inner;
        // Already held by this instance and kept alive by the heartbeat: another guard on the
        // same claim needs no write (a gateway serving many requests on one account).
        let heartbeat_running =
            inner.heartbeat.lock().unwrap_or_else(PoisonError::into_inner).is_some();
        if heartbeat_running && let Some(count) = inner.held().get_mut(account) {
            *count += 1;
            return Ok(ClaimGuard { inner: Arc::clone(inner), account: account.to_owned() });
        }
        inner.write(|map, now| {
            let since = map.get(account).filter(|e| inner.is_mine(e)).map_or(now, |e| e.claimed_at);
            map.insert(account.to_owned(), inner.entry(since, now));
        })?;
        *inner.held().entry(account.to_owned()).or_insert(0) += 1;
        inner.start_heartbeat();
        Ok(ClaimGuard { inner: Arc::clone(inner), account: account.to_owned() })
    }

    /// The live claims now, read without a lock (one `stat` when the file has not changed).
    pub fn snapshot(&self) -> Result<ClaimsSnapshot, ClaimsError> {
        let inner = &self.inner;
        let map = inner.read()?;
        let now = inner.clock.now();
        let live = inner
            .live_entries(&map, now)
            .into_iter()
            .map(|(account, entry)| {
                let claim = LiveClaim {
                    account: account.clone(),
                    pid: entry.pid,
                    mine: entry.pid == inner.me.pid,
                    claimed_at: entry.claimed_at,
                    heartbeat_at: entry.at,
                };
                (account, claim)
            })
            .collect();
        Ok(ClaimsSnapshot { live })
    }

    /// Renews the heartbeat of every claim this instance holds (what the heartbeat thread does
    /// every interval). A claim another live process has taken over is left to it.
    pub fn renew_held(&self) -> Result<(), ClaimsError> {
        self.inner.renew_held()
    }

    /// Removes dead and expired entries from the file (they are also removed by every claim and
    /// release).
    pub fn prune(&self) -> Result<(), ClaimsError> {
        self.inner.write(|_, _| ())
    }

    /// Releases every claim this instance holds, whatever guards remain (clean shutdown).
    pub fn release_all(&self) -> Result<(), ClaimsError> {
        let held: Vec<String> = self.inner.held().drain().map(|(account, _)| account).collect();
        self.inner.remove_mine(&held)
    }
}

impl ClaimGuard {
    /// The claimed account's local uuid.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Renews this claim's heartbeat now.
    pub fn renew(&self) -> Result<(), ClaimsError> {
        let inner = &self.inner;
        inner.write(|map, now| inner.renew_entry(map, &self.account, now))
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        let last = {
            let mut held = self.inner.held();
            match held.get_mut(&self.account) {
                Some(count) if *count > 1 => {
                    *count -= 1;
                    false
                }
                Some(_) => {
                    held.remove(&self.account);
                    true
                }
                // Released already by release_all.
                None => false,
            }
        };
        if last && let Err(err) = self.inner.remove_mine(std::slice::from_ref(&self.account)) {
            tracing::warn!(account = %self.account, error = %err, "could not release a claim; it expires by itself");
        }
    }
}

impl Inner {
    fn held(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
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
        entry.pid == self.me.pid && entry.instance.as_deref() == Some(self.instance.as_str())
    }

    /// The live entries of `map`: heartbeat within the expiry, and the holding process alive.
    /// Liveness is checked once per process, however many accounts it holds.
    fn live_entries(&self, map: &ClaimMap, now: EpochMs) -> ClaimMap {
        let mut alive: HashMap<ProcessIdentity, bool> = HashMap::new();
        map.iter()
            .filter(|(_, entry)| {
                if now.duration_since(entry.at) > self.options.expiry {
                    return false;
                }
                let holder = ProcessIdentity { pid: entry.pid, start: entry.start };
                *alive.entry(holder).or_insert_with(|| self.is_alive(holder))
            })
            .map(|(account, entry)| (account.clone(), entry.clone()))
            .collect()
    }

    fn is_alive(&self, holder: ProcessIdentity) -> bool {
        if holder.pid == self.me.pid {
            // Ourselves, unless an earlier process with our pid wrote it.
            return holder.start.is_none() || holder.start == self.me.start;
        }
        holder.is_alive()
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

    fn renew_held(&self) -> Result<(), ClaimsError> {
        let held: Vec<String> = self.held().keys().cloned().collect();
        if held.is_empty() {
            return Ok(());
        }
        self.write(|map, now| {
            for account in &held {
                self.renew_entry(map, account, now);
            }
        })
    }

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

    fn start_heartbeat(self: &Arc<Self>) {
        let Some(interval) = self.options.heartbeat_interval else { return };
        let mut heartbeat = self.heartbeat.lock().unwrap_or_else(PoisonError::into_inner);
        if heartbeat.is_some() {
            return;
        }
        let beat = |inner: &Inner| {
            if let Err(err) = inner.renew_held() {
                tracing::warn!(path = %inner.path.display(), error = %err, "claims heartbeat failed");
            }
        };
        match Heartbeat::start(Arc::downgrade(self), interval, beat) {
            Ok(handle) => *heartbeat = Some(handle),
            Err(err) => {
                tracing::warn!(error = %err, "cannot start the claims heartbeat; claims renew only on use");
            }
        }
    }

    /// The file's entries, read without a lock; cached by file stamp.
    fn read(&self) -> Result<Arc<ClaimMap>, ClaimsError> {
        let stamp = FileStamp::of_path(&self.path).ok().flatten();
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
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
    /// with dead and expired ones already removed. A file that did not parse is backed up once
    /// before it is replaced.
    fn write(&self, change: impl FnOnce(&mut ClaimMap, EpochMs)) -> Result<(), ClaimsError> {
        let locked = LockedFile::acquire(&self.path, self.options.lock_timeout)?;
        let now = self.clock.now();
        let (stamp, before, malformed) = self.read_locked(&locked, now)?;
        let mut map = self.live_entries(&before, now);
        change(&mut map, now);
        if map == before && !malformed {
            return Ok(());
        }
        let bytes = encode(&map).context(EncodeSnafu { path: &self.path })?;
        let new_stamp = locked.replace(&bytes, stamp.as_ref(), self.options.durability)?;
        drop(locked);
        *self.cache.lock().unwrap_or_else(PoisonError::into_inner) =
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
        // Only reached when no guard is left (each holds the Arc), so nothing should be held;
        // this covers a `release_all` that was never called after guards were leaked.
        let held: Vec<String> = self.held().drain().map(|(account, _)| account).collect();
        if let Err(err) = self.remove_mine(&held) {
            tracing::warn!(path = %self.path.display(), error = %err, "could not release claims at shutdown");
        }
    }
}
