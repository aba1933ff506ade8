//! Claims across real OS processes (D8): no claim is lost when eight processes claim at the
//! same instant, a `SIGKILL`ed holder loses its claims at once, and releases remove only one's own.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdout, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mac_claims::{Claims, ClaimsOptions};
use mac_storage::{Provider, SystemClock};
use mac_test_support::{ChildGuard, TempDataDir, spawn_guarded};

const WORKERS: usize = 8;
const ROUNDS: usize = 50;

/// A claims-worker child with line-based stdin/stdout.
struct Worker {
    child: ChildGuard,
    out: BufReader<ChildStdout>,
}

impl Worker {
    fn start(file: &Path) -> Self {
        let mut command = crate::claims_worker();
        command.arg(file).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = spawn_guarded(&mut command).unwrap();
        let out = BufReader::new(child.child_mut().stdout.take().unwrap());
        Self { child, out }
    }

    fn pid(&mut self) -> u32 {
        self.child.child_mut().id()
    }

    fn send(&mut self, line: &str) {
        let stdin = self.child.child_mut().stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn reply(&mut self) -> String {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "worker exited early");
        line.trim().to_owned()
    }
}

fn observer(file: &Path) -> Claims {
    let options = ClaimsOptions { heartbeat_interval: None, ..ClaimsOptions::default() };
    Claims::at_path(file, options, Arc::new(SystemClock))
}

#[test]
fn multi_process_claims_at_the_same_instant_are_never_lost() {
    let dir = TempDataDir::new().unwrap();
    let file = dir.data_dir().claims_file(Provider::Anthropic);
    let observer = observer(&file);
    let mut workers: Vec<Worker> = (0..WORKERS).map(|_| Worker::start(&file)).collect();
    let pids: Vec<u32> = workers.iter_mut().map(Worker::pid).collect();

    for round in 0..ROUNDS {
        // Every worker gets its command before any answers is read: they race for the lock.
        for (i, worker) in workers.iter_mut().enumerate() {
            worker.send(&format!("claim acct-{i}"));
        }
        for worker in &mut workers {
            assert_eq!(worker.reply(), "ok");
        }
        let snapshot = observer.snapshot().unwrap();
        assert_eq!(snapshot.len(), WORKERS, "round {round}: a claim was lost");
        for (i, pid) in pids.iter().enumerate() {
            let claim = snapshot.get(&format!("acct-{i}")).unwrap();
            assert_eq!(claim.pid, *pid, "round {round}");
            assert!(snapshot.is_claimed_by_other(&format!("acct-{i}")));
        }

        for (i, worker) in workers.iter_mut().enumerate() {
            worker.send(&format!("release acct-{i}"));
        }
        for worker in &mut workers {
            assert_eq!(worker.reply(), "ok");
        }
        assert!(observer.snapshot().unwrap().is_empty(), "round {round}: a release was lost");
    }
    for worker in &mut workers {
        worker.send("exit");
    }
}

#[test]
fn multi_process_a_killed_holder_loses_its_claims_at_once() {
    let dir = TempDataDir::new().unwrap();
    let file = dir.data_dir().claims_file(Provider::Codex);
    let observer = observer(&file);
    let mut survivor = Worker::start(&file);
    let mut victim = Worker::start(&file);
    survivor.send("claim kept");
    victim.send("claim lost");
    assert_eq!(survivor.reply(), "ok");
    assert_eq!(victim.reply(), "ok");
    assert!(observer.snapshot().unwrap().is_claimed_by_other("lost"));

    victim.child.kill().unwrap();
    let snapshot = observer.snapshot().unwrap();
    assert!(!snapshot.is_claimed_by_other("lost"), "a dead pid holds nothing, no expiry wait");
    assert!(snapshot.is_claimed_by_other("kept"));

    // The next write clears the dead entry from the file as well.
    let _mine = observer.claim("other").unwrap();
    let raw: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(raw.get("lost").is_none());
    assert!(raw.get("kept").is_some());
    survivor.send("exit");
}

#[test]
fn multi_process_exit_releases_and_a_taken_over_claim_stays_with_its_new_holder() {
    let dir = TempDataDir::new().unwrap();
    let file = dir.data_dir().claims_file(Provider::Anthropic);
    let observer = observer(&file);
    let mut first = Worker::start(&file);
    let mut second = Worker::start(&file);
    first.send("claim shared");
    assert_eq!(first.reply(), "ok");
    second.send("claim shared");
    assert_eq!(second.reply(), "ok");
    let second_pid = second.pid();
    first.send("release shared");
    assert_eq!(first.reply(), "ok");
    assert_eq!(observer.snapshot().unwrap().get("shared").unwrap().pid, second_pid);

    second.send("exit");
    second.child.wait_with_timeout(Duration::from_secs(30)).unwrap();
    assert!(observer.snapshot().unwrap().is_empty(), "a clean exit releases its claims");
    first.send("exit");
}
