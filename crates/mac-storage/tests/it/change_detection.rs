//! Cheap reads and coalesced bookkeeping (D7): an unchanged file is not re-read, every change
//! by another process is seen, and `lastUsed` is written at most once per interval.

use std::sync::Arc;
use std::time::Duration;

use mac_storage::{AuthFailure, StoreOptions, SuccessOutcome};

use crate::{Fixture, add, at, creds, new_account};

#[test]
fn an_unchanged_file_yields_the_same_parsed_document() {
    let fx = Fixture::new();
    add(&fx.store, &new_account("r1"));
    let first = fx.store.load().unwrap();
    let parses = fx.store.parse_count();
    let second = fx.store.load().unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(fx.store.parse_count(), parses, "no read of an unchanged file");
    fx.other_store().clear().unwrap();
    fx.store.load().unwrap();
    assert_eq!(fx.store.parse_count(), parses + 1, "one read after another store changed it");
}

#[test]
fn every_same_sized_change_by_another_store_is_seen() {
    // Same-size rewrites in quick succession: the inode of a replaced version may be reused and
    // coarse mtimes may repeat; the store's strictly increasing mtimes keep stamps distinct.
    let fx = Fixture::with_options(StoreOptions {
        durability: mac_storage::Durability::NoFsync,
        ..StoreOptions::default()
    });
    let uuid = add(&fx.store, &new_account("r1"));
    let writer = fx.other_store();
    for round in 0..200_i64 {
        let until = 1_000_000 + round % 10; // same width, so the same file size every time
        writer.record_rate_limit(&uuid, at(until)).unwrap();
        let seen = fx.store.load().unwrap();
        assert_eq!(
            seen.account(&uuid).unwrap().rate_limit_reset_at,
            Some(at(until)),
            "round {round}"
        );
    }
}

#[test]
fn a_healthy_success_is_coalesced_until_the_interval_passes() {
    let fx = Fixture::with_options(StoreOptions {
        bookkeeping_interval: Duration::from_secs(5),
        ..StoreOptions::default()
    });
    let uuid = add(&fx.store, &new_account("r1"));
    assert_eq!(fx.store.record_success(&uuid, at(10_000)).unwrap(), SuccessOutcome::Written);
    let generation = fx.store.load().unwrap().generation;
    assert_eq!(fx.store.record_success(&uuid, at(11_000)).unwrap(), SuccessOutcome::Coalesced);
    assert_eq!(fx.store.record_success(&uuid, at(14_999)).unwrap(), SuccessOutcome::Coalesced);
    assert_eq!(fx.store.load().unwrap().generation, generation, "no write while coalescing");
    assert_eq!(fx.store.record_success(&uuid, at(15_000)).unwrap(), SuccessOutcome::Written);
    assert_eq!(fx.other_store().load().unwrap().account(&uuid).unwrap().last_used, at(15_000));
}

#[test]
fn a_success_that_clears_state_is_written_at_once() {
    let fx = Fixture::new();
    let uuid = add(&fx.store, &new_account("r1"));
    fx.store.record_success(&uuid, at(10_000)).unwrap();
    fx.store.record_auth_failure(&uuid, &creds("r1"), AuthFailure::Transient, 5).unwrap();
    assert_eq!(fx.store.record_success(&uuid, at(10_001)).unwrap(), SuccessOutcome::Written);
    assert_eq!(
        fx.other_store().load().unwrap().account(&uuid).unwrap().consecutive_auth_failures,
        0
    );
}

#[test]
fn pending_last_used_rides_along_with_the_next_write_or_the_flush() {
    let fx = Fixture::new();
    let first = add(&fx.store, &new_account("r1"));
    let second = add(&fx.store, &new_account("r2"));
    fx.store.record_success(&first, at(10_000)).unwrap();
    fx.store.record_success(&first, at(12_000)).unwrap();
    fx.store.record_rate_limit(&second, at(99_000)).unwrap();
    assert_eq!(fx.other_store().load().unwrap().account(&first).unwrap().last_used, at(12_000));

    fx.store.record_success(&first, at(13_000)).unwrap();
    fx.store.flush().unwrap();
    assert_eq!(fx.other_store().load().unwrap().account(&first).unwrap().last_used, at(13_000));

    fx.store.record_success(&first, at(14_000)).unwrap();
    let path = fx.path().to_owned();
    let Fixture { dir, store } = fx;
    drop(store);
    let reopened = mac_storage::AccountStore::at_path(&path, StoreOptions::default());
    assert_eq!(
        reopened.load().unwrap().account(&first).unwrap().last_used,
        at(14_000),
        "drop flushes"
    );
    drop(dir);
}

#[test]
fn pending_values_that_change_nothing_are_settled_without_a_write() {
    let fx = Fixture::new();
    let first = add(&fx.store, &new_account("r1"));
    fx.store.record_success(&first, at(10_000)).unwrap();
    fx.store.record_success(&first, at(11_000)).unwrap(); // coalesced: pending
    let writer = fx.other_store();
    writer.record_success(&first, at(20_000)).unwrap(); // a later use by another process
    let generation = fx.store.load().unwrap().generation;
    fx.store.flush().unwrap();
    assert_eq!(
        fx.store.load().unwrap().generation,
        generation,
        "11 000 < 20 000: nothing to write"
    );
    assert_eq!(fx.store.load().unwrap().account(&first).unwrap().last_used, at(20_000));
    // Settled: a second flush does not even need the lock.
    let _held =
        mac_storage::file::FileLock::acquire_dir(fx.dir.path(), Duration::from_secs(1)).unwrap();
    fx.store.flush().unwrap();
}
