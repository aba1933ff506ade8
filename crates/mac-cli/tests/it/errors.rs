//! Errors a person can act on: every bad input of the issue gives a clear message, the right
//! exit code and a hint, and changes nothing on disk; every command a hint names exists.

use clap::Parser;
use mac_cli::hint::HintCommand;
use mac_storage::Provider;
use mac_test_support::TempDataDir;

use crate::support::{file_bytes, mac, seeded, stderr, store};

#[test]
fn every_command_a_hint_names_exists() {
    for command in HintCommand::samples() {
        let mut argv = vec!["mac".to_owned()];
        argv.extend(command.args());
        if let Err(err) = mac_cli::Arguments::try_parse_from(&argv) {
            panic!("hint `{command}` does not parse: {err}");
        }
    }
}

#[test]
fn an_unknown_id_exits_2_and_changes_nothing() {
    let dir = seeded();
    let before = file_bytes(&dir, Provider::Anthropic);
    for args in [
        vec!["accounts", "disable", "nobody"],
        vec!["accounts", "remove", "7", "--yes"],
        vec!["accounts", "rename", "ffff0000", "x"],
        vec!["accounts", "enable", "me@example.com", "--provider", "codex"],
    ] {
        let output = mac(&dir).args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let err = stderr(&output);
        assert!(err.starts_with("error: no account matches"), "{err}");
        assert!(err.contains("hint: run `mac accounts list`"), "{err}");
    }
    assert_eq!(file_bytes(&dir, Provider::Anthropic), before);
}

#[test]
fn an_ambiguous_prefix_lists_the_matches() {
    let dir = seeded();
    let pool = store(&dir, Provider::Anthropic);
    pool.mutate(|doc| {
        doc.accounts[0].uuid = Some("abcd1111-0000-4000-8000-000000000001".into());
        doc.accounts[1].uuid = Some("abcd2222-0000-4000-8000-000000000002".into());
        doc.active_account_uuid = None;
        Ok(())
    })
    .unwrap();
    let before = file_bytes(&dir, Provider::Anthropic);
    let output = mac(&dir).args(["accounts", "disable", "abcd"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("`abcd` matches 2 accounts"), "{err}");
    assert!(
        err.contains("me@example.com (abcd1111)") && err.contains("two@example.com (abcd2222)"),
        "{err}"
    );
    assert_eq!(file_bytes(&dir, Provider::Anthropic), before);
    assert!(mac(&dir).args(["accounts", "disable", "abcd1"]).output().unwrap().status.success());
}

#[test]
fn a_missing_provider_is_a_usage_error() {
    let dir = TempDataDir::new().unwrap();
    for args in
        [vec!["login"], vec!["accounts", "add", "--refresh-token", "x"], vec!["login", "gemini"]]
    {
        let output = mac(&dir).args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(stderr(&output).starts_with("error:"), "{}", stderr(&output));
    }
    assert!(!dir.accounts_file(Provider::Anthropic).exists());
}

#[test]
fn a_malformed_token_is_refused_without_quoting_it() {
    let dir = TempDataDir::new().unwrap();
    let cases: [(&[&str], &str, &str); 4] = [
        (&["--refresh-token", "has SECRET space"], "", "--refresh-token"),
        (&["--refresh-token", "-"], "   \n", "--refresh-token"),
        (&["--refresh-token", "ok", "--access-token", "not-a-jwt-SECRET"], "", "--access-token"),
        (&["--refresh-token", "ok", "--expires-at", "-5"], "", "--expires-at"),
    ];
    for (args, input, flag) in cases {
        let provider = if flag == "--access-token" { "codex" } else { "anthropic" };
        let output = mac(&dir)
            .args(["accounts", "add", provider])
            .args(args)
            .write_stdin(input)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let err = stderr(&output);
        assert!(err.contains(&format!("hint: check `{flag}`")), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
    }
    assert!(!dir.accounts_file(Provider::Anthropic).exists());
    assert!(!dir.accounts_file(Provider::Codex).exists());
}

#[test]
fn menu_without_a_terminal_points_to_the_scriptable_commands() {
    let dir = seeded();
    let output = mac(&dir).args(["menu", "anthropic"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("needs a terminal"), "{err}");
    assert!(err.contains("`mac status`") && err.contains("`mac accounts list`"), "{err}");
}

#[test]
fn a_data_dir_that_is_not_a_directory_is_named() {
    let dir = TempDataDir::new().unwrap();
    let file = dir.outer().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let output = crate::support::bare(&dir)
        .arg("--home")
        .arg(&file)
        .args(["accounts", "add", "anthropic", "--refresh-token", "rt"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("hint: check `--home`"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
    let output =
        crate::support::bare(&dir).arg("--home").arg(&file).arg("status").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn a_corrupt_accounts_file_is_named_and_left_alone() {
    let dir = TempDataDir::new().unwrap();
    let path = dir.accounts_file(Provider::Anthropic);
    std::fs::write(&path, b"{\"version\": 1, \"accounts\": [tru").unwrap();
    let output =
        mac(&dir).args(["accounts", "add", "anthropic", "--refresh-token", "rt"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains(&format!("hint: see {}", path.display())), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"version\": 1, \"accounts\": [tru");
    let output = mac(&dir).args(["accounts", "list"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn a_newer_version_file_is_read_only() {
    let dir = TempDataDir::new().unwrap();
    let path = dir.accounts_file(Provider::Codex);
    let text = br#"{"version": 9, "accounts": [{"uuid": "u-1", "refreshToken": "rt", "addedAt": 1, "lastUsed": 1, "email": "n@x.io"}]}"#;
    std::fs::write(&path, text).unwrap();
    let output = mac(&dir).args(["accounts", "disable", "n@x.io"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("newer than this build"), "{err}");
    assert!(err.contains("hint: run `mac doctor`"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), text);
    let listed = mac(&dir).args(["accounts", "list", "codex"]).output().unwrap();
    assert!(listed.status.success(), "a newer file can still be read");
}
