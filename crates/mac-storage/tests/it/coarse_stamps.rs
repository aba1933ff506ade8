//! Issue 9 item 1 in one process: stores that see whole-second times on one reused inode (a
//! simulated coarse file system) lose no update and never return a stale document.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use mac_storage::file::{FileBackend, FileStamp, StampSource};
use mac_storage::{AccountStore, AccountsDocument, Durability, StoreOptions};
use serde_json::Value;

use crate::{Fixture, add, new_account};

/// Whole-second times, one inode for every version.
#[derive(Debug)]
struct CoarseStamps;

impl StampSource for CoarseStamps {
    fn observe(&self, stamp: FileStamp) -> FileStamp {
        let seconds = stamp.modified().map(|time| {
            UNIX_EPOCH + Duration::from_secs(time.duration_since(UNIX_EPOCH).unwrap().as_secs())
        });
        FileStamp::from_parts(stamp.dev(), 1, stamp.len(), seconds)
    }
}

fn coarse_store(fx: &Fixture) -> AccountStore {
    let options = StoreOptions { durability: Durability::NoFsync, ..StoreOptions::default() };
    let backend =
        FileBackend::new(fx.path(), options.clone()).with_stamp_source(Arc::new(CoarseStamps));
    AccountStore::with_backend(Arc::new(backend), options)
}

const KEY: &str = "n";

fn counter(doc: &AccountsDocument) -> u64 {
    doc.accounts[0].extra.get(KEY).and_then(Value::as_u64).unwrap_or(0)
}

fn increment(store: &AccountStore) -> u64 {
    store
        .mutate(|doc| {
            let next = counter(doc) + 1;
            // Same width from 100 to 999: every version has the same size.
            doc.accounts[0].extra.insert(KEY.to_owned(), Value::from(next));
            Ok(next)
        })
        .unwrap()
}

#[test]
fn coarse_stamps_lose_no_update_and_serve_no_stale_read() {
    const WRITERS: u64 = 4;
    const EACH: u64 = 200;
    let fx = Fixture::new();
    add(&fx.store, &new_account("r1"));
    fx.store
        .mutate(|doc| {
            doc.accounts[0].extra.insert(KEY.to_owned(), Value::from(100));
            Ok(())
        })
        .unwrap();
    let committed = Arc::new(AtomicU64::new(100));
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (store, committed) = (coarse_store(&fx), Arc::clone(&committed));
            std::thread::spawn(move || {
                for _ in 0..EACH {
                    committed.fetch_max(increment(&store), Ordering::SeqCst);
                }
            })
        })
        .collect();
    let reader = coarse_store(&fx);
    let (mut reads, mut stale) = (0_u64, 0_u64);
    while committed.load(Ordering::SeqCst) < 100 + WRITERS * EACH {
        let known = committed.load(Ordering::SeqCst);
        let seen = counter(&reader.load().unwrap());
        reads += 1;
        if seen < known {
            stale += 1;
        }
        if writers.iter().all(std::thread::JoinHandle::is_finished) {
            break;
        }
    }
    for writer in writers {
        writer.join().unwrap();
    }
    let kept = counter(&coarse_store(&fx).load().unwrap()) - 100;
    assert_eq!(
        (kept, stale),
        (WRITERS * EACH, 0),
        "kept of {}, stale reads of {reads}",
        WRITERS * EACH
    );
    assert_eq!(counter(&reader.load().unwrap()) - 100, WRITERS * EACH, "the reader catches up");
}
