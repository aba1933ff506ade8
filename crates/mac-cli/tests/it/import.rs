//! `mac import`: per-account outcomes, the shared-grant warning, `--from`, `--dry-run`.

use mac_storage::Provider;
use mac_test_support::TempDataDir;
use serde_json::Value;

use crate::support::{assert_no_secret, file_bytes, mac, stderr, stdout, store};

const CLAUDE_REFRESH: &str = "sk-ant-ort01-IMPORTED-SECRET";

/// Claude Code's credentials in the test's home directory.
fn with_claude_code() -> TempDataDir {
    let dir = TempDataDir::new().unwrap();
    let claude = dir.outer().join(".claude");
    std::fs::create_dir_all(&claude).unwrap();
    std::fs::write(
        claude.join(".credentials.json"),
        format!(
            r#"{{"claudeAiOauth": {{"accessToken": "sk-ant-oat01-IMPORTED-SECRET", "refreshToken": "{CLAUDE_REFRESH}", "expiresAt": 4000000000000, "subscriptionType": "max"}}}}"#
        ),
    )
    .unwrap();
    dir
}

#[test]
fn import_adds_says_what_it_did_and_warns_about_the_shared_grant() {
    let dir = with_claude_code();
    let output = mac(&dir).arg("import").output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let (out, err) = (stdout(&output), stderr(&output));
    assert!(out.contains("Claude Code credentials"), "{out}");
    assert!(out.contains("[claudeAiOauth]: added as "), "{out}");
    assert!(out.contains("1 added, 0 updated, 0 skipped"), "{out}");
    assert!(
        err.contains("same OAuth grant")
            && err.contains("`mac serve`")
            && err.contains("`mac login <provider>`"),
        "{err}"
    );
    assert_no_secret(&format!("{out}{err}"));
    let document = store(&dir, Provider::Anthropic).load().unwrap();
    assert_eq!(document.accounts[0].refresh_token.expose(), CLAUDE_REFRESH);

    let again = mac(&dir).args(["import", "--json"]).output().unwrap();
    let json: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(json["added"], 0);
    assert_eq!(json["skipped"], 1);
    assert_eq!(json["warning"], Value::Null);
}

#[test]
fn dry_run_reports_the_same_and_changes_nothing() {
    let dir = with_claude_code();
    let output = mac(&dir).args(["import", "--dry-run", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["dryRun"], true);
    assert_eq!(json["added"], 1);
    assert!(!dir.path().exists() || file_bytes(&dir, Provider::Anthropic).is_none());
    let human = stdout(&mac(&dir).args(["import", "--dry-run"]).output().unwrap());
    assert!(
        human.contains("would be added") && human.contains("dry run, nothing changed"),
        "{human}"
    );
    assert!(file_bytes(&dir, Provider::Anthropic).is_none());
}

#[test]
fn from_picks_one_source() {
    let dir = with_claude_code();
    let output = mac(&dir).args(["import", "--from", "codex-cli", "--json"]).output().unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["added"], 0);
    assert!(json["files"].as_array().unwrap().iter().all(|f| f["kind"] == "Codex CLI auth.json"));
}

#[test]
fn a_malformed_source_is_named_and_exits_1() {
    let dir = TempDataDir::new().unwrap();
    let codex = dir.outer().join(".codex");
    std::fs::create_dir_all(&codex).unwrap();
    std::fs::write(codex.join("auth.json"), b"not json").unwrap();
    let output = mac(&dir).args(["import", "--from", "codex-cli"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("malformed"), "{}", stdout(&output));
    assert!(stderr(&output).contains(&format!("hint: see {}", codex.join("auth.json").display())));
}

#[test]
fn finding_nothing_creates_nothing() {
    let dir = TempDataDir::new().unwrap();
    let missing = dir.outer().join("fresh");
    let output =
        crate::support::bare(&dir).arg("--home").arg(&missing).arg("import").output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("0 added, 0 updated, 0 skipped"), "{}", stdout(&output));
    assert!(stderr(&output).contains("found no logins to import"), "{}", stderr(&output));
    assert!(!missing.exists());
}

#[test]
fn import_snapshots() {
    let dir = with_claude_code();
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&dir.outer().display().to_string(), "[TMP]");
    settings.add_filter(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[UUID]");
    settings.bind(|| {
        insta::assert_snapshot!(
            "import_dry_run_json",
            stdout(&mac(&dir).args(["import", "--dry-run", "--json"]).output().unwrap())
        );
        let output = mac(&dir).arg("import").output().unwrap();
        insta::assert_snapshot!(
            "import_human",
            format!("{}--- stderr ---\n{}", stdout(&output), stderr(&output))
        );
    });
}
