//! The `mac` binary run as a real process on real data directories.

// Test code: a failed unwrap is a failed assertion, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use assert_cmd::Command;
use mac_storage::{
    AccountStore, AuthFailure, Credentials, EpochMs, NewAccount, Provider, Secret, StoreOptions,
};
use mac_test_support::TempDataDir;

const TOKEN: &str = "sk-ant-ort01-TOP-SECRET";

fn mac(dir: &TempDataDir) -> Command {
    let mut command = Command::cargo_bin("mac").unwrap();
    command.arg("--data-dir").arg(dir.path());
    command
}

fn seeded() -> TempDataDir {
    let dir = TempDataDir::new().unwrap();
    let store =
        AccountStore::open(dir.data_dir(), Provider::Anthropic, StoreOptions::default()).unwrap();
    let now = EpochMs::now();
    let mut new = NewAccount::from_credentials(Credentials {
        refresh_token: Secret::new(TOKEN),
        access_token: Some(Secret::new("sk-ant-oat01-ACCESS")),
        expires_at: Some(now.saturating_add(std::time::Duration::from_secs(3_600))),
    });
    new.email = Some("me@example.com".into());
    new.plan_tier = Some("max".into());
    store.add_account(&new, now).unwrap();
    let mut other = new.clone();
    other.credentials.refresh_token = Secret::new("second-refresh");
    other.email = Some("two@example.com".into());
    store.add_account(&other, now).unwrap();
    let uuid = store.load().unwrap().accounts[1].uuid.clone().unwrap();
    store.record_auth_failure(&uuid, &other.credentials, AuthFailure::Permanent, 3).unwrap();
    dir
}

#[test]
fn status_lists_accounts_and_states_without_tokens() {
    let dir = seeded();
    let output = mac(&dir).arg("status").output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("anthropic: 2 account(s)"), "{stdout}");
    assert!(stdout.contains("* me@example.com"), "{stdout}");
    assert!(stdout.contains("needs login"), "{stdout}");
    assert!(stdout.contains("codex: no accounts"), "{stdout}");
    assert!(!stdout.contains(TOKEN) && !stdout.contains("ACCESS"), "{stdout}");
}

#[test]
fn status_shows_which_process_holds_an_account() {
    let dir = seeded();
    let store =
        AccountStore::open(dir.data_dir(), Provider::Anthropic, StoreOptions::default()).unwrap();
    let uuid = store.load().unwrap().accounts[0].uuid.clone().unwrap();
    let claims = mac_claims::Claims::open(
        dir.data_dir(),
        Provider::Anthropic,
        mac_claims::ClaimsOptions { heartbeat_interval: None, ..Default::default() },
        std::sync::Arc::new(mac_storage::SystemClock),
    )
    .unwrap();
    let _guard = claims.claim(&uuid).unwrap();
    let output = mac(&dir).args(["status", "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["pools"][0]["accounts"][0]["heldByPid"], std::process::id());
    assert_eq!(json["pools"][0]["accounts"][1]["heldByPid"], serde_json::Value::Null);
    let table = String::from_utf8(mac(&dir).arg("status").output().unwrap().stdout).unwrap();
    assert!(table.contains(&format!("held by pid {}", std::process::id())), "{table}");
}

#[test]
fn status_shows_a_rate_limit_from_headers_or_from_an_exhausted_window() {
    let dir = seeded();
    let store =
        AccountStore::open(dir.data_dir(), Provider::Anthropic, StoreOptions::default()).unwrap();
    let uuid = store.load().unwrap().accounts[0].uuid.clone().unwrap();
    let now = EpochMs::now();
    let in_two_hours =
        mac_storage::format_iso(now.saturating_add(std::time::Duration::from_secs(7_200)));
    let window = mac_storage::UsageWindow::new(100.0, Some(in_two_hours));
    let usage = mac_storage::UsageLimits { five_hour: Some(window), ..Default::default() };
    store.record_usage(&uuid, usage, now).unwrap();
    let output = mac(&dir).args(["status", "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let state = json["pools"][0]["accounts"][0]["state"].as_str().unwrap().to_owned();
    assert!(
        state.starts_with("rate-limited for 1h 59m") || state.starts_with("rate-limited for 2h 0m"),
        "{state}"
    );
}

#[test]
fn status_json_has_no_tokens() {
    let dir = seeded();
    let output = mac(&dir).args(["status", "--json"]).output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(!stdout.contains(TOKEN) && !stdout.contains("ACCESS"), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["pools"][0]["accounts"][0]["name"], "me@example.com");
    assert_eq!(json["pools"][0]["accounts"][0]["active"], true);
    assert_eq!(json["pools"][1]["accounts"].as_array().unwrap().len(), 0);
}

#[test]
fn status_names_a_broken_file_and_exits_non_zero() {
    let dir = TempDataDir::new().unwrap();
    std::fs::write(dir.accounts_file(Provider::Codex), b"{broken").unwrap();
    let output = mac(&dir).arg("status").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("codex-accounts.json"), "{stdout}");
    assert!(stdout.contains("anthropic: no accounts"), "{stdout}");
}

#[test]
fn status_on_a_missing_data_dir_creates_nothing() {
    let dir = TempDataDir::new().unwrap();
    let missing = dir.outer().join("nowhere");
    let output = Command::cargo_bin("mac")
        .unwrap()
        .arg("--data-dir")
        .arg(&missing)
        .arg("status")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(!missing.exists());
}

#[test]
fn bad_usage_is_explained() {
    let dir = TempDataDir::new().unwrap();
    let output = mac(&dir).arg("frobnicate").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8(output.stderr).unwrap().contains("unknown command"));
    let output = Command::cargo_bin("mac").unwrap().arg("--data-dir").output().unwrap();
    assert!(String::from_utf8(output.stderr).unwrap().contains("--data-dir needs a directory"));
}
