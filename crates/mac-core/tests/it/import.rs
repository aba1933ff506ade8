//! Applying an import to the pools: idempotence, the newer-credentials rule both ways, plugin
//! state carried over, bad sources changing nothing, and the seed's `AuthMigration` checklist
//! (the TypeScript plugins' migration) adapted.

use mac_core::import::{
    FileStatus, IMPORT_FINGERPRINTS_KEY, ImportSources, Match, Outcome, SkipReason, SourceKind,
    UpdateReason, apply, scan,
};
use mac_storage::{
    AccountStore, CredentialPatch, Credentials, EpochMs, NewAccount, Provider, Secret, StoreOptions,
};
use serde_json::json;

use crate::import_fixtures::{
    HOUR, Home, NOW, already_in_pool, claude_code_credentials, codex_cli_auth, codex_jwt,
    opencode_auth, outcomes, refresh_tokens, write_all_sources, write_file,
};

#[test]
fn all_four_sources_import_and_a_second_run_changes_nothing() {
    let home = Home::new();
    write_all_sources(&home);
    let report = home.import();
    let lines: Vec<String> = report
        .accounts()
        .map(|a| format!("{} {} {}", a.provider, a.entry, kind(&a.outcome)))
        .collect();
    assert_eq!(
        lines,
        [
            "anthropic accounts[0] added",
            "anthropic accounts[1] added",
            "anthropic accounts[2] added",
            "anthropic accounts[3] added",
            "codex accounts[0] added",
            "anthropic anthropic added",
            "codex openai added",
            "anthropic claudeAiOauth added",
            "codex tokens added",
        ]
    );
    assert_eq!((report.added(), report.updated(), report.skipped()), (9, 0, 0));
    let statuses: Vec<String> = report.files.iter().map(|f| f.status.to_string()).collect();
    assert_eq!(statuses, ["read", "read", "not found", "read", "read", "read"]);
    assert_eq!(
        refresh_tokens(&home.pool(Provider::Anthropic)),
        ["pl-rt-1", "pl-rt-2", "pl-rt-3", "pl-rt-4", "oc-ant-rt", "cc-rt"]
    );
    assert_eq!(refresh_tokens(&home.pool(Provider::Codex)), ["pl-oai-rt", "oc-oai-rt", "cli-rt"]);

    // Second run: everything is already in the pool and no file is written.
    let bytes = home.pool_bytes();
    let generations =
        [home.pool(Provider::Anthropic).generation, home.pool(Provider::Codex).generation];
    let again = home.import();
    assert_eq!(again.accounts().count(), 9);
    assert!(again.accounts().all(|a| already_in_pool(&a.outcome)), "{:?}", outcomes(&again));
    assert!(again.changed_nothing());
    assert_eq!(home.pool_bytes(), bytes);
    assert_eq!(
        [home.pool(Provider::Anthropic).generation, home.pool(Provider::Codex).generation],
        generations
    );
    // The uuids reported the second time are those added the first time.
    let added: Vec<String> = report.accounts().map(|a| uuid_of(&a.outcome)).collect();
    let found: Vec<String> = again.accounts().map(|a| uuid_of(&a.outcome)).collect();
    assert_eq!(added, found);
}

fn kind(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Added { .. } => "added",
        Outcome::Updated { .. } => "updated",
        Outcome::Skipped { .. } => "skipped",
    }
}

fn uuid_of(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Added { uuid }
        | Outcome::Updated { uuid, .. }
        | Outcome::Skipped {
            reason: SkipReason::AlreadyInPool { uuid } | SkipReason::PoolHasNewer { uuid, .. },
        } => uuid.clone(),
        Outcome::Skipped { reason } => panic!("no uuid: {reason}"),
    }
}

#[test]
fn plugin_pool_state_is_carried_over_for_added_accounts() {
    let home = Home::new();
    write_all_sources(&home);
    let report = home.import();
    let pool = home.pool(Provider::Anthropic);
    let [one, two, three, four] = [0, 1, 2, 3].map(|i| &pool.accounts[i]);

    // Healthy, with usage: all of it kept, under a fresh local uuid; plugin-only fields dropped.
    assert_ne!(one.uuid.as_deref(), Some("seed-1"));
    assert_eq!(one.email.as_deref(), Some("one@example.com"));
    assert_eq!(one.plan_tier, "max");
    assert_eq!(one.access_token.as_ref().unwrap().expose(), "pl-at-1");
    assert_eq!(one.expires_at, Some(EpochMs::from_millis(NOW + HOUR)));
    assert_eq!(one.added_at, EpochMs::from_millis(NOW - 100 * HOUR));
    assert_eq!(one.last_used, EpochMs::from_millis(NOW - HOUR));
    assert_eq!(
        serde_json::to_value(&one.cached_usage).unwrap(),
        json!({
            "five_hour": { "utilization": 42, "resets_at": "2026-03-08T22:00:00Z" },
            "seven_day": null, "seven_day_sonnet": null
        })
    );
    assert_eq!(one.cached_usage_at, Some(EpochMs::from_millis(NOW - HOUR)));
    assert!(!one.extra.contains_key("pluginOnlyField"));
    assert!(one.extra.contains_key(IMPORT_FINGERPRINTS_KEY));
    // Switched off by the user: stays off.
    assert!(!two.enabled);
    assert_eq!(two.plan_tier, "pro");
    // Disabled for authentication: stays disabled, with the reason and count.
    assert!(three.enabled && three.is_auth_disabled);
    assert_eq!(three.auth_disabled_reason.as_deref(), Some("Token refresh failed permanently"));
    assert_eq!(three.consecutive_auth_failures, 3);
    // Rate-limited, labelled.
    assert_eq!(four.rate_limit_reset_at, Some(EpochMs::from_millis(NOW + 4 * HOUR)));
    assert_eq!(four.label.as_deref(), Some("work"));
    // The empty pool's active account is the first usable one added.
    assert_eq!(pool.active_account_uuid, one.uuid);
    // Names in the report: label, else email.
    let names: Vec<Option<&str>> = report.accounts().take(4).map(|a| a.name.as_deref()).collect();
    assert_eq!(
        names,
        [Some("one@example.com"), Some("two@example.com"), Some("three@example.com"), Some("work")]
    );
    // A new account from a source without state gets `now`.
    let claude = pool.accounts.iter().find(|a| a.refresh_token.expose() == "cc-rt").unwrap();
    assert_eq!(
        (claude.added_at, claude.last_used),
        (EpochMs::from_millis(NOW), EpochMs::from_millis(NOW))
    );
    assert_eq!(claude.plan_tier, "max");
    let codex = home.pool(Provider::Codex);
    let cli = codex.accounts.iter().find(|a| a.refresh_token.expose() == "cli-rt").unwrap();
    assert_eq!(cli.expires_at, Some(EpochMs::from_millis(NOW + 5 * HOUR)), "the JWT's exp");
    assert_eq!(
        (cli.account_id.as_deref(), cli.email.as_deref()),
        (Some("acct-cli"), Some("cli@example.com"))
    );
    assert_eq!(cli.plan_tier, "pro");
}

/// Puts an account into the `codex` pool as a login would, and returns its uuid.
fn login(home: &Home, refresh: &str, expires_at: Option<i64>, account_id: &str) -> String {
    let new = NewAccount {
        account_id: Some(account_id.to_owned()),
        ..NewAccount::from_credentials(Credentials {
            refresh_token: Secret::new(refresh),
            access_token: Some(Secret::new(format!("{refresh}-access"))),
            expires_at: expires_at.map(EpochMs::from_millis),
        })
    };
    match home.codex.add_account(&new, EpochMs::from_millis(NOW - 10 * HOUR)).unwrap() {
        mac_storage::AddOutcome::Added { uuid } => uuid,
        other @ mac_storage::AddOutcome::Updated { .. } => panic!("{other:?}"),
    }
}

#[test]
fn newer_source_credentials_replace_the_pools_and_keep_its_state() {
    let home = Home::new();
    let uuid = login(&home, "pool-rt", Some(NOW + HOUR), "acct-cli");
    // State the user and the executor gave the account.
    home.codex
        .mutate(|doc| {
            let account = doc.account_mut(&uuid).unwrap();
            account.enabled = false;
            account.is_auth_disabled = true;
            account.auth_disabled_reason = Some("refresh token revoked".into());
            account.consecutive_auth_failures = 2;
            account.label = Some("mine".into());
            account.plan_tier = "plus".into();
            account.rate_limit_reset_at = Some(EpochMs::from_millis(NOW + HOUR));
            Ok(())
        })
        .unwrap();
    // Codex CLI holds the same ChatGPT account with tokens expiring at NOW + 5 h.
    home.write_json(".codex/auth.json", &codex_cli_auth());
    let report = home.import();
    assert_eq!(
        outcomes(&report),
        [(
            "tokens".to_owned(),
            Outcome::Updated {
                uuid: uuid.clone(),
                why: UpdateReason::NewerCredentials { matched_by: Match::ProviderId }
            }
        )]
    );
    let pool = home.pool(Provider::Codex);
    assert_eq!(pool.accounts.len(), 1);
    let account = &pool.accounts[0];
    assert_eq!(account.uuid.as_deref(), Some(uuid.as_str()));
    assert_eq!(account.refresh_token.expose(), "cli-rt");
    assert_eq!(account.expires_at, Some(EpochMs::from_millis(NOW + 5 * HOUR)));
    // Identity filled in where missing; the user's label, plan and switch are kept; the
    // authentication verdict on the replaced tokens is cleared; the rate limit stays.
    assert_eq!(account.email.as_deref(), Some("cli@example.com"));
    assert_eq!((account.label.as_deref(), account.plan_tier.as_str()), (Some("mine"), "plus"));
    assert!(!account.enabled);
    assert!(!account.is_auth_disabled && account.auth_disabled_reason.is_none());
    assert_eq!(account.consecutive_auth_failures, 0);
    assert_eq!(account.rate_limit_reset_at, Some(EpochMs::from_millis(NOW + HOUR)));

    // And again: now the same tokens.
    let again = home.import();
    assert!(already_in_pool(&again.accounts().next().unwrap().outcome));
}

#[test]
fn older_or_undated_source_credentials_never_replace_the_pools() {
    let home = Home::new();
    // The pool refreshed more recently than Codex CLI did (its token expires later).
    let uuid = login(&home, "rotated-rt", Some(NOW + 6 * HOUR), "acct-cli");
    home.write_json(".codex/auth.json", &codex_cli_auth());
    let bytes = home.pool_bytes();
    let skipped = Outcome::Skipped {
        reason: SkipReason::PoolHasNewer { uuid: uuid.clone(), matched_by: Match::ProviderId },
    };
    assert_eq!(outcomes(&home.import()), [("tokens".to_owned(), skipped.clone())]);
    assert_eq!(home.pool_bytes(), bytes);

    // A tie keeps the pool's tokens too.
    let mut auth = codex_cli_auth();
    auth["tokens"]["access_token"] =
        json!(codex_jwt("acct-cli", "cli@example.com", "pro", NOW + 6 * HOUR));
    home.write_json(".codex/auth.json", &auth);
    assert_eq!(outcomes(&home.import()), [("tokens".to_owned(), skipped.clone())]);
    // A source without an expiry can never prove its tokens newer.
    auth["tokens"]["access_token"] = json!("opaque-access");
    home.write_json(".codex/auth.json", &auth);
    assert_eq!(outcomes(&home.import()), [("tokens".to_owned(), skipped)]);
    assert_eq!(home.pool_bytes(), bytes);
    assert_eq!(refresh_tokens(&home.pool(Provider::Codex)), ["rotated-rt"]);
}

#[test]
fn an_account_without_identity_is_recognized_after_the_pool_refreshed_it() {
    // Claude Code's file names no email or account id: only the import fingerprint tells that
    // its (now spent) refresh token is the account the pool has refreshed since.
    let home = Home::new();
    home.write_json(".claude/.credentials.json", &claude_code_credentials());
    let uuid = match &home.import().accounts().next().unwrap().outcome {
        Outcome::Added { uuid } => uuid.clone(),
        other => panic!("{other}"),
    };
    let imported = home.pool(Provider::Anthropic).accounts[0].credentials();
    let patch = CredentialPatch {
        access_token: Secret::new("rotated-at"),
        expires_at: EpochMs::from_millis(NOW + 8 * HOUR),
        refresh_token: Some(Secret::new("rotated-rt")),
        account_uuid: None,
        account_id: None,
        email: None,
    };
    home.anthropic.patch_credentials(&uuid, &imported, patch).unwrap();
    let bytes = home.pool_bytes();
    let report = home.import();
    assert_eq!(
        outcomes(&report),
        [(
            "claudeAiOauth".to_owned(),
            Outcome::Skipped {
                reason: SkipReason::PoolHasNewer { uuid, matched_by: Match::ImportedBefore }
            }
        )]
    );
    assert_eq!(home.pool_bytes(), bytes);
}

#[test]
fn one_account_in_several_sources_ends_with_the_newest_tokens() {
    // OpenCode and Codex CLI both hold acct-cli; Codex CLI's tokens are newer.
    let home = Home::new();
    let mut auth = opencode_auth();
    auth["openai"] = json!({
        "type": "oauth", "refresh": "oc-old-rt",
        "access": codex_jwt("acct-cli", "cli@example.com", "pro", NOW + HOUR),
        "expires": NOW + HOUR, "accountId": "acct-cli"
    });
    home.write_json(".local/share/opencode/auth.json", &auth);
    home.write_json(".codex/auth.json", &codex_cli_auth());
    let first = home.import();
    let codex: Vec<(String, &'static str)> = first
        .accounts()
        .filter(|a| a.provider == Provider::Codex)
        .map(|a| (a.entry.clone(), kind(&a.outcome)))
        .collect();
    assert_eq!(codex, [("openai".to_owned(), "added"), ("tokens".to_owned(), "updated")]);
    assert_eq!(refresh_tokens(&home.pool(Provider::Codex)), ["cli-rt"]);
    // Second run: OpenCode's older tokens are recognized (fingerprint) and skipped, Codex CLI's
    // are in the pool already; nothing is written.
    let bytes = home.pool_bytes();
    let again = home.import();
    let codex: Vec<String> = again
        .accounts()
        .filter(|a| a.provider == Provider::Codex)
        .map(|a| a.outcome.to_string())
        .collect();
    let uuid = &home.pool(Provider::Codex).accounts[0].uuid.clone().unwrap();
    assert_eq!(
        codex,
        [
            format!(
                "skipped: the pool has newer credentials for this account (account {uuid}, imported from this login before)"
            ),
            format!("skipped: already in the pool with the same tokens (account {uuid})"),
        ]
    );
    assert_eq!(home.pool_bytes(), bytes);
}

#[test]
fn bad_sources_change_nothing_already_in_the_pool() {
    let home = Home::new();
    write_all_sources(&home);
    home.import();
    let bytes = home.pool_bytes();
    // Every source turns bad in its own way.
    home.write(
        ".config/opencode/anthropic-multi-account-accounts.json",
        "{\"version\": 1, \"accounts\": [",
    );
    home.write(".config/opencode/openai-multi-account-accounts.json", "[]");
    home.write(
        ".local/share/opencode/auth.json",
        "{\"anthropic\": {\"type\": \"oauth\", \"refresh\": \"\"}, \"openai\": 7}",
    );
    home.write(".claude/.credentials.json", "{\"claudeAiOauth\": {\"refreshToken\": null}}");
    home.write(".codex/auth.json", "garbage");
    let report = home.import();
    assert!(report.changed_nothing());
    assert_eq!(home.pool_bytes(), bytes);
    let statuses: Vec<&str> = report
        .files
        .iter()
        .map(|f| match f.status {
            FileStatus::Read => "read",
            FileStatus::NotFound => "not found",
            FileStatus::Unreadable { .. } => "unreadable",
            FileStatus::Malformed { .. } => "malformed",
        })
        .collect();
    assert_eq!(statuses, ["malformed", "malformed", "not found", "read", "read", "malformed"]);
    assert_eq!(report.problems().count(), 3);
    let reasons: Vec<String> =
        report.accounts().map(|a| format!("{}: {}", a.entry, a.outcome)).collect();
    assert_eq!(
        reasons,
        [
            "anthropic: skipped: no refresh token",
            "openai: skipped: unknown shape: `openai` is not a JSON object",
            "claudeAiOauth: skipped: no refresh token",
        ]
    );
}

#[test]
fn an_unusable_pool_is_left_alone_and_the_other_pool_still_imports() {
    let home = Home::new();
    write_all_sources(&home);
    write_file(home.anthropic.path(), "{\"version\": 1, \"accounts\": [}");
    let report = home.import();
    let anthropic: Vec<&Outcome> = report
        .accounts()
        .filter(|a| a.provider == Provider::Anthropic)
        .map(|a| &a.outcome)
        .collect();
    assert_eq!(anthropic.len(), 6);
    for outcome in anthropic {
        let Outcome::Skipped { reason: SkipReason::PoolUnusable { problem } } = outcome else {
            panic!("{outcome}");
        };
        assert!(problem.contains(&home.anthropic.path().display().to_string()), "{problem}");
    }
    assert_eq!(
        std::fs::read_to_string(home.anthropic.path()).unwrap(),
        "{\"version\": 1, \"accounts\": [}"
    );
    assert_eq!(home.pool(Provider::Codex).accounts.len(), 3);
}

/// The seed's `AuthMigration` checklist (the TypeScript plugins' migration), adapted: import reads OpenCode's
/// `auth.json` like `migrateFromAuthJson` did, but an existing pool no longer blocks it (the
/// seed imported only into an empty pool); accounts are deduplicated instead.
mod auth_migration {
    use super::*;

    fn opencode(home: &Home, auth: &serde_json::Value) -> mac_core::import::ImportReport {
        let path = home.write_json(".config/opencode/auth.json", auth);
        let sources = ImportSources::new().with(SourceKind::OpenCodeAuth, path);
        apply(scan(&sources), &home.targets(), EpochMs::from_millis(NOW))
    }

    #[test]
    fn storage_with_accounts_no_longer_blocks_the_import() {
        // Seed: "storage already has accounts → false". Now: imported beside them, deduplicated.
        let home = Home::new();
        login(&home, "existing-rt", Some(NOW), "acct-other");
        let report = opencode(&home, &opencode_auth());
        assert_eq!(report.added(), 2);
        assert_eq!(refresh_tokens(&home.pool(Provider::Codex)), ["existing-rt", "oc-oai-rt"]);
        // The active account of a non-empty pool is left alone.
        let pool = home.pool(Provider::Codex);
        assert_eq!(pool.active_account_uuid, pool.accounts[0].uuid);
    }

    #[test]
    fn no_auth_json_imports_nothing_and_creates_no_pool() {
        let home = Home::new();
        let sources =
            ImportSources::new().with(SourceKind::OpenCodeAuth, home.outside("absent.json"));
        let report = apply(scan(&sources), &home.targets(), EpochMs::from_millis(NOW));
        assert!(matches!(report.files[0].status, FileStatus::NotFound));
        assert_eq!(report.accounts().count(), 0);
        assert_eq!(home.pool_bytes(), [None, None]);
    }

    #[test]
    fn entries_that_are_not_importable_import_nothing() {
        let home = Home::new();
        for (auth, reason) in [
            (json!({"openai": opencode_auth()["openai"].clone()}), None),
            (
                json!({"anthropic": {"type": "api", "key": "k"}}),
                Some("not an OAuth login (kind `api`)"),
            ),
            (json!({"anthropic": {"type": "oauth", "access": "a"}}), Some("no refresh token")),
            (json!({"anthropic": {"type": "oauth", "refresh": ""}}), Some("no refresh token")),
        ] {
            let report = opencode(&home, &auth);
            let anthropic: Vec<String> = report
                .accounts()
                .filter(|a| a.provider == Provider::Anthropic)
                .map(|a| a.outcome.to_string())
                .collect();
            let expected: Vec<String> =
                reason.map(|r| format!("skipped: {r}")).into_iter().collect();
            assert_eq!(anthropic, expected, "{auth}");
        }
        assert_eq!(home.pool_bytes()[0], None, "no Anthropic pool was created");
        write_file(&home.home().join(".config/opencode/auth.json"), "{not json");
        let sources = ImportSources::new()
            .with(SourceKind::OpenCodeAuth, home.home().join(".config/opencode/auth.json"));
        let report = apply(scan(&sources), &home.targets(), EpochMs::from_millis(NOW));
        assert!(matches!(report.files[0].status, FileStatus::Malformed { .. }));
    }

    #[test]
    fn a_valid_entry_imports_one_account_with_its_fields_as_the_active_one() {
        let home = Home::new();
        let report = opencode(&home, &json!({"anthropic": opencode_auth()["anthropic"].clone()}));
        assert_eq!(report.added(), 1);
        let pool = home.pool(Provider::Anthropic);
        assert_eq!(pool.accounts.len(), 1);
        let account = &pool.accounts[0];
        assert_eq!(account.refresh_token.expose(), "oc-ant-rt");
        assert_eq!(account.access_token.as_ref().unwrap().expose(), "oc-ant-at");
        assert_eq!(account.expires_at, Some(EpochMs::from_millis(NOW + HOUR)));
        assert!(account.uuid.is_some() && account.enabled && !account.is_auth_disabled);
        assert_eq!(account.consecutive_auth_failures, 0);
        assert_eq!(pool.active_account_uuid, account.uuid);
    }

    #[test]
    fn the_openai_key_imports_into_the_codex_pool() {
        let home = Home::new();
        let report = opencode(&home, &json!({"openai": opencode_auth()["openai"].clone()}));
        assert_eq!(report.added(), 1);
        assert_eq!(refresh_tokens(&home.pool(Provider::Codex)), ["oc-oai-rt"]);
        assert_eq!(home.pool_bytes()[0], None);
    }

    #[test]
    fn an_entry_with_only_type_and_refresh_imports_without_access_and_expiry() {
        let home = Home::new();
        opencode(&home, &json!({"anthropic": {"type": "oauth", "refresh": "only-rt"}}));
        let account = &home.pool(Provider::Anthropic).accounts[0];
        assert_eq!(account.refresh_token.expose(), "only-rt");
        assert_eq!((account.access_token.as_ref(), account.expires_at), (None, None));
    }
}

/// The import recognizes an account of the pool exactly when `AccountStore::add_account`
/// would (D4): the two rule sets must not drift apart.
#[test]
fn recognizes_the_same_accounts_as_add_account() {
    type Identity<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);
    // (pool account's email, accountUuid, accountId) vs the source's.
    let cases: [(Identity<'_>, Identity<'_>); 9] = [
        ((Some("a@x"), None, None), (Some("A@X"), None, None)),
        ((Some("a@x"), None, None), (Some("b@x"), None, None)),
        ((None, Some("u1"), None), (None, Some("u1"), None)),
        ((Some("a@x"), Some("u1"), None), (Some("b@x"), Some("u1"), None)),
        ((Some("a@x"), Some("u1"), None), (Some("a@x"), Some("u2"), None)),
        ((None, None, Some("w1")), (Some("a@x"), None, Some("w1"))),
        ((Some("a@x"), None, Some("w1")), (Some("a@x"), None, Some("w2"))),
        ((None, None, None), (None, None, None)),
        ((Some(""), None, None), (Some(""), None, None)),
    ];
    for (pool, source) in cases {
        let account = |refresh: &str, (email, account_uuid, account_id): Identity<'_>| NewAccount {
            email: email.map(str::to_owned),
            account_uuid: account_uuid.map(str::to_owned),
            account_id: account_id.map(str::to_owned),
            ..NewAccount::from_credentials(Credentials {
                refresh_token: Secret::new(refresh),
                access_token: None,
                expires_at: Some(EpochMs::from_millis(NOW)),
            })
        };
        let dir = tempfile::tempdir().unwrap();
        let by_store = AccountStore::at_path(dir.path().join("a.json"), StoreOptions::default());
        let by_import = AccountStore::at_path(dir.path().join("b.json"), StoreOptions::default());
        for store in [&by_store, &by_import] {
            store.add_account(&account("pool-rt", pool), EpochMs::from_millis(NOW)).unwrap();
        }
        let store_matched = matches!(
            by_store.add_account(&account("source-rt", source), EpochMs::from_millis(NOW)).unwrap(),
            mac_storage::AddOutcome::Updated { .. }
        );
        // The source's tokens are newer, so a recognized account is updated, never added.
        let mut newer = account("source-rt", source);
        newer.credentials.expires_at = Some(EpochMs::from_millis(NOW + HOUR));
        let path = write_file(
            &dir.path().join("opencode-auth.json"),
            &json!({"anthropic": {"type": "oauth", "refresh": "source-rt", "expires": NOW + HOUR}})
                .to_string(),
        );
        let mut found = scan(&ImportSources::new().with(SourceKind::OpenCodeAuth, path));
        let mac_core::import::Found::Account(candidate) = &mut found.files[0].entries[0].found
        else {
            panic!("not an account");
        };
        candidate.account = newer;
        let report = apply(
            found,
            &mac_core::import::ImportTargets { anthropic: &by_import, codex: &by_import },
            EpochMs::from_millis(NOW),
        );
        let import_matched =
            matches!(report.accounts().next().unwrap().outcome, Outcome::Updated { .. });
        assert_eq!(import_matched, store_matched, "pool {pool:?}, source {source:?}");
    }
}

#[test]
fn an_import_can_be_limited_to_one_pool() {
    let home = Home::new();
    write_all_sources(&home);
    let mut found = home.scan();
    found.retain_provider(Provider::Codex);
    assert!(found.candidates().all(|(provider, _)| provider == Provider::Codex));
    let report = apply(found, &home.targets(), EpochMs::from_millis(NOW));
    assert_eq!(report.added(), 3);
    assert_eq!(home.pool_bytes()[0], None, "the Anthropic pool was not touched");
}
