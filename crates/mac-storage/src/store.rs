//! `AccountStore`: the one way to read and change a provider's accounts (D5–D7), over an
//! [`AccountsBackend`] (the file backend unless another is given).
//!
//! A change is a transaction: the closure runs over the current document — read fresh inside
//! the transaction, never from a cache — and the result is committed only if the closure
//! succeeded and changed something. Pending `lastUsed` bookkeeping (D7) rides along.
//!
//! **Async callers.** Nothing here needs a runtime. [`AccountStore::cached`] never blocks and
//! can be called on an async worker; [`AccountStore::load`] costs one `stat` when nothing
//! changed (fine on a local disk, but a network file system can stall it); every change waits
//! for a lock and fsyncs. The store is `Send + Sync`: share an `Arc<AccountStore>` and run the
//! blocking calls in `spawn_blocking` with owned arguments.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::backend::{AccountsBackend, TxOutcome};
use crate::bookkeeping::Bookkeeping;
use crate::data_dir::{DataDir, Provider};
use crate::document::{AccountsDocument, StoredAccount};
use crate::epoch::EpochMs;
use crate::error::{StoreError, UnknownAccountSnafu};
use crate::file_backend::FileBackend;
use crate::locked_file::Durability;

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

/// A provider's accounts and their one write path. Cheap to share (`Arc<AccountStore>`); many
/// stores in many processes may use one file (or database) at once.
///
/// Every method but [`AccountStore::cached`] may block (see the module docs).
#[derive(Debug)]
pub struct AccountStore {
    backend: Arc<dyn AccountsBackend>,
    options: StoreOptions,
    bookkeeping: Mutex<Bookkeeping>,
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
        let backend = FileBackend::new(path, options.clone());
        Self::with_backend(Arc::new(backend), options)
    }

    /// A store over any backend. `options` supply the bookkeeping interval (the other options
    /// belong to the backend).
    pub fn with_backend(backend: Arc<dyn AccountsBackend>, options: StoreOptions) -> Self {
        let bookkeeping = Mutex::new(Bookkeeping::new(options.bookkeeping_interval));
        Self { backend, options, bookkeeping }
    }

    /// Where the accounts live (the accounts file, for the file backend).
    pub fn path(&self) -> &Path {
        self.backend.location()
    }

    /// The options this store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn AccountsBackend> {
        &self.backend
    }

    /// The current document, without a lock. A missing file is an empty pool. When the file has
    /// not changed since the last call, no bytes are read and the same `Arc` is returned;
    /// callers can compare [`AccountsDocument::generation`] or use `Arc::ptr_eq`.
    ///
    /// A file of a newer version is returned as read when its shape is readable (D3), and is a
    /// [`StoreError::NewerVersion`] otherwise; an unusable file is an error naming it (no copy
    /// is made on read; a change attempt makes one).
    pub fn load(&self) -> Result<Arc<AccountsDocument>, StoreError> {
        self.backend.load()
    }

    /// The document this store last read or wrote, without any I/O (never blocks; safe on an
    /// async worker). `None` before the first read. Call [`AccountStore::load`] (off the
    /// worker) to refresh it.
    pub fn cached(&self) -> Option<Arc<AccountsDocument>> {
        self.backend.cached()
    }

    /// The document brought up to date as cheaply as the backend can (blocking; run it off
    /// async workers): a `load` for the file backend (one `stat` when unchanged); no I/O at
    /// all on PostgreSQL while no notification said the document changed since it was last
    /// read (and a `load` while its listener is down). For views that may lag another
    /// process's commit by a moment; decisions on the current state use
    /// [`AccountStore::load`] (authoritative) or a transaction.
    pub fn refresh_cached(&self) -> Result<Arc<AccountsDocument>, StoreError> {
        self.backend.refresh_cached()
    }

    /// Runs `change` on the current document in one transaction and commits the result,
    /// unless `change` fails or leaves the document as it was. Pending `lastUsed` bookkeeping
    /// is written along.
    ///
    /// `change` may run more than once (a database backend retries conflicting transactions):
    /// compute only from the document it is given. Its error type is the caller's, so a
    /// closure can fail with its own reasons; the store's errors convert into it.
    ///
    /// Refuses, without writing, when the stored document is unusable (a `0600` copy of the
    /// file is made once), of a newer version, or when the result would not read back.
    pub fn transact<T, E>(
        &self,
        mut change: impl FnMut(&mut AccountsDocument) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let pending = self.bookkeeping().pending();
        let mut result: Option<Result<T, E>> = None;
        let outcome = self.backend.transact(&mut |document| {
            apply_last_used(document, &pending);
            let step = change(document);
            let flow =
                if step.is_ok() { ControlFlow::Continue(()) } else { ControlFlow::Break(()) };
            result = Some(step);
            flow
        })?;
        if outcome != TxOutcome::Aborted {
            // Written, or unchanged: pending values that changed nothing are on disk already
            // (or their account is gone). Either way they are settled.
            self.bookkeeping().written(&pending);
        }
        result.unwrap_or_else(|| {
            Err(E::from(StoreError::Backend {
                path: self.path().to_owned(),
                source: "the backend finished a transaction without running it".into(),
            }))
        })
    }

    /// [`AccountStore::transact`] with the store's own error type.
    pub fn mutate<T>(
        &self,
        change: impl FnMut(&mut AccountsDocument) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.transact(change)
    }

    /// The account with `uuid` in `document`, or the store's "unknown account" error.
    pub fn account_mut<'d>(
        &self,
        document: &'d mut AccountsDocument,
        uuid: &str,
    ) -> Result<&'d mut StoredAccount, StoreError> {
        match document.account_mut(uuid) {
            Some(account) => Ok(account),
            None => UnknownAccountSnafu { path: self.path(), uuid }.fail(),
        }
    }

    /// How many times this store has read and parsed the stored document (a diagnostic: on
    /// the request hot path this stays flat while the file does not change, D7).
    pub fn parse_count(&self) -> u64 {
        self.backend.parse_count()
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
}

impl Drop for AccountStore {
    fn drop(&mut self) {
        if let Err(err) = self.flush() {
            tracing::warn!(path = %self.path().display(), error = %err, "could not write pending lastUsed bookkeeping");
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
