//! The `0600` copy of an unusable accounts file, made once per distinct content (D6).

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::epoch::EpochMs;
use crate::private_file::{parent_dir, private_options};

/// Copies `file` to `<file>.corrupt.<epoch ms>.bak` (mode `0600`, fsynced) unless a backup with
/// identical bytes already exists, and returns the backup's path. Call with the file's lock held,
/// so that two writers cannot both decide a copy is missing. (The claims table uses it too.)
pub fn backup_once(file: &Path, now: EpochMs) -> io::Result<PathBuf> {
    let dir = parent_dir(file);
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = format!("{name}.corrupt.");
    let size = fs::metadata(file)?.len();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        if entry_name.starts_with(&prefix)
            && entry_name.rsplit('.').next() == Some("bak")
            && entry.metadata().is_ok_and(|m| m.len() == size)
            && same_bytes(file, &entry.path())?
        {
            return Ok(entry.path());
        }
    }
    let mut stamp = now.as_millis();
    loop {
        let backup = dir.join(format!("{prefix}{stamp}.bak"));
        match copy_private(file, &backup) {
            Ok(()) => {
                tracing::warn!(file = %file.display(), backup = %backup.display(), "saved a copy of an unusable accounts file");
                return Ok(backup);
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => stamp += 1,
            Err(err) => return Err(err),
        }
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "the storage helper itself: removes its own partial copy"
)]
fn copy_private(from: &Path, to: &Path) -> io::Result<()> {
    let mut target = private_options().write(true).create_new(true).open(to)?;
    let result = io::copy(&mut File::open(from)?, &mut target).and_then(|_| target.sync_all());
    if result.is_err() {
        drop(target);
        let _ = fs::remove_file(to);
    }
    result
}

fn same_bytes(first: &Path, second: &Path) -> io::Result<bool> {
    let mut left = BufReader::new(File::open(first)?);
    let mut right = BufReader::new(File::open(second)?);
    let (mut left_buf, mut right_buf) = ([0_u8; 8192], [0_u8; 8192]);
    loop {
        let left_len = read_full(&mut left, &mut left_buf)?;
        let right_len = read_full(&mut right, &mut right_buf)?;
        if left_buf[..left_len] != right_buf[..right_len] {
            return Ok(false);
        }
        if left_len == 0 {
            return Ok(true);
        }
    }
}

fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, reason = "tests write fixtures and damage files on purpose")]
mod tests {
    use super::*;

    #[test]
    fn one_backup_per_distinct_content() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.json");
        fs::write(&file, b"garbage").unwrap();
        let first = backup_once(&file, EpochMs::from_millis(5)).unwrap();
        let second = backup_once(&file, EpochMs::from_millis(5)).unwrap();
        assert_eq!(first, second);
        assert_eq!(fs::read(&first).unwrap(), b"garbage");
        fs::write(&file, b"other garbage").unwrap();
        let third = backup_once(&file, EpochMs::from_millis(5)).unwrap();
        assert_ne!(third, first);
        assert!(third.to_string_lossy().ends_with("a.json.corrupt.6.bak"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&third).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
