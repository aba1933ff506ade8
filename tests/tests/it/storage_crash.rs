//! A writer killed with SIGKILL at random moments never leaves a torn accounts file (D5): after
//! every kill the file parses and is exactly a version the writer produced, and the next writer
//! cleans up the temp file the killed one left.

use std::process::Stdio;
use std::time::Duration;

use mac_storage::{AccountStore, Provider, StoreOptions};
use mac_test_support::{Rng, TempDataDir, spawn_guarded};
use mac_tests::storage_work::{add_accounts, churn_counter, churn_step, is_churn_version};

use crate::storage_worker;

const KILLS: usize = 200;

#[test]
fn crash_sigkill_mid_write_leaves_old_or_new_document() {
    let dir = TempDataDir::new().unwrap();
    let file = dir.accounts_file(Provider::Anthropic);
    let store = AccountStore::at_path(&file, StoreOptions::default());
    add_accounts(&store, "crash", 3).unwrap();
    let mut rng = Rng::from_time();
    let seed = rng.seed();
    let mut last_counter = 0;
    let mut kills_with_stray_temp = 0;

    for round in 0..KILLS {
        let mut command = storage_worker();
        command
            .args(["churn", file.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = spawn_guarded(&mut command).unwrap();
        std::thread::sleep(Duration::from_micros(2_000 + rng.below(8_000)));
        child.kill().unwrap();

        let document = store.load().unwrap_or_else(|err| {
            panic!("round {round} (seed {seed}): unreadable after kill: {err}")
        });
        assert!(
            is_churn_version(&document),
            "round {round} (seed {seed}): the file is not a version the writer produced"
        );
        let counter = churn_counter(&document);
        assert!(
            counter >= last_counter,
            "round {round} (seed {seed}): went back from {last_counter} to {counter}"
        );
        last_counter = counter;
        if file.with_extension("json.tmp").exists() {
            kills_with_stray_temp += 1;
        }
    }
    assert!(last_counter > 0, "the writer never completed a write in {KILLS} runs");

    // The next writer replaces whatever temp file the last kill left.
    churn_step(&store).unwrap();
    assert!(!file.with_extension("json.tmp").exists());
    let accounts = store.load().unwrap().accounts.len();
    assert_eq!(accounts, 3);
    eprintln!(
        "{KILLS} kills, {kills_with_stray_temp} left a temp file, {last_counter} writes survived"
    );
}
