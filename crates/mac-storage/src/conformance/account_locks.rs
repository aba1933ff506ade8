//! The conformance suite of the account-locks contract ([`AccountLocks`]): what every
//! implementation (the lock files of one host, a database's advisory locks) must pass.
//!
//! [`run_all`] takes the locks under test and a way to start a holder in another OS process
//! (exclusion between processes is the point of the contract, so it is checked with real
//! ones): the child takes the lock of the account it is given on the same storage, prints one
//! line `locked` on its standard output once it holds it, and holds it until it is killed.
//! Each check reports a [`Failure`] instead of panicking, and kills every child it started.

use std::io::{BufRead as _, BufReader};
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use super::{Failure, ensure};
use crate::{AccountLockGuard, AccountLocks, LockError};

/// Starts a holder of `account`'s lock in another OS process, with its standard output piped
/// (see the module docs for what it prints).
pub type SpawnHolder<'a> = &'a dyn Fn(&str) -> std::io::Result<Child>;

/// How long a check waits for something that must happen (a child reporting its lock, a freed
/// lock being taken): generous, since a slow machine must not fail the suite. Nothing is
/// timed: only "it happened before this bound" is asserted.
const PATIENCE: Duration = Duration::from_secs(60);

/// How long a check waits for a lock it expects to stay held (the wait must time out).
const SHORT_WAIT: Duration = Duration::from_millis(200);

/// Runs every check. Accounts are named `conformance-<check>-<n>`, so one storage serves them
/// all; it must not be in use by anything else.
pub fn run_all(locks: &dyn AccountLocks, spawn_holder: SpawnHolder<'_>) -> Result<(), Failure> {
    exclusive_in_one_process(locks)?;
    exclusive_across_processes(locks, spawn_holder)?;
    a_waiting_process_gets_the_lock_on_release(locks, spawn_holder)?;
    a_killed_holder_frees_the_lock(locks, spawn_holder)?;
    Ok(())
}

/// Two guards of one account never coexist, even in one process; another account's lock is
/// independent; a dropped guard frees the lock.
pub fn exclusive_in_one_process(locks: &dyn AccountLocks) -> Result<(), Failure> {
    const CHECK: &str = "exclusive_in_one_process";
    let (a, b) = ("conformance-in-process-a", "conformance-in-process-b");
    let held = try_lock(CHECK, locks, a)?;
    ensure(CHECK, held.is_some(), || {
        format!("the free lock {} was not taken", locks.describe(a).display())
    })?;
    let again = try_lock(CHECK, locks, a)?;
    ensure(CHECK, again.is_none(), || {
        format!("try_lock took {} a second time in one process", locks.describe(a).display())
    })?;
    let other = try_lock(CHECK, locks, b)?;
    ensure(CHECK, other.is_some(), || "another account's lock was not free".to_owned())?;
    expect_timeout(CHECK, locks, a)?;
    drop(held);
    lock(CHECK, locks, a, PATIENCE).map(drop)
}

/// A lock held by another process: `try_lock` answers `None`, `lock` times out naming it.
pub fn exclusive_across_processes(
    locks: &dyn AccountLocks,
    spawn_holder: SpawnHolder<'_>,
) -> Result<(), Failure> {
    const CHECK: &str = "exclusive_across_processes";
    let account = "conformance-across-processes";
    let mut holder = Holder::spawn(CHECK, spawn_holder, account)?;
    holder.wait_locked(CHECK)?;
    let taken = try_lock(CHECK, locks, account)?;
    ensure(CHECK, taken.is_none(), || {
        format!("try_lock took {} while another process held it", locks.describe(account).display())
    })?;
    expect_timeout(CHECK, locks, account)?;
    holder.kill();
    Ok(())
}

/// A process waiting for a lock this one holds gets it once the guard is dropped, and then
/// this one cannot take it.
pub fn a_waiting_process_gets_the_lock_on_release(
    locks: &dyn AccountLocks,
    spawn_holder: SpawnHolder<'_>,
) -> Result<(), Failure> {
    const CHECK: &str = "a_waiting_process_gets_the_lock_on_release";
    let account = "conformance-released";
    let held = lock(CHECK, locks, account, PATIENCE)?;
    let mut waiter = Holder::spawn(CHECK, spawn_holder, account)?;
    drop(held);
    waiter.wait_locked(CHECK)?;
    let taken = try_lock(CHECK, locks, account)?;
    ensure(CHECK, taken.is_none(), || {
        format!(
            "try_lock took {} while the waiting process held it",
            locks.describe(account).display()
        )
    })?;
    waiter.kill();
    Ok(())
}

/// A holder killed while it holds the lock (SIGKILL: no clean-up of its own) frees it.
pub fn a_killed_holder_frees_the_lock(
    locks: &dyn AccountLocks,
    spawn_holder: SpawnHolder<'_>,
) -> Result<(), Failure> {
    const CHECK: &str = "a_killed_holder_frees_the_lock";
    let account = "conformance-killed";
    let mut holder = Holder::spawn(CHECK, spawn_holder, account)?;
    holder.wait_locked(CHECK)?;
    holder.kill();
    lock(CHECK, locks, account, PATIENCE).map(drop)
}

fn try_lock(
    check: &'static str,
    locks: &dyn AccountLocks,
    account: &str,
) -> Result<Option<AccountLockGuard>, Failure> {
    locks.try_lock(account).map_err(|err| Failure { check, message: format!("try_lock: {err}") })
}

fn lock(
    check: &'static str,
    locks: &dyn AccountLocks,
    account: &str,
    timeout: Duration,
) -> Result<AccountLockGuard, Failure> {
    locks.lock(account, timeout).map_err(|err| Failure { check, message: format!("lock: {err}") })
}

/// `lock` of a held lock times out with [`LockError::Timeout`] naming the lock.
fn expect_timeout(
    check: &'static str,
    locks: &dyn AccountLocks,
    account: &str,
) -> Result<(), Failure> {
    let described = locks.describe(account);
    match locks.lock(account, SHORT_WAIT) {
        Ok(_) => Err(Failure {
            check,
            message: format!("lock took {} while it was held", described.display()),
        }),
        Err(err @ LockError::Timeout { .. }) => {
            let shown = err.to_string();
            let named = matches!(&err, LockError::Timeout { path, .. } if *path == described)
                && shown.contains(&described.display().to_string());
            ensure(check, named, || {
                format!("the timeout does not name the lock {}: {shown}", described.display())
            })
        }
        Err(err) => Err(Failure { check, message: format!("expected a timeout, got: {err}") }),
    }
}

/// A holder process, killed when dropped.
struct Holder {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Holder {
    fn spawn(check: &'static str, spawn: SpawnHolder<'_>, account: &str) -> Result<Self, Failure> {
        let mut child = spawn(account)
            .map_err(|err| Failure { check, message: format!("cannot start a holder: {err}") })?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failure { check, message: "the holder's stdout is not piped".to_owned() });
        };
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self { child, lines })
    }

    /// Waits for the child's `locked` line.
    fn wait_locked(&mut self, check: &'static str) -> Result<(), Failure> {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) if line.trim() == "locked" => Ok(()),
            Ok(line) => Err(Failure { check, message: format!("the holder printed {line:?}") }),
            Err(_) => Err(Failure {
                check,
                message: format!(
                    "the holder did not report its lock (exit status: {:?})",
                    self.child.try_wait().ok().flatten()
                ),
            }),
        }
    }

    /// SIGKILL (no clean-up in the child), then reaps it.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.kill();
    }
}
