//! Many OS processes change one PostgreSQL pool at once: 8 writer processes × 200 increments,
//! none lost, one commit each. The processes share nothing but the database (each has its own
//! storage, connections and runtime). Skips without a server unless `MAC_REQUIRE_POSTGRES=1`.

use mac_postgres::testing::TestDatabase;
use mac_storage::StoreOptions;
use mac_tests::storage_work::{add_accounts, counter_sum, postgres_store};

use crate::storage_multi_process::{spawn_incrementers_on, wait_ok};

#[test]
fn eight_writer_processes_lose_no_update_on_postgres() {
    const WRITERS: usize = 8;
    const EACH: usize = 200;
    let Some(database) = TestDatabase::create("multi_process") else { return };
    let store = postgres_store(database.url(), "pool", StoreOptions::default()).unwrap();
    add_accounts(&store, "seed", 10).unwrap();

    let url = database.url().expose();
    let children =
        spawn_incrementers_on("pool", WRITERS, EACH, &["--postgres"], &[("MAC_STORAGE_URL", url)]);
    for child in children {
        let stdout = wait_ok(child);
        let latencies = stdout.trim().strip_prefix("latencies_us=").unwrap().split(',').count();
        assert_eq!(latencies, EACH);
    }

    let document = store.load().unwrap();
    assert_eq!(counter_sum(&document), (WRITERS * EACH) as u64, "no increment lost");
    assert_eq!(document.accounts.len(), 10);
    assert_eq!(document.generation, (10 + WRITERS * EACH) as u64, "one commit per mutation");
}
