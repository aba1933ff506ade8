//! The keeper thread: the background half of a [`crate::Claims`]. It writes first claims that
//! [`crate::Claims::hold`] queued, renews held claims every heartbeat, releases accounts that
//! have been idle, and rebuilds the cached view that [`crate::Claims::cached_snapshot`] serves —
//! so the per-request path never touches the file.
//!
//! A plain thread rather than a tokio task: `mac-claims` must not depend on a runtime, and its
//! work (a locked, fsynced write; a `stat`; liveness syscalls) is blocking by nature, which
//! must never run on a runtime worker. The thread holds only a weak reference to its table and
//! stops when the table is dropped.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

/// What the thread is told.
#[derive(Debug, Default)]
struct Signal {
    /// Work is waiting: do a pass now rather than at the next tick.
    woken: bool,
    /// The table is gone: exit.
    stopped: bool,
}

#[derive(Debug, Default)]
struct Shared {
    signal: Mutex<Signal>,
    wake: Condvar,
}

impl Shared {
    fn signal(&self) -> MutexGuard<'_, Signal> {
        self.signal.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The handle of a running keeper thread; stops it when dropped.
#[derive(Debug)]
pub(crate) struct Keeper {
    shared: Arc<Shared>,
}

impl Keeper {
    /// Starts a thread that calls `pass` on the target every `tick`, and at once whenever
    /// [`Keeper::wake`] is called, until the target is gone or the handle is dropped. The first
    /// pass runs at once.
    pub(crate) fn start<T: Send + Sync + 'static>(
        target: Weak<T>,
        tick: Duration,
        pass: fn(&T),
    ) -> std::io::Result<Keeper> {
        let shared = Arc::new(Shared {
            signal: Mutex::new(Signal { woken: true, stopped: false }),
            wake: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new().name("mac-claims-keeper".into()).spawn(move || {
            let shared = thread_shared;
            let mut signal = shared.signal();
            loop {
                if !signal.woken && !signal.stopped {
                    signal = shared
                        .wake
                        .wait_timeout(signal, tick)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                if signal.stopped {
                    return;
                }
                signal.woken = false;
                drop(signal);
                let Some(target) = target.upgrade() else { return };
                pass(&target);
                // Dropping the last reference here runs the table's own drop on this thread,
                // which stops this loop through the handle it owns.
                drop(target);
                signal = shared.signal();
            }
        })?;
        Ok(Keeper { shared })
    }

    /// Asks for a pass now (a first claim is waiting to be written).
    pub(crate) fn wake(&self) {
        let mut signal = self.shared.signal();
        if !signal.woken {
            signal.woken = true;
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.shared.signal().stopped = true;
        self.shared.wake.notify_all();
    }
}
