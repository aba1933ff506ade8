//! The faults of issue 9 that one process can show: documents that would not read back
//! (item 4), newer versions of another shape (item 5), unknown data kept exactly (item 6), no
//! file content in `Debug` or errors (item 7), and symlinked accounts files (item 8).

use mac_storage::{StoreError, UsageLimits, UsageWindow};
use serde_json::Value;

use crate::{Fixture, add, at, new_account};

#[test]
fn a_nan_utilization_is_refused_and_the_file_is_untouched() {
    let fx = Fixture::new();
    let uuid = add(&fx.store, &new_account("r1"));
    let before = std::fs::read(fx.path()).unwrap();
    let usage = UsageLimits::new(Some(UsageWindow::new(f64::NAN, None)), None);
    let err = fx.store.record_usage(&uuid, usage, at(2_000)).unwrap_err();
    assert!(matches!(err, StoreError::Unwritable { .. }), "{err:?}");
    assert!(err.to_string().contains("utilization"), "{err}");
    assert_eq!(std::fs::read(fx.path()).unwrap(), before, "file untouched");
    assert_eq!(fx.store.load().unwrap().account(&uuid).unwrap().cached_usage, None);
    assert_eq!(fx.other_store().load().unwrap().accounts.len(), 1, "others can still read");
}

#[test]
fn an_out_of_range_deadline_is_refused_and_the_file_is_untouched() {
    let fx = Fixture::new();
    let uuid = add(&fx.store, &new_account("r1"));
    let before = std::fs::read(fx.path()).unwrap();
    let err = fx.store.record_rate_limit(&uuid, at(i64::MAX)).unwrap_err();
    assert!(matches!(err, StoreError::Unwritable { .. }), "{err:?}");
    assert!(err.to_string().contains("rateLimitResetAt"), "{err}");
    assert_eq!(std::fs::read(fx.path()).unwrap(), before, "file untouched");
    assert_eq!(fx.store.load().unwrap().account(&uuid).unwrap().rate_limit_reset_at, None);
}

#[test]
fn a_newer_version_of_another_shape_is_newer_not_corrupt() {
    let fx = Fixture::new();
    let text = r#"{"version": 2, "accounts": {"by-id": {"token": "t"}}}"#;
    std::fs::write(fx.path(), text).unwrap();
    let read = fx.store.load().unwrap_err();
    assert!(matches!(read, StoreError::NewerVersion { found: 2, .. }), "{read:?}");
    let write = fx.store.clear().unwrap_err();
    assert!(matches!(write, StoreError::NewerVersion { found: 2, .. }), "{write:?}");
    assert!(fx.backups().is_empty(), "no corrupt-file copy: {:?}", fx.files());
    assert_eq!(std::fs::read_to_string(fx.path()).unwrap(), text);
}

const UNKNOWN_RICH: &str = r#"{
  "version": 1,
  "zeta": 123456789012345678901234567890,
  "accounts": [
    {
      "uuid": "u1",
      "refreshToken": "r",
      "addedAt": 1,
      "lastUsed": 1,
      "zz": 1.50,
      "aa": {"b": 2, "a": 1},
      "cachedUsage": {
        "five_hour": {"utilization": 1, "resets_at": null, "yy": 18446744073709551616, "bb": 0.1e1},
        "seven_day": null,
        "xx": [3, 2, 1]
      }
    }
  ],
  "alpha": -0.0,
  "mid": {"z": 1, "a": 2}
}
"#;

#[test]
fn unknown_data_survives_a_rewrite_exactly() {
    let fx = Fixture::new();
    std::fs::write(fx.path(), UNKNOWN_RICH).unwrap();
    fx.store.record_rate_limit("u1", at(5_000)).unwrap();
    let written = std::fs::read_to_string(fx.path()).unwrap();
    for fragment in [
        "\"zeta\": 123456789012345678901234567890",
        "\"zz\": 1.50",
        "\"aa\": {\"b\": 2, \"a\": 1}",
        "\"yy\": 18446744073709551616",
        "\"bb\": 0.1e1",
        "\"xx\": [3, 2, 1]",
        "\"alpha\": -0.0",
        "\"mid\": {\"z\": 1, \"a\": 2}",
    ] {
        assert!(written.contains(fragment), "{fragment} lost in {written}");
    }
    let order = |keys: &[&str]| {
        let positions: Vec<usize> =
            keys.iter().map(|k| written.find(&format!("\"{k}\"")).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "order of {keys:?} in {written}");
    };
    order(&["zeta", "alpha", "mid"]);
    order(&["zz", "aa"]);
    order(&["yy", "bb"]);
    let value: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(value["accounts"][0]["rateLimitResetAt"], 5_000);
}

#[test]
fn debug_prints_unknown_fields_by_key_only() {
    let fx = Fixture::new();
    std::fs::write(
        fx.path(),
        r#"{"version": 1, "idToken": "TOP-SECRET-ID", "accounts": [{"refreshToken": "r",
            "addedAt": 1, "lastUsed": 1, "idToken": "ACCOUNT-SECRET-ID"}]}"#,
    )
    .unwrap();
    let doc = fx.store.load().unwrap();
    let shown = format!("{doc:?}");
    assert!(shown.contains("idToken"), "{shown}");
    assert!(!shown.contains("SECRET-ID"), "{shown}");
}

#[test]
fn errors_quote_no_file_content_even_with_escaped_quotes() {
    let fx = Fixture::new();
    let text = r#"{"version": 1, "accounts": [{"refreshToken": "r", "addedAt": "ab\"TAIL-OF-SECRET", "lastUsed": 1}]}"#;
    std::fs::write(fx.path(), text).unwrap();
    let read = fx.store.load().unwrap_err();
    let write = fx.store.clear().unwrap_err();
    for shown in [read.to_string(), format!("{read:?}"), write.to_string(), format!("{write:?}")] {
        assert!(!shown.contains("TAIL-OF-SECRET"), "{shown}");
        assert!(!shown.contains("ab"), "{shown}");
    }
    assert!(read.to_string().contains("accounts[0].addedAt"), "{read}");
}

#[cfg(unix)]
#[test]
fn a_symlinked_accounts_file_is_updated_through_the_link() {
    let fx = Fixture::new();
    let real_dir = tempfile::tempdir().unwrap();
    let real = real_dir.path().join("real-accounts.json");
    let seed = Fixture::new();
    add(&seed.store, &new_account("r1"));
    std::fs::copy(seed.path(), &real).unwrap();
    std::os::unix::fs::symlink(&real, fx.path()).unwrap();

    add(&fx.store, &new_account("r2"));
    assert!(std::fs::symlink_metadata(fx.path()).unwrap().file_type().is_symlink(), "link kept");
    let target: Value = serde_json::from_slice(&std::fs::read(&real).unwrap()).unwrap();
    assert_eq!(target["accounts"].as_array().unwrap().len(), 2, "the target got the change");
    assert_eq!(fx.other_store().load().unwrap().accounts.len(), 2);
    let strays: Vec<String> = std::fs::read_dir(real_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "real-accounts.json")
        .collect();
    assert!(strays.is_empty(), "nothing left beside the target: {strays:?}");
}

#[cfg(unix)]
#[test]
fn lock_and_temp_files_are_never_followed_through_a_symlink() {
    let fx = Fixture::new();
    let victim = fx.dir.path().join("victim");
    std::fs::write(&victim, b"keep me").unwrap();
    for suffix in [".lock", ".tmp"] {
        let name = format!("accounts.json{suffix}");
        std::os::unix::fs::symlink(&victim, fx.dir.path().join(name)).unwrap();
    }
    add(&fx.store, &new_account("r1"));
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    assert_eq!(fx.store.load().unwrap().accounts.len(), 1);
}
