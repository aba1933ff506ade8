//! Driving a `claims-worker` child process: one command line in, one reply line out. Shared by
//! the multi-process claims tests and the claims benchmark.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdout, Command, Stdio};
use std::time::Duration;

use mac_test_support::{ChildGuard, spawn_guarded};

/// A running `claims-worker` on one claims file (killed if dropped before [`ClaimsWorker::exit`]).
#[derive(Debug)]
pub struct ClaimsWorker {
    child: ChildGuard,
    out: BufReader<ChildStdout>,
}

impl ClaimsWorker {
    /// Starts the worker binary `binary` on the claims file `file`.
    pub fn start(binary: &Path, file: &Path) -> Result<Self, String> {
        let mut command = Command::new(binary);
        command.arg(file).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child =
            spawn_guarded(&mut command).map_err(|e| format!("spawn {}: {e}", binary.display()))?;
        let out = BufReader::new(child.child_mut().stdout.take().ok_or("worker stdout missing")?);
        Ok(Self { child, out })
    }

    /// The worker's pid.
    pub fn pid(&mut self) -> u32 {
        self.child.child_mut().id()
    }

    /// Sends one command line.
    pub fn send(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.child.child_mut().stdin.as_mut().ok_or("worker stdin missing")?;
        writeln!(stdin, "{line}").and_then(|()| stdin.flush()).map_err(|e| e.to_string())
    }

    /// The next reply line, trimmed; an error if the worker exited.
    pub fn reply(&mut self) -> Result<String, String> {
        let mut line = String::new();
        self.out.read_line(&mut line).map_err(|e| e.to_string())?;
        if line.is_empty() {
            return Err("the worker exited without replying".into());
        }
        Ok(line.trim().to_owned())
    }

    /// The numbers of an `ok <n> <n> ...` reply.
    pub fn reply_numbers(&mut self) -> Result<Vec<u128>, String> {
        let line = self.reply()?;
        let rest = line.strip_prefix("ok").ok_or_else(|| format!("worker said {line:?}"))?;
        rest.split_whitespace().map(|w| w.parse::<u128>().map_err(|e| e.to_string())).collect()
    }

    /// Kills the worker with SIGKILL, without letting it release anything.
    pub fn kill(self) -> Result<(), String> {
        self.child.kill().map(drop).map_err(|e| e.to_string())
    }

    /// Asks the worker to exit (releasing its claims) and waits for it.
    pub fn exit(mut self) -> Result<(), String> {
        self.send("exit")?;
        self.child.wait_with_timeout(Duration::from_secs(60)).map(drop).map_err(|e| e.to_string())
    }
}
