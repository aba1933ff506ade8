//! What an import found and did, per source file and per account. Nothing here holds a token:
//! accounts are named by label or email and by the pool's local uuid (D18).

use std::fmt;

use mac_storage::Provider;

use crate::import::error::SourceError;
use crate::import::sources::SourceFile;

/// What reading a source file gave.
#[derive(Debug)]
pub enum FileStatus {
    /// Read and understood (its entries may still be skipped one by one).
    Read,
    /// No file at this location.
    NotFound,
    /// The file exists but could not be read (permissions, say). The error names the file.
    Unreadable {
        /// Why, naming the file.
        problem: SourceError,
    },
    /// The file was read but is not of the expected shape; nothing of it was imported. The
    /// error names the file and the field.
    Malformed {
        /// Why, naming the file.
        problem: SourceError,
    },
}

impl FileStatus {
    pub(crate) fn from_error(problem: SourceError) -> Self {
        if problem.is_unreadable() {
            FileStatus::Unreadable { problem }
        } else {
            FileStatus::Malformed { problem }
        }
    }

    /// The problem, for an unreadable or malformed file.
    pub fn problem(&self) -> Option<&SourceError> {
        match self {
            FileStatus::Unreadable { problem } | FileStatus::Malformed { problem } => Some(problem),
            FileStatus::Read | FileStatus::NotFound => None,
        }
    }
}

impl fmt::Display for FileStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileStatus::Read => f.write_str("read"),
            FileStatus::NotFound => f.write_str("not found"),
            FileStatus::Unreadable { problem } => write!(f, "unreadable: {problem}"),
            FileStatus::Malformed { problem } => write!(f, "malformed: {problem}"),
        }
    }
}

/// How a source account was recognized as one already in the pool (the store's identity
/// rules of D4, plus earlier imports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// The same refresh token.
    RefreshToken,
    /// This very refresh token was imported into that account before, and the pool has
    /// refreshed it since (see the module docs on import fingerprints).
    ImportedBefore,
    /// The same provider account id (`accountUuid` / `accountId`), with no conflicting email.
    ProviderId,
    /// The same email, with no conflicting provider account id.
    Email,
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Match::RefreshToken => "same refresh token",
            Match::ImportedBefore => "imported from this login before",
            Match::ProviderId => "same provider account id",
            Match::Email => "same email",
        })
    }
}

/// Why an account in the pool was updated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateReason {
    /// The pool's account is this one, and the source's access token expires later than the
    /// pool's, so the source's tokens are the newer ones. Only tokens and missing identity
    /// fields changed.
    NewerCredentials {
        /// How the account was recognized.
        matched_by: Match,
    },
}

impl fmt::Display for UpdateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpdateReason::NewerCredentials { matched_by } => {
                write!(f, "the source has newer credentials for this account ({matched_by})")
            }
        }
    }
}

/// Why an account was not imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The pool has this account with exactly these tokens.
    AlreadyInPool {
        /// The pool's account.
        uuid: String,
    },
    /// The pool has this account with other tokens that expire no earlier than the source's:
    /// replacing them could swap a freshly rotated refresh token for a spent one and lose the
    /// account, so the pool's are kept.
    PoolHasNewer {
        /// The pool's account.
        uuid: String,
        /// How the account was recognized.
        matched_by: Match,
    },
    /// The entry has no refresh token (missing or empty): it could never be refreshed.
    NoRefreshToken,
    /// The entry is not an OAuth subscription login (an API key, say).
    NotOAuth {
        /// The kind of login found (`api`, `API key`, …), or `unknown`.
        kind: String,
    },
    /// The entry is not of the shape this source writes; the problem names the field.
    BadEntry {
        /// What is wrong, never quoting a value.
        problem: String,
    },
    /// The pool's accounts file could not be read or changed (invalid, newer version, lock
    /// timeout); nothing was written to it.
    PoolUnusable {
        /// The store's error, naming the file.
        problem: String,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::AlreadyInPool { uuid } => {
                write!(f, "already in the pool with the same tokens (account {uuid})")
            }
            SkipReason::PoolHasNewer { uuid, matched_by } => write!(
                f,
                "the pool has newer credentials for this account (account {uuid}, {matched_by})"
            ),
            SkipReason::NoRefreshToken => f.write_str("no refresh token"),
            SkipReason::NotOAuth { kind } => write!(f, "not an OAuth login (kind `{kind}`)"),
            SkipReason::BadEntry { problem } => write!(f, "unknown shape: {problem}"),
            SkipReason::PoolUnusable { problem } => {
                write!(f, "the pool was not changed: {problem}")
            }
        }
    }
}

/// What happened to one account found in a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new account in the pool.
    Added {
        /// Its local uuid.
        uuid: String,
    },
    /// An account of the pool got the source's (newer) tokens.
    Updated {
        /// The pool's account (its uuid never changes, D4).
        uuid: String,
        /// Why.
        why: UpdateReason,
    },
    /// Nothing changed for this account.
    Skipped {
        /// Why.
        reason: SkipReason,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Added { uuid } => write!(f, "added as {uuid}"),
            Outcome::Updated { uuid, why } => write!(f, "updated {uuid}: {why}"),
            Outcome::Skipped { reason } => write!(f, "skipped: {reason}"),
        }
    }
}

/// One account (or account-like entry) of a source file and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountReport {
    /// Where in the file: `anthropic`, `accounts[2]`, `claudeAiOauth`, `tokens`, ….
    pub entry: String,
    /// The pool it belongs to.
    pub provider: Provider,
    /// Its label or email, when the source names one.
    pub name: Option<String>,
    /// What happened.
    pub outcome: Outcome,
}

/// One source file and what happened to its accounts.
#[derive(Debug)]
pub struct FileReport {
    /// The file.
    pub source: SourceFile,
    /// Whether it could be read.
    pub status: FileStatus,
    /// Its accounts, in file order.
    pub accounts: Vec<AccountReport>,
}

/// What an import did: every source file, in reading order, with its accounts.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// The files.
    pub files: Vec<FileReport>,
}

impl ImportReport {
    /// Every account reported, in order.
    pub fn accounts(&self) -> impl Iterator<Item = &AccountReport> {
        self.files.iter().flat_map(|file| &file.accounts)
    }

    /// How many accounts were added.
    pub fn added(&self) -> usize {
        self.accounts().filter(|a| matches!(a.outcome, Outcome::Added { .. })).count()
    }

    /// How many accounts of the pools were updated.
    pub fn updated(&self) -> usize {
        self.accounts().filter(|a| matches!(a.outcome, Outcome::Updated { .. })).count()
    }

    /// How many accounts were skipped.
    pub fn skipped(&self) -> usize {
        self.accounts().filter(|a| matches!(a.outcome, Outcome::Skipped { .. })).count()
    }

    /// Whether no pool was changed.
    pub fn changed_nothing(&self) -> bool {
        self.added() == 0 && self.updated() == 0
    }

    /// The files that exist but could not be used.
    pub fn problems(&self) -> impl Iterator<Item = &FileReport> {
        self.files.iter().filter(|file| file.status.problem().is_some())
    }
}
