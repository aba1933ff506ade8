//! Every file mac writes is `0600` from creation, the data directory `0700` (D1, D5, D6).
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use mac_storage::{AccountStore, DataDir, Provider, StoreOptions};

use crate::{add, new_account};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn data_dir_is_0700_and_every_file_0600() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = DataDir::at(tmp.path().join("nested").join("mac"));
    let store = AccountStore::open(&data_dir, Provider::Codex, StoreOptions::default()).unwrap();
    add(&store, &new_account("r1"));
    assert_eq!(mode(data_dir.path()), 0o700);
    let file = data_dir.accounts_file(Provider::Codex);
    assert_eq!(mode(&file), 0o600);
    assert!(!mac_storage::lock_path_for(&file).exists(), "the directory is the lock");

    std::fs::write(&file, b"broken").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    store.clear().unwrap_err();
    let backups: Vec<_> = std::fs::read_dir(data_dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".bak"))
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(
        mode(&backups[0]),
        0o600,
        "a backup holds tokens: 0600 whatever the original's mode"
    );

    for entry in std::fs::read_dir(data_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path != file {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
}
