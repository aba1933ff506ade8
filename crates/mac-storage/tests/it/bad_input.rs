//! Bad accounts files (D6): each gives an error naming the file and the problem, one `0600`
//! backup per distinct content on the first change attempt, and no write — ever.

use mac_storage::{StoreError, StoreOptions};

use crate::{Fixture, add, new_account};

/// Each case: a name, the file's bytes, and a phrase the error must contain.
const CASES: &[(&str, &[u8], &str)] = &[
    ("empty", b"", "the file is empty"),
    ("whitespace", b"  \n\n", "the file is empty"),
    ("truncated", br#"{"version": 1, "accounts": [{"refreshToken": "sk-ant-ort01-abc", "#, "ends early"),
    ("not json", b"<html>502 Bad Gateway</html>", "not valid JSON at line 1"),
    ("not utf-8", b"{\"version\": 1, \"accounts\": [\xff\xfe]}", "not valid JSON"),
    ("array", b"[]", "not an accounts document"),
    ("wrong type", br#"{"version": 1, "accounts": {"a": 1}}"#, "field `accounts`"),
    (
        "wrong field type",
        br#"{"version": 1, "accounts": [{"refreshToken": "sk-ant-ort01-abc", "addedAt": "yesterday", "lastUsed": 1}]}"#,
        "field `accounts[0].addedAt`",
    ),
    ("missing version", br#"{"accounts": []}"#, "missing field `version`"),
    ("version zero", br#"{"version": 0, "accounts": []}"#, "`version` is 0"),
    ("trailing garbage", br#"{"version": 1, "accounts": []} {"#, "not valid JSON"),
];

#[test]
fn every_bad_file_is_named_backed_up_once_and_never_written() {
    for (name, bytes, phrase) in CASES {
        let fx = Fixture::new();
        std::fs::write(fx.path(), bytes).unwrap();

        let read_err = fx.store.load().unwrap_err();
        let shown = read_err.to_string();
        assert!(shown.contains(&fx.path().display().to_string()), "{name}: {shown}");
        assert!(shown.contains(phrase), "{name}: {shown:?} lacks {phrase:?}");
        assert!(!shown.contains("sk-ant-ort01-abc"), "{name}: {shown}");
        assert!(read_err.is_unusable_file(), "{name}");
        assert!(fx.backups().is_empty(), "{name}: reads make no backup");

        for attempt in 0..2 {
            let err = fx.store.add_account(&new_account("r1"), crate::at(1)).unwrap_err();
            let StoreError::Invalid { backup: Some(backup), .. } = &err else {
                panic!("{name}: expected Invalid with a backup, got {err:?}")
            };
            assert!(err.to_string().contains("copied to"), "{name}: {err}");
            assert_eq!(
                fx.backups(),
                vec![backup.clone()],
                "{name} attempt {attempt}: one backup only"
            );
            assert_eq!(
                std::fs::read(backup).unwrap(),
                *bytes,
                "{name}: the backup is a verbatim copy"
            );
        }
        assert_eq!(std::fs::read(fx.path()).unwrap(), *bytes, "{name}: the file was never written");
        assert!(!fx.files().iter().any(|f| f.ends_with(".tmp")), "{name}: no temp file left");
    }
}

#[test]
fn a_changed_bad_file_gets_a_second_backup() {
    let fx = Fixture::new();
    std::fs::write(fx.path(), b"garbage one").unwrap();
    fx.store.clear().unwrap_err();
    std::fs::write(fx.path(), b"garbage two").unwrap();
    fx.store.clear().unwrap_err();
    fx.store.clear().unwrap_err();
    assert_eq!(fx.backups().len(), 2);
}

#[test]
fn a_newer_version_reads_but_is_never_written() {
    let fx = Fixture::new();
    let text = br#"{"version": 2, "accounts": [{"refreshToken": "r", "addedAt": 1, "lastUsed": 1, "uuid": "u"}], "v2": true}"#;
    std::fs::write(fx.path(), text).unwrap();
    let doc = fx.store.load().unwrap();
    assert_eq!((doc.version, doc.accounts.len()), (2, 1));
    let err = fx.store.set_enabled("u", false).unwrap_err();
    assert!(matches!(err, StoreError::NewerVersion { found: 2, .. }), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains("version 2") && shown.contains("upgrade mac"), "{shown}");
    assert_eq!(std::fs::read(fx.path()).unwrap(), text);
    fx.store.set_enabled("u", false).unwrap_err();
    assert!(fx.backups().is_empty(), "a newer file is not corrupt: no copy");
}

#[test]
fn an_oversized_file_is_refused_before_parsing() {
    let fx =
        Fixture::with_options(StoreOptions { max_file_bytes: 1024, ..StoreOptions::default() });
    let mut big = br#"{"version": 1, "accounts": [], "pad": ""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', 4096));
    big.extend(b"\"}");
    std::fs::write(fx.path(), &big).unwrap();
    let err = fx.store.load().unwrap_err();
    assert!(
        err.to_string().contains(&format!("{} bytes, more than the limit of 1024", big.len())),
        "{err}"
    );
    let err = fx.store.clear().unwrap_err();
    assert!(matches!(err, StoreError::Invalid { backup: Some(_), .. }));
    assert_eq!(std::fs::read(fx.backups()[0].clone()).unwrap(), big, "the whole file is copied");
    assert_eq!(std::fs::read(fx.path()).unwrap(), big);
}

#[test]
fn a_file_repaired_by_hand_is_used_again() {
    let fx = Fixture::new();
    std::fs::write(fx.path(), b"{oops").unwrap();
    fx.store.clear().unwrap_err();
    std::fs::write(fx.path(), br#"{"version": 1, "accounts": []}"#).unwrap();
    add(&fx.store, &new_account("r1"));
    assert_eq!(fx.store.load().unwrap().accounts.len(), 1);
}
