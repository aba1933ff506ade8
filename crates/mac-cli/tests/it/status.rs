//! `mac status`: states, usage windows, holders, broken files, `--refresh`, `--watch`.

use std::time::Duration;

use mac_storage::{EpochMs, Provider, UsageLimits, UsageWindow, format_iso};
use mac_test_support::{FakeProvider, TempDataDir};
use serde_json::{Value, json};

use crate::support::{assert_no_secret, mac, point_at, seeded, std_mac, stdout, store, uuid_of};

#[test]
fn status_lists_accounts_and_states_without_tokens() {
    let dir = seeded();
    let output = mac(&dir).arg("status").output().unwrap();
    assert!(output.status.success());
    let out = stdout(&output);
    assert!(out.contains("anthropic: 2 account(s)"), "{out}");
    assert!(out.contains("me@example.com*"), "{out}");
    assert!(out.contains("needs-login"), "{out}");
    assert!(out.contains("codex: no accounts"), "{out}");
    assert_no_secret(&out);
}

#[test]
fn status_shows_which_process_holds_an_account() {
    let dir = seeded();
    let uuid = uuid_of(&dir, Provider::Anthropic, 0);
    let claims = mac_claims::Claims::open(
        dir.data_dir(),
        Provider::Anthropic,
        mac_claims::ClaimsOptions { heartbeat_interval: None, ..Default::default() },
        std::sync::Arc::new(mac_storage::SystemClock),
    )
    .unwrap();
    let _guard = claims.claim(&uuid).unwrap();
    let output = mac(&dir).args(["status", "--json"]).output().unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["pools"][0]["accounts"][0]["heldByPid"], std::process::id());
    assert_eq!(json["pools"][0]["accounts"][1]["heldByPid"], Value::Null);
    let table = stdout(&mac(&dir).arg("status").output().unwrap());
    assert!(table.contains(&format!("pid {}", std::process::id())), "{table}");
}

#[test]
fn status_shows_rate_limits_and_exhausted_windows_with_countdowns() {
    let dir = seeded();
    let uuid = uuid_of(&dir, Provider::Anthropic, 0);
    let now = EpochMs::now();
    let in_two_hours = format_iso(now.saturating_add(Duration::from_secs(7_200)));
    let usage = UsageLimits::new(
        Some(UsageWindow::new(100.0, Some(in_two_hours))),
        Some(UsageWindow::new(42.0, None)),
    );
    store(&dir, Provider::Anthropic).record_usage(&uuid, usage, now).unwrap();
    let output = mac(&dir).args(["status", "--json"]).output().unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let account = &json["pools"][0]["accounts"][0];
    assert_eq!(account["state"], "exhausted");
    assert_eq!(account["fiveHour"]["utilization"], 100.0);
    assert_eq!(account["sevenDay"]["utilization"], 42.0);
    let until = account["blockedUntil"].as_i64().unwrap();
    assert!(until > now.as_millis() + 7_000_000, "{account}");
    let table = stdout(&mac(&dir).arg("status").output().unwrap());
    assert!(
        table.contains("100% (resets in 1h 59m") || table.contains("100% (resets in 2h"),
        "{table}"
    );
    assert!(
        table.contains("a usage window is used up; 1h 59m")
            || table.contains("a usage window is used up; 2h"),
        "{table}"
    );

    store(&dir, Provider::Anthropic)
        .record_rate_limit(&uuid, now.saturating_add(Duration::from_secs(10_800)))
        .unwrap();
    let json: Value =
        serde_json::from_slice(&mac(&dir).args(["status", "--json"]).output().unwrap().stdout)
            .unwrap();
    assert_eq!(json["pools"][0]["accounts"][0]["state"], "rate-limited");
}

#[test]
fn status_of_one_provider() {
    let dir = seeded();
    let json: Value = serde_json::from_slice(
        &mac(&dir).args(["status", "codex", "--json"]).output().unwrap().stdout,
    )
    .unwrap();
    assert_eq!(json["pools"].as_array().unwrap().len(), 1);
    assert_eq!(json["pools"][0]["provider"], "codex");
}

#[test]
fn status_names_a_broken_file_and_exits_1() {
    let dir = TempDataDir::new().unwrap();
    std::fs::write(dir.accounts_file(Provider::Codex), b"{broken").unwrap();
    let output = mac(&dir).arg("status").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(out.contains("codex-accounts.json"), "{out}");
    assert!(out.contains("anthropic: no accounts"), "{out}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("hint: run `mac doctor`"));
    assert_eq!(std::fs::read(dir.accounts_file(Provider::Codex)).unwrap(), b"{broken");
}

#[test]
fn status_on_a_missing_data_dir_creates_nothing() {
    let dir = TempDataDir::new().unwrap();
    let missing = dir.outer().join("nowhere");
    let output =
        crate::support::bare(&dir).arg("--home").arg(&missing).arg("status").output().unwrap();
    assert!(output.status.success());
    assert!(!missing.exists());
}

#[test]
fn home_comes_from_mac_home_and_flags_go_after_the_command() {
    let dir = seeded();
    let output = crate::support::bare(&dir)
        .env("MAC_HOME", dir.path())
        .args(["status", "--json", "-q"])
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["pools"][0]["accounts"].as_array().unwrap().len(), 2);
    let output = crate::support::bare(&dir)
        .args(["status", "--home"])
        .arg(dir.path())
        .arg("--json")
        .output()
        .unwrap();
    assert!(output.status.success());
}

#[test]
fn refresh_fetches_usage_from_the_provider() {
    let fake = FakeProvider::start_in_background().unwrap();
    let dir = seeded();
    point_at(&dir, &fake);
    fake.add_access_token(
        crate::support::ACCESS,
        mac_test_support::FakeGrant::anthropic("acc-1", "me@example.com"),
    );
    fake.set_anthropic_usage(json!({
        "five_hour": { "utilization": 37.0, "resets_at": format_iso(EpochMs::now().saturating_add(Duration::from_secs(3_000))) },
        "seven_day": { "utilization": 12.0, "resets_at": null }
    }));
    let output = mac(&dir).args(["status", "anthropic", "--refresh", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["pools"][0]["accounts"][0]["fiveHour"]["utilization"], 37.0);
    assert_eq!(json["pools"][0]["accounts"][0]["sevenDay"]["utilization"], 12.0);
    assert_eq!(
        fake.count(mac_test_support::Endpoint::AnthropicUsage),
        1,
        "only the usable account is fetched"
    );
}

/// An expired access token is renewed first, through the pool's refresh path (exactly once,
/// the rotated refresh token stored), and then the usage is fetched with the new token.
#[test]
fn refresh_renews_an_expired_token_before_fetching_usage() {
    let fake = FakeProvider::start_in_background().unwrap();
    let dir = seeded();
    point_at(&dir, &fake);
    let uuid = uuid_of(&dir, Provider::Anthropic, 0);
    let store = store(&dir, Provider::Anthropic);
    let expired = EpochMs::from_millis(EpochMs::now().as_millis() - 60_000);
    store
        .mutate(|doc| {
            let account = doc.accounts.iter_mut().find(|a| a.uuid.as_deref() == Some(&*uuid));
            account.unwrap().expires_at = Some(expired);
            Ok(())
        })
        .unwrap();
    fake.add_refresh_token(
        crate::support::TOKEN,
        mac_test_support::FakeGrant::anthropic("acc-1", "me@example.com"),
    );
    fake.set_anthropic_usage(json!({
        "five_hour": { "utilization": 41.0, "resets_at": null },
        "seven_day": { "utilization": 5.0, "resets_at": null }
    }));
    let output = mac(&dir).args(["status", "anthropic", "--refresh", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["pools"][0]["accounts"][0]["fiveHour"]["utilization"], 41.0, "{json:#}");
    assert_eq!(fake.count(mac_test_support::Endpoint::AnthropicToken), 1, "refreshed once");
    let usage = fake.last_request(mac_test_support::Endpoint::AnthropicUsage).unwrap();
    let issued = fake.issued_access_tokens();
    assert_eq!(usage.bearer(), issued.last().map(String::as_str), "fetched with the new token");
    let stored = store.load().unwrap();
    let rotated = fake.current_refresh_token(crate::support::TOKEN).unwrap();
    assert_eq!(stored.account(&uuid).unwrap().refresh_token.expose(), rotated, "rotation kept");
}

#[test]
fn watch_redraws_until_interrupted() {
    use std::io::BufRead;
    let dir = seeded();
    let mut child = std_mac(&dir)
        .args(["status", "--watch", "--interval", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut frames = 0;
    while frames < 2 {
        let line = received.recv_timeout(Duration::from_secs(30)).expect("a redraw");
        if line.contains("anthropic: 2 account(s)") {
            frames += 1;
        }
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "Ctrl-C ends the watch cleanly: {status:?}");
}

#[test]
fn colour_follows_color_and_no_color_and_quiet_silences_notes() {
    let dir = seeded();
    let plain = stdout(&mac(&dir).arg("status").output().unwrap());
    assert!(!plain.contains('\u{1b}'), "a pipe gets no colour: {plain:?}");
    let always = stdout(&mac(&dir).args(["status", "--color", "always"]).output().unwrap());
    assert!(always.contains("\u{1b}[32mready\u{1b}[0m"), "{always:?}");
    let no_color =
        mac(&dir).env("NO_COLOR", "1").args(["--color", "auto", "status"]).output().unwrap();
    assert!(!stdout(&no_color).contains('\u{1b}'));
    let never = stdout(&mac(&dir).args(["--color=never", "status"]).output().unwrap());
    assert!(!never.contains('\u{1b}'));

    let loud =
        mac(&dir).args(["accounts", "add", "codex", "--refresh-token", "rt-1"]).output().unwrap();
    assert!(crate::support::stderr(&loud).contains("added an account to the codex pool"));
    let quiet = mac(&dir)
        .args(["accounts", "add", "codex", "--refresh-token", "rt-2", "-q"])
        .output()
        .unwrap();
    assert!(quiet.stderr.is_empty(), "{}", crate::support::stderr(&quiet));
    assert_eq!(stdout(&quiet).trim().len(), 36, "the result still goes to stdout");
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let dir = seeded();
    let mut child = std_mac(&dir)
        .args(["status", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
}
