//! Per-account exclusive locks shared by every process that uses one accounts storage: the
//! seam behind the refresh lock (one refresh per account in the whole pool, D11).
//!
//! [`AccountLocks`] is the contract; [`FileAccountLocks`] is the one for a pool on this host
//! (an OS lock on `<accounts file>.refresh.<uuid>.lock`, [`FileLock`]); a database backend
//! brings its own (mac-postgres: a session advisory lock), so processes on several hosts
//! exclude each other. A lock is held by an [`AccountLockGuard`] and released when it is
//! dropped; a holder that dies (process killed, host lost, database session ended) frees it,
//! so no stale lock ever needs breaking.
//!
//! Both calls block (a file open, a network round trip, a wait): async callers run them on a
//! blocking thread. Dropping a guard never blocks.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::file_lock::{FileLock, LockError};

/// Per-account exclusive locks shared by every process that uses the same accounts storage:
/// the refresh lock (one refresh per account in the whole pool).
///
/// Two guards of one account never exist at once, whichever processes (or hosts, for a
/// database) hold them — two calls in one process exclude each other just as two processes do.
pub trait AccountLocks: Send + Sync + fmt::Debug {
    /// Takes the lock of `account` if it is free now; `Ok(None)` when another holder has it.
    /// Blocks for the attempt itself (a file open, a network round trip), never for a holder.
    fn try_lock(&self, account: &str) -> Result<Option<AccountLockGuard>, LockError>;

    /// Waits up to `timeout` for the lock of `account` (blocking: call it off async workers).
    /// A holder that dies (process killed, host lost, database session ended) frees it.
    /// Gives up with [`LockError::Timeout`] naming [`AccountLocks::describe`].
    fn lock(&self, account: &str, timeout: Duration) -> Result<AccountLockGuard, LockError>;

    /// Names the lock of `account` in messages: a path for files; for a database, its
    /// server, database, schema and account (never a password).
    fn describe(&self, account: &str) -> PathBuf;
}

/// A held account lock; dropping it releases the lock (without blocking). Each backend keeps
/// its own resource in it (an open lock file, a database connection).
#[derive(Debug)]
pub struct AccountLockGuard {
    // Dropping it releases the lock; never read otherwise.
    _held: Box<dyn Send + Sync + fmt::Debug>,
}

impl AccountLockGuard {
    /// A guard over `held`, the backend's resource whose drop releases the lock.
    pub fn new(held: impl Send + Sync + fmt::Debug + 'static) -> Self {
        Self { _held: Box::new(held) }
    }
}

/// The account locks of a pool on this host: an OS lock ([`FileLock`]) on one sidecar file
/// per account beside the accounts file, `<accounts file>.refresh.<uuid>.lock`
/// ([`refresh_lock_path`]). They exclude every process of this host (and of hosts sharing the
/// directory over a file system with working `flock`); a process that dies releases them.
#[derive(Clone, Debug)]
pub struct FileAccountLocks {
    accounts_file: PathBuf,
}

impl FileAccountLocks {
    /// The locks named after `accounts_file` (the accounts file, or where it would be in the
    /// data directory for a store that is not a local file).
    pub fn beside(accounts_file: impl Into<PathBuf>) -> Self {
        Self { accounts_file: accounts_file.into() }
    }
}

impl AccountLocks for FileAccountLocks {
    fn try_lock(&self, account: &str) -> Result<Option<AccountLockGuard>, LockError> {
        Ok(FileLock::try_acquire(&self.describe(account))?.map(AccountLockGuard::new))
    }

    fn lock(&self, account: &str, timeout: Duration) -> Result<AccountLockGuard, LockError> {
        FileLock::acquire(&self.describe(account), timeout).map(AccountLockGuard::new)
    }

    fn describe(&self, account: &str) -> PathBuf {
        refresh_lock_path(&self.accounts_file, account)
    }
}

/// `<accounts file>.refresh.<uuid>.lock`, the uuid made safe for a file name
/// ([`safe_file_part`]).
pub fn refresh_lock_path(accounts_file: &Path, uuid: &str) -> PathBuf {
    let mut name = accounts_file.as_os_str().to_owned();
    name.push(".refresh.");
    name.push(safe_file_part(uuid));
    name.push(".lock");
    PathBuf::from(name)
}

/// `<accounts file>.grant.<safe uuid>.pending`: where this host keeps a grant of `uuid` that
/// a refresh obtained but could not store yet (mac-executor's pending-grant journal), the uuid
/// made safe for a file name ([`safe_file_part`]).
pub fn pending_grant_path(accounts_file: &Path, uuid: &str) -> PathBuf {
    let mut name = accounts_file.as_os_str().to_owned();
    name.push(PENDING_GRANT_INFIX);
    name.push(safe_file_part(uuid));
    name.push(PENDING_GRANT_SUFFIX);
    PathBuf::from(name)
}

/// The uuid part ([`safe_file_part`]) of `name` when it is the file name of a pending-grant
/// journal ([`pending_grant_path`]) beside the accounts file named `accounts_file_name`.
pub fn pending_grant_part<'a>(accounts_file_name: &str, name: &'a str) -> Option<&'a str> {
    name.strip_prefix(accounts_file_name)?
        .strip_prefix(PENDING_GRANT_INFIX)?
        .strip_suffix(PENDING_GRANT_SUFFIX)
}

const PENDING_GRANT_INFIX: &str = ".grant.";
const PENDING_GRANT_SUFFIX: &str = ".pending";

/// An account uuid as a part of a file name: `uuid` itself if it is made of `[A-Za-z0-9-]`
/// only and at most 64 characters; otherwise its first 36 characters with the others replaced
/// by `_`, then `-` and 16 hex digits of its SHA-256 — so two accounts never share a name and
/// no uuid can name a path outside the directory.
pub fn safe_file_part(uuid: &str) -> String {
    let clean = !uuid.is_empty()
        && uuid.len() <= 64
        && uuid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if clean {
        return uuid.to_owned();
    }
    let mut part: String = uuid
        .chars()
        .take(36)
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    part.push('-');
    for byte in &Sha256::digest(uuid.as_bytes())[..8] {
        // Writing to a `String` cannot fail.
        let _ = write!(part, "{byte:02x}");
    }
    part
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_are_safe_and_distinct() {
        let file = Path::new("/d/anthropic-accounts.json");
        assert_eq!(
            refresh_lock_path(file, "3f1c-AB09"),
            Path::new("/d/anthropic-accounts.json.refresh.3f1c-AB09.lock")
        );
        let a = safe_file_part("../x");
        let b = safe_file_part("__x");
        let c = safe_file_part("");
        assert!(a.starts_with("___x-") && b.starts_with("__x-"), "{a} {b}");
        assert_ne!(safe_file_part("a.b"), safe_file_part("a_b"));
        assert_eq!(safe_file_part("a_b").len(), "a_b-".len() + 16);
        assert!(c.starts_with('-') && c.len() == 17, "{c}");
        let long = "x".repeat(100);
        assert_eq!(safe_file_part(&long).len(), 36 + 1 + 16);
        for part in [a, b, c, safe_file_part(&long)] {
            assert!(part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
    }

    #[test]
    fn file_locks_exclude_each_other_in_one_process_and_free_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let locks = FileAccountLocks::beside(dir.path().join("anthropic-accounts.json"));
        let held = locks.try_lock("a").ok().flatten();
        assert!(held.is_some());
        assert!(matches!(locks.try_lock("a"), Ok(None)));
        assert!(matches!(locks.try_lock("b"), Ok(Some(_))), "accounts do not share a lock");
        let err = locks.lock("a", Duration::from_millis(30)).err();
        assert!(
            matches!(err, Some(LockError::Timeout { ref path, .. }) if *path == locks.describe("a"))
        );
        drop(held);
        assert!(matches!(locks.try_lock("a"), Ok(Some(_))));
    }
}
