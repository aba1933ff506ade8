//! The private runtime that drives this crate's connections, and [`Driver::wait`], how a
//! blocking caller runs one of the client's futures to completion.
//!
//! Why a private runtime: the accounts store's API is blocking (callers run it on a blocking
//! thread), and `tokio-postgres` is asynchronous. A connection's socket I/O runs as a task on
//! this runtime (one worker thread per storage, whichever runtime the caller uses, if any).
//! The client's requests are futures that only exchange messages with that task, so the
//! caller polls them on its own thread ([`block_on`]) — which lets a transaction run the
//! store's closure (not `Send`, borrowed) between two statements. Unlike the blocking
//! `postgres` crate, waiting here never panics when the caller happens to be inside another
//! runtime (a store dropped on an async worker flushes its bookkeeping): it blocks that
//! thread, as a file lock would.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use snafu::ResultExt;
use tokio::runtime::{Builder, Handle, Runtime};

use crate::error::{PostgresError, RuntimeSnafu};

/// The runtime; shut down without waiting when dropped (safe on any thread).
#[derive(Debug)]
pub(crate) struct Driver {
    runtime: Option<Runtime>,
    handle: Handle,
}

impl Driver {
    /// Starts the runtime's one worker thread.
    pub(crate) fn start() -> Result<Self, PostgresError> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name("mac-postgres")
            .enable_io()
            .enable_time()
            .build()
            .context(RuntimeSnafu)?;
        let handle = runtime.handle().clone();
        Ok(Self { runtime: Some(runtime), handle })
    }

    /// The runtime's handle (to spawn connection tasks).
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `future` on the calling thread until it completes, with this runtime's timers
    /// and I/O available to it. Blocks the thread.
    pub(crate) fn wait<F: Future>(&self, future: F) -> F::Output {
        let _entered = self.handle.enter();
        block_on(future)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Wakes a thread parked in [`block_on`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread, parking between wake-ups. (A spurious unpark only costs
/// one more poll.)
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;

    #[test]
    fn a_caller_waits_for_timers_and_tasks_of_the_runtime() {
        let driver = Driver::start().unwrap();
        let task = driver.handle().spawn(async { 7 });
        let value = driver.wait(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            task.await.unwrap()
        });
        assert_eq!(value, 7);
    }

    #[test]
    fn waiting_inside_another_runtime_blocks_instead_of_panicking() {
        let driver = Driver::start().unwrap();
        let outer = Builder::new_current_thread().enable_time().build().unwrap();
        let value = outer.block_on(async { driver.wait(async { 3 }) });
        assert_eq!(value, 3);
        // Dropping the driver inside a runtime must not panic either.
        outer.block_on(async move { drop(driver) });
    }
}
