//! Exclusive OS advisory locks on sidecar lock files, with a timeout (DECISIONS.md D5).
//!
//! The lock is `flock` (Unix) or `LockFileEx` (Windows) through std's `File::lock`, so it is
//! released by the kernel when the holder dies: no stale lock ever needs breaking, unlike the
//! seed's polled `mkdir` lock (SEED §5.5). Lock files are created `0600` and never deleted —
//! deleting one while another process waits on it would let two holders in.
//!
//! Waiting blocks in the kernel rather than polling. Since std offers no timed lock, a
//! contended acquisition hands the blocking call to a short-lived thread and waits on a channel
//! with the deadline; if the deadline passes first, the thread keeps waiting and drops the lock
//! the moment it gets it. Locks are per open file description, so two [`FileLock`]s in one
//! process exclude each other just as two processes do.
//!
//! Fairness: `flock` hands a released lock to whoever asks first, so a process changing the file
//! in a loop could re-take it before any woken waiter runs, starving the others (a p99 wait of
//! ~50 ms with 8 writers). Waiters therefore announce themselves with a shared lock on a second
//! file, `<lock>.waiters`; a process about to take the lock that finds the waiting room occupied
//! pauses for [`HANDOFF_PAUSE`] first, so a waiter gets the lock. The check costs one open and
//! one non-blocking `flock`; with nobody waiting there is no pause.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use snafu::Snafu;

use crate::private_file::private_options;

/// Why a lock could not be taken.
#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum LockError {
    /// Another holder kept the lock for longer than the timeout.
    #[snafu(display(
        "timed out after {:.1}s waiting for the lock {} (another mac process holds it; \
         raise `[storage] lock_timeout` in config.toml if this machine is slow)",
        waited.as_secs_f64(),
        path.display()
    ))]
    Timeout {
        /// The lock file.
        path: PathBuf,
        /// How long this process waited.
        waited: Duration,
    },
    /// The lock file could not be opened or locked.
    #[snafu(display("cannot lock {}: {source}", path.display()))]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The operating-system error.
        source: io::Error,
    },
}

/// An exclusive lock, held until this value is dropped. Functions that need the lock take a
/// reference to the guard as proof.
#[derive(Debug)]
pub struct FileLock {
    // Closing the file releases the lock; the field is never read.
    _file: File,
    path: PathBuf,
    contended: bool,
}

impl FileLock {
    /// Takes the exclusive lock on `path` (creating the file `0600` if missing), waiting at most
    /// `timeout`.
    pub fn acquire(path: &Path, timeout: Duration) -> Result<FileLock, LockError> {
        let io_error = |source| LockError::Io { path: path.to_owned(), source };
        let file = open_lock_file(path).map_err(io_error)?;
        let waiting_room = waiting_room_path(path);
        if others_are_waiting(&waiting_room).map_err(io_error)? {
            std::thread::sleep(HANDOFF_PAUSE);
        }
        match file.try_lock() {
            Ok(()) => return Ok(FileLock { _file: file, path: path.to_owned(), contended: false }),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(source)) => return Err(io_error(source)),
        }
        let started = Instant::now();
        let _span = tracing::debug_span!("lock_wait", path = %path.display()).entered();
        let (sender, receiver) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("mac-lock-wait".into())
            .spawn(move || {
                let result = wait_for_lock(&waiting_room, &file).map(|()| file);
                // If the waiter gave up, the receiver is gone and the file (with its lock, if
                // any) is dropped here.
                let _ = sender.send(result);
            })
            .map_err(io_error)?;
        match receiver.recv_timeout(timeout) {
            Ok(Ok(file)) => {
                tracing::trace!(
                    waited_us = started.elapsed().as_micros(),
                    "lock acquired after wait"
                );
                Ok(FileLock { _file: file, path: path.to_owned(), contended: true })
            }
            Ok(Err(source)) => Err(io_error(source)),
            Err(_) => Err(LockError::Timeout { path: path.to_owned(), waited: started.elapsed() }),
        }
    }

    /// Takes the lock only if it is free right now.
    pub fn try_acquire(path: &Path) -> Result<Option<FileLock>, LockError> {
        let file = open_lock_file(path)
            .map_err(|source| LockError::Io { path: path.to_owned(), source })?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock { _file: file, path: path.to_owned(), contended: false })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(source)) => {
                Err(LockError::Io { path: path.to_owned(), source })
            }
        }
    }

    /// Whether another holder had the lock when this one asked for it: a sign that other
    /// processes are queueing for it.
    pub fn was_contended(&self) -> bool {
        self.contended
    }

    /// The lock file this guard holds.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// How long a process that finds others waiting lets them go first.
const HANDOFF_PAUSE: Duration = Duration::from_micros(100);

/// `<lock>.waiters`: every process blocked on the lock holds a shared lock on this file.
fn waiting_room_path(lock: &Path) -> PathBuf {
    crate::data_dir::with_suffix(lock, ".waiters")
}

/// Blocks until `file` is locked, holding a shared lock on the waiting room meanwhile so that a
/// process about to barge in can see that someone is queued.
fn wait_for_lock(waiting_room: &Path, file: &File) -> io::Result<()> {
    let room = open_lock_file(waiting_room)?;
    room.lock_shared()?;
    file.lock()
    // `room` closes here, leaving the waiting room.
}

/// Whether some process is blocked waiting for the lock: the waiting room cannot be locked
/// exclusively while a waiter holds its shared lock.
fn others_are_waiting(waiting_room: &Path) -> io::Result<bool> {
    let room = open_lock_file(waiting_room)?;
    match room.try_lock() {
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(err)) => Err(err),
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    private_options().read(true).write(true).create(true).truncate(false).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_and_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let first = FileLock::acquire(&path, Duration::from_secs(1)).unwrap();
        assert!(FileLock::try_acquire(&path).unwrap().is_none());
        let err = FileLock::acquire(&path, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, LockError::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("x.lock"), "{err}");
        assert!(err.to_string().contains("lock_timeout"), "{err}");
        drop(first);
        // The abandoned waiter thread must not keep the lock after it finally gets it.
        let again = FileLock::acquire(&path, Duration::from_secs(5)).unwrap();
        assert_eq!(again.path(), path);
    }

    #[test]
    fn waiter_gets_the_lock_when_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("y.lock");
        let first = FileLock::acquire(&path, Duration::from_secs(1)).unwrap();
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || {
                FileLock::acquire(&path, Duration::from_secs(10)).map(|_| ())
            })
        };
        std::thread::sleep(Duration::from_millis(30));
        drop(first);
        waiter.join().unwrap().unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn lock_file_is_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.lock");
        let _lock = FileLock::acquire(&path, Duration::from_secs(1)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
