//! Item: a timed-out lock wait costs no thread and no descriptor. Its own test binary, so that
//! no other test's threads or files disturb the counts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use mac_storage::FileLock;

fn count_entries(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[cfg(target_os = "linux")]
#[test]
fn a_thousand_timed_out_waits_leave_threads_and_descriptors_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held.lock");
    let _holder = FileLock::acquire(&path, Duration::from_secs(1)).unwrap();
    let threads_before = count_entries("/proc/self/task");
    let fds_before = count_entries("/proc/self/fd");
    for _ in 0..1_000 {
        let err = FileLock::acquire(&path, Duration::from_micros(200)).unwrap_err();
        assert!(matches!(err, mac_storage::LockError::Timeout { .. }), "{err}");
    }
    let threads_after = count_entries("/proc/self/task");
    let fds_after = count_entries("/proc/self/fd");
    assert_eq!(
        (threads_after, fds_after),
        (threads_before, fds_before),
        "threads and descriptors after 1,000 timeouts (before: {threads_before} threads, {fds_before} fds)"
    );
}
