//! Claims across real OS processes (D8): no claim is lost when eight processes claim at the
//! same instant, a `SIGKILL`ed holder loses its claims at once, and releases remove only one's own.

use std::path::Path;
use std::sync::Arc;

use mac_claims::{Claims, ClaimsOptions};
use mac_storage::{Provider, SystemClock};
use mac_test_support::TempDataDir;
use mac_tests::claims_driver::ClaimsWorker;

const WORKERS: usize = 8;
const ROUNDS: usize = 50;

/// A claims-worker on `file`; a test failure if it cannot start.
fn start(file: &Path) -> ClaimsWorker {
    ClaimsWorker::start(Path::new(env!("CARGO_BIN_EXE_claims-worker")), file).unwrap()
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
    let mut workers: Vec<ClaimsWorker> = (0..WORKERS).map(|_| start(&file)).collect();
    let pids: Vec<u32> = workers.iter_mut().map(ClaimsWorker::pid).collect();

    for round in 0..ROUNDS {
        // Every worker gets its command before any answers is read: they race for the lock.
        for (i, worker) in workers.iter_mut().enumerate() {
            worker.send(&format!("claim acct-{i}")).unwrap();
        }
        for worker in &mut workers {
            assert_eq!(worker.reply().unwrap(), "ok");
        }
        let snapshot = observer.snapshot().unwrap();
        assert_eq!(snapshot.len(), WORKERS, "round {round}: a claim was lost");
        for (i, pid) in pids.iter().enumerate() {
            let claim = snapshot.get(&format!("acct-{i}")).unwrap();
            assert_eq!(claim.pid, *pid, "round {round}");
            assert!(snapshot.is_claimed_by_other(&format!("acct-{i}")));
        }

        for (i, worker) in workers.iter_mut().enumerate() {
            worker.send(&format!("release acct-{i}")).unwrap();
        }
        for worker in &mut workers {
            assert_eq!(worker.reply().unwrap(), "ok");
        }
        assert!(observer.snapshot().unwrap().is_empty(), "round {round}: a release was lost");
    }
    for worker in workers {
        worker.exit().unwrap();
    }
}

#[test]
fn multi_process_a_killed_holder_loses_its_claims_at_once() {
    let dir = TempDataDir::new().unwrap();
    let file = dir.data_dir().claims_file(Provider::Codex);
    let observer = observer(&file);
    let mut survivor = start(&file);
    let mut victim = start(&file);
    survivor.send("claim kept").unwrap();
    victim.send("claim lost").unwrap();
    assert_eq!(survivor.reply().unwrap(), "ok");
    assert_eq!(victim.reply().unwrap(), "ok");
    assert!(observer.snapshot().unwrap().is_claimed_by_other("lost"));

    victim.kill().unwrap();
    let snapshot = observer.snapshot().unwrap();
    assert!(!snapshot.is_claimed_by_other("lost"), "a dead pid holds nothing, no expiry wait");
    assert!(snapshot.is_claimed_by_other("kept"));

    // The next write clears the dead entry from the file as well.
    let _mine = observer.claim("other").unwrap();
    let raw: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(raw.get("lost").is_none());
    assert!(raw.get("kept").is_some());
    survivor.exit().unwrap();
}

#[test]
fn multi_process_exit_releases_and_a_taken_over_claim_stays_with_its_new_holder() {
    let dir = TempDataDir::new().unwrap();
    let file = dir.data_dir().claims_file(Provider::Anthropic);
    let observer = observer(&file);
    let mut first = start(&file);
    let mut second = start(&file);
    first.send("claim shared").unwrap();
    assert_eq!(first.reply().unwrap(), "ok");
    second.send("claim shared").unwrap();
    assert_eq!(second.reply().unwrap(), "ok");
    let second_pid = second.pid();
    first.send("release shared").unwrap();
    assert_eq!(first.reply().unwrap(), "ok");
    assert_eq!(observer.snapshot().unwrap().get("shared").unwrap().pid, second_pid);

    second.exit().unwrap();
    assert!(observer.snapshot().unwrap().is_empty(), "a clean exit releases its claims");
    first.exit().unwrap();
}

#[test]
fn multi_process_requests_on_held_accounts_write_nothing() {
    const PROCESSES: usize = 4;
    let dir = TempDataDir::new().unwrap();
    let file = dir.data_dir().claims_file(Provider::Anthropic);
    let observer = observer(&file);
    let mut workers: Vec<ClaimsWorker> = (0..PROCESSES).map(|_| start(&file)).collect();
    for (i, worker) in workers.iter_mut().enumerate() {
        worker.send(&format!("requests acct-{i} 1000")).unwrap();
    }
    for worker in &mut workers {
        let words = worker.reply_numbers().unwrap();
        assert_eq!(words[1], 0, "a request did not see its own claim");
        assert_eq!(words[2], 0, "claims-file writes during 1,000 requests");
        assert_eq!(words.len(), 3 + 1000);
    }
    let snapshot = observer.snapshot().unwrap();
    for (i, worker) in workers.iter_mut().enumerate() {
        let claim = snapshot.get(&format!("acct-{i}")).unwrap();
        assert_eq!(claim.pid, worker.pid(), "held between requests");
    }
    for worker in workers {
        worker.exit().unwrap();
    }
    assert!(observer.snapshot().unwrap().is_empty(), "exit releases");
}
