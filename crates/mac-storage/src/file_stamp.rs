//! Cheap change detection for files replaced by rename (DECISIONS.md D7).
//!
//! A [`FileStamp`] is what `stat` says about a file: device, inode, size and modification time.
//! Every write replaces the file with a new inode, and [`crate::LockedFile::replace`] gives each
//! new version a modification time strictly later than the one it replaces, so a freed inode
//! number reused by the next version (common on ext4) still yields a new stamp. A reader that
//! finds the stamp unchanged can reuse what it parsed last time without reading the file.
//!
//! Limits: this needs a file system that keeps sub-second modification times (ext4, xfs,
//! btrfs, tmpfs, APFS, NTFS do); on one with whole seconds, two same-sized versions written
//! within a second onto a reused inode would look alike. Windows has no inode number here, so
//! size and time alone tell versions apart.

use std::fs::{self, File, Metadata};
use std::io;
use std::path::Path;
use std::time::SystemTime;

/// The identity of one version of a file, as `stat` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    /// The stamp of the file at `path` now; `None` if it does not exist.
    pub fn of_path(path: &Path) -> io::Result<Option<FileStamp>> {
        match fs::metadata(path) {
            Ok(meta) => Ok(Some(Self::from_metadata(&meta))),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The stamp of an open file.
    pub fn of_file(file: &File) -> io::Result<FileStamp> {
        Ok(Self::from_metadata(&file.metadata()?))
    }

    /// The size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The modification time, where the platform reports one.
    pub fn modified(&self) -> Option<SystemTime> {
        self.modified
    }

    fn from_metadata(meta: &Metadata) -> FileStamp {
        #[cfg(unix)]
        let (dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let (dev, ino) = (0, 0);
        FileStamp { dev, ino, len: meta.len(), modified: meta.modified().ok() }
    }
}
