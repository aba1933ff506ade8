//! Child processes for multi-process tests that are killed if the test ends early, so a failed
//! assertion never leaves a worker running.

use std::io;
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

/// A running child that is killed and reaped on drop unless it was waited for.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
}

/// Spawns `command` under a [`ChildGuard`].
pub fn spawn_guarded(command: &mut Command) -> io::Result<ChildGuard> {
    Ok(ChildGuard { child: Some(command.spawn()?) })
}

impl ChildGuard {
    /// The child, for its pipes and pid.
    pub fn child_mut(&mut self) -> &mut Child {
        // The Option is only emptied by the consuming methods below.
        self.child.as_mut().unwrap_or_else(|| unreachable!("child taken"))
    }

    /// Sends SIGKILL (`TerminateProcess` on Windows) and reaps the child.
    pub fn kill(mut self) -> io::Result<ExitStatus> {
        let killed = self.child_mut().kill();
        let status = self.take().wait();
        killed?;
        status
    }

    /// Waits for the child to exit and collects its output, killing it after `timeout`.
    pub fn wait_with_timeout(mut self, timeout: Duration) -> io::Result<Output> {
        let deadline = Instant::now() + timeout;
        let child = self.child_mut();
        loop {
            if child.try_wait()?.is_some() {
                return self.take().wait_with_output();
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let output = self.take().wait_with_output()?;
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "child did not exit within {timeout:?}; stderr: {}",
                        String::from_utf8_lossy(&output.stderr)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn take(&mut self) -> Child {
        self.child.take().unwrap_or_else(|| unreachable!("child taken twice"))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
