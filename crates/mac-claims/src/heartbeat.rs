//! The heartbeat thread: while a [`crate::Claims`] holds claims, their `at` is renewed every
//! interval, so a claim lives as long as its holder — a streaming request of ten minutes keeps
//! its account claimed — and lapses one expiry period after the holder dies without releasing.
//!
//! A plain thread rather than a tokio task: `mac-claims` needs no runtime, and the work is one
//! locked write every interval. The thread holds only a weak reference and stops when the
//! table is dropped.

use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::Duration;

/// Stops the heartbeat thread when dropped.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    stop: Arc<(Mutex<bool>, Condvar)>,
}

impl Heartbeat {
    /// Starts a thread that calls `beat` on the target every `interval` until the target is gone
    /// or the returned handle is dropped.
    pub(crate) fn start<T: Send + Sync + 'static>(
        target: Weak<T>,
        interval: Duration,
        beat: fn(&T),
    ) -> std::io::Result<Heartbeat> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        std::thread::Builder::new().name("mac-claims-heartbeat".into()).spawn(move || {
            let (stopped, wake) = &*signal;
            let mut guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                guard =
                    wake.wait_timeout(guard, interval).unwrap_or_else(PoisonError::into_inner).0;
                if *guard {
                    return;
                }
                let Some(target) = target.upgrade() else { return };
                drop(guard);
                beat(&target);
                drop(target);
                guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
            }
        })?;
        Ok(Heartbeat { stop })
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
    }
}
