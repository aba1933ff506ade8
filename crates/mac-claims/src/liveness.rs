//! Is the process that wrote a claim still the same live process (D8)?
//!
//! A claim records the pid and the process's start time. The pid must exist — `kill(pid, 0)`
//! succeeding or failing with `EPERM` (another user's process is alive too, unlike the seed's
//! check) — and, where the start time can be read (Linux: field 22 of `/proc/<pid>/stat`, clock
//! ticks since boot), it must equal the recorded one; otherwise the pid was reused by another
//! process, which is not the owner. Elsewhere the pid alone decides.

use std::collections::HashMap;
use std::time::Duration;

use crate::store::Holder;

/// A process as a claim records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcessIdentity {
    /// The process id.
    pub pid: u32,
    /// The start time in clock ticks since boot, where the platform tells it.
    pub start: Option<u64>,
}

impl ProcessIdentity {
    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self { pid, start: start_time(pid) }
    }

    /// Whether this exact process is alive: the pid exists and, when both start times are
    /// known, they agree.
    pub fn is_alive(&self) -> bool {
        if !pid_exists(self.pid) {
            return false;
        }
        match (self.start, start_time(self.pid)) {
            (Some(recorded), Some(actual)) => recorded == actual,
            _ => true,
        }
    }
}

/// Liveness answers about other holders and when (monotonic time) each was asked, so the
/// keeper does not ask the store (the OS, a database) about every holder on every refresh of
/// its view.
#[derive(Debug, Default)]
pub(crate) struct LivenessCache {
    answers: HashMap<Holder, (bool, Duration)>,
}

impl LivenessCache {
    /// The answer about `holder` if it was asked at most `ttl` before `now`.
    pub(crate) fn get(&self, holder: &Holder, now: Duration, ttl: Duration) -> Option<bool> {
        self.answers
            .get(holder)
            .filter(|(_, asked)| now.saturating_sub(*asked) <= ttl)
            .map(|(alive, _)| *alive)
    }

    /// Records an answer about `holder` asked at `now`.
    pub(crate) fn put(&mut self, holder: Holder, alive: bool, now: Duration) {
        self.answers.insert(holder, (alive, now));
    }

    /// Forgets the holders `keep` says no to (they hold nothing any more).
    pub(crate) fn retain(&mut self, keep: impl Fn(&Holder) -> bool) {
        self.answers.retain(|holder, _| keep(holder));
    }
}

/// This host's name (`uname` nodename), which names a holder's host in claims shared by
/// several hosts; `None` where the platform does not tell it.
pub fn host_name() -> Option<String> {
    #[cfg(unix)]
    {
        let name = rustix::system::uname().nodename().to_string_lossy().into_owned();
        Some(name).filter(|name| !name.is_empty())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The start time of `pid` (Linux only).
pub fn start_time(pid: u32) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        parse_start_time(&stat)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// Field 22 of a `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and may
/// itself contain spaces and parentheses, so fields are counted after the last `)`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_start_time(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards; field 22 is the 20th of those.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(unix)]
fn pid_exists(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(errno) => errno == rustix::io::Errno::PERM,
    }
}

#[cfg(not(unix))]
fn pid_exists(_pid: u32) -> bool {
    // No portable check here: the claim's heartbeat expiry alone retires it.
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_process_is_alive() {
        let me = ProcessIdentity::current();
        assert!(me.is_alive());
        if cfg!(target_os = "linux") {
            assert!(me.start.is_some());
            let reused = ProcessIdentity { start: me.start.map(|s| s + 1), ..me };
            assert!(!reused.is_alive(), "same pid, other start time: another process");
        }
    }

    #[test]
    fn cached_answers_last_their_ttl() {
        let mut cache = LivenessCache::default();
        let holder = Holder { host: None, pid: 7, start: Some(1), instance: None };
        assert_eq!(cache.get(&holder, Duration::ZERO, Duration::from_secs(5)), None);
        cache.put(holder.clone(), true, Duration::from_secs(10));
        assert_eq!(cache.get(&holder, Duration::from_secs(15), Duration::from_secs(5)), Some(true));
        assert_eq!(cache.get(&holder, Duration::from_secs(16), Duration::from_secs(5)), None);
        cache.retain(|h| h.pid != 7);
        assert_eq!(cache.get(&holder, Duration::from_secs(10), Duration::from_secs(5)), None);
    }

    #[test]
    fn a_pid_that_does_not_exist_is_dead() {
        assert!(!ProcessIdentity { pid: 99_999_999, start: None }.is_alive());
        assert!(!ProcessIdentity { pid: u32::MAX, start: None }.is_alive());
        assert!(!ProcessIdentity { pid: 0, start: None }.is_alive());
    }

    #[test]
    fn start_time_is_field_22_even_with_odd_command_names() {
        let stat = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_time(stat), Some(987_654));
        assert_eq!(parse_start_time("garbage"), None);
        assert_eq!(parse_start_time("1 (x) S 1"), None);
    }

    #[cfg(unix)]
    #[test]
    fn init_belongs_to_root_but_counts_as_alive() {
        // pid 1 always exists; for a non-root user kill(1, 0) fails with EPERM, which is alive.
        assert!(pid_exists(1));
    }
}
