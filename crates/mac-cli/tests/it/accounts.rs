//! `mac accounts …`: every subcommand and every way to name an account.

use mac_storage::Provider;
use mac_test_support::TempDataDir;
use mac_test_support::fake_provider::{codex_claims, jwt};
use serde_json::Value;

use crate::support::{
    TOKEN, assert_no_secret, file_bytes, mac, seeded, stderr, stdout, store, uuid_of,
};

#[test]
fn list_numbers_accounts_and_json_has_no_tokens() {
    let dir = seeded();
    let output = mac(&dir).args(["accounts", "list"]).output().unwrap();
    assert!(output.status.success());
    let out = stdout(&output);
    assert!(out.contains("1  anthropic  me@example.com*"), "{out}");
    assert!(out.contains("2  anthropic  two@example.com"), "{out}");
    let output = mac(&dir).args(["accounts", "list", "--json"]).output().unwrap();
    let text = stdout(&output);
    assert_no_secret(&text);
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["accounts"][1]["state"], "needs-login");
    assert_eq!(json["accounts"][0]["plan"], "max");
    let empty = mac(&dir).args(["accounts", "list", "codex", "--json"]).output().unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&empty.stdout).unwrap()["accounts"],
        Value::Array(vec![])
    );
}

#[test]
fn add_prints_the_uuid_alone_and_reads_the_token_from_stdin() {
    let dir = TempDataDir::new().unwrap();
    let output = mac(&dir)
        .args([
            "accounts",
            "add",
            "anthropic",
            "--refresh-token",
            "-",
            "--label",
            "work",
            "--email",
            "w@x.io",
        ])
        .write_stdin(format!("{TOKEN}\n"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let uuid = stdout(&output).trim().to_owned();
    assert_eq!(uuid.len(), 36, "{uuid}");
    let document = store(&dir, Provider::Anthropic).load().unwrap();
    assert_eq!(document.accounts[0].uuid.as_deref(), Some(uuid.as_str()));
    assert_eq!(document.accounts[0].refresh_token.expose(), TOKEN);
    assert_eq!(document.accounts[0].label.as_deref(), Some("work"));
    assert_no_secret(&stderr(&output));
}

#[test]
fn add_codex_reads_the_account_id_from_the_access_token() {
    let dir = TempDataDir::new().unwrap();
    let mut claims = codex_claims("acct-42", "c@x.io", "pro");
    claims["exp"] = Value::from(4_000_000_000_u64);
    let access = jwt(&claims);
    let output = mac(&dir)
        .args([
            "accounts",
            "add",
            "codex",
            "--refresh-token",
            "rt-codex",
            "--access-token",
            &access,
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let account = store(&dir, Provider::Codex).load().unwrap().accounts[0].clone();
    assert_eq!(account.account_id.as_deref(), Some("acct-42"));
    assert_eq!(account.email.as_deref(), Some("c@x.io"));
    assert_eq!(account.plan_tier, "pro");
    assert_eq!(account.expires_at.unwrap().as_millis(), 4_000_000_000_000);
}

#[test]
fn enable_disable_rename_remove_by_every_kind_of_id() {
    let dir = seeded();
    let first = uuid_of(&dir, Provider::Anthropic, 0);
    let second = uuid_of(&dir, Provider::Anthropic, 1);
    let ok = |args: &[&str]| {
        let output = mac(&dir).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        stdout(&output)
    };
    ok(&["accounts", "disable", "me@example.com"]);
    assert!(!store(&dir, Provider::Anthropic).load().unwrap().accounts[0].enabled);
    ok(&["accounts", "enable", &first[..8]]);
    assert!(store(&dir, Provider::Anthropic).load().unwrap().accounts[0].enabled);
    ok(&["accounts", "rename", "2", "backup"]);
    assert_eq!(
        store(&dir, Provider::Anthropic).load().unwrap().accounts[1].label.as_deref(),
        Some("backup")
    );
    ok(&["accounts", "disable", "backup", "--provider", "anthropic"]);
    let out = ok(&["accounts", "remove", &second, "--yes"]);
    assert!(out.contains("removed anthropic backup"), "{out}");
    let document = store(&dir, Provider::Anthropic).load().unwrap();
    assert_eq!(document.accounts.len(), 1);
    assert_eq!(document.accounts[0].uuid.as_deref(), Some(first.as_str()));
}

#[test]
fn remove_without_a_terminal_needs_yes_and_changes_nothing() {
    let dir = seeded();
    let before = file_bytes(&dir, Provider::Anthropic);
    let output = mac(&dir).args(["accounts", "remove", "1"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--yes"), "{}", stderr(&output));
    assert_eq!(file_bytes(&dir, Provider::Anthropic), before);
}
