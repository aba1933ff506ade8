//! Why a source file could not be used (D19): every variant names the file, and no message
//! quotes a value read from it, since a misplaced token could be among them (D18).

use std::path::{Path, PathBuf};

use mac_storage::{DocumentProblem, FileIoError};
use snafu::Snafu;

/// A source file that exists but could not be read or understood. The file is left as it is
/// (import never writes a source).
#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum SourceError {
    /// The operating system refused the read (permissions, a directory in the file's place).
    #[snafu(display("{source}{}", permission_hint(source)))]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The cause, naming the file.
        source: FileIoError,
    },
    /// The file is larger than any credentials file should be.
    #[snafu(display(
        "{} is {size} bytes, more than the {limit} bytes a credentials file can be",
        path.display()
    ))]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The largest size accepted.
        limit: u64,
    },
    /// The file is not JSON.
    #[snafu(display("{} is not valid JSON (line {line} column {column}): {message}", path.display()))]
    NotJson {
        /// The file.
        path: PathBuf,
        /// Line of the first error.
        line: usize,
        /// Column of the first error.
        column: usize,
        /// The parser's description (it never quotes the input).
        message: String,
    },
    /// JSON, but not of the shape this source writes.
    #[snafu(display("{} has an unknown shape: {problem}", path.display()))]
    Shape {
        /// The file.
        path: PathBuf,
        /// What is unexpected, naming the field.
        problem: String,
    },
    /// A plugin pool file that is not an accounts document (its `version` and `accounts` fields).
    #[snafu(display("{} is not a usable accounts file: {problem}", path.display()))]
    Document {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: DocumentProblem,
    },
}

impl SourceError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            SourceError::Unreadable { path, .. }
            | SourceError::TooLarge { path, .. }
            | SourceError::NotJson { path, .. }
            | SourceError::Shape { path, .. }
            | SourceError::Document { path, .. } => path,
        }
    }

    /// Whether the file could not be read at all (as opposed to read and not understood).
    pub fn is_unreadable(&self) -> bool {
        matches!(self, SourceError::Unreadable { .. })
    }

    /// Whether the operating system denied access to the file.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, SourceError::Unreadable { source, .. }
            if source.io_error().kind() == std::io::ErrorKind::PermissionDenied)
    }
}

fn permission_hint(source: &FileIoError) -> &'static str {
    if source.io_error().kind() == std::io::ErrorKind::PermissionDenied {
        "; check the file's owner and permissions"
    } else {
        ""
    }
}
