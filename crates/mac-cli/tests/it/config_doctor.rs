//! `mac config …` and `mac doctor`.

use std::os::unix::fs::PermissionsExt;

use mac_storage::Provider;
use mac_test_support::{FakeProvider, TempDataDir};
use serde_json::Value;

use crate::support::{mac, point_at, seeded, stderr, stdout};

#[test]
fn config_path_check_and_show() {
    let dir = TempDataDir::new().unwrap();
    let path = stdout(&mac(&dir).args(["config", "path"]).output().unwrap());
    assert_eq!(path.trim(), dir.path().join("config.toml").display().to_string());
    let ok = mac(&dir).args(["config", "check"]).output().unwrap();
    assert!(ok.status.success());
    assert!(stdout(&ok).contains("valid"), "{}", stdout(&ok));
    std::fs::write(dir.path().join("config.toml"), "[pool]\nstrategy = \"sticky\"\n").unwrap();
    let shown = stdout(&mac(&dir).args(["config", "show"]).output().unwrap());
    assert!(shown.contains("strategy = \"sticky\"  # "), "{shown}");
    std::fs::write(dir.path().join("config.toml"), "[pool]\nstrategy = \"fastest\"\nnope = 1\n")
        .unwrap();
    let bad = mac(&dir).args(["config", "check"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let out = stdout(&bad);
    assert!(out.contains("config.toml:2:") && out.contains("nope"), "{out}");
    assert!(stderr(&bad).contains("2 problem(s)"), "{}", stderr(&bad));
    let status = mac(&dir).arg("status").output().unwrap();
    assert_eq!(status.status.code(), Some(1), "other commands refuse a bad config too");
    assert!(stderr(&status).contains("hint: run `mac config check`"));
}

#[test]
fn doctor_on_a_healthy_pool() {
    let dir = TempDataDir::new().unwrap();
    assert!(
        mac(&dir)
            .args([
                "accounts",
                "add",
                "anthropic",
                "--refresh-token",
                "rt",
                "--expires-at",
                "4000000000000"
            ])
            .output()
            .unwrap()
            .status
            .success()
    );
    let output = mac(&dir).arg("doctor").output().unwrap();
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(stdout(&output).contains("everything looks healthy"), "{}", stdout(&output));
}

#[test]
fn doctor_finds_what_goes_wrong_and_says_how_to_fix_it() {
    let dir = seeded();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.accounts_file(Provider::Codex), br#"{"version": 1, "accounts": "#).unwrap();
    let stale = dir.path().join("anthropic-accounts.json.tmp");
    std::fs::write(&stale, b"half").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3_600);
    std::fs::File::options().write(true).open(&stale).unwrap().set_modified(old).unwrap();
    std::fs::write(dir.path().join("config.toml"), "[pool]\nstrategy = 3\n").unwrap();
    std::fs::write(
        dir.data_dir().claims_file(Provider::Anthropic),
        br#"{"x": {"pid": 999999999, "at": 1, "startTime": 1}}"#,
    )
    .unwrap();
    let output = mac(&dir).args(["doctor", "--json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let findings = json["findings"].as_array().unwrap();
    let find = |needle: &str| {
        findings
            .iter()
            .find(|f| f["message"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no finding with {needle:?}: {findings:#?}"))
    };
    assert_eq!(
        find("open to other users")["fix"],
        format!("run `chmod 700 {}`", dir.path().display())
    );
    assert_eq!(find("cannot use the accounts file")["level"], "fail");
    assert_eq!(find("interrupted write")["fix"], format!("run `rm {}`", stale.display()));
    assert_eq!(find("strategy")["level"], "fail");
    assert!(
        find("needs a new login")["fix"]
            .as_str()
            .unwrap()
            .starts_with("run `mac accounts relogin ")
    );
    assert_eq!(find("processes that are gone")["level"], "warn");
}

/// The findings of `mac doctor --online --json` about the provider endpoints.
fn endpoint_findings(dir: &TempDataDir) -> Vec<Value> {
    let output = mac(dir).args(["doctor", "--online", "--json"]).output().unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let findings = json["findings"].as_array().unwrap();
    findings
        .iter()
        .filter(|f| f["check"].as_str().unwrap().ends_with("endpoints"))
        .cloned()
        .collect()
}

#[test]
fn doctor_online_checks_every_endpoint() {
    let fake = FakeProvider::start_in_background().unwrap();
    let dir = seeded();
    point_at(&dir, &fake);
    let online = endpoint_findings(&dir);
    assert_eq!(online.len(), 6, "{online:#?}");
    assert!(online.iter().all(|f| f["level"] == "ok"), "{online:#?}");
    drop(fake);
    let failed = endpoint_findings(&dir).iter().filter(|f| f["level"] == "fail").count();
    assert_eq!(failed, 6, "a stopped provider answers nothing");
}

/// With a config.toml that does not parse, the endpoints it names are unknown: `--online` must
/// not fall back to the built-in (real) provider URLs, which the user may have moved away from
/// on purpose. It says the check was skipped and why.
#[test]
fn doctor_online_with_an_invalid_config_contacts_nothing() {
    let fake = FakeProvider::start_in_background().unwrap();
    let dir = seeded();
    point_at(&dir, &fake);
    let path = dir.path().join("config.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("[pool]\nmax_wait = \"soon\"\n");
    std::fs::write(&path, text).unwrap();
    let online = endpoint_findings(&dir);
    assert_eq!(online.len(), 1, "one skipped check, no endpoint contacted: {online:#?}");
    assert_eq!(online[0]["level"], "fail", "{online:#?}");
    let message = online[0]["message"].as_str().unwrap();
    assert!(message.contains("config.toml"), "{message}");
    assert_eq!(fake.all_requests().len(), 0, "nothing may be contacted");
}

#[test]
fn doctor_warns_about_a_newer_version_file() {
    let dir = TempDataDir::new().unwrap();
    let path = dir.accounts_file(Provider::Codex);
    std::fs::write(&path, br#"{"version": 9, "accounts": []}"#).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = mac(&dir).args(["doctor", "--json"]).output().unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let finding = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["message"].as_str().unwrap().contains("newer mac"))
        .unwrap()
        .clone();
    assert_eq!(finding["level"], "warn");
    assert_eq!(finding["fix"], format!("see {}", path.display()));
    assert_eq!(std::fs::read(&path).unwrap(), br#"{"version": 9, "accounts": []}"#);
}
