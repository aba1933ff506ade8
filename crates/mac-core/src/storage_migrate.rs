//! Moving a data directory's account pools into another storage (`mac storage migrate --to
//! postgres`): every provider's accounts file merged into the target store, idempotently, the
//! file then kept as a read-only backup.
//!
//! # What is copied
//! The accounts documents, whole: every account with its local uuid (claims, refresh locks and
//! pending-grant journals are keyed by it), tokens, state (cooldowns, usage, switches,
//! authentication verdicts) and every field mac does not know, exactly; the active account; the
//! document's unknown top-level fields. Not copied: claims (soft state of live processes; each
//! process claims again), refresh-lock files (empty), and pending-grant journals
//! (`*.grant.<uuid>.pending`): they stay in the data directory, which the PostgreSQL backend
//! still uses for this host's files, and the next refresh of their account on this host
//! applies them — which is why a migrated account keeps its uuid.
//!
//! # The merge rules (per provider, one transaction on each side)
//! Each account of the file is matched to the target's by local uuid, else by the store's
//! identity rules ([`AccountsDocument::find_same_account`]: same refresh token, else same
//! provider account id, else same email). Then:
//! - **no match: added** as it is (uuid, state and unknown fields kept);
//! - **equal: already there**; the same refresh token with an access token expiring no later:
//!   already there (the target's state, which other hosts may have changed since, stays);
//! - **other tokens: the later expiry wins** (no expiry counts as the oldest), so a token the
//!   database holds after a rotation on another host is never replaced by the file's spent one,
//!   and a file refreshed after an earlier migration still brings its newer grant. Only the
//!   credentials and their authentication verdict move; the target's other state stays;
//! - **refused** (nothing written for that provider, the file left in place) when it cannot be
//!   decided: two different refresh tokens with the same expiry (one of them is spent, and
//!   nothing tells which), an account whose uuid and identity point at two different accounts
//!   of the target, two accounts of the file that are one account of the target, and an account
//!   matched under another uuid while a pending-grant journal waits under its own uuid (the
//!   journal would never be applied).
//!
//! # The file afterwards
//! Renamed to `<file>.migrated.<epoch ms>.bak` and made read-only (`0400`), under the file's
//! lock, after the target committed. A rename, not only a `chmod`: mac replaces files by
//! renaming a new version over them, which a mode does not stop, whereas a missing accounts
//! file leaves a process still on the file backend with an empty pool — loud, not a silently
//! diverging copy. A second run finds no accounts file, changes nothing and says so (it never
//! reads a backup again: that would bring back accounts removed from the database since). The
//! way back is in the README: rename the backup to the accounts file, `chmod 600` it, and set
//! `[storage] backend = "file"` (tokens rotated in the database since are then lost to this
//! host — log those accounts in again).

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use mac_storage::file::{pending_grant_part, safe_file_part};
use mac_storage::{
    AccountStore, AccountsDocument, DataDir, EpochMs, NewAccount, Provider, Secret, StoreError,
    StoreOptions, StoredAccount,
};
use serde::Serialize;

use crate::status::provider_name;

/// The suffix part that names a migration backup: `<file>.migrated.<epoch ms>.bak`.
const BACKUP_INFIX: &str = ".migrated.";
/// The end of a backup's name.
const BACKUP_SUFFIX: &str = ".bak";
/// The mode of a backup: read-only for its owner.
const BACKUP_MODE: u32 = 0o400;

/// What a migration did (or, in a dry run, would do).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationReport {
    /// Whether this was a dry run (nothing written, nothing renamed).
    pub dry_run: bool,
    /// One entry per provider.
    pub pools: Vec<PoolMigration>,
}

impl MigrationReport {
    /// Whether the target was (or, in a dry run, would be) changed.
    pub fn changed_target(&self) -> bool {
        self.pools.iter().any(|pool| match pool.outcome {
            PoolOutcome::Migrated { target_changed } => target_changed,
            _ => false,
        })
    }

    /// Whether any file was (or would be) moved into the target.
    pub fn migrated_any(&self) -> bool {
        self.pools.iter().any(|pool| matches!(pool.outcome, PoolOutcome::Migrated { .. }))
    }

    /// The pools that were refused.
    pub fn refused(&self) -> impl Iterator<Item = &PoolMigration> {
        self.pools.iter().filter(|pool| matches!(pool.outcome, PoolOutcome::Refused { .. }))
    }
}

/// One provider's pool.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolMigration {
    /// The provider.
    #[serde(serialize_with = "provider_name")]
    pub provider: Provider,
    /// The accounts file.
    pub file: String,
    /// What happened to the pool.
    pub outcome: PoolOutcome,
    /// What happened to each account of the file, in file order.
    pub accounts: Vec<AccountMigration>,
    /// Where the file is now (its read-only backup), once migrated.
    pub backup: Option<String>,
    /// Backups of earlier migrations found beside the file.
    pub earlier_backups: Vec<String>,
    /// Pending-grant journals of this pool left in the data directory (applied by this host's
    /// next refresh of their account).
    pub pending_grants: usize,
    /// Something that went wrong after the target committed (the file could not be renamed).
    pub problem: Option<String>,
}

/// What happened to one pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum PoolOutcome {
    /// No accounts file: nothing to migrate (never created, or migrated before).
    NoFile,
    /// Merged into the target (in a dry run: would be).
    Migrated {
        /// Whether the target changed (in a dry run: would change).
        target_changed: bool,
    },
    /// Nothing was written for this pool.
    Refused {
        /// Why, naming the file or account.
        problem: String,
    },
}

/// One account of a file.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountMigration {
    /// Its local uuid in the file (empty for an old account without one).
    pub uuid: String,
    /// Label, else email, else a short id.
    pub name: String,
    /// The uuid of the target's account it was merged into, when that differs.
    pub target_uuid: Option<String>,
    /// What happened.
    pub outcome: AccountOutcome,
}

/// What happened to one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum AccountOutcome {
    /// Copied whole.
    Added,
    /// The target already has it (the same tokens, or the same grant with a later access
    /// token); nothing of it changed.
    AlreadyThere,
    /// The file's tokens expire later: they replaced the target's.
    TokensFromFile,
    /// The target's tokens expire later (rotated since): kept, the file's are dropped.
    TargetNewer,
    /// Cannot be decided; the pool is refused.
    Conflict {
        /// Why.
        reason: String,
    },
}

impl AccountOutcome {
    fn is_conflict(&self) -> bool {
        matches!(self, AccountOutcome::Conflict { .. })
    }
}

/// Migrates every provider's accounts file of `data_dir` into the store `target` opens for
/// it (see the module docs); `dry_run` computes the same report from a read of both sides
/// and changes nothing. `target` gives `None` for a target that does not exist yet (a
/// database without mac's schema), which a dry run reads as empty. Never fails as a whole: a
/// pool that cannot be migrated is reported as [`PoolOutcome::Refused`] and the other pool
/// still is. Blocks (file locks, the target's transactions).
pub fn migrate_files(
    data_dir: &DataDir,
    options: &StoreOptions,
    target: &dyn Fn(Provider) -> Option<AccountStore>,
    dry_run: bool,
) -> MigrationReport {
    let pools = Provider::ALL
        .into_iter()
        .map(|provider| {
            let span = tracing::info_span!("migrate", %provider, dry_run);
            let _entered = span.enter();
            migrate_pool(data_dir, options, provider, target(provider).as_ref(), dry_run)
        })
        .collect();
    MigrationReport { dry_run, pools }
}

/// Why a pool's migration stopped.
enum Failure {
    Store(StoreError),
    Conflict(Vec<AccountMigration>),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Store(error)
    }
}

fn migrate_pool(
    data_dir: &DataDir,
    options: &StoreOptions,
    provider: Provider,
    target: Option<&AccountStore>,
    dry_run: bool,
) -> PoolMigration {
    let path = data_dir.accounts_file(provider);
    let journals = pending_grants(&path);
    let mut report = PoolMigration {
        provider,
        file: path.display().to_string(),
        outcome: PoolOutcome::NoFile,
        accounts: Vec::new(),
        backup: None,
        earlier_backups: earlier_backups(&path),
        pending_grants: journals.len(),
        problem: None,
    };
    if !path.exists() {
        return report;
    }
    let file = AccountStore::at_path(&path, options.clone());
    let result = match target {
        _ if dry_run => dry_run_pool(&file, target, &journals),
        None => {
            report.outcome =
                PoolOutcome::Refused { problem: "the target storage is not open".to_owned() };
            return report;
        }
        Some(target) => {
            let mut backup = None;
            let mut problem = None;
            // The file's lock is held from the read to the rename, so no process on the file
            // backend changes it in between (its change would be lost to the target).
            let result = file.transact(|source| {
                let merged = merge_into_target(target, source, &journals)?;
                match keep_as_backup(&path) {
                    Ok(path) => backup = Some(path.display().to_string()),
                    Err(err) => {
                        problem = Some(format!(
                            "the accounts are in the database, but {} could not be renamed: {err}; \
                         it stays as it is (a next run finds its accounts there already)",
                            path.display()
                        ));
                    }
                }
                Ok::<_, Failure>(merged)
            });
            report.backup = backup;
            report.problem = problem;
            result
        }
    };
    match result {
        Ok((accounts, target_changed)) => {
            report.accounts = accounts;
            report.outcome = PoolOutcome::Migrated { target_changed };
        }
        Err(Failure::Store(error)) => {
            report.outcome = PoolOutcome::Refused { problem: error.to_string() };
        }
        Err(Failure::Conflict(accounts)) => {
            let conflicts = accounts.iter().filter(|a| a.outcome.is_conflict()).count();
            report.outcome = PoolOutcome::Refused {
                problem: format!(
                    "{conflicts} account(s) of {} cannot be merged with the database's; nothing \
                     of this pool was copied and the file stays in place",
                    path.display()
                ),
            };
            report.accounts = accounts;
        }
    }
    if let PoolOutcome::Refused { problem } = &report.outcome {
        tracing::warn!(%problem, "not migrated");
    }
    report
}

fn dry_run_pool(
    file: &AccountStore,
    target: Option<&AccountStore>,
    journals: &HashSet<String>,
) -> Result<(Vec<AccountMigration>, bool), Failure> {
    let source = file.load()?;
    let current = match target {
        Some(target) => target.load()?,
        None => std::sync::Arc::new(AccountsDocument::empty()),
    };
    let mut next = AccountsDocument::clone(&current);
    let accounts = merge(&mut next, &source, journals).map_err(Failure::Conflict)?;
    Ok((accounts, next != *current))
}

/// Merges `source` into the target in one transaction; whether it changed the target.
fn merge_into_target(
    target: &AccountStore,
    source: &AccountsDocument,
    journals: &HashSet<String>,
) -> Result<(Vec<AccountMigration>, bool), Failure> {
    let mut changed = false;
    let accounts = target.transact(|document| {
        let before = document.clone();
        let accounts = merge(document, source, journals).map_err(Failure::Conflict)?;
        changed = *document != before;
        Ok::<_, Failure>(accounts)
    })?;
    Ok((accounts, changed))
}

/// Merges the accounts of `source` into `target` by the module's rules; `Err` (with every
/// account's outcome) when one cannot be decided — `target` is then to be dropped.
fn merge(
    target: &mut AccountsDocument,
    source: &AccountsDocument,
    journals: &HashSet<String>,
) -> Result<Vec<AccountMigration>, Vec<AccountMigration>> {
    let mut taken: HashSet<usize> = HashSet::new();
    let mut uuid_of_source: Vec<(String, Option<String>)> = Vec::new();
    let mut report = Vec::new();
    for account in &source.accounts {
        let uuid = account.uuid.clone().unwrap_or_default();
        let (outcome, index) = merge_one(target, account, journals, &taken);
        if let Some(index) = index {
            taken.insert(index);
        }
        let target_uuid = index.and_then(|i| target.accounts[i].uuid.clone());
        uuid_of_source.push((uuid.clone(), target_uuid.clone()));
        report.push(AccountMigration {
            name: account.display_name(),
            target_uuid: target_uuid.filter(|t| *t != uuid),
            uuid,
            outcome,
        });
    }
    if report.iter().any(|a| a.outcome.is_conflict()) {
        return Err(report);
    }
    // The active account: the target's stays; an unset one takes the file's.
    if target.active_account_uuid.is_none()
        && let Some(active) = &source.active_account_uuid
    {
        target.active_account_uuid = uuid_of_source
            .iter()
            .find(|(uuid, _)| uuid == active)
            .and_then(|(_, target_uuid)| target_uuid.clone());
    }
    for (key, value) in source.extra.iter() {
        if !target.extra.contains_key(key) {
            target.extra.insert(key.clone(), value.clone());
        }
    }
    Ok(report)
}

/// One account: its outcome and the index of the target's account it now is (`None` for a
/// conflict).
fn merge_one(
    target: &mut AccountsDocument,
    account: &StoredAccount,
    journals: &HashSet<String>,
    taken: &HashSet<usize>,
) -> (AccountOutcome, Option<usize>) {
    let conflict = |reason: String| (AccountOutcome::Conflict { reason }, None);
    let by_uuid = account
        .uuid
        .as_ref()
        .and_then(|uuid| target.accounts.iter().position(|a| a.uuid.as_ref() == Some(uuid)));
    let by_identity = target.find_same_account(&identity(account)).map(|(index, _)| index);
    let index = match (by_uuid, by_identity) {
        (Some(i), Some(j)) if i != j => {
            return conflict(format!(
                "its uuid is the database's {} but its tokens or identity are {}'s",
                target.accounts[i].display_name(),
                target.accounts[j].display_name()
            ));
        }
        (Some(i), _) => i,
        (None, Some(j)) => {
            let own = account.uuid.as_deref().unwrap_or_default();
            if journals.contains(&safe_file_part(own)) {
                return conflict(format!(
                    "it is the database's {} under another uuid, and a refreshed grant of it \
                     still waits in a pending-grant journal under its own uuid; let mac apply \
                     it first (any request or `mac status --refresh` with the file backend)",
                    target.accounts[j].display_name()
                ));
            }
            j
        }
        (None, None) => {
            target.accounts.push(account.clone());
            return (AccountOutcome::Added, Some(target.accounts.len() - 1));
        }
    };
    if taken.contains(&index) {
        return conflict(format!(
            "an earlier account of the file is the database's {} too",
            target.accounts[index].display_name()
        ));
    }
    let existing = &mut target.accounts[index];
    if existing == account {
        return (AccountOutcome::AlreadyThere, Some(index));
    }
    // `None` (no expiry known) is older than any time, as for an import.
    let file_later = account.expires_at > existing.expires_at;
    let outcome = if existing.refresh_token == account.refresh_token {
        if file_later {
            existing.access_token.clone_from(&account.access_token);
            existing.expires_at = account.expires_at;
            AccountOutcome::TokensFromFile
        } else {
            AccountOutcome::AlreadyThere
        }
    } else if file_later {
        existing.refresh_token.clone_from(&account.refresh_token);
        existing.access_token.clone_from(&account.access_token);
        existing.expires_at = account.expires_at;
        // An authentication verdict belongs to the tokens it was observed on.
        existing.is_auth_disabled = account.is_auth_disabled;
        existing.auth_disabled_reason.clone_from(&account.auth_disabled_reason);
        existing.consecutive_auth_failures = account.consecutive_auth_failures;
        AccountOutcome::TokensFromFile
    } else if existing.expires_at > account.expires_at {
        AccountOutcome::TargetNewer
    } else {
        return conflict(
            "the file and the database hold different refresh tokens with the same expiry, so \
             which one is spent cannot be told; remove the stale copy (from the database with \
             `mac accounts remove`, or from the file) and run the migration again"
                .to_owned(),
        );
    };
    (outcome, Some(index))
}

/// The identity of a stored account, as the store's matching rules take it.
fn identity(account: &StoredAccount) -> NewAccount {
    NewAccount {
        credentials: account.credentials(),
        email: account.email.clone(),
        plan_tier: Some(account.plan_tier.clone()),
        account_uuid: account.account_uuid.clone(),
        account_id: account.account_id.clone(),
        label: account.label.clone(),
    }
}

/// Why `config.toml` was not changed by [`config_for_postgres`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEditRefused {
    /// Why, naming the key.
    pub reason: String,
}

/// `config.toml`'s `text` with `[storage] backend = "postgres"` set, and `url` when given
/// (the caller writes it back `0600`: the URL holds a password). Keys and comments stay as
/// they are; the lines are added to the `[storage]` table, or a new one at the end. `Ok(None)`
/// when `text` says so already. Refuses, rather than guess, when `[storage]` sets another
/// backend or URL, or is not a plain `[storage]` table.
pub fn config_for_postgres(
    text: &str,
    url: Option<&Secret>,
) -> Result<Option<String>, ConfigEditRefused> {
    let refuse = |reason: &str| Err(ConfigEditRefused { reason: reason.to_owned() });
    let Ok(table) = text.parse::<toml::Table>() else {
        return refuse("config.toml does not parse; fix it first (`mac config check`)");
    };
    let storage = table.get("storage");
    if storage.is_some_and(|s| !s.is_table()) {
        return refuse("`storage` in config.toml is not a table");
    }
    let get = |key: &str| storage.and_then(|s| s.get(key));
    let mut lines = Vec::new();
    match get("backend").map(toml::Value::as_str) {
        None => lines.push("backend = \"postgres\"".to_owned()),
        Some(Some("postgres")) => {}
        Some(_) => return refuse("[storage] backend is set to another backend; edit it by hand"),
    }
    if let Some(url) = url {
        match get("url").map(toml::Value::as_str) {
            None => lines.push(format!("url = {}", toml::Value::String(url.expose().to_owned()))),
            Some(Some(set)) if set == url.expose() => {}
            Some(_) => return refuse("[storage] url names another database; edit it by hand"),
        }
    }
    if lines.is_empty() {
        return Ok(None);
    }
    let block = lines.join("\n");
    let edited = if storage.is_some() {
        let mut out = Vec::new();
        let mut inserted = false;
        for line in text.lines() {
            out.push(line.to_owned());
            let header = line.trim_start().strip_prefix("[storage]").map(str::trim_start);
            if !inserted && header.is_some_and(|rest| rest.is_empty() || rest.starts_with('#')) {
                out.push(block.clone());
                inserted = true;
            }
        }
        if !inserted {
            return refuse("[storage] is not written as a `[storage]` table; edit it by hand");
        }
        out.join("\n") + "\n"
    } else {
        let sep = if text.is_empty() || text.ends_with("\n\n") {
            ""
        } else if text.ends_with('\n') {
            "\n"
        } else {
            "\n\n"
        };
        format!("{text}{sep}[storage]\n{block}\n")
    };
    // What was written must read as intended.
    let reread = edited.parse::<toml::Table>().ok();
    let backend = reread.as_ref().and_then(|t| t.get("storage")?.get("backend")?.as_str());
    if backend != Some("postgres") {
        return refuse("config.toml could not be edited safely; edit it by hand");
    }
    Ok(Some(edited))
}

/// Renames the accounts file to its backup name, read-only, and makes the rename durable.
#[allow(
    clippy::disallowed_methods,
    reason = "a move, not a write: the file's bytes stay as they are, under the file's own lock, \
              and the directory is fsynced right after"
)]
fn keep_as_backup(path: &Path) -> std::io::Result<PathBuf> {
    let mut name = path.as_os_str().to_owned();
    name.push(format!("{BACKUP_INFIX}{}{BACKUP_SUFFIX}", EpochMs::now().as_millis()));
    let backup = PathBuf::from(name);
    fs::rename(path, &backup)?;
    fs::set_permissions(&backup, fs::Permissions::from_mode(BACKUP_MODE))?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    tracing::info!(backup = %backup.display(), "the accounts file is kept as a read-only backup");
    Ok(backup)
}

/// Whether `name` is a migration backup of the accounts file named `file_name`.
fn is_backup_of(name: &str, file_name: &str) -> bool {
    name.strip_prefix(file_name)
        .and_then(|rest| rest.strip_prefix(BACKUP_INFIX))
        .and_then(|rest| rest.strip_suffix(BACKUP_SUFFIX))
        .is_some_and(|ms| !ms.is_empty() && ms.bytes().all(|b| b.is_ascii_digit()))
}

/// The migration backups beside the accounts file `path`, oldest first.
pub fn earlier_backups(path: &Path) -> Vec<String> {
    let mut found = siblings(path, |sibling, name, file_name| {
        is_backup_of(name, file_name).then(|| sibling.display().to_string())
    });
    found.sort();
    found
}

/// The uuid parts ([`safe_file_part`]) of the pending-grant journals beside `path`
/// ([`mac_storage::file::pending_grant_path`]: where mac-executor keeps them).
fn pending_grants(path: &Path) -> HashSet<String> {
    siblings(path, |_, name, file_name| pending_grant_part(file_name, name).map(str::to_owned))
        .into_iter()
        .collect()
}

/// What `pick(sibling's path, its name, path's name)` makes of each path beside `path`,
/// where it makes something.
fn siblings<T>(path: &Path, pick: impl Fn(&Path, &str, &str) -> Option<T>) -> Vec<T> {
    let (Some(dir), Some(file_name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let file_name = file_name.to_string_lossy();
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| pick(&entry.path(), &entry.file_name().to_string_lossy(), &file_name))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mac_storage::Credentials;

    use super::*;

    fn account(uuid: &str, refresh: &str, expires: Option<i64>) -> StoredAccount {
        let mut account = StoredAccount::new(
            Credentials {
                refresh_token: Secret::new(refresh),
                access_token: Some(Secret::new(format!("access-{refresh}"))),
                expires_at: expires.map(EpochMs::from_millis),
            },
            EpochMs::from_millis(1_000),
        );
        account.uuid = Some(uuid.to_owned());
        account.email = Some(format!("{uuid}@example.com"));
        account
    }

    fn doc(accounts: Vec<StoredAccount>) -> AccountsDocument {
        AccountsDocument { accounts, ..AccountsDocument::empty() }
    }

    fn kinds(report: &[AccountMigration]) -> Vec<AccountOutcome> {
        report.iter().map(|a| a.outcome.clone()).collect()
    }

    #[test]
    fn an_empty_target_gets_an_exact_copy_and_a_second_merge_changes_nothing() {
        let mut source = doc(vec![account("a", "ra", Some(5)), account("b", "rb", None)]);
        source.active_account_uuid = Some("b".into());
        source.extra.insert("pluginState".into(), serde_json::json!({"x": 1}));
        let mut target = AccountsDocument::empty();
        let report = merge(&mut target, &source, &HashSet::new()).unwrap();
        assert_eq!(kinds(&report), [AccountOutcome::Added, AccountOutcome::Added]);
        assert_eq!(target.accounts, source.accounts);
        assert_eq!(target.active_account_uuid.as_deref(), Some("b"));
        assert_eq!(target.extra, source.extra);
        let before = target.clone();
        let report = merge(&mut target, &source, &HashSet::new()).unwrap();
        assert_eq!(kinds(&report), [AccountOutcome::AlreadyThere, AccountOutcome::AlreadyThere]);
        assert_eq!(target, before);
    }

    #[test]
    fn the_later_expiry_wins_and_a_tie_is_refused() {
        let mut target = doc(vec![account("a", "rotated", Some(9)), account("b", "rb", Some(1))]);
        let source = doc(vec![account("a", "spent", Some(5)), account("b", "newer", Some(3))]);
        let report = merge(&mut target, &source, &HashSet::new()).unwrap();
        assert_eq!(kinds(&report), [AccountOutcome::TargetNewer, AccountOutcome::TokensFromFile]);
        assert_eq!(target.accounts[0].refresh_token.expose(), "rotated");
        assert_eq!(target.accounts[1].refresh_token.expose(), "newer");

        let mut target = doc(vec![account("a", "one", Some(5))]);
        let source = doc(vec![account("a", "two", Some(5))]);
        let report = merge(&mut target, &source, &HashSet::new()).unwrap_err();
        assert!(report[0].outcome.is_conflict());
    }

    #[test]
    fn an_account_under_another_uuid_merges_by_identity_unless_a_journal_waits() {
        let mut target = doc(vec![account("db-uuid", "same", Some(5))]);
        let mut source_account = account("file-uuid", "same", Some(5));
        source_account.email = Some("db-uuid@example.com".into());
        let source = doc(vec![source_account]);
        let report = merge(&mut target.clone(), &source, &HashSet::new()).unwrap();
        assert_eq!(kinds(&report), [AccountOutcome::AlreadyThere]);
        assert_eq!(report[0].target_uuid.as_deref(), Some("db-uuid"));
        let journals = HashSet::from(["file-uuid".to_owned()]);
        assert!(merge(&mut target, &source, &journals).unwrap_err()[0].outcome.is_conflict());
    }

    #[test]
    fn two_file_accounts_that_are_one_target_account_are_refused() {
        let mut target = doc(vec![account("a", "ra", Some(5))]);
        let source = doc(vec![account("x", "ra", Some(5)), account("y", "ra", Some(5))]);
        let report = merge(&mut target, &source, &HashSet::new()).unwrap_err();
        assert!(report[1].outcome.is_conflict());
    }

    #[test]
    fn the_config_gets_the_backend_and_url_once() {
        let url = Secret::new("postgres://mac:pw@db/mac");
        let fresh = config_for_postgres("", Some(&url)).unwrap().unwrap();
        assert_eq!(
            fresh,
            "[storage]\nbackend = \"postgres\"\nurl = \"postgres://mac:pw@db/mac\"\n"
        );
        assert_eq!(config_for_postgres(&fresh, Some(&url)).unwrap(), None);
        let with_table =
            "# mine\n[storage]\nlock_timeout = \"5s\"\n\n[pool]\nstrategy = \"sticky\"\n";
        let edited = config_for_postgres(with_table, None).unwrap().unwrap();
        assert_eq!(
            edited,
            "# mine\n[storage]\nbackend = \"postgres\"\nlock_timeout = \"5s\"\n\n[pool]\nstrategy = \"sticky\"\n"
        );
        assert!(config_for_postgres("[storage]\nbackend = \"file\"\n", None).is_err());
        assert!(config_for_postgres("[storage\n", None).is_err());
    }

    #[test]
    fn backup_names_are_recognized() {
        assert!(is_backup_of(
            "codex-accounts.json.migrated.1700000000000.bak",
            "codex-accounts.json"
        ));
        assert!(!is_backup_of("codex-accounts.json.corrupt.17.bak", "codex-accounts.json"));
        assert!(!is_backup_of("codex-accounts.json.migrated..bak", "codex-accounts.json"));
    }

    #[test]
    fn backups_and_journals_are_found_beside_the_accounts_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("codex-accounts.json");
        for name in [
            "codex-accounts.json",
            "codex-accounts.json.migrated.2.bak",
            "codex-accounts.json.migrated.1.bak",
            "codex-accounts.json.grant.u-1.pending",
            "codex-accounts.json.grant.u-2.pending",
            "claude-accounts.json.grant.u-3.pending",
            "claude-accounts.json.migrated.3.bak",
            "codex-accounts.json.grant.u-4.pending.tmp",
        ] {
            fs::File::create(dir.path().join(name)).unwrap();
        }
        let beside = |name: &str| dir.path().join(name).display().to_string();
        assert_eq!(
            earlier_backups(&path),
            [
                beside("codex-accounts.json.migrated.1.bak"),
                beside("codex-accounts.json.migrated.2.bak")
            ]
        );
        assert_eq!(pending_grants(&path), HashSet::from(["u-1".to_owned(), "u-2".to_owned()]));
    }
}
