//! Shared fixtures of the import tests: a temporary home with the four sources written by the
//! tests themselves, the environment lookup pointing at it, and the two pools.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use mac_core::import::{
    ImportReport, ImportScan, ImportSources, ImportTargets, Outcome, SkipReason, apply, scan,
};
use mac_storage::{AccountStore, AccountsDocument, DataDir, EpochMs, Provider, StoreOptions};
use mac_test_support::fake_provider::{codex_claims, jwt};
use serde_json::{Value, json};

/// The import's "now".
pub(crate) const NOW: i64 = 1_773_000_000_000;
/// An hour, in milliseconds.
pub(crate) const HOUR: i64 = 3_600_000;

/// A temporary home directory, the environment that points at it, and a mac data directory.
pub(crate) struct Home {
    root: tempfile::TempDir,
    env: HashMap<String, OsString>,
    pub(crate) anthropic: AccountStore,
    pub(crate) codex: AccountStore,
}

impl Home {
    /// A home with only `HOME` set.
    pub(crate) fn new() -> Self {
        let root = tempfile::Builder::new().prefix("mac-import-").tempdir().unwrap();
        let home = root.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let data_dir = DataDir::at(root.path().join("mac"));
        let options = StoreOptions::default();
        let anthropic =
            AccountStore::open(&data_dir, Provider::Anthropic, options.clone()).unwrap();
        let codex = AccountStore::open(&data_dir, Provider::Codex, options).unwrap();
        let env = HashMap::from([("HOME".to_owned(), home.into_os_string())]);
        Self { root, env, anthropic, codex }
    }

    /// The home directory.
    pub(crate) fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    /// A path outside the home directory (for `*_DIR` overrides).
    pub(crate) fn outside(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    /// Sets a variable of the environment the sources are located with.
    pub(crate) fn set_env(&mut self, key: &str, value: impl Into<OsString>) {
        self.env.insert(key.to_owned(), value.into());
    }

    /// The environment lookup.
    pub(crate) fn env(&self) -> impl Fn(&str) -> Option<OsString> + '_ {
        |key| self.env.get(key).cloned()
    }

    /// Every source, located from the environment.
    pub(crate) fn sources(&self) -> ImportSources {
        ImportSources::locate(self.env())
    }

    /// Writes `contents` to `path` under the home directory (creating directories).
    pub(crate) fn write(&self, relative: &str, contents: &str) -> PathBuf {
        write_file(&self.home().join(relative), contents)
    }

    /// Writes a JSON value, pretty-printed, under the home directory.
    pub(crate) fn write_json(&self, relative: &str, value: &Value) -> PathBuf {
        self.write(relative, &serde_json::to_string_pretty(value).unwrap())
    }

    /// Scans the located sources.
    pub(crate) fn scan(&self) -> ImportScan {
        scan(&self.sources())
    }

    /// Scans and applies the located sources at [`NOW`].
    pub(crate) fn import(&self) -> ImportReport {
        apply(self.scan(), &self.targets(), EpochMs::from_millis(NOW))
    }

    /// The two pools.
    pub(crate) fn targets(&self) -> ImportTargets<'_> {
        ImportTargets { anthropic: &self.anthropic, codex: &self.codex }
    }

    /// The pool of `provider`, freshly read.
    pub(crate) fn pool(&self, provider: Provider) -> AccountsDocument {
        let store = self.targets().store(provider);
        AccountStore::at_path(store.path(), StoreOptions::default())
            .load()
            .unwrap()
            .as_ref()
            .clone()
    }

    /// The bytes of both accounts files (`None`: no file).
    pub(crate) fn pool_bytes(&self) -> [Option<Vec<u8>>; 2] {
        [&self.anthropic, &self.codex].map(|store| std::fs::read(store.path()).ok())
    }
}

pub(crate) fn write_file(path: &Path, contents: &str) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
    path.to_owned()
}

/// An unsigned Codex JWT for a ChatGPT account, expiring at `exp_ms`.
pub(crate) fn codex_jwt(account_id: &str, email: &str, plan: &str, exp_ms: i64) -> String {
    let mut claims = codex_claims(account_id, email, plan);
    claims["exp"] = json!(exp_ms / 1000);
    claims["jti"] = json!(format!("{account_id}-{exp_ms}"));
    jwt(&claims)
}

/// OpenCode's `auth.json` with one Anthropic and one OpenAI login.
pub(crate) fn opencode_auth() -> Value {
    json!({
        "anthropic": {
            "type": "oauth", "refresh": "oc-ant-rt", "access": "oc-ant-at", "expires": NOW + HOUR
        },
        "openai": {
            "type": "oauth", "refresh": "oc-oai-rt",
            "access": codex_jwt("acct-oc", "oc@example.com", "plus", NOW + 2 * HOUR),
            "expires": NOW + 2 * HOUR, "accountId": "acct-oc"
        },
        "github-copilot": { "type": "oauth", "refresh": "gh", "access": "gh", "expires": 0 }
    })
}

/// Claude Code's `.credentials.json`.
pub(crate) fn claude_code_credentials() -> Value {
    json!({
        "claudeAiOauth": {
            "accessToken": "cc-at", "refreshToken": "cc-rt", "expiresAt": NOW + 3 * HOUR,
            "scopes": ["user:inference", "user:profile"], "subscriptionType": "max"
        }
    })
}

/// Codex CLI's `auth.json`.
pub(crate) fn codex_cli_auth() -> Value {
    json!({
        "OPENAI_API_KEY": null,
        "tokens": {
            "id_token": codex_jwt("acct-cli", "cli@example.com", "pro", NOW + HOUR),
            "access_token": codex_jwt("acct-cli", "cli@example.com", "pro", NOW + 5 * HOUR),
            "refresh_token": "cli-rt",
            "account_id": "acct-cli"
        },
        "last_refresh": "2026-03-08T12:00:00Z"
    })
}

/// The Anthropic plugin's pool: one healthy account with usage, one switched off, one disabled
/// for authentication, one rate-limited with a label.
pub(crate) fn anthropic_plugin_pool() -> Value {
    json!({
        "version": 1,
        "accounts": [
            {
                "uuid": "seed-1", "email": "one@example.com", "planTier": "max",
                "refreshToken": "pl-rt-1", "accessToken": "pl-at-1", "expiresAt": NOW + HOUR,
                "addedAt": NOW - 100 * HOUR, "lastUsed": NOW - HOUR, "enabled": true,
                "cachedUsage": {
                    "five_hour": { "utilization": 42, "resets_at": "2026-03-08T22:00:00Z" },
                    "seven_day": null, "seven_day_sonnet": null
                },
                "cachedUsageAt": NOW - HOUR, "consecutiveAuthFailures": 0, "isAuthDisabled": false,
                "pluginOnlyField": "dropped"
            },
            {
                "uuid": "seed-2", "email": "two@example.com", "planTier": "pro",
                "refreshToken": "pl-rt-2", "addedAt": NOW - 50 * HOUR, "lastUsed": NOW - 50 * HOUR,
                "enabled": false
            },
            {
                "uuid": "seed-3", "email": "three@example.com",
                "refreshToken": "pl-rt-3", "accessToken": "pl-at-3", "expiresAt": NOW - HOUR,
                "addedAt": NOW - 10 * HOUR, "lastUsed": NOW - 9 * HOUR, "enabled": true,
                "consecutiveAuthFailures": 3, "isAuthDisabled": true,
                "authDisabledReason": "Token refresh failed permanently"
            },
            {
                "uuid": "seed-4", "label": "work", "email": "four@example.com",
                "refreshToken": "pl-rt-4", "accessToken": "pl-at-4", "expiresAt": NOW + 2 * HOUR,
                "addedAt": NOW - 5 * HOUR, "lastUsed": NOW - 5 * HOUR,
                "rateLimitResetAt": NOW + 4 * HOUR
            }
        ],
        "activeAccountUuid": "seed-4"
    })
}

/// The Codex plugin's pool: one account.
pub(crate) fn openai_plugin_pool() -> Value {
    json!({
        "version": 1,
        "accounts": [{
            "uuid": "seed-oai", "accountId": "acct-pl", "email": "pl@example.com",
            "planTier": "plus", "refreshToken": "pl-oai-rt",
            "accessToken": codex_jwt("acct-pl", "pl@example.com", "plus", NOW + HOUR),
            "expiresAt": NOW + HOUR, "addedAt": NOW - HOUR, "lastUsed": NOW - HOUR
        }]
    })
}

/// Writes all four sources at their default locations under the home directory.
pub(crate) fn write_all_sources(home: &Home) {
    home.write_json(
        ".config/opencode/anthropic-multi-account-accounts.json",
        &anthropic_plugin_pool(),
    );
    home.write_json(".config/opencode/openai-multi-account-accounts.json", &openai_plugin_pool());
    home.write_json(".local/share/opencode/auth.json", &opencode_auth());
    home.write_json(".claude/.credentials.json", &claude_code_credentials());
    home.write_json(".codex/auth.json", &codex_cli_auth());
}

/// The outcomes of a report, in order, as `(entry, outcome)`.
pub(crate) fn outcomes(report: &ImportReport) -> Vec<(String, Outcome)> {
    report.accounts().map(|a| (a.entry.clone(), a.outcome.clone())).collect()
}

/// Whether an outcome is "skipped, already in the pool".
pub(crate) fn already_in_pool(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Skipped { reason: SkipReason::AlreadyInPool { .. } })
}

/// The refresh tokens of a pool, in order.
pub(crate) fn refresh_tokens(pool: &AccountsDocument) -> Vec<String> {
    pool.accounts.iter().map(|a| a.refresh_token.expose().to_owned()).collect()
}
