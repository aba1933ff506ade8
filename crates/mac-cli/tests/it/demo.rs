//! `mac demo` end to end: the fake provider and the gateway in-process, six scripted requests
//! meeting a revoked login, a rate limit, an expired token and a stream that opens with an
//! error frame, every one answered 200 by an account of the pool; the pool's states after; no
//! file outside its temporary directory.

use mac_test_support::TempDataDir;

use crate::support::bare;

#[test]
fn the_demo_rotates_through_every_fault_and_touches_no_data_directory() {
    let dir = TempDataDir::new().unwrap();
    let home = dir.outer().join("never-created");
    let output = bare(&dir).arg("--home").arg(&home).arg("demo").output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stderr, "", "the table says it all");
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with(char::is_numeric)).collect();
    assert_eq!(rows.len(), 6, "{stdout}");
    for row in &rows {
        assert!(row.contains(" 200 "), "every request is served: {row}");
    }
    assert!(rows[0].contains("carol disabled") && rows[0].contains("alice"), "{}", rows[0]);
    assert!(
        rows[2].contains("5-hour window used up")
            && rows[2].contains("bob's expired token refreshed")
    );
    assert!(rows[4].contains("provider overloaded") && rows[4].contains("waited"), "{}", rows[4]);
    let state = |name: &str| {
        stdout
            .lines()
            .skip_while(|l| !l.starts_with("The pool now"))
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .to_owned()
    };
    assert!(state("carol").contains("needs-login"));
    assert!(state("alice").contains("rate-limited"));
    assert!(state("bob").contains("ready"));
    assert!(!home.exists(), "the demo wrote into the data directory");
    assert!(!stdout.contains("demo-access-") && !stdout.contains("demo-refresh-"));
}
