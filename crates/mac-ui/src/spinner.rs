//! A spinner on standard error while something is awaited (a login callback, a device
//! approval, a usage fetch). It runs on a thread of its own, so an async caller never blocks a
//! runtime worker; on a stream that is not a terminal it prints its message once instead.

use std::io::{self, Write};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const TICK: Duration = Duration::from_millis(100);

/// A running spinner; [`Spinner::stop`] (or dropping it) clears its line.
#[derive(Debug)]
pub struct Spinner {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    /// Starts a spinner showing `message`: animated when `animate` (standard error is a
    /// terminal), else `message` printed once; nothing at all when `quiet`.
    pub fn start(message: &str, animate: bool, quiet: bool) -> Self {
        if quiet {
            return Self { stop: None, thread: None };
        }
        if !animate {
            let _ = writeln!(io::stderr(), "{message}");
            return Self { stop: None, thread: None };
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let message = message.to_owned();
        let thread = std::thread::Builder::new()
            .name("mac-spinner".into())
            .spawn(move || {
                let mut frame = 0;
                loop {
                    let mut err = io::stderr().lock();
                    let _ = write!(err, "\r\x1b[2K{} {message}", FRAMES[frame % FRAMES.len()]);
                    let _ = err.flush();
                    drop(err);
                    frame += 1;
                    match stopped.recv_timeout(TICK) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                let _ = write!(io::stderr(), "\r\x1b[2K");
                let _ = io::stderr().flush();
            })
            .ok();
        Self { stop: Some(stop), thread }
    }

    /// Stops the spinner and clears its line.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.finish();
    }
}
