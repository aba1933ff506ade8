//! [`WriteBehind`]: the pool's bookkeeping writes (a success, a cooldown, a revoked mark, the
//! sticky pointer) run on tokio's blocking pool, off the runtime's workers and off the request
//! path. A request never waits for the accounts file's lock or an fsync: what it needs to
//! decide its next step is already held in memory (the pool's holds), and the file catches up
//! behind it.
//!
//! The writes of one account land in the order they were started. A success recorded at a
//! stream's commit point clears the account's rate limit; a rate limit met later in the same
//! stream ([`Lease::finish`](crate::Lease::finish)) must not be cleared by it, so a write waits
//! for the account's previous write to finish before it starts. Writes of different accounts
//! run side by side (the accounts file's lock orders them).
//!
//! A write that fails (lock timeout, read-only or newer-version file) does not fail any
//! request. It is logged once at `warn` while writes keep failing (later failures at `debug`),
//! and again after a write has succeeded in between. [`WriteBehind::settle`] waits for the
//! writes in flight (shutdown, tests).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mac_storage::StoreError;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// The pool's writes in flight.
#[derive(Debug, Default)]
pub(crate) struct WriteBehind {
    tasks: Mutex<JoinSet<()>>,
    failing: Arc<AtomicBool>,
    /// Per account, the signal its last started write gives when it has finished.
    last: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
}

impl WriteBehind {
    /// Runs `work`, a write of `account`'s bookkeeping, on the blocking pool after the
    /// account's previous write; `what` names it in the log. Outside a tokio runtime (a
    /// synchronous caller, where blocking is allowed) it runs at once on the caller's thread.
    pub(crate) fn spawn(
        &self,
        what: &'static str,
        account: &str,
        work: impl FnOnce() -> Result<(), StoreError> + Send + 'static,
    ) {
        let failing = Arc::clone(&self.failing);
        let span = tracing::debug_span!("write_behind", what);
        let write = move || {
            let _entered = span.enter();
            report(what, &failing, work());
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            write();
            return;
        };
        let done = Arc::new(Notify::new());
        let previous = lock(&self.last).insert(account.to_owned(), Arc::clone(&done));
        let last = Arc::clone(&self.last);
        let account = account.to_owned();
        let mut tasks = self.tasks();
        // Reap finished writes so the set holds only what is in flight.
        while tasks.try_join_next().is_some() {}
        tasks.spawn_on(
            async move {
                // Signals the next write of the account even if this task is cancelled.
                let _signal = Signal { done: &done, last: &last, account: &account };
                if let Some(previous) = previous {
                    previous.notified().await;
                }
                if let Err(err) = tokio::task::spawn_blocking(write).await {
                    tracing::warn!(error = %err, "a bookkeeping write did not finish");
                }
            },
            &runtime,
        );
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

/// Logs a write's failure: once at `warn` while writes keep failing, then at `debug`.
fn report(what: &str, failing: &AtomicBool, outcome: Result<(), StoreError>) {
    match outcome {
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
}

/// On drop: lets the account's next write start, and forgets this write when it is still the
/// account's last.
struct Signal<'a> {
    done: &'a Arc<Notify>,
    last: &'a Mutex<HashMap<String, Arc<Notify>>>,
    account: &'a str,
}

impl Drop for Signal<'_> {
    fn drop(&mut self) {
        let mut last = lock(self.last);
        if last.get(self.account).is_some_and(|current| Arc::ptr_eq(current, self.done)) {
            last.remove(self.account);
        }
        drop(last);
        // A permit is stored when the next write is not waiting yet.
        self.done.notify_one();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The second write of an account starts only after the first has finished, however long
    /// the first takes (without the ordering the second, started at once, lands first).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_of_one_account_land_in_order() {
        let writes = WriteBehind::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        let push = |tag: &'static str, pause: u64| {
            let order = Arc::clone(&order);
            move || {
                std::thread::sleep(Duration::from_millis(pause));
                lock(&order).push(tag);
                Ok(())
            }
        };
        writes.spawn("first", "a", push("a1", 100));
        writes.spawn("second", "a", push("a2", 0));
        writes.spawn("other", "b", push("b1", 0));
        writes.settle().await;
        let order = lock(&order).clone();
        let position = |tag| order.iter().position(|t| *t == tag).unwrap();
        assert!(position("a1") < position("a2"), "{order:?}");
        assert_eq!(order.len(), 3, "{order:?}");
        assert!(lock(&writes.last).is_empty(), "finished writes are forgotten");
    }
}
