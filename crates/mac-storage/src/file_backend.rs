//! The file backend of the account store: one JSON file per provider, written by
//! [`LockedFile`] (a crash-safe replace under the directory's lock), read without a lock.
//!
//! **Inside the lock the file is always read and parsed afresh** (~50 µs for ten accounts,
//! against milliseconds of fsync): a stat-based cache can be fooled by coarse timestamps, and a
//! stale document there is a lost update. The stamp cache serves lock-free reads only, and only
//! once a stamp is settled ([`FileStamp::is_settled`]), so a reader on a file system with
//! whole-second times re-reads a young file instead of trusting a stamp that a later version
//! could repeat.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use snafu::IntoError;

use crate::backend::{AccountsBackend, TxClosure, TxOutcome};
use crate::backup::backup_once;
use crate::codec::{DocumentProblem, decode, encode_checked};
use crate::document::{AccountsDocument, SUPPORTED_VERSION};
use crate::epoch::EpochMs;
use crate::error::{InvalidSnafu, NewerVersionSnafu, StoreError, UnwritableSnafu};
use crate::file_stamp::{FileStamp, OsStamps, StampSource};
use crate::locked_file::{LockedFile, read_file};
use crate::store::StoreOptions;

/// The parsed version of the file last seen by this backend.
#[derive(Debug)]
struct Cached {
    /// `None`: the file did not exist.
    stamp: Option<FileStamp>,
    /// Whether `stamp` identifies this version for good (see the module docs).
    settled: bool,
    document: Arc<AccountsDocument>,
}

/// One provider's accounts file. Many backends in many processes may use one file at once.
#[derive(Debug)]
pub struct FileBackend {
    path: PathBuf,
    options: StoreOptions,
    stamps: Arc<dyn StampSource>,
    cache: Mutex<Option<Cached>>,
    parses: AtomicU64,
}

impl FileBackend {
    /// The backend of the file at `path`, whose directory exists.
    pub fn new(path: impl Into<PathBuf>, options: StoreOptions) -> Self {
        Self {
            path: path.into(),
            options,
            stamps: Arc::new(OsStamps),
            cache: Mutex::new(None),
            parses: AtomicU64::new(0),
        }
    }

    /// Uses `stamps` instead of the operating system's stamps (tests simulating a file system
    /// with coarse timestamps).
    #[must_use]
    pub fn with_stamp_source(mut self, stamps: Arc<dyn StampSource>) -> Self {
        self.stamps = stamps;
        self
    }

    fn cache(&self) -> MutexGuard<'_, Option<Cached>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cached_if(&self, stamp: Option<&FileStamp>) -> Option<Arc<AccountsDocument>> {
        let cache = self.cache();
        cache
            .as_ref()
            .filter(|c| c.settled && c.stamp.as_ref() == stamp)
            .map(|c| Arc::clone(&c.document))
    }

    /// Caches `document` as the version with `stamp`, which was read after `observed_at`.
    fn remember(
        &self,
        stamp: Option<FileStamp>,
        observed_at: SystemTime,
        document: Arc<AccountsDocument>,
    ) {
        let settled = stamp.as_ref().is_none_or(|s| s.is_settled(observed_at));
        *self.cache() = Some(Cached { stamp, settled, document });
    }

    fn stat(&self) -> Result<Option<FileStamp>, StoreError> {
        let stamp =
            FileStamp::of_path(&self.path).map_err(|source| self.io_error("stat", source))?;
        Ok(stamp.map(|s| self.stamps.observe(s)))
    }

    /// Reads and parses the file (through `locked` when held). No backup here.
    fn read_fresh(
        &self,
        locked: Option<&LockedFile>,
    ) -> Result<(Option<FileStamp>, AccountsDocument), StoreError> {
        let limit = self.options.max_file_bytes;
        let contents = match locked {
            Some(locked) => locked.read(limit)?,
            None => read_file(&self.path, limit)?,
        };
        let Some(contents) = contents else {
            return Ok((None, AccountsDocument::empty()));
        };
        self.parses.fetch_add(1, Ordering::Relaxed);
        // The read stops past the limit; report the size on disk.
        let decoded = if contents.stamp.len() > limit {
            Err(DocumentProblem::TooLarge { size: contents.stamp.len(), limit })
        } else {
            decode(&contents.bytes, limit)
        };
        match decoded {
            Ok(document) => Ok((Some(self.stamps.observe(contents.stamp)), document)),
            Err(DocumentProblem::NewerVersion { found }) => {
                NewerVersionSnafu { path: &self.path, found }.fail()
            }
            Err(problem) => InvalidSnafu { path: &self.path, problem, backup: None }.fail(),
        }
    }

    /// The current document for the lock holder; an unusable file is copied once.
    fn read_locked(
        &self,
        locked: &LockedFile,
    ) -> Result<(Option<FileStamp>, AccountsDocument), StoreError> {
        match self.read_fresh(Some(locked)) {
            Err(StoreError::Invalid { path, problem, .. }) => {
                let backup = self.backup_quietly(locked.target());
                Err(StoreError::Invalid { path, problem, backup })
            }
            other => other,
        }
    }

    fn backup_quietly(&self, file: &Path) -> Option<PathBuf> {
        match backup_once(file, EpochMs::now()) {
            Ok(backup) => Some(backup),
            Err(err) => {
                tracing::warn!(path = %self.path.display(), error = %err, "could not copy an unusable accounts file");
                None
            }
        }
    }

    fn io_error(&self, step: &'static str, source: std::io::Error) -> StoreError {
        crate::locked_file::FileIoSnafu { step, path: &self.path }.into_error(source).into()
    }
}

impl AccountsBackend for FileBackend {
    fn location(&self) -> &Path {
        &self.path
    }

    /// One `stat` when the file has not changed since the last call and its stamp is settled:
    /// the same `Arc` comes back (callers can use `Arc::ptr_eq`). Otherwise a read and a parse.
    #[tracing::instrument(level = "trace", skip_all, fields(path = %self.path.display()))]
    fn load(&self) -> Result<Arc<AccountsDocument>, StoreError> {
        let observed_at = SystemTime::now();
        let stamp = self.stat()?;
        if let Some(document) = self.cached_if(stamp.as_ref()) {
            return Ok(document);
        }
        let (stamp, document) = self.read_fresh(None)?;
        let document = Arc::new(document);
        self.remember(stamp, observed_at, Arc::clone(&document));
        Ok(document)
    }

    fn cached(&self) -> Option<Arc<AccountsDocument>> {
        self.cache().as_ref().map(|c| Arc::clone(&c.document))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(path = %self.path.display()))]
    fn transact(&self, change: &mut TxClosure<'_>) -> Result<TxOutcome, StoreError> {
        let locked = LockedFile::acquire(&self.path, self.options.lock_timeout)?;
        let observed_at = SystemTime::now();
        let (stamp, current) = self.read_locked(&locked)?;
        if current.version > SUPPORTED_VERSION {
            return NewerVersionSnafu { path: &self.path, found: current.version }.fail();
        }
        let mut next = current.clone();
        let current = Arc::new(current);
        self.remember(stamp, observed_at, Arc::clone(&current));
        if change(&mut next) == ControlFlow::Break(()) {
            return Ok(TxOutcome::Aborted);
        }
        if next == *current {
            return Ok(TxOutcome::Unchanged);
        }
        next.version = SUPPORTED_VERSION;
        next.generation = current.generation.wrapping_add(1);
        let bytes = encode_checked(&next, self.options.max_file_bytes)
            .map_err(|problem| UnwritableSnafu { path: &self.path, problem }.build())?;
        let new_stamp = locked.replace(&bytes, stamp.as_ref(), self.options.durability)?;
        // Taken under the lock: every later version is written after this moment.
        let written_at = SystemTime::now();
        drop(locked);
        self.remember(Some(self.stamps.observe(new_stamp)), written_at, Arc::new(next));
        Ok(TxOutcome::Written)
    }

    fn parse_count(&self) -> u64 {
        self.parses.load(Ordering::Relaxed)
    }
}
