//! [`FileClaims`]: the claims of one host's pool in `<provider>-claims.json` — the
//! [`ClaimsStore`] that [`crate::Claims::open`] uses.
//!
//! Every read-modify-write holds the file's OS lock (`LockedFile`) and replaces the file
//! crash-safely; reads take no lock and cost one `stat` while the file is unchanged. A holder
//! is alive while its pid exists with the recorded start time (see the `liveness` module):
//! every holder of a file runs on this host.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use mac_storage::file::{FileStamp, LockedFile, OsStamps, StampSource, read_file};
use mac_storage::{Clock, Durability, EpochMs, SystemClock};
use snafu::ResultExt;

use crate::claims_file::{ClaimMap, Parsed, decode, encode};
use crate::error::{ClaimsError, EncodeSnafu};
use crate::options::ClaimsOptions;
use crate::store::{ClaimsChange, ClaimsStore, Holder};

/// The largest claims file read; a larger one reads as malformed (claims are small: one entry
/// per account).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A provider pool's claims file, as one holder uses it.
#[derive(Debug)]
pub struct FileClaims {
    path: PathBuf,
    lock_timeout: Duration,
    durability: Durability,
    holder: Holder,
    stamps: Arc<dyn StampSource>,
    /// The wall clock that dates backups of an unreadable file.
    clock: Arc<dyn Clock>,
    /// The file as last read or written (lock-free reads of an unchanged file cost one `stat`).
    file: Mutex<Option<CachedFile>>,
    writes: AtomicU64,
}

/// The claims file as last read or written.
#[derive(Debug)]
struct CachedFile {
    /// Its stamp (`None`: there was no file).
    stamp: Option<FileStamp>,
    /// Whether no later version can have the same stamp (see `FileStamp::is_settled`): on a
    /// file system with coarse timestamps, two versions written within its granularity may
    /// share one, so an unsettled stamp is read again rather than trusted.
    settled: bool,
    entries: Arc<ClaimMap>,
}

impl FileClaims {
    /// The claims kept in `path` (its directory must exist), for a new holder in this
    /// process; writes wait and persist as `options` say.
    pub fn new(path: impl Into<PathBuf>, options: &ClaimsOptions) -> Self {
        Self {
            path: path.into(),
            lock_timeout: options.lock_timeout,
            durability: options.durability,
            holder: Holder::current(None),
            stamps: Arc::new(OsStamps),
            clock: Arc::new(SystemClock),
            file: Mutex::new(None),
            writes: AtomicU64::new(0),
        }
    }

    /// Where file stamps come from (default: the OS; tests simulate coarse file systems).
    #[must_use]
    pub fn with_stamp_source(mut self, stamps: Arc<dyn StampSource>) -> Self {
        self.stamps = stamps;
        self
    }

    /// The wall clock that dates the backup of an unreadable file (default: the system's).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn stamp_of_path(&self) -> Option<FileStamp> {
        FileStamp::of_path(&self.path).ok().flatten().map(|stamp| self.stamps.observe(stamp))
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

impl ClaimsStore for FileClaims {
    fn holder(&self) -> &Holder {
        &self.holder
    }

    fn location(&self) -> &Path {
        &self.path
    }

    /// The file's entries, read without a lock (one `stat` when unchanged since the last read
    /// or write, and that version's stamp is settled). A malformed file reads as empty.
    fn read(&self) -> Result<Arc<ClaimMap>, ClaimsError> {
        let observed_at = SystemTime::now();
        let stamp = self.stamp_of_path();
        let mut cache = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cached) = cache.as_ref()
            && cached.settled
            && cached.stamp == stamp
        {
            return Ok(Arc::clone(&cached.entries));
        }
        let (stamp, entries) = match read_file(&self.path, MAX_FILE_BYTES)? {
            None => (None, ClaimMap::new()),
            Some(contents) => {
                let entries = match decode(&contents.bytes) {
                    Parsed::Entries(map) if contents.stamp.len() <= MAX_FILE_BYTES => map,
                    _ => ClaimMap::new(),
                };
                (Some(self.stamps.observe(contents.stamp)), entries)
            }
        };
        let entries = Arc::new(entries);
        let settled = stamp.is_none_or(|stamp| stamp.is_settled(observed_at));
        *cache = Some(CachedFile { stamp, settled, entries: Arc::clone(&entries) });
        Ok(entries)
    }

    /// Read-modify-write under the claims file's lock. A file that did not parse is backed up
    /// once before it is replaced.
    fn update(&self, change: &mut ClaimsChange<'_>) -> Result<ClaimMap, ClaimsError> {
        let locked = LockedFile::acquire(&self.path, self.lock_timeout)?;
        let (stamp, before, malformed) = self.read_locked(&locked, self.clock.now())?;
        let map = change(&before, &mut |holders| self.alive(holders))?;
        if map == before && !malformed {
            return Ok(map);
        }
        let bytes = encode(&map).context(EncodeSnafu { path: &self.path })?;
        let before_replace = SystemTime::now();
        let new_stamp =
            self.stamps.observe(locked.replace(&bytes, stamp.as_ref(), self.durability)?);
        drop(locked);
        self.writes.fetch_add(1, Ordering::Relaxed);
        *self.file.lock().unwrap_or_else(PoisonError::into_inner) = Some(CachedFile {
            stamp: Some(new_stamp),
            settled: new_stamp.is_settled(before_replace),
            entries: Arc::new(map.clone()),
        });
        Ok(map)
    }

    /// Asks the OS: the pid exists with the recorded start time. An entry with this
    /// process's pid is an earlier process's unless the start times agree (no syscall).
    fn alive(&self, holders: &[Holder]) -> Result<Vec<bool>, ClaimsError> {
        let me = &self.holder;
        Ok(holders
            .iter()
            .map(|holder| {
                if holder.pid == me.pid {
                    holder.start.is_none() || holder.start == me.start
                } else {
                    holder.process().is_alive()
                }
            })
            .collect())
    }

    fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}
