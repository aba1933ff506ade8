//! Reading the sources: where they are found, what each shape gives, and every way a source
//! file can be bad (reported with its path, never guessed at, never written).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use mac_core::import::{
    Found, ImportScan, ImportSources, ScannedEntry, SkipReason, SourceKind, scan,
};
use mac_storage::{EpochMs, Provider};
use serde_json::json;

use crate::import_fixtures::{
    HOUR, Home, NOW, claude_code_credentials, codex_cli_auth, codex_jwt, opencode_auth,
    write_all_sources, write_file,
};

fn locate(vars: &[(&str, &str)]) -> Vec<(SourceKind, PathBuf)> {
    let env: HashMap<&str, OsString> = vars.iter().map(|(k, v)| (*k, OsString::from(v))).collect();
    ImportSources::locate(|key| env.get(key).cloned())
        .files()
        .iter()
        .map(|file| (file.kind, file.path.clone()))
        .collect()
}

fn paths(expected: &[(SourceKind, &str)]) -> Vec<(SourceKind, PathBuf)> {
    expected.iter().map(|(kind, path)| (*kind, PathBuf::from(path))).collect()
}

const ANT_POOL: SourceKind = SourceKind::PluginPool(Provider::Anthropic);
const OAI_POOL: SourceKind = SourceKind::PluginPool(Provider::Codex);

#[test]
fn locations_follow_each_tools_rules() {
    use SourceKind::{ClaudeCode, CodexCli, OpenCodeAuth};
    // HOME only: every default, plugin pools first.
    assert_eq!(
        locate(&[("HOME", "/h")]),
        paths(&[
            (ANT_POOL, "/h/.config/opencode/anthropic-multi-account-accounts.json"),
            (OAI_POOL, "/h/.config/opencode/openai-multi-account-accounts.json"),
            (OpenCodeAuth, "/h/.config/opencode/auth.json"),
            (OpenCodeAuth, "/h/.local/share/opencode/auth.json"),
            (ClaudeCode, "/h/.claude/.credentials.json"),
            (CodexCli, "/h/.codex/auth.json"),
        ])
    );
    // XDG bases replace `~/.config` and `~/.local/share`.
    assert_eq!(
        locate(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "/xc"), ("XDG_DATA_HOME", "/xd")]),
        paths(&[
            (ANT_POOL, "/xc/opencode/anthropic-multi-account-accounts.json"),
            (OAI_POOL, "/xc/opencode/openai-multi-account-accounts.json"),
            (OpenCodeAuth, "/xc/opencode/auth.json"),
            (OpenCodeAuth, "/xd/opencode/auth.json"),
            (ClaudeCode, "/h/.claude/.credentials.json"),
            (CodexCli, "/h/.codex/auth.json"),
        ])
    );
    // OPENCODE_CONFIG_DIR is used verbatim and wins over XDG_CONFIG_HOME (as in OpenCode); the
    // tools' own overrides replace their home directories.
    assert_eq!(
        locate(&[
            ("HOME", "/h"),
            ("XDG_CONFIG_HOME", "/xc"),
            ("OPENCODE_CONFIG_DIR", "/oc"),
            ("CLAUDE_CONFIG_DIR", "/cl"),
            ("CODEX_HOME", "/cx"),
        ]),
        paths(&[
            (ANT_POOL, "/oc/anthropic-multi-account-accounts.json"),
            (OAI_POOL, "/oc/openai-multi-account-accounts.json"),
            (OpenCodeAuth, "/oc/auth.json"),
            (OpenCodeAuth, "/h/.local/share/opencode/auth.json"),
            (ClaudeCode, "/cl/.credentials.json"),
            (CodexCli, "/cx/auth.json"),
        ])
    );
    // Empty values count as unset; with no home, only the explicit directories remain.
    assert_eq!(
        locate(&[("HOME", ""), ("OPENCODE_CONFIG_DIR", ""), ("CODEX_HOME", "/cx")]),
        paths(&[(CodexCli, "/cx/auth.json")])
    );
    assert_eq!(locate(&[]), paths(&[]));
    // Windows-style home, and one directory for config and data is read once.
    assert_eq!(
        locate(&[("USERPROFILE", "/u"), ("OPENCODE_CONFIG_DIR", "/o"), ("XDG_DATA_HOME", "/")])
            .iter()
            .filter(|(kind, _)| *kind == OpenCodeAuth)
            .count(),
        2
    );
    assert_eq!(
        locate(&[("OPENCODE_CONFIG_DIR", "/same/opencode"), ("XDG_DATA_HOME", "/same")])
            .iter()
            .filter(|(kind, _)| *kind == OpenCodeAuth)
            .count(),
        1
    );
}

#[test]
fn explicit_paths_are_added_once_in_order() {
    let sources = ImportSources::new()
        .with(SourceKind::CodexCli, "/a/auth.json")
        .with(SourceKind::OpenCodeAuth, "/b/auth.json")
        .with(SourceKind::CodexCli, "/a/auth.json");
    let kinds: Vec<SourceKind> = sources.files().iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [SourceKind::CodexCli, SourceKind::OpenCodeAuth]);
}

/// The single entry of a scan of one file, with its status checked to be "read".
fn only_entry(scan: &ImportScan) -> &ScannedEntry {
    assert_eq!(scan.files.len(), 1);
    let file = &scan.files[0];
    assert!(file.status.problem().is_none(), "{}", file.status);
    assert_eq!(file.entries.len(), 1, "{:?}", file.entries);
    &file.entries[0]
}

fn candidate(entry: &ScannedEntry) -> &mac_core::import::Candidate {
    match &entry.found {
        Found::Account(candidate) => candidate,
        Found::Unusable(reason) => panic!("{}: {reason}", entry.entry),
    }
}

fn scan_one(kind: SourceKind, path: PathBuf) -> ImportScan {
    scan(&ImportSources::new().with(kind, path))
}

#[test]
fn codex_cli_expiry_and_identity_come_from_the_jwts() {
    let home = Home::new();
    let path = home.write_json("codex/auth.json", &codex_cli_auth());
    let scanned = scan_one(SourceKind::CodexCli, path.clone());
    let entry = only_entry(&scanned);
    assert_eq!((entry.entry.as_str(), entry.provider), ("tokens", Provider::Codex));
    let account = &candidate(entry).account;
    // The access token's `exp`, not the id token's (NOW + 1 h) and not `last_refresh`.
    assert_eq!(account.credentials.expires_at, Some(EpochMs::from_millis(NOW + 5 * HOUR)));
    assert_eq!(account.credentials.refresh_token.expose(), "cli-rt");
    assert_eq!(account.account_id.as_deref(), Some("acct-cli"));
    assert_eq!(account.email.as_deref(), Some("cli@example.com"));
    assert_eq!(account.plan_tier.as_deref(), Some("pro"));

    // `tokens.account_id` wins over the JWTs; without it, the id token's claim is used.
    let mut auth = codex_cli_auth();
    auth["tokens"]["account_id"] = json!("acct-explicit");
    write_file(&path, &auth.to_string());
    let scanned = scan_one(SourceKind::CodexCli, path.clone());
    assert_eq!(
        candidate(only_entry(&scanned)).account.account_id.as_deref(),
        Some("acct-explicit")
    );
    auth["tokens"].as_object_mut().unwrap().remove("account_id");
    auth["tokens"]["id_token"] = json!(codex_jwt("acct-from-id", "id@example.com", "Plus", NOW));
    write_file(&path, &auth.to_string());
    let scanned = scan_one(SourceKind::CodexCli, path.clone());
    let account = &candidate(only_entry(&scanned)).account;
    assert_eq!(account.account_id.as_deref(), Some("acct-from-id"));
    assert_eq!(account.email.as_deref(), Some("id@example.com"));
    assert_eq!(account.plan_tier.as_deref(), Some("plus"));

    // An access token that is not a JWT: no expiry (never guessed).
    auth["tokens"]["access_token"] = json!("opaque");
    write_file(&path, &auth.to_string());
    let scanned = scan_one(SourceKind::CodexCli, path);
    assert_eq!(candidate(only_entry(&scanned)).account.credentials.expires_at, None);
}

#[test]
fn codex_cli_api_key_and_logged_out_files_import_nothing() {
    let home = Home::new();
    let path = home.write_json("codex/auth.json", &json!({"OPENAI_API_KEY": "sk-proj-secret"}));
    let scanned = scan_one(SourceKind::CodexCli, path.clone());
    let entry = only_entry(&scanned);
    assert_eq!(entry.found, Found::Unusable(SkipReason::NotOAuth { kind: "API key".into() }));
    assert!(!format!("{scanned:?}").contains("sk-proj-secret"));
    write_file(&path, r#"{"OPENAI_API_KEY": null, "tokens": null}"#);
    let scanned = scan_one(SourceKind::CodexCli, path);
    assert!(scanned.files[0].status.problem().is_none());
    assert!(scanned.files[0].entries.is_empty());
}

#[test]
fn claude_code_file_gives_an_anthropic_account_with_its_plan() {
    let mut home = Home::new();
    let dir = home.outside("claude-elsewhere");
    home.set_env("CLAUDE_CONFIG_DIR", dir.clone());
    write_file(&dir.join(".credentials.json"), &claude_code_credentials().to_string());
    let sources = home.sources();
    let file = sources.files().iter().find(|f| f.kind == SourceKind::ClaudeCode).unwrap();
    assert_eq!(file.path, dir.join(".credentials.json"));
    let scanned = scan_one(SourceKind::ClaudeCode, file.path.clone());
    let entry = only_entry(&scanned);
    assert_eq!((entry.entry.as_str(), entry.provider), ("claudeAiOauth", Provider::Anthropic));
    let account = &candidate(entry).account;
    assert_eq!(account.credentials.refresh_token.expose(), "cc-rt");
    assert_eq!(account.credentials.access_token.as_ref().unwrap().expose(), "cc-at");
    assert_eq!(account.credentials.expires_at, Some(EpochMs::from_millis(NOW + 3 * HOUR)));
    assert_eq!(account.plan_tier.as_deref(), Some("max"));

    // Only MCP logins: no account, not an error.
    write_file(&file.path, r#"{"mcpOAuth": {"server": {"accessToken": "x"}}}"#);
    let scanned = scan_one(SourceKind::ClaudeCode, file.path.clone());
    assert!(scanned.files[0].status.problem().is_none());
    assert!(scanned.files[0].entries.is_empty());
}

#[test]
fn opencode_auth_is_read_from_both_its_config_and_data_directories() {
    let home = Home::new();
    home.write_json(
        ".config/opencode/auth.json",
        &json!({"anthropic": {"type": "oauth", "refresh": "old-location"}}),
    );
    home.write_json(".local/share/opencode/auth.json", &opencode_auth());
    let scanned = home.scan();
    let found: Vec<(String, Provider, String)> = scanned
        .files
        .iter()
        .filter(|f| f.source.kind == SourceKind::OpenCodeAuth)
        .flat_map(|f| &f.entries)
        .map(|e| {
            (
                e.entry.clone(),
                e.provider,
                candidate(e).account.credentials.refresh_token.expose().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("anthropic".to_owned(), Provider::Anthropic, "old-location".to_owned()),
            ("anthropic".to_owned(), Provider::Anthropic, "oc-ant-rt".to_owned()),
            ("openai".to_owned(), Provider::Codex, "oc-oai-rt".to_owned()),
        ]
    );
    // OpenCode's `openai` login carries its account id, and its JWT the email and plan.
    let openai = scanned.candidates().find(|(p, _)| *p == Provider::Codex).unwrap().1;
    assert_eq!(openai.account.account_id.as_deref(), Some("acct-oc"));
    assert_eq!(openai.account.email.as_deref(), Some("oc@example.com"));
    assert_eq!(openai.account.credentials.expires_at, Some(EpochMs::from_millis(NOW + 2 * HOUR)));
    // Every other file was simply not there.
    let missing = scanned.files.iter().filter(|f| f.source.kind != SourceKind::OpenCodeAuth);
    assert!(
        missing.clone().count() == 4
            && missing.clone().all(|f| f.status.to_string() == "not found")
    );
}

#[test]
fn a_bad_opencode_entry_does_not_stop_the_other() {
    let home = Home::new();
    let path = home.write_json(
        "auth.json",
        &json!({
            "anthropic": {"type": "oauth", "refresh": 5, "access": "oc-secret-access"},
            "openai": opencode_auth()["openai"].clone(),
        }),
    );
    let scanned = scan_one(SourceKind::OpenCodeAuth, path);
    let entries = &scanned.files[0].entries;
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[0].found,
        Found::Unusable(SkipReason::BadEntry {
            problem: "`anthropic.refresh` is not a string".into()
        })
    );
    assert_eq!(candidate(&entries[1]).account.credentials.refresh_token.expose(), "oc-oai-rt");
}

/// Scans one file with `contents` as `kind` and returns its status line and entry outcomes.
fn check(kind: SourceKind, contents: &str) -> (String, Vec<String>) {
    let home = Home::new();
    let path = write_file(&home.outside("source.json"), contents);
    let scanned = scan_one(kind, path.clone());
    let file = &scanned.files[0];
    let status = file.status.to_string().replace(&path.display().to_string(), "<path>");
    if let Some(problem) = file.status.problem() {
        assert_eq!(problem.path(), path, "the problem names the file");
    }
    let entries = file
        .entries
        .iter()
        .map(|e| match &e.found {
            Found::Account(_) => format!("{}: account", e.entry),
            Found::Unusable(reason) => format!("{}: {reason}", e.entry),
        })
        .collect();
    (status, entries)
}

#[test]
fn malformed_files_are_reported_not_guessed() {
    use SourceKind::{ClaudeCode, CodexCli, OpenCodeAuth};
    let malformed = |kind, contents: &str, expected: &str| {
        let (status, entries) = check(kind, contents);
        assert_eq!(status, expected, "{kind} {contents}");
        assert!(entries.is_empty());
    };
    malformed(
        OpenCodeAuth,
        "",
        "malformed: <path> is not valid JSON (line 1 column 0): EOF while parsing a value",
    );
    malformed(
        OpenCodeAuth,
        "{\"anthropic\": ",
        "malformed: <path> is not valid JSON (line 1 column 14): EOF while parsing a value",
    );
    malformed(
        OpenCodeAuth,
        "not json",
        "malformed: <path> is not valid JSON (line 1 column 2): expected ident",
    );
    malformed(
        OpenCodeAuth,
        "[1, 2]",
        "malformed: <path> has an unknown shape: the top level is not a JSON object",
    );
    malformed(
        ClaudeCode,
        "\"claudeAiOauth\"",
        "malformed: <path> has an unknown shape: the top level is not a JSON object",
    );
    malformed(
        CodexCli,
        "null",
        "malformed: <path> has an unknown shape: the top level is not a JSON object",
    );
    malformed(
        ANT_POOL,
        "{}",
        "malformed: <path> is not a usable accounts file: not an accounts document: missing field `version` (line 1 column 2)",
    );
    malformed(
        OAI_POOL,
        "{\"version\": 1, \"accounts\": {}}",
        "malformed: <path> is not a usable accounts file: field `accounts`: wrong type, expected a sequence (line 1 column 27)",
    );
}

#[test]
fn malformed_entries_are_reported_one_by_one() {
    use SourceKind::{ClaudeCode, CodexCli, OpenCodeAuth};
    let entries = |kind, contents: &str, expected: &[&str]| {
        let (status, entries) = check(kind, contents);
        assert_eq!(status, "read", "{kind} {contents}");
        assert_eq!(entries, expected, "{kind} {contents}");
    };
    entries(
        OpenCodeAuth,
        r#"{"anthropic": "oauth"}"#,
        &["anthropic: unknown shape: `anthropic` is not a JSON object"],
    );
    entries(
        OpenCodeAuth,
        r#"{"anthropic": {"refresh": "r"}}"#,
        &["anthropic: unknown shape: `anthropic.type` is missing"],
    );
    entries(
        OpenCodeAuth,
        r#"{"anthropic": {"type": 1, "refresh": "r"}}"#,
        &["anthropic: unknown shape: `anthropic.type` is not a string"],
    );
    entries(
        OpenCodeAuth,
        r#"{"openai": {"type": "api", "key": "sk-x"}}"#,
        &["openai: not an OAuth login (kind `api`)"],
    );
    entries(OpenCodeAuth, r#"{"openai": {"type": "oauth"}}"#, &["openai: no refresh token"]);
    entries(
        OpenCodeAuth,
        r#"{"openai": {"type": "oauth", "refresh": ""}}"#,
        &["openai: no refresh token"],
    );
    entries(
        OpenCodeAuth,
        r#"{"anthropic": {"type": "oauth", "refresh": "r", "expires": "soon"}}"#,
        &[
            "anthropic: unknown shape: `anthropic.expires` is not a time in milliseconds since the epoch",
        ],
    );
    entries(OpenCodeAuth, r#"{"anthropic": null, "google": {"type": "oauth"}}"#, &[]);
    entries(
        ClaudeCode,
        r#"{"claudeAiOauth": []}"#,
        &["claudeAiOauth: unknown shape: `claudeAiOauth` is not a JSON object"],
    );
    entries(
        ClaudeCode,
        r#"{"claudeAiOauth": {"accessToken": "a", "refreshToken": ""}}"#,
        &["claudeAiOauth: no refresh token"],
    );
    entries(
        ClaudeCode,
        r#"{"claudeAiOauth": {"refreshToken": "r", "subscriptionType": 7}}"#,
        &["claudeAiOauth: unknown shape: `claudeAiOauth.subscriptionType` is not a string"],
    );
    entries(
        CodexCli,
        r#"{"tokens": "jwt"}"#,
        &["tokens: unknown shape: `tokens` is not a JSON object"],
    );
    entries(CodexCli, r#"{"tokens": {"access_token": "a"}}"#, &["tokens: no refresh token"]);
    entries(
        CodexCli,
        r#"{"tokens": {"refresh_token": "r", "id_token": {"raw": "x"}}}"#,
        &["tokens: unknown shape: `tokens.id_token` is not a string"],
    );
    entries(ANT_POOL, r#"{"version": 1}"#, &[]);
    entries(
        ANT_POOL,
        r#"{"version": 1, "accounts": [{"refreshToken": "", "addedAt": 1, "lastUsed": 1}]}"#,
        &["accounts[0]: no refresh token"],
    );
}

#[test]
fn a_plugin_pool_with_bad_accounts_still_gives_its_good_ones() {
    let (status, entries) = check(
        ANT_POOL,
        r#"{"version": 1, "accounts": [
            {"refreshToken": "good-1", "addedAt": 1, "lastUsed": 1},
            {"refreshToken": "bad", "addedAt": "pl-secret-value", "lastUsed": 1},
            {"addedAt": 1, "lastUsed": 1},
            "not an account",
            {"refreshToken": "good-2", "addedAt": 1, "lastUsed": 1}
        ]}"#,
    );
    assert_eq!(status, "read");
    assert_eq!(
        entries,
        [
            "accounts[0]: account",
            "accounts[1]: unknown shape: `accounts[1]` is not an account: invalid type: string \"…\", expected a time in milliseconds since the Unix epoch",
            "accounts[2]: no refresh token",
            "accounts[3]: unknown shape: `accounts[3]` is not an account: invalid type: string \"…\", expected struct StoredAccount",
            "accounts[4]: account",
        ]
    );
    // The rest of the document is still checked as a whole.
    let (status, _) = check(ANT_POOL, r#"{"version": 0, "accounts": [{"addedAt": "x"}]}"#);
    assert!(
        status.starts_with("malformed: <path> is not a usable accounts file: `version` is 0"),
        "{status}"
    );
}

#[test]
fn a_directory_in_place_of_a_file_is_unreadable() {
    let home = Home::new();
    // A directory where the file should be.
    let dir = home.outside("auth.json");
    std::fs::create_dir_all(&dir).unwrap();
    let scanned = scan_one(SourceKind::OpenCodeAuth, dir.clone());
    let status = &scanned.files[0].status;
    assert!(status.to_string().starts_with("unreadable: cannot read "), "{status}");
    assert_eq!(status.problem().unwrap().path(), dir);
    assert!(status.to_string().contains(&dir.display().to_string()));
}

#[cfg(unix)]
#[test]
fn a_file_without_read_permission_is_reported_with_its_path() {
    let home = Home::new();
    let path = home.write_json(".claude/.credentials.json", &claude_code_credentials());
    set_mode(&path, 0o000);
    if std::fs::read(&path).is_ok() {
        eprintln!(
            "skipped a_file_without_read_permission_is_reported_with_its_path: \
             this process can read a mode-000 file (running as root or with CAP_DAC_OVERRIDE)"
        );
        return;
    }
    let scanned = scan_one(SourceKind::ClaudeCode, path.clone());
    let status = &scanned.files[0].status;
    let problem = status.problem().unwrap();
    assert!(problem.is_permission_denied(), "{status}");
    assert_eq!(problem.path(), path);
    assert_eq!(
        status.to_string(),
        format!(
            "unreadable: cannot open {}: Permission denied (os error 13); check the file's owner and permissions",
            path.display()
        )
    );
    set_mode(&path, 0o600);
}

#[cfg(unix)]
fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn oversized_files_are_refused_before_parsing() {
    let (status, entries) = check(SourceKind::ClaudeCode, &" ".repeat((1 << 20) + 1));
    assert_eq!(
        status,
        "malformed: <path> is 1048577 bytes, more than the 1048576 bytes a credentials file can be"
    );
    assert!(entries.is_empty());
}

#[test]
fn scanning_writes_and_locks_nothing() {
    let home = Home::new();
    write_all_sources(&home);
    let before = snapshot(&home.home());
    let _report = home.import();
    assert_eq!(
        snapshot(&home.home()),
        before,
        "no source file changed, no file was added beside one"
    );
}

/// Every file under `dir` with its bytes and modification time.
fn snapshot(dir: &std::path::Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
                files.push((path.clone(), std::fs::read(&path).unwrap(), modified));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn nothing_in_a_scan_or_its_problems_shows_a_token() {
    let home = Home::new();
    write_all_sources(&home);
    // Tokens in places where a message could quote them.
    home.write_json(
        ".codex/auth.json",
        &json!({"tokens": {"refresh_token": "cli-rt", "account_id": ["cli-secret-id"]}}),
    );
    home.write_json(
        ".claude/.credentials.json",
        &json!({"claudeAiOauth": {"refreshToken": "cc-rt", "expiresAt": "cc-secret-expiry"}}),
    );
    home.write_json(".local/share/opencode/auth.json", &json!({"anthropic": {"type": "oc-secret-type-value-longer-than-a-kind", "refresh": "oc-rt"}}));
    let scanned = home.scan();
    let shown = format!("{scanned:?}");
    let report = home.import();
    let shown = format!(
        "{shown}{report:?}{}",
        report.accounts().map(|a| a.outcome.to_string()).collect::<String>()
    );
    for token in [
        "cli-rt",
        "cli-secret-id",
        "cc-rt",
        "cc-secret-expiry",
        "oc-secret",
        "pl-rt-1",
        "pl-at-1",
        "oc-rt",
    ] {
        assert!(!shown.contains(token), "{token} shown");
    }
    assert!(shown.contains("not an OAuth login (kind `unknown`)"), "{shown}");
}
