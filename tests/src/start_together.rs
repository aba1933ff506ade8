//! [`start_together`]: worker processes that start their measured work at one instant. Each
//! worker is run with `--wait-go` and blocks on standard input until it reads `go`; the caller
//! gets the instant the last `go` was written, so set-up (process start, connecting, opening a
//! store) is outside what is measured and every worker contends from the same moment.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mac_test_support::{ChildGuard, spawn_guarded};

/// Spawns every command with `--wait-go` and piped standard streams, waits `settle` for them to
/// reach the barrier, then writes `go` to each. Returns the instant after the last `go` and the
/// children (killed when dropped).
pub fn start_together(
    commands: impl IntoIterator<Item = Command>,
    settle: Duration,
) -> Result<(Instant, Vec<ChildGuard>), String> {
    let mut children = Vec::new();
    for mut command in commands {
        command
            .arg("--wait-go")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let program = command.get_program().to_string_lossy().into_owned();
        children.push(spawn_guarded(&mut command).map_err(|e| format!("spawn {program}: {e}"))?);
    }
    std::thread::sleep(settle);
    let started = Instant::now();
    for child in &mut children {
        let stdin = child.child_mut().stdin.as_mut().ok_or("worker stdin missing")?;
        stdin.write_all(b"go\n").map_err(|e| e.to_string())?;
    }
    Ok((started, children))
}
