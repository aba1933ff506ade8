//! The error type of `mac-postgres`, and [`ClientFailure`]: a PostgreSQL client error reduced
//! to what may be shown.
//!
//! No message carries the URL's password or a value read from or written to the database:
//! targets are printed without the password ([`crate::url::Target`]), and a server error is
//! kept as its SQLSTATE and primary message only — never its `DETAIL`, `HINT` or `WHERE`
//! fields, which may quote row values (a token, in an accounts document).

use std::fmt;
use std::time::Duration;

use snafu::Snafu;
use tokio_postgres::error::SqlState;

/// Why a PostgreSQL operation of mac failed.
#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum PostgresError {
    /// The storage URL does not parse.
    #[snafu(display(
        "the PostgreSQL URL of `[storage] url` is not valid ({reason}); expected \
         postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
    ))]
    Url {
        /// What is wrong, never quoting the URL.
        reason: String,
    },
    /// A schema name mac would not create or use.
    #[snafu(display(
        "{name:?} is not a usable schema name: use 1 to 63 lowercase ASCII letters, digits and \
         underscores, not starting with a digit"
    ))]
    SchemaName {
        /// The name given.
        name: String,
    },
    /// The client's private runtime could not be started.
    #[snafu(display("could not start the PostgreSQL client's runtime: {source}"))]
    Runtime {
        /// The operating-system error.
        source: std::io::Error,
    },
    /// No connection could be made.
    #[snafu(display("cannot connect to PostgreSQL at {target}: {failure}"))]
    Connect {
        /// The server, database and schema, without the password.
        target: String,
        /// The client's error.
        failure: ClientFailure,
    },
    /// The TLS connection failed: the server refused TLS that `sslmode` demands, or its
    /// certificate did not verify.
    #[snafu(display(
        "cannot connect to PostgreSQL at {target} with sslmode={sslmode}: {failure}; {hint}"
    ))]
    Tls {
        /// The server, database and schema, without the password.
        target: String,
        /// The URL's `sslmode` (or the default).
        sslmode: &'static str,
        /// The client's error.
        failure: ClientFailure,
        /// What to change.
        hint: &'static str,
    },
    /// The `sslrootcert` file of the URL cannot be used.
    #[snafu(display(
        "cannot use the CA certificates of the URL's `sslrootcert` {}: {reason}; give the PEM \
         file of the CA that signed the server's certificate",
        path.display()
    ))]
    RootCert {
        /// The file named by `sslrootcert`.
        path: std::path::PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// The TLS client could not be set up (no crypto provider, no system CAs).
    #[snafu(display("cannot set up TLS for PostgreSQL: {reason}"))]
    TlsSetup {
        /// The cause.
        reason: String,
    },
    /// A statement failed.
    #[snafu(display("PostgreSQL at {target} failed while {step}: {failure}"))]
    Query {
        /// The server, database and schema, without the password.
        target: String,
        /// What mac was doing.
        step: &'static str,
        /// The client's error.
        failure: ClientFailure,
    },
    /// The server did not answer in time.
    #[snafu(display(
        "PostgreSQL at {target} did not answer within {:.1}s while {step}",
        waited.as_secs_f64()
    ))]
    Timeout {
        /// The server, database and schema, without the password.
        target: String,
        /// What mac was doing.
        step: &'static str,
        /// How long mac waited.
        waited: Duration,
    },
    /// The schema was migrated by a newer build of mac.
    #[snafu(display(
        "the mac schema at {target} has version {found}, newer than this build's {supported}: \
         upgrade mac on this host (an older mac never uses or changes a newer schema)"
    ))]
    SchemaNewer {
        /// The server, database and schema, without the password.
        target: String,
        /// The version found in the database.
        found: i32,
        /// The newest version this build knows.
        supported: i32,
    },
    /// The connection was lost while a commit was under way, and whether it was applied
    /// could not be found out afterwards.
    #[snafu(display(
        "the connection to PostgreSQL at {target} was lost during a commit, and whether the \
         change was applied could not be determined: check the accounts before retrying"
    ))]
    CommitUnknown {
        /// The server, database and schema, without the password.
        target: String,
    },
    /// The connection was lost; nothing was changed.
    #[snafu(display("the connection to PostgreSQL at {target} was lost while {step}"))]
    ConnectionLost {
        /// The server, database and schema, without the password.
        target: String,
        /// What mac was doing.
        step: &'static str,
    },
    /// The client's runtime stopped (the storage is being dropped).
    #[snafu(display("the PostgreSQL client of {target} has stopped"))]
    Stopped {
        /// The server, database and schema, without the password.
        target: String,
    },
    /// A stored value is out of the range mac reads.
    #[snafu(display("PostgreSQL at {target} holds {what} out of range"))]
    OutOfRange {
        /// The server, database and schema, without the password.
        target: String,
        /// Which value.
        what: &'static str,
    },
}

/// A PostgreSQL client error as far as it may be shown: the client's kind of failure, the
/// server's SQLSTATE and primary message, or the I/O cause. Only this crate builds one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientFailure {
    code: Option<SqlState>,
    closed: bool,
    text: String,
}

impl ClientFailure {
    /// Reduces `error` to its code and a safe description.
    pub(crate) fn from_client(error: &tokio_postgres::Error) -> Self {
        let text = if let Some(db) = error.as_db_error() {
            format!("{} {}: {}", db.severity(), db.code().code(), db.message())
        } else {
            let mut text = error.to_string();
            // The causes of client-side errors are I/O errors and the URL parser's messages
            // about option names; `Url` errors are built elsewhere.
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        };
        Self { code: error.code().cloned(), closed: error.is_closed(), text }
    }

    /// The server's SQLSTATE, when the server reported the error.
    pub fn code(&self) -> Option<&SqlState> {
        self.code.as_ref()
    }

    /// Whether the transaction may simply be run again: a serialization failure or a
    /// deadlock (the server rolled it back), or a connection lost before a commit was sent.
    pub(crate) fn is_retryable(&self) -> bool {
        self.closed
            || self.code.as_ref().is_some_and(|code| {
                [
                    SqlState::T_R_SERIALIZATION_FAILURE,
                    SqlState::T_R_DEADLOCK_DETECTED,
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                ]
                .contains(code)
                    || code.code().starts_with("08")
            })
            || self.code.is_none() && self.text.starts_with("error communicating with the server")
    }

    /// Whether the server gave up waiting for a lock (`lock_timeout`).
    pub(crate) fn is_lock_timeout(&self) -> bool {
        self.code.as_ref() == Some(&SqlState::LOCK_NOT_AVAILABLE)
    }
}

impl fmt::Display for ClientFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
