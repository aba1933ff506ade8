//! Exclusive read-modify-write of one file: the lock of its directory plus the crash-safe
//! replace (D5). The account store's file backend and the claims table both write
//! through this.
//!
//! **The lock.** On Unix a writer locks the directory that holds the file (`flock` on a
//! directory descriptor), not a sidecar `<file>.lock`: people delete `*.lock` files by habit,
//! and a lock file deleted while held lets the next writer create and lock a fresh one while
//! the first still writes — two writers, lost updates, and each renaming the other's temp file.
//! A directory cannot disappear while it holds the file. The price is that all files of one
//! directory share one lock: the accounts files of both providers and the claims files are
//! written one at a time. Writes there are rare (a refresh, a rate limit, coalesced
//! bookkeeping; claims renew every few seconds at most) and each holds the lock for one fsync,
//! so the contention costs little; never hold one [`LockedFile`] while acquiring another of the
//! same directory (the second waits for its timeout). Elsewhere (Windows) the lock is the
//! sidecar `<file>.lock`.
//!
//! **The replace.** A replace writes a temp file of its own, `<file>.tmp-<pid>-<random>`
//! (created `0600` with `O_EXCL | O_NOFOLLOW`), fsyncs it, renames it over the file and fsyncs
//! the directory. Readers open the file by name, so they see the old version or the new one,
//! never a mix, and need no lock. A crash leaves at worst a stray temp file; since every writer
//! of the directory holds its lock, any temp file found under the lock is stale and is removed
//! (the sweep costs one directory listing per replace).
//!
//! **Symbolic links.** When the file is a symbolic link (dotfile managers do this), the lock,
//! the temp file and the rename happen in the directory of the link's final target, so the
//! target is replaced atomically and the link stays a link. A link to a missing file is refused
//! with an error rather than replaced.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use snafu::{ResultExt, Snafu};

use crate::data_dir::temp_prefix_for;
use crate::file_lock::{FileLock, LockError};
use crate::file_stamp::FileStamp;
use crate::private_file::{no_follow, parent_dir, private_options};

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
    /// Takes the lock of `target` (see the module docs), waiting at most `timeout`. When
    /// `target` is a symbolic link, the lock and every later step apply to its final target.
    pub fn acquire(target: &Path, timeout: Duration) -> Result<LockedFile, LockError> {
        let started = Instant::now();
        loop {
            let resolved = resolve(target)
                .map_err(|source| LockError::Io { path: target.to_owned(), source })?;
            let remaining = timeout.saturating_sub(started.elapsed());
            let lock = lock_for(&resolved, remaining)?;
            // A link retargeted while this process waited: lock the new target's directory.
            match resolve(target) {
                Ok(again) if again == resolved => {
                    return Ok(LockedFile { target: resolved, lock });
                }
                Ok(_) if started.elapsed() < timeout => {}
                Ok(_) => {
                    return Err(LockError::Timeout {
                        path: target.to_owned(),
                        waited: started.elapsed(),
                    });
                }
                Err(source) => return Err(LockError::Io { path: target.to_owned(), source }),
            }
        }
    }

    /// The file this lock guards (the final target when the path given was a symbolic link).
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
    pub fn replace(
        &self,
        bytes: &[u8],
        previous: Option<&FileStamp>,
        durability: Durability,
    ) -> Result<FileStamp, FileIoError> {
        self.sweep_stale_temp_files();
        let temp = unique_temp_path(&self.target);
        let result = self.write_and_rename(&temp, bytes, previous, durability);
        if result.is_err() {
            remove_quietly(&temp);
        }
        result
    }

    /// Removes temp files of this file left by writers that died mid-write. Only the lock
    /// holder writes temp files, so under the lock every one found is stale.
    #[allow(
        clippy::disallowed_methods,
        reason = "the storage helper itself: stale temp files are removed under the lock"
    )]
    fn sweep_stale_temp_files(&self) {
        let prefix = temp_prefix_for(&self.target);
        let Ok(entries) = fs::read_dir(parent_dir(&self.target)) else { return };
        for entry in entries.flatten() {
            if entry.file_name().as_encoded_bytes().starts_with(prefix.as_encoded_bytes()) {
                tracing::debug!(path = %entry.path().display(), "removing a temp file left by an interrupted writer");
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    fn write_and_rename(
        &self,
        temp: &Path,
        bytes: &[u8],
        previous: Option<&FileStamp>,
        durability: Durability,
    ) -> Result<FileStamp, FileIoError> {
        write_temp_and_rename(temp, &self.target, bytes, Some(next_mtime(previous)), durability)
    }
}

/// Writes `bytes` to `path` crash-safely, with mode `0600`: the same create (`O_EXCL |
/// O_NOFOLLOW`, `0600`), fsync, rename and directory fsync as [`LockedFile::replace`], but
/// without the directory's lock. For a small private file that only one writer writes at a
/// time by some other guarantee (the pending-grant journal, written under an account's refresh
/// lock): readers see the old version or the new one, never a mix, and once this returns the
/// new version survives a crash or a power loss. A symbolic link at `path` is replaced, not
/// followed.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileIoError> {
    let temp = unique_temp_path(path);
    let result = write_temp_and_rename(&temp, path, bytes, None, Durability::Fsync);
    if result.is_err() {
        remove_quietly(&temp);
    }
    result.map(drop)
}

/// Removes `path` durably (the directory is fsynced, so the removal survives a power loss).
/// A file that is already gone is not an error.
#[allow(
    clippy::disallowed_methods,
    reason = "the storage helper itself: the removal of a private file written by write_private_atomic"
)]
pub fn remove_private(path: &Path) -> Result<(), FileIoError> {
    match fs::remove_file(path) {
        Ok(()) => sync_parent_dir(path),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(FileIoError { step: "remove", path: path.to_owned(), source }),
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "the storage helper itself: removes its own temp file after a failed write"
)]
fn remove_quietly(temp: &Path) {
    // Best effort: a leftover temp file is harmless and a later sweep removes it.
    let _ = fs::remove_file(temp);
}

/// The one crash-safe write: `temp` (which must not exist) is created `0600`, written, given
/// `mtime` when there is one, fsynced, renamed over `target`, and the directory is fsynced.
/// Returns the stamp of the new version.
#[allow(
    clippy::disallowed_methods,
    reason = "the storage helper itself: the atomic rename after the fsync"
)]
fn write_temp_and_rename(
    temp: &Path,
    target: &Path,
    bytes: &[u8],
    mtime: Option<SystemTime>,
    durability: Durability,
) -> Result<FileStamp, FileIoError> {
    let mut file = create_new(temp).context(FileIoSnafu { step: "create", path: temp })?;
    file.write_all(bytes).context(FileIoSnafu { step: "write", path: temp })?;
    if let Some(mtime) = mtime {
        file.set_modified(mtime)
            .context(FileIoSnafu { step: "set the modification time of", path: temp })?;
    }
    if durability == Durability::Fsync {
        file.sync_data().context(FileIoSnafu { step: "fsync", path: temp })?;
    }
    let stamp = FileStamp::of_file(&file).context(FileIoSnafu { step: "stat", path: temp })?;
    drop(file);
    fs::rename(temp, target).context(FileIoSnafu { step: "rename into place", path: target })?;
    if durability == Durability::Fsync {
        sync_parent_dir(target)?;
    }
    Ok(stamp)
}

/// The file a path names after following symbolic links; the path itself when it is not a
/// link or does not exist. A link whose target is missing is an error: replacing the link by a
/// regular file would silently detach it from the file it pointed to.
fn resolve(path: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("it is a symbolic link whose target cannot be followed ({err})"),
            )
        }),
        Ok(_) => Ok(path.to_owned()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(path.to_owned()),
        Err(err) => Err(err),
    }
}

#[cfg(unix)]
fn lock_for(target: &Path, timeout: Duration) -> Result<FileLock, LockError> {
    FileLock::acquire_dir(parent_dir(target), timeout)
}

#[cfg(not(unix))]
fn lock_for(target: &Path, timeout: Duration) -> Result<FileLock, LockError> {
    FileLock::acquire(&crate::data_dir::lock_path_for(target), timeout)
}

/// `<file>.tmp-<pid>-<random>`: a name no other writer uses, so writers that somehow both
/// think they hold the lock still never write, rename or delete each other's temp file.
fn unique_temp_path(file: &Path) -> PathBuf {
    let mut name = temp_prefix_for(file);
    let random = uuid::Uuid::new_v4().simple().to_string();
    name.push(format!("-{}-{}", std::process::id(), &random[..12]));
    parent_dir(file).join(name)
}

/// Creates `path`, which must not exist, with mode `0600`, never through a symbolic link.
fn create_new(path: &Path) -> io::Result<File> {
    let mut options = private_options();
    options.write(true).create_new(true);
    no_follow(&mut options);
    options.open(path)
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

    #[cfg(unix)]
    #[test]
    fn private_atomic_write_replaces_a_0644_file_with_a_0600_one_and_leaves_no_temp() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("grant.pending");
        fs::write(&target, b"old").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
        write_private_atomic(&target, b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left");
        remove_private(&target).unwrap();
        assert!(!target.exists());
        remove_private(&target).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn private_atomic_write_into_a_read_only_directory_fails_and_keeps_the_old_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("grant.pending");
        write_private_atomic(&target, b"old").unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o500)).unwrap();
        let result = write_private_atomic(&target, b"new");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        if rustix::process::geteuid().is_root() {
            return; // root writes anyway; nothing to observe
        }
        assert!(result.is_err());
        assert_eq!(fs::read(&target).unwrap(), b"old");
    }
}
