//! Cheap change detection for files replaced by rename (D7).
//!
//! A [`FileStamp`] is what `stat` says about a file: device, inode, size and modification time.
//! Every write replaces the file with a new inode, and [`crate::LockedFile::replace`] gives each
//! new version a modification time strictly later than the one it replaces, so a freed inode
//! number reused by the next version (common on ext4) still yields a new stamp. A reader that
//! finds the stamp unchanged can reuse what it parsed last time without reading the file.
//!
//! Coarse timestamps: on a file system that keeps whole seconds (ext2/3, ext4 with 128-byte
//! inodes, HFS+, FAT/exFAT, some FUSE and network file systems), two same-sized versions
//! written within one tick onto a reused inode look alike. A stamp therefore only vouches for
//! a version once the file is older than its timestamp granularity ([`FileStamp::is_settled`]):
//! any version written after that moment gets a later time. The granularity is read off the
//! stamp itself: a modification time with a sub-millisecond part comes from a fine-grained file
//! system (where mac's writers also make every new version's time strictly later); one that is
//! a whole number of milliseconds is treated as coarse, with a granularity of twice its
//! smallest nonzero decimal digit (2 s for whole seconds, FAT's granularity). A fine-grained
//! time that happens to end in six zeros only costs extra reads for a moment.
//!
//! Stamps reach the store through a [`StampSource`], so tests can force identical stamps (a
//! simulated coarse file system) where the machine offers no such file system. Windows has no
//! inode number here, so size and time alone tell versions apart there.

use std::fmt;
use std::fs::{self, File, Metadata};
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

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

    /// A stamp from its parts (for [`StampSource`]s that simulate other file systems).
    pub fn from_parts(dev: u64, ino: u64, len: u64, modified: Option<SystemTime>) -> FileStamp {
        FileStamp { dev, ino, len, modified }
    }

    /// The device number (0 where the platform has none).
    pub fn dev(&self) -> u64 {
        self.dev
    }

    /// The inode number (0 where the platform has none).
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// How finely the file system that produced this stamp keeps modification times (see the
    /// module docs); zero for a fine-grained one.
    pub fn granularity(&self) -> Duration {
        let Some(modified) = self.modified else { return COARSEST };
        let nanos = match modified.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(since) => since.subsec_nanos(),
            Err(before) => before.duration().subsec_nanos(),
        };
        if nanos == 0 {
            return COARSEST;
        }
        if nanos % 1_000_000 != 0 {
            return Duration::ZERO;
        }
        let mut unit = 1_000_000_u32;
        while nanos % (unit * 10) == 0 {
            unit *= 10;
        }
        Duration::from_nanos(2 * u64::from(unit))
    }

    /// Whether this stamp identifies its version for good, given a time taken before the stamp
    /// was read: true once the file was older than its granularity at that time, so that any
    /// later version must carry a later modification time. A missing time is never settled.
    pub fn is_settled(&self, observed_at: SystemTime) -> bool {
        let granularity = self.granularity();
        if granularity.is_zero() {
            return true;
        }
        self.modified.is_some_and(|modified| {
            observed_at.duration_since(modified).is_ok_and(|age| age >= granularity)
        })
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

/// The granularity assumed for whole-second times: FAT keeps two seconds.
const COARSEST: Duration = Duration::from_secs(2);

/// Where a file backend's stamps come from: the operating system ([`OsStamps`]) or, in tests,
/// a simulation of another file system (whole-second times, reused inodes).
pub trait StampSource: Send + Sync + fmt::Debug {
    /// The stamp the store sees for what `stat` reported.
    fn observe(&self, stamp: FileStamp) -> FileStamp;
}

/// Stamps as the operating system reports them.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsStamps;

impl StampSource for OsStamps {
    fn observe(&self, stamp: FileStamp) -> FileStamp {
        stamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> FileStamp {
        FileStamp::from_parts(1, 2, 3, Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos)))
    }

    #[test]
    fn granularity_is_read_off_the_time() {
        assert_eq!(at(10, 0).granularity(), Duration::from_secs(2));
        assert_eq!(at(10, 10_000_000).granularity(), Duration::from_millis(20));
        assert_eq!(at(10, 123_000_000).granularity(), Duration::from_millis(2));
        assert_eq!(at(10, 123_456_789).granularity(), Duration::ZERO);
    }

    #[test]
    fn coarse_stamps_settle_only_once_older_than_their_granularity() {
        let stamp = at(10, 0);
        let time = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert!(!stamp.is_settled(time(11)));
        assert!(stamp.is_settled(time(12)));
        assert!(at(10, 123_456_789).is_settled(time(10)));
        assert!(!FileStamp::from_parts(1, 2, 3, None).is_settled(time(99)));
    }
}
