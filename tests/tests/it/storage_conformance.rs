//! The accounts-backend conformance suite (`mac_storage::conformance`), run against the file
//! backend: lost updates, compare-and-swap of credentials, bad input, closure errors,
//! concurrent readers, unknown fields.

use mac_storage::{AccountStore, Durability, Provider, StoreOptions};
use mac_test_support::TempDataDir;

#[test]
fn the_file_backend_passes_the_conformance_suite() {
    mac_storage::conformance::run_all(&|| {
        let dir = TempDataDir::new().unwrap();
        let path = dir.accounts_file(Provider::Anthropic);
        let options = StoreOptions { durability: Durability::NoFsync, ..StoreOptions::default() };
        Box::new(move || {
            let _keep_the_directory = &dir;
            AccountStore::at_path(&path, options.clone())
        })
    })
    .unwrap();
}
