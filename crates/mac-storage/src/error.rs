//! The error type of `mac-storage` (D19): every variant names the file, and the account where
//! one is involved; none carries a token.

use std::path::PathBuf;

use snafu::Snafu;

use crate::codec::DocumentProblem;
use crate::data_dir::DataDirError;
use crate::document::SUPPORTED_VERSION;
use crate::file_lock::LockError;
use crate::locked_file::FileIoError;

/// Why a store operation failed. Nothing is ever written when one of these is returned.
#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum StoreError {
    /// The data directory could not be prepared.
    #[snafu(display("{source}"), context(false))]
    DataDir {
        /// The cause.
        source: DataDirError,
    },
    /// The file's lock could not be taken in time.
    #[snafu(display("{source}"), context(false))]
    Lock {
        /// The cause.
        source: LockError,
    },
    /// Reading or writing failed at the operating-system level.
    #[snafu(display("{source}"), context(false))]
    Io {
        /// The cause.
        source: FileIoError,
    },
    /// The file exists but is not a usable accounts document (D6).
    #[snafu(display(
        "cannot use the accounts file {}: {problem}; the file was left as it is{}",
        path.display(),
        backup.as_ref().map(|b| format!(" and copied to {}", b.display())).unwrap_or_default()
    ))]
    Invalid {
        /// The accounts file.
        path: PathBuf,
        /// What is wrong with it.
        problem: DocumentProblem,
        /// The `0600` copy made when a write found the file bad, if one was made.
        backup: Option<PathBuf>,
    },
    /// The file was written by a newer build: readable, never written (D3).
    #[snafu(display(
        "the accounts file {} has version {found}, newer than this build's {SUPPORTED_VERSION}: \
         it can be read but not changed; upgrade mac to change it",
        path.display()
    ))]
    NewerVersion {
        /// The accounts file.
        path: PathBuf,
        /// The version found.
        found: u64,
    },
    /// No account has this local uuid.
    #[snafu(display("no account with id {uuid} in {}", path.display()))]
    UnknownAccount {
        /// The accounts file.
        path: PathBuf,
        /// The id asked for.
        uuid: String,
    },
    /// An account to add has an empty refresh token.
    #[snafu(display("cannot add an account without a refresh token to {}", path.display()))]
    EmptyRefreshToken {
        /// The accounts file.
        path: PathBuf,
    },
    /// The changed document would not read back (a `NaN` utilization, a time beyond 2^53 ms,
    /// over the size limit): it was not written, and the stored one is unchanged.
    #[snafu(display(
        "refused to write the accounts file {}: the changed document would not read back \
         ({problem}); the file was left as it is",
        path.display()
    ))]
    Unwritable {
        /// The accounts file.
        path: PathBuf,
        /// What a reader would refuse.
        problem: DocumentProblem,
    },
    /// A backend other than the file failed (a database backend's own errors).
    #[snafu(display("the accounts storage {} failed: {source}", path.display()))]
    Backend {
        /// Where the accounts live.
        path: PathBuf,
        /// The backend's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// Whether the lock wait timed out (worth retrying later, unlike a bad file).
    pub fn is_lock_timeout(&self) -> bool {
        matches!(self, StoreError::Lock { source: LockError::Timeout { .. } })
    }

    /// Whether the error is about an account id that is not in the pool.
    pub fn is_unknown_account(&self) -> bool {
        matches!(self, StoreError::UnknownAccount { .. })
    }

    /// Whether the file itself is unusable (invalid or newer): retrying will not help.
    pub fn is_unusable_file(&self) -> bool {
        matches!(self, StoreError::Invalid { .. } | StoreError::NewerVersion { .. })
    }
}
