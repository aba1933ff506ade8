//! The error type of `mac-claims` (D19).

use snafu::Snafu;

/// Why a claims operation failed.
#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum ClaimsError {
    /// The claims file's lock could not be taken in time.
    #[snafu(display("{source}"), context(false))]
    Lock {
        /// The cause.
        source: mac_storage::LockError,
    },
    /// Reading or writing the claims file failed.
    #[snafu(display("{source}"), context(false))]
    Io {
        /// The cause.
        source: mac_storage::FileIoError,
    },
    /// The data directory could not be prepared.
    #[snafu(display("{source}"), context(false))]
    DataDir {
        /// The cause.
        source: mac_storage::DataDirError,
    },
    /// The store of the claims (a database shared by several hosts) failed.
    #[snafu(display("{source}"))]
    Store {
        /// The store's own error (it names where the claims are kept).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The claims could not be serialized.
    #[snafu(display("cannot serialize the claims of {}: {source}", path.display()))]
    Encode {
        /// The claims file.
        path: std::path::PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}
