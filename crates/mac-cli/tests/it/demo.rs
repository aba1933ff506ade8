//! `mac demo`: the real binary runs its scripted load against the in-process fake and the real
//! gateway, and its table says what the pool did; no token is printed, and the user's data
//! directory is left alone.

use mac_test_support::TempDataDir;

use crate::support::{mac, stdout};

/// The table's row `n` (1-based) split into its columns up to "what the pool did".
fn row(out: &str, n: usize) -> Vec<String> {
    let prefix = format!("{n:>2}  ");
    let line = out.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{out}"));
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn demo_rotates_renews_and_disables_and_prints_what_it_did() {
    let dir = TempDataDir::new().unwrap();
    let output = mac(&dir).args(["demo", "--pause-ms", "1"]).output().unwrap();
    let out = stdout(&output);
    assert!(output.status.success(), "{out}\n{}", String::from_utf8_lossy(&output.stderr));
    // 1: a plain request, one attempt.
    assert!(row(&out, 1).windows(2).any(|w| w == ["200", "1"]), "{out}");
    // 2: the stream opened with an error frame: rotated before the first byte, still a 200, and
    // bob's expired token was renewed on the way.
    let second = out.lines().find(|l| l.starts_with(" 2  ")).unwrap();
    assert!(second.contains(" 200 ") && second.contains("left "), "{out}");
    assert!(out.contains("renewed bob's token"), "{out}");
    // 4: the rate limit rotated; 5: the revoked account was disabled and the request served.
    let fourth = out.lines().find(|l| l.starts_with(" 4  ")).unwrap();
    assert!(fourth.contains(" 200 ") && fourth.contains("rate-limited"), "{out}");
    let fifth = out.lines().find(|l| l.starts_with(" 5  ")).unwrap();
    assert!(fifth.contains(" 200 ") && fifth.contains("disabled "), "{out}");
    // Every request was served, and the end states say what happened.
    for n in 1..=7 {
        assert!(row(&out, n).contains(&"200".to_owned()), "row {n}: {out}");
    }
    assert!(out.contains("needs-login"), "{out}");
    assert!(out.contains("rate-limited"), "{out}");
    for secret in ["test-access-", "test-refresh-", "fake-refresh-", "sk-ant-"] {
        assert!(!out.contains(secret), "a token was printed: {out}");
        assert!(!String::from_utf8_lossy(&output.stderr).contains(secret));
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "the demo must not touch the user's data directory: {left:?}");
}
