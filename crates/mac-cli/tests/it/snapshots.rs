//! Snapshots of human and JSON output (paths, times, ids, pids and durations filtered), and
//! the check that no command ever prints a token.

use std::fmt::Write as _;
use std::time::Duration;

use mac_storage::{EpochMs, Provider, UsageLimits, UsageWindow, format_iso};
use mac_test_support::TempDataDir;

use crate::support::{assert_no_secret, mac, seeded, store, uuid_of};

/// Filters for `dir`'s paths, ids, times, pids and durations. Filtered durations change the
/// width of table columns, so human output also has runs of spaces collapsed.
fn settings(dir: &TempDataDir, human: bool) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&dir.outer().display().to_string()), "[TMP]");
    settings.add_filter(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[UUID]");
    settings.add_filter(r"\b1[0-9]{12}\b", "[EPOCH_MS]");
    settings.add_filter(r"\b[0-9a-f]{8}\b", "[ID]");
    settings.add_filter(r"pid [0-9]+", "pid [PID]");
    settings.add_filter(r"\b[0-9]+[dhms]( [0-9]+[hms])*\b", "[DUR]");
    if human {
        settings.add_filter(r"  +", "  ");
    }
    settings
}

fn regex_escape(text: &str) -> String {
    text.chars().fold(String::new(), |mut out, c| {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// The seeded pool plus usage on the first account and a codex account.
fn rich() -> TempDataDir {
    let dir = seeded();
    let uuid = uuid_of(&dir, Provider::Anthropic, 0);
    let now = EpochMs::now();
    let usage = UsageLimits::new(
        Some(UsageWindow::new(
            37.0,
            Some(format_iso(now.saturating_add(Duration::from_secs(5_000)))),
        )),
        Some(UsageWindow::new(
            81.5,
            Some(format_iso(now.saturating_add(Duration::from_secs(300_000)))),
        )),
    );
    store(&dir, Provider::Anthropic).record_usage(&uuid, usage, now).unwrap();
    assert!(
        mac(&dir)
            .args([
                "accounts",
                "add",
                "codex",
                "--refresh-token",
                "codex-rt-SECRET",
                "--label",
                "cx"
            ])
            .output()
            .unwrap()
            .status
            .success()
    );
    dir
}

fn run(dir: &TempDataDir, args: &[&str]) -> String {
    let output = mac(dir).args(args).output().unwrap();
    let mut text = String::from_utf8(output.stdout).unwrap();
    let err = String::from_utf8(output.stderr).unwrap();
    if !err.is_empty() {
        text.push_str("--- stderr ---\n");
        text.push_str(&err);
    }
    let _ = writeln!(text, "--- exit {:?} ---", output.status.code());
    text
}

#[test]
fn status_human() {
    let dir = rich();
    settings(&dir, true).bind(|| insta::assert_snapshot!(run(&dir, &["status"])));
}

#[test]
fn status_json() {
    let dir = rich();
    settings(&dir, false).bind(|| insta::assert_snapshot!(run(&dir, &["status", "--json"])));
}

#[test]
fn accounts_list_human_and_json() {
    let dir = rich();
    settings(&dir, true).bind(|| {
        insta::assert_snapshot!("accounts_list_human", run(&dir, &["accounts", "list"]));
    });
    settings(&dir, false).bind(|| {
        insta::assert_snapshot!("accounts_list_json", run(&dir, &["accounts", "list", "--json"]));
    });
}

#[test]
fn doctor_human() {
    let dir = rich();
    settings(&dir, true).bind(|| insta::assert_snapshot!(run(&dir, &["doctor"])));
}

#[test]
fn errors_human() {
    let dir = rich();
    settings(&dir, true).bind(|| {
        insta::assert_snapshot!("unknown_id", run(&dir, &["accounts", "disable", "nobody"]));
        insta::assert_snapshot!("no_terminal", run(&dir, &["menu"]));
    });
}

#[test]
fn no_command_prints_a_token() {
    let dir = rich();
    let commands: &[&[&str]] = &[
        &["status"],
        &["status", "--json"],
        &["-v", "status", "--json"],
        &["accounts", "list"],
        &["accounts", "list", "--json"],
        &["accounts", "rename", "1", "main"],
        &["accounts", "disable", "main"],
        &["accounts", "enable", "main"],
        &["accounts", "add", "anthropic", "--refresh-token", "another-SECRET"],
        &["accounts", "remove", "3", "--yes"],
        &["accounts", "relogin", "nobody"],
        &["import", "--dry-run"],
        &["import", "--json"],
        &["config", "show"],
        &["config", "check"],
        &["doctor"],
        &["doctor", "--json"],
        &["-vv", "doctor"],
        &["menu"],
    ];
    for args in commands {
        let output = mac(&dir).args(*args).output().unwrap();
        assert_no_secret(&String::from_utf8_lossy(&output.stdout));
        assert_no_secret(&String::from_utf8_lossy(&output.stderr));
    }
}
