//! Exclusive read-modify-write of one file: its sidecar lock plus the crash-safe replace
//! (DECISIONS.md D5). The account store and the claims table both write through this.
//!
//! A replace writes `<file>.tmp` (created `0600`, never chmod-ed afterwards), fsyncs it, renames
//! it over the file and fsyncs the directory. Readers open the file by name, so they see the old
//! version or the new one, never a mix, and need no lock. A crash leaves at worst a stray
//! `<file>.tmp`, which the next writer replaces.
//!
//! Improvement on D21's suggestion of `tempfile` for the temp file: because only the lock
//! holder writes, one fixed temp name is safe; random names would leave a new stray file after
//! every crash and cost a directory scan to clean up.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use snafu::{ResultExt, Snafu};

use crate::data_dir::{lock_path_for, temp_path_for};
use crate::file_lock::{FileLock, LockError};
use crate::file_stamp::FileStamp;
use crate::private_file::{parent_dir, private_options};

/// Whether a replace waits for the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// fsync the temp file before the rename and the directory after it (the default).
    #[default]
    Fsync,
    /// Skip both fsyncs: atomic against concurrent readers and process crashes, but a power
    /// loss may lose the latest versions. For benchmarks and throwaway test data only.
    NoFsync,
}

/// A failed step of a read or a replace.
#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)), display("cannot {step} {}: {source}", path.display()))]
pub struct FileIoError {
    step: &'static str,
    path: PathBuf,
    source: io::Error,
}

impl FileIoError {
    /// The operating-system error.
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }
}

/// The contents of one version of a file.
#[derive(Debug)]
pub struct FileContents {
    /// The bytes read, at most the limit passed to [`LockedFile::read`] plus one.
    pub bytes: Vec<u8>,
    /// The version that was read.
    pub stamp: FileStamp,
}

/// Reads `path`, at most `limit + 1` bytes (so the caller can tell an oversized file), without
/// any lock. `None` when the file does not exist.
pub fn read_file(path: &Path, limit: u64) -> Result<Option<FileContents>, FileIoError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(FileIoError { step: "open", path: path.to_owned(), source });
        }
    };
    let stamp = FileStamp::of_file(&file).context(FileIoSnafu { step: "stat", path })?;
    let capacity = usize::try_from(stamp.len().min(limit.saturating_add(1))).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    Read::take(&mut file, limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .context(FileIoSnafu { step: "read", path })?;
    Ok(Some(FileContents { bytes, stamp }))
}

/// A file held for read-modify-write: the lock on `<file>.lock` is held while this lives.
#[derive(Debug)]
pub struct LockedFile {
    target: PathBuf,
    lock: FileLock,
}

impl LockedFile {
    /// Takes the lock of `target`, waiting at most `timeout`.
    pub fn acquire(target: &Path, timeout: Duration) -> Result<LockedFile, LockError> {
        let lock = FileLock::acquire(&lock_path_for(target), timeout)?;
        Ok(LockedFile { target: target.to_owned(), lock })
    }

    /// The file this lock guards.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The lock guard, as proof for functions that require the lock.
    pub fn lock(&self) -> &FileLock {
        &self.lock
    }

    /// Reads the current version (see [`read_file`]).
    pub fn read(&self, limit: u64) -> Result<Option<FileContents>, FileIoError> {
        read_file(&self.target, limit)
    }

    /// Replaces the file with `bytes` crash-safely and returns the new version's stamp.
    ///
    /// `previous` is the stamp of the version being replaced, if any: the new version gets a
    /// modification time strictly after it, so stamps never repeat (see [`FileStamp`]).
    #[allow(
        clippy::disallowed_methods,
        reason = "the storage helper itself: removes its own temp file"
    )]
    pub fn replace(
        &self,
        bytes: &[u8],
        previous: Option<&FileStamp>,
        durability: Durability,
    ) -> Result<FileStamp, FileIoError> {
        let temp = temp_path_for(&self.target);
        let result = self.write_and_rename(&temp, bytes, previous, durability);
        if result.is_err() {
            // Best effort: the next writer replaces a leftover anyway.
            let _ = fs::remove_file(&temp);
        }
        result
    }

    #[allow(
        clippy::disallowed_methods,
        reason = "the storage helper itself: the atomic rename after the fsync"
    )]
    fn write_and_rename(
        &self,
        temp: &Path,
        bytes: &[u8],
        previous: Option<&FileStamp>,
        durability: Durability,
    ) -> Result<FileStamp, FileIoError> {
        let mut file = create_fresh(temp).context(FileIoSnafu { step: "create", path: temp })?;
        file.write_all(bytes).context(FileIoSnafu { step: "write", path: temp })?;
        file.set_modified(next_mtime(previous))
            .context(FileIoSnafu { step: "set the modification time of", path: temp })?;
        if durability == Durability::Fsync {
            file.sync_data().context(FileIoSnafu { step: "fsync", path: temp })?;
        }
        let stamp = FileStamp::of_file(&file).context(FileIoSnafu { step: "stat", path: temp })?;
        drop(file);
        fs::rename(temp, &self.target)
            .context(FileIoSnafu { step: "rename into place", path: &self.target })?;
        if durability == Durability::Fsync {
            sync_parent_dir(&self.target)?;
        }
        Ok(stamp)
    }
}

/// Creates `path` anew with mode `0600`. A leftover from a crashed writer is removed first, so
/// the file's mode is always the one set at creation.
#[allow(
    clippy::disallowed_methods,
    reason = "the storage helper itself: removes a leftover temp file"
)]
fn create_fresh(path: &Path) -> io::Result<File> {
    let mut options = private_options();
    options.write(true).create_new(true);
    match options.open(path) {
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            tracing::debug!(path = %path.display(), "removing a temp file left by an interrupted writer");
            fs::remove_file(path)?;
            options.open(path)
        }
        other => other,
    }
}

fn next_mtime(previous: Option<&FileStamp>) -> SystemTime {
    let now = SystemTime::now();
    match previous.and_then(FileStamp::modified) {
        Some(before) if before >= now => before + Duration::from_micros(1),
        _ => now,
    }
}

#[cfg(unix)]
fn sync_parent_dir(path: &Path) -> Result<(), FileIoError> {
    let dir = parent_dir(path);
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .context(FileIoSnafu { step: "fsync the directory", path: dir })
}

#[cfg(not(unix))]
fn sync_parent_dir(_path: &Path) -> Result<(), FileIoError> {
    // Windows has no directory handle to fsync; MoveFileEx with the rename is already durable
    // once the file data was flushed.
    Ok(())
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, reason = "tests write fixtures and damage files on purpose")]
mod tests {
    use super::*;

    #[test]
    fn replace_writes_and_stamps_advance() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("doc.json");
        let locked = LockedFile::acquire(&target, Duration::from_secs(1)).unwrap();
        assert!(locked.read(100).unwrap().is_none());
        let first = locked.replace(b"one", None, Durability::Fsync).unwrap();
        let second = locked.replace(b"two", Some(&first), Durability::NoFsync).unwrap();
        assert_ne!(first, second);
        assert!(second.modified() > first.modified());
        let read = locked.read(100).unwrap().unwrap();
        assert_eq!(read.bytes, b"two");
        assert_eq!(read.stamp, second);
        assert!(!dir.path().join("doc.json.tmp").exists());
    }

    #[test]
    fn stray_temp_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("doc.json");
        fs::write(dir.path().join("doc.json.tmp"), b"half-written garbage").unwrap();
        let locked = LockedFile::acquire(&target, Duration::from_secs(1)).unwrap();
        locked.replace(b"whole", None, Durability::Fsync).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"whole");
        assert!(!dir.path().join("doc.json.tmp").exists());
    }

    #[test]
    fn read_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("big");
        fs::write(&target, vec![b'x'; 100]).unwrap();
        let read = read_file(&target, 10).unwrap().unwrap();
        assert_eq!(read.bytes.len(), 11);
        assert_eq!(read.stamp.len(), 100);
    }

    #[cfg(unix)]
    #[test]
    fn replaced_file_is_0600_even_over_a_0644_leftover() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("doc.json");
        let temp = dir.path().join("doc.json.tmp");
        fs::write(&temp, b"x").unwrap();
        fs::set_permissions(&temp, fs::Permissions::from_mode(0o644)).unwrap();
        let locked = LockedFile::acquire(&target, Duration::from_secs(1)).unwrap();
        locked.replace(b"secret", None, Durability::Fsync).unwrap();
        let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
