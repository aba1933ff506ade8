//! The data directory, crash-safe file writes, OS file locks, and the account document with its
//! one write path, [`AccountStore`].
//!
//! Must not depend on: any other `mac-*` crate, network crates (`reqwest`, `axum`, `hyper`),
//! terminal crates (`inquire`, `crossterm`), an async runtime.
//!
//! # The guarantees
//! - **One write path.** Every change of the accounts is [`AccountStore::transact`] (or
//!   [`AccountStore::mutate`]): a transaction over the document read fresh inside it, then the
//!   backend's commit. For the file backend ([`file::FileBackend`]): an exclusive OS lock on
//!   the file's directory (waiting with a timeout, costing no thread; released by the kernel if
//!   the holder dies; undeletable while in use), a fresh read and parse, the caller's closure,
//!   then a crash-safe replace (a temp file of this writer's own, created `0600`, fsync,
//!   rename, fsync of the directory). No update is lost between processes, whatever the file
//!   system's timestamp granularity, and a reader never sees a partial file.
//! - **Nothing is lost to bad input (D6).** A missing file is an empty pool. An empty,
//!   truncated, non-JSON, wrong-typed or oversized file is never written over: changes fail
//!   with an error naming the file and the problem, and a `0600` `<file>.corrupt.<ms>.bak` copy
//!   is made once per distinct content. A newer version is read-only, never "corrupt". A change
//!   whose result would not read back is refused ([`StoreError::Unwritable`]). Unknown fields
//!   survive every write exactly (values, order, number spelling).
//! - **Cheap reads (D7).** [`AccountStore::load`] costs one `stat` when the file has not changed;
//!   [`AccountStore::cached`] costs nothing and never blocks. `lastUsed` bookkeeping is
//!   coalesced to one write per account per few seconds.
//! - **Secrets (D18).** Tokens are [`Secret`]s: `Debug` and `Display` print `[redacted]`;
//!   unknown fields print by key; no error message quotes anything read from the file.
//! - **Another backend.** [`AccountsBackend`] is the contract a database backend implements;
//!   `conformance` (cargo feature `conformance`) is the suite it must pass.
//! - **One refresh per account.** [`AccountLocks`] is the per-account lock every process of a
//!   pool shares (the refresh lock); [`FileAccountLocks`] is the one for a pool on this host,
//!   a database backend brings its own; `conformance::account_locks` is the suite they pass.
//!
//! ```
//! use mac_storage::{AccountStore, Credentials, DataDir, EpochMs, NewAccount, Provider, Secret, StoreOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! let data_dir = DataDir::at(tmp.path().join("mac"));
//! let store = AccountStore::open(&data_dir, Provider::Anthropic, StoreOptions::default())?;
//! let credentials = Credentials { refresh_token: Secret::new("rt"), access_token: None, expires_at: None };
//! store.add_account(&NewAccount::from_credentials(credentials), EpochMs::now())?;
//! assert_eq!(store.load()?.accounts.len(), 1);
//! # Ok(())
//! # }
//! ```

mod account_locks;
mod backend;
mod backup;
mod bookkeeping;
mod calendar;
mod clock;
mod codec;
mod data_dir;
mod document;
mod epoch;
mod error;
mod file_backend;
mod file_lock;
mod file_stamp;
mod locked_file;
mod mutations;
mod policy;
mod private_file;
mod secret;
mod store;
mod unknown_fields;

#[cfg(feature = "conformance")]
pub mod conformance;

/// The file primitives: the file backend of the store, the directory lock and crash-safe
/// replace ([`file::LockedFile`]), the same replace for a small private file written under a lock
/// of the caller's ([`file::write_private_atomic`], [`file::remove_private`]), lock files
/// ([`file::FileLock`]), stamps and backups. Other
/// crates writing files of their own in the data directory (the claims table) use these; the
/// store itself reaches them only through [`file::FileBackend`].
pub mod file {
    pub use crate::account_locks::{
        pending_grant_part, pending_grant_path, refresh_lock_path, safe_file_part,
    };
    pub use crate::backup::backup_once;
    pub use crate::data_dir::lock_path_for;
    pub use crate::file_backend::FileBackend;
    pub use crate::file_lock::{FileLock, LockError};
    pub use crate::file_stamp::{FileStamp, OsStamps, StampSource};
    pub use crate::locked_file::{
        Durability, FileContents, FileIoError, LockedFile, read_file, remove_private,
        write_private_atomic,
    };
}

pub use account_locks::{AccountLockGuard, AccountLocks, FileAccountLocks};
pub use backend::{AccountsBackend, TxClosure, TxOutcome};
// Also under `file`, their home; kept here for the callers written before it existed.
pub use backup::backup_once;
pub use calendar::{
    EPOCH_MS_THRESHOLD, epoch_from_number, format_iso, parse_http_date, parse_rfc3339,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use codec::{DocumentProblem, decode, encode, encode_checked};
pub use data_dir::{DataDir, DataDirError, MAC_HOME_ENV, Provider, UnknownProvider, lock_path_for};
pub use document::{
    AccountsDocument, Credentials, SUPPORTED_VERSION, StoredAccount, UsageLimits, UsageWindow,
};
pub use epoch::EpochMs;
pub use error::StoreError;
pub use file_lock::{FileLock, LockError};
pub use file_stamp::FileStamp;
pub use locked_file::{Durability, FileContents, FileIoError, LockedFile, read_file};
pub use mutations::{
    AddOutcome, AuthFailureOutcome, CasOutcome, CredentialPatch, MatchedBy, NewAccount,
    SuccessOutcome,
};
pub use policy::{AuthFailure, AuthVerdict, auth_failure_verdict};
pub use secret::Secret;
pub use store::{AccountStore, StoreOptions};
pub use unknown_fields::UnknownFields;
