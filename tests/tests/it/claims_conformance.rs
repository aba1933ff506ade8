//! The claims-store conformance suite (`mac_claims::conformance`), run against both stores:
//! the claims file of one host, and the PostgreSQL claims table shared by several hosts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mac_claims::{ClaimsOptions, ClaimsStore, FileClaims};
use mac_postgres::PostgresClaims;
use mac_postgres::testing::TestDatabase;
use mac_storage::Provider;

#[test]
fn the_file_store_passes_the_claims_conformance_suite() {
    mac_claims::conformance::run_all(&|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anthropic-claims.json");
        Box::new(move || {
            let _keep_the_directory = &dir;
            Arc::new(FileClaims::new(&path, &ClaimsOptions::default())) as Arc<dyn ClaimsStore>
        })
    })
    .unwrap();
}

#[test]
fn the_postgres_store_passes_the_claims_conformance_suite() {
    let Some(database) = TestDatabase::create("claims_conformance") else { return };
    let checks = AtomicUsize::new(0);
    mac_claims::conformance::run_all(&|| {
        let number = checks.fetch_add(1, Ordering::Relaxed);
        // A fresh schema per check: fresh, empty storage.
        let storage = database.storage(&format!("claims_{number}")).unwrap();
        Box::new(move || {
            let store =
                PostgresClaims::open(&storage, Provider::Anthropic, &ClaimsOptions::default())
                    .unwrap();
            Arc::new(store) as Arc<dyn ClaimsStore>
        })
    })
    .unwrap();
}
