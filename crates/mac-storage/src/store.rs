//! `AccountStore`: the one way to read and change a provider's accounts file (D5–D7).
//!
//! Reads take no lock: the file is only ever replaced by rename, so a reader sees one whole
//! version. A reader re-parses only when the file's [`FileStamp`] changed. A change runs a
//! closure over the document under the file's exclusive lock, with the file re-read inside the
//! lock, and writes only if the closure changed something.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use snafu::{IntoError, ResultExt};

use crate::backup::backup_once;
use crate::bookkeeping::Bookkeeping;
use crate::codec::{DocumentProblem, decode, encode};
use crate::data_dir::{DataDir, Provider};
use crate::document::{AccountsDocument, SUPPORTED_VERSION, StoredAccount};
use crate::epoch::EpochMs;
use crate::error::{EncodeSnafu, InvalidSnafu, NewerVersionSnafu, StoreError, UnknownAccountSnafu};
use crate::file_stamp::FileStamp;
use crate::locked_file::{Durability, LockedFile, read_file};

/// How a store waits, writes and coalesces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// The longest a change waits for another process's change to finish. Default 10 s.
    pub lock_timeout: Duration,
    /// Whether writes fsync. Default [`Durability::Fsync`].
    pub durability: Durability,
    /// The largest accounts file accepted. Default 8 MiB (a pool of 10 accounts is ~10 KiB).
    pub max_file_bytes: u64,
    /// How often at most `lastUsed` of one account is written (D7). Default 5 s.
    pub bookkeeping_interval: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            lock_timeout: Duration::from_secs(10),
            durability: Durability::Fsync,
            max_file_bytes: 8 * 1024 * 1024,
            bookkeeping_interval: Duration::from_secs(5),
        }
    }
}

/// The parsed version of the file last seen by this store.
#[derive(Debug)]
struct Cached {
    /// `None`: the file did not exist.
    stamp: Option<FileStamp>,
    document: Arc<AccountsDocument>,
}

/// A provider's accounts file and its one write path. Cheap to share (`Arc<AccountStore>`);
/// many stores in many processes may use one file at once.
///
/// The methods block (file locks, fsync): async callers run them on a blocking thread.
#[derive(Debug)]
pub struct AccountStore {
    path: PathBuf,
    options: StoreOptions,
    cache: Mutex<Option<Cached>>,
    bookkeeping: Mutex<Bookkeeping>,
    parses: AtomicU64,
}

impl AccountStore {
    /// The store of `provider` in `data_dir`, creating the directory (`0700`) if needed.
    pub fn open(
        data_dir: &DataDir,
        provider: Provider,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        data_dir.ensure()?;
        Ok(Self::at_path(data_dir.accounts_file(provider), options))
    }

    /// A store on an explicit file whose directory exists (tests, imports).
    pub fn at_path(path: impl Into<PathBuf>, options: StoreOptions) -> Self {
        let bookkeeping = Mutex::new(Bookkeeping::new(options.bookkeeping_interval));
        Self {
            path: path.into(),
            options,
            cache: Mutex::new(None),
            bookkeeping,
            parses: AtomicU64::new(0),
        }
    }

    /// The accounts file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options this store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// The current document, without a lock. A missing file is an empty pool. When the file has
    /// not changed since the last call (same stamp), no bytes are read and the same `Arc` is
    /// returned; callers can compare [`AccountsDocument::generation`] or use `Arc::ptr_eq`.
    ///
    /// A file of a newer version is returned as read (D3); an unusable file is an error naming
    /// it (no copy is made on read; a change attempt makes one).
    #[tracing::instrument(level = "trace", skip_all, fields(path = %self.path.display()))]
    pub fn load(&self) -> Result<Arc<AccountsDocument>, StoreError> {
        let stamp =
            FileStamp::of_path(&self.path).map_err(|source| self.io_error("stat", source))?;
        if let Some(document) = self.cached_if(stamp.as_ref()) {
            return Ok(document);
        }
        let (stamp, document) = self.read_fresh()?;
        Ok(self.remember(stamp, document))
    }

    /// Runs `change` on the current document under the file's lock and writes the result
    /// crash-safely, unless `change` fails or leaves the document as it was. Pending `lastUsed`
    /// bookkeeping is written along.
    ///
    /// Refuses, without writing, when the file is unusable (a `0600` copy is made once) or of a
    /// newer version.
    #[tracing::instrument(level = "debug", skip_all, fields(path = %self.path.display()))]
    pub fn mutate<T>(
        &self,
        change: impl FnOnce(&mut AccountsDocument) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let locked = LockedFile::acquire(&self.path, self.options.lock_timeout)?;
        let (stamp, current) = self.read_locked(&locked)?;
        if current.version > SUPPORTED_VERSION {
            self.backup_quietly();
            return NewerVersionSnafu { path: &self.path, found: current.version }.fail();
        }
        let mut next = AccountsDocument::clone(&current);
        let pending = self.bookkeeping().pending();
        apply_last_used(&mut next, &pending);
        let value = change(&mut next)?;
        if next == *current {
            // Pending values that changed nothing are on disk already (or their account is
            // gone): they are settled too.
            self.bookkeeping().written(&pending);
            return Ok(value);
        }
        next.version = SUPPORTED_VERSION;
        next.generation = current.generation.wrapping_add(1);
        let bytes = encode(&next).context(EncodeSnafu { path: &self.path })?;
        let new_stamp = locked.replace(&bytes, stamp.as_ref(), self.options.durability)?;
        drop(locked);
        self.bookkeeping().written(&pending);
        *self.cache() = Some(Cached { stamp: Some(new_stamp), document: Arc::new(next) });
        Ok(value)
    }

    /// The account with `uuid` in `document`, or the store's "unknown account" error.
    pub fn account_mut<'d>(
        &self,
        document: &'d mut AccountsDocument,
        uuid: &str,
    ) -> Result<&'d mut StoredAccount, StoreError> {
        match document.account_mut(uuid) {
            Some(account) => Ok(account),
            None => UnknownAccountSnafu { path: &self.path, uuid }.fail(),
        }
    }

    /// How many times this store has read and parsed the file (a diagnostic: on the request
    /// hot path this stays flat while the file does not change, D7).
    pub fn parse_count(&self) -> u64 {
        self.parses.load(Ordering::Relaxed)
    }

    /// Writes pending `lastUsed` bookkeeping now, if there is any.
    pub fn flush(&self) -> Result<(), StoreError> {
        if self.bookkeeping().has_pending() {
            self.mutate(|_| Ok(()))?;
        }
        Ok(())
    }

    pub(crate) fn bookkeeping(&self) -> MutexGuard<'_, Bookkeeping> {
        self.bookkeeping.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cache(&self) -> MutexGuard<'_, Option<Cached>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cached_if(&self, stamp: Option<&FileStamp>) -> Option<Arc<AccountsDocument>> {
        let cache = self.cache();
        cache.as_ref().filter(|c| c.stamp.as_ref() == stamp).map(|c| Arc::clone(&c.document))
    }

    fn remember(
        &self,
        stamp: Option<FileStamp>,
        document: AccountsDocument,
    ) -> Arc<AccountsDocument> {
        let document = Arc::new(document);
        *self.cache() = Some(Cached { stamp, document: Arc::clone(&document) });
        document
    }

    /// Reads and parses the file (no lock, no backup).
    fn read_fresh(&self) -> Result<(Option<FileStamp>, AccountsDocument), StoreError> {
        let limit = self.options.max_file_bytes;
        let Some(contents) = read_file(&self.path, limit)? else {
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
            Ok(document) => Ok((Some(contents.stamp), document)),
            Err(problem) => InvalidSnafu { path: &self.path, problem, backup: None }.fail(),
        }
    }

    /// Like [`AccountStore::load`], for the lock holder: on an unusable file, makes the backup.
    fn read_locked(
        &self,
        _proof: &LockedFile,
    ) -> Result<(Option<FileStamp>, Arc<AccountsDocument>), StoreError> {
        let stamp =
            FileStamp::of_path(&self.path).map_err(|source| self.io_error("stat", source))?;
        if let Some(document) = self.cached_if(stamp.as_ref()) {
            return Ok((stamp, document));
        }
        match self.read_fresh() {
            Ok((stamp, document)) => Ok((stamp, self.remember(stamp, document))),
            Err(StoreError::Invalid { path, problem, .. }) => {
                let backup = self.backup_quietly();
                Err(StoreError::Invalid { path, problem, backup })
            }
            Err(err) => Err(err),
        }
    }

    fn backup_quietly(&self) -> Option<PathBuf> {
        match backup_once(&self.path, EpochMs::now()) {
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

impl Drop for AccountStore {
    fn drop(&mut self) {
        if let Err(err) = self.flush() {
            tracing::warn!(path = %self.path.display(), error = %err, "could not write pending lastUsed bookkeeping");
        }
    }
}

fn apply_last_used(document: &mut AccountsDocument, pending: &[(String, EpochMs)]) {
    for (uuid, at) in pending {
        if let Some(account) = document.account_mut(uuid) {
            account.last_used = account.last_used.max(*at);
        }
    }
}
