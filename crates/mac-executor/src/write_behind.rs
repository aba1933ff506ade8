//! [`WriteBehind`]: the pool's bookkeeping writes (a success, a cooldown, a revoked mark, the
//! sticky pointer) run on tokio's blocking pool, off the runtime's workers and off the request
//! path. A request never waits for the accounts file's lock or an fsync: what it needs to
//! decide its next step is already held in memory (the pool's holds), and the file catches up
//! behind it.
//!
//! A write that fails (lock timeout, read-only or newer-version file) does not fail any
//! request. It is logged once at `warn` while writes keep failing (later failures at `debug`),
//! and again after a write has succeeded in between. [`WriteBehind::settle`] waits for the
//! writes in flight (shutdown, tests).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use mac_storage::StoreError;
use tokio::task::JoinSet;

/// The pool's writes in flight.
#[derive(Debug, Default)]
pub(crate) struct WriteBehind {
    tasks: Mutex<JoinSet<()>>,
    failing: std::sync::Arc<AtomicBool>,
}

impl WriteBehind {
    /// Runs `work` on the blocking pool; `what` names it in the log.
    pub(crate) fn spawn(
        &self,
        what: &'static str,
        work: impl FnOnce() -> Result<(), StoreError> + Send + 'static,
    ) {
        let failing = std::sync::Arc::clone(&self.failing);
        let span = tracing::debug_span!("write_behind", what);
        let mut tasks = self.tasks();
        // Reap finished writes so the set holds only what is in flight.
        while tasks.try_join_next().is_some() {}
        tasks.spawn_blocking(move || {
            let _entered = span.enter();
            match work() {
                Ok(()) => failing.store(false, Ordering::Relaxed),
                Err(err) if !failing.swap(true, Ordering::Relaxed) => {
                    tracing::warn!(
                        error = %err,
                        "could not write {what} to the accounts file; it holds in this process \
                         (further failures are logged at debug level until a write succeeds)"
                    );
                }
                Err(err) => tracing::debug!(error = %err, "could not write {what}"),
            }
        });
    }

    /// Waits until every write spawned so far (and any spawned meanwhile) has finished.
    pub(crate) async fn settle(&self) {
        loop {
            let mut tasks = std::mem::take(&mut *self.tasks());
            if tasks.is_empty() {
                return;
            }
            while tasks.join_next().await.is_some() {}
        }
    }

    fn tasks(&self) -> MutexGuard<'_, JoinSet<()>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
