//! Exclusive OS advisory locks with a timeout (D5).
//!
//! The lock is `flock` (Unix) or `LockFileEx` (Windows) through std's `File::lock`, so it is
//! released by the kernel when the holder dies: no stale lock ever needs breaking, unlike the
//! seed's polled `mkdir` lock. Locks are per open file description, so two [`FileLock`]s in one
//! process exclude each other just as two processes do.
//!
//! A [`FileLock`] locks either a lock file (`FileLock::acquire`, created `0600`, never followed
//! through a symbolic link) or a directory (`FileLock::acquire_dir`, which is what
//! [`crate::file::LockedFile`] uses: a directory cannot be deleted by a habitual `rm *.lock`
//! while it holds files, so the lock cannot silently disappear under its holder).
//!
//! Waiting costs no thread and no descriptor beyond the one being locked: a contended
//! acquisition retries the non-blocking `try_lock` with capped exponential backoff (with jitter,
//! so waiters do not retry in step) until the deadline. std offers no timed lock, and a thread
//! parked in a blocking `flock` cannot be cancelled: an earlier design that handed the wait to
//! a thread left one thread and two descriptors behind per timed-out wait until the holder let
//! go, and a hung holder exhausted the descriptor table after ~500 timeouts.
//!
//! Fairness: the lock goes to whoever asks first after a release, so a process changing the
//! file in a loop would re-take it before any sleeping waiter retries. Waiters therefore
//! announce themselves with a shared lock on a second file, the waiting room (`<lock>.waiters`,
//! or `.mac-lock.waiters` inside a locked directory); a process about to take the lock that
//! finds the waiting room occupied does not barge in: it pauses for the longest backoff, in
//! which every waiter retries at least once, and then queues like a waiter. The check costs
//! one open and one non-blocking `flock`. The waiting room only orders waiters: deleting it
//! costs fairness, never exclusion.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use snafu::Snafu;

use crate::private_file::{no_follow, private_options};

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
        /// The lock file or directory.
        path: PathBuf,
        /// How long this process waited.
        waited: Duration,
    },
    /// The lock file or directory could not be opened or locked.
    #[snafu(display("cannot lock {}: {source}", path.display()))]
    Io {
        /// The lock file or directory.
        path: PathBuf,
        /// The operating-system error.
        source: io::Error,
    },
    /// A lock held elsewhere than in a file (a database's advisory lock, see
    /// [`crate::AccountLocks`]) could not be taken: its server could not be reached or
    /// refused.
    #[snafu(display("cannot take the lock {}: {source}", path.display()))]
    Unavailable {
        /// The lock, as its [`crate::AccountLocks::describe`] names it.
        path: PathBuf,
        /// The backend's error (never a secret).
        source: Box<dyn std::error::Error + Send + Sync>,
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

/// The first pause of a contended wait; each retry doubles it up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_micros(20);

/// The longest pause between two attempts: bounds how long a released lock stays idle while
/// its waiters sleep, and how long a process that finds others waiting lets them go first.
const MAX_BACKOFF: Duration = Duration::from_micros(250);

impl FileLock {
    /// Takes the exclusive lock on the lock file `path` (creating it `0600` if missing; a
    /// symbolic link at `path` is refused, never followed), waiting at most `timeout`.
    ///
    /// Blocks the calling thread while it waits (sleeping between attempts): async callers run
    /// it on a blocking thread, or use [`FileLock::try_acquire`] first.
    pub fn acquire(path: &Path, timeout: Duration) -> Result<FileLock, LockError> {
        let file = open_lock_file(path).map_err(|source| io_error(path, source))?;
        Self::wait_for(file, path, &waiting_room_path(path), timeout)
    }

    /// Takes the exclusive lock on the directory `dir` itself, waiting at most `timeout`.
    /// Every holder of a directory's lock excludes every other, whatever file it is about to
    /// change. (Unix only: elsewhere directories cannot be opened as files.)
    #[cfg(unix)]
    pub fn acquire_dir(dir: &Path, timeout: Duration) -> Result<FileLock, LockError> {
        let file = File::open(dir).map_err(|source| io_error(dir, source))?;
        Self::wait_for(file, dir, &dir.join(".mac-lock.waiters"), timeout)
    }

    /// Takes the lock only if it is free right now.
    pub fn try_acquire(path: &Path) -> Result<Option<FileLock>, LockError> {
        let file = open_lock_file(path).map_err(|source| io_error(path, source))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock { _file: file, path: path.to_owned(), contended: false })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(source)) => Err(io_error(path, source)),
        }
    }

    /// Whether another holder had the lock when this one asked for it: a sign that other
    /// processes are queueing for it.
    pub fn was_contended(&self) -> bool {
        self.contended
    }

    /// The lock file or directory this guard holds.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn wait_for(
        file: File,
        path: &Path,
        waiting_room: &Path,
        timeout: Duration,
    ) -> Result<FileLock, LockError> {
        let others_waiting = others_are_waiting(waiting_room).map_err(|e| io_error(path, e))?;
        if !others_waiting && try_lock(&file).map_err(|e| io_error(path, e))? {
            return Ok(FileLock { _file: file, path: path.to_owned(), contended: false });
        }
        let started = Instant::now();
        let _span = tracing::debug_span!("lock_wait", path = %path.display()).entered();
        // Holding the waiting room's shared lock while polling tells barging processes to queue.
        let room = open_lock_file(waiting_room).map_err(|e| io_error(path, e))?;
        room.lock_shared().map_err(|e| io_error(path, e))?;
        let mut backoff = Backoff::new(started);
        if others_waiting {
            // Queue behind them: a sleeping waiter retries within one longest pause.
            std::thread::sleep(MAX_BACKOFF.min(timeout));
        }
        loop {
            if try_lock(&file).map_err(|e| io_error(path, e))? {
                tracing::trace!(
                    waited_us = started.elapsed().as_micros(),
                    "lock acquired after wait"
                );
                return Ok(FileLock { _file: file, path: path.to_owned(), contended: true });
            }
            let waited = started.elapsed();
            let Some(remaining) = timeout.checked_sub(waited).filter(|r| !r.is_zero()) else {
                return Err(LockError::Timeout { path: path.to_owned(), waited });
            };
            std::thread::sleep(backoff.next().min(remaining));
        }
        // `room` and, on failure, `file` close here: nothing outlives the call.
    }
}

fn io_error(path: &Path, source: io::Error) -> LockError {
    LockError::Io { path: path.to_owned(), source }
}

/// `Ok(true)` when the lock was free and is now held.
fn try_lock(file: &File) -> io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(err)) => Err(err),
    }
}

/// Capped exponential backoff with jitter in `[pause/2, pause]`, from a small xorshift
/// generator seeded by the clock and the process id (no process-global state).
struct Backoff {
    pause: Duration,
    state: u64,
}

impl Backoff {
    fn new(started: Instant) -> Self {
        let nanos = u64::from(started.elapsed().subsec_nanos())
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::from(d.subsec_nanos()));
        let state = (nanos << 16) ^ u64::from(std::process::id()) | 1;
        Self { pause: FIRST_BACKOFF, state }
    }

    fn next(&mut self) -> Duration {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let pause = self.pause;
        self.pause = (self.pause * 2).min(MAX_BACKOFF);
        let half = pause / 2;
        let micros = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).max(1);
        half + Duration::from_micros(self.state % micros)
    }
}

/// `<lock>.waiters`: every process waiting for the lock holds a shared lock on this file.
fn waiting_room_path(lock: &Path) -> PathBuf {
    crate::data_dir::with_suffix(lock, ".waiters")
}

/// Whether some process is waiting for the lock: the waiting room cannot be locked
/// exclusively while a waiter holds its shared lock.
fn others_are_waiting(waiting_room: &Path) -> io::Result<bool> {
    // Only waiters create the waiting room: an uncontended lock leaves no file behind.
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    no_follow(&mut options);
    match options.open(waiting_room) {
        Ok(room) => Ok(!try_lock(&room)?),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err),
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut options = private_options();
    options.read(true).write(true).create(true).truncate(false);
    no_follow(&mut options);
    options.open(path)
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
        // A timed-out wait must not keep (or later take) the lock.
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
