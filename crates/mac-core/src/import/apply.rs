//! The apply half of an import: each provider's candidates merged into its pool in one
//! [`AccountStore::mutate`] (one lock, one fresh read, at most one write), by the rules in the
//! module docs of [`crate::import`].

use std::collections::HashMap;

use mac_storage::{
    AccountStore, AccountsDocument, EpochMs, MatchedBy, NewAccount, Provider, StoredAccount,
};
use serde_json::Value;

use crate::import::plan::{Candidate, Found, ImportScan};
use crate::import::report::{
    AccountReport, FileReport, ImportReport, Match, Outcome, SkipReason, UpdateReason,
};

/// The key, in an account of the pool, of the fingerprints of the refresh tokens imported into
/// it (see the module docs). Unknown to `mac-storage`, which keeps it like any unknown field.
pub const IMPORT_FINGERPRINTS_KEY: &str = "importFingerprints";

/// How many fingerprints an account keeps, newest last.
const MAX_FINGERPRINTS: usize = 8;

/// The pools an import writes to: one store per provider.
#[derive(Clone, Copy, Debug)]
pub struct ImportTargets<'a> {
    /// The `anthropic` pool.
    pub anthropic: &'a AccountStore,
    /// The `codex` pool (OpenAI accounts).
    pub codex: &'a AccountStore,
}

impl<'a> ImportTargets<'a> {
    /// The store of `provider`.
    pub fn store(&self, provider: Provider) -> &'a AccountStore {
        match provider {
            Provider::Anthropic => self.anthropic,
            Provider::Codex => self.codex,
        }
    }
}

/// Writes the accounts of `scan` into the pools and reports what happened to each. `now` is
/// the added and last-used time of accounts that come without one.
///
/// Never fails as a whole: a pool that cannot be changed (an invalid or newer-version file, a
/// lock timeout) leaves its candidates skipped with the store's error, and the other pool is
/// still written. Blocks on file locks and fsync; async callers run it on a blocking thread.
pub fn apply(scan: ImportScan, targets: &ImportTargets<'_>, now: EpochMs) -> ImportReport {
    let mut outcomes: HashMap<(usize, usize), Outcome> = HashMap::new();
    for provider in Provider::ALL {
        let batch: Vec<((usize, usize), &Candidate)> = scan
            .files
            .iter()
            .enumerate()
            .flat_map(|(f, file)| {
                file.entries.iter().enumerate().map(move |(e, entry)| ((f, e), entry))
            })
            .filter(|(_, entry)| entry.provider == provider)
            .filter_map(|(at, entry)| match &entry.found {
                Found::Account(candidate) => Some((at, &**candidate)),
                Found::Unusable(_) => None,
            })
            .collect();
        if batch.is_empty() {
            continue;
        }
        let store = targets.store(provider);
        let candidates: Vec<&Candidate> = batch.iter().map(|(_, candidate)| *candidate).collect();
        match store.mutate(|document| Ok(merge(document, &candidates, now))) {
            Ok(results) => outcomes.extend(batch.iter().map(|(at, _)| *at).zip(results)),
            Err(err) => {
                tracing::warn!(path = %store.path().display(), error = %err, "import: the pool was not changed");
                let reason = SkipReason::PoolUnusable { problem: err.to_string() };
                outcomes.extend(
                    batch.iter().map(|(at, _)| (*at, Outcome::Skipped { reason: reason.clone() })),
                );
            }
        }
    }

    let files = scan
        .files
        .into_iter()
        .enumerate()
        .map(|(f, file)| {
            let accounts = file
                .entries
                .into_iter()
                .enumerate()
                .map(|(e, entry)| {
                    let (name, outcome) = match entry.found {
                        Found::Account(candidate) => {
                            let name = candidate.name().map(str::to_owned);
                            // Every candidate got an outcome above; the fallback is unreachable.
                            let outcome = outcomes.remove(&(f, e)).unwrap_or(Outcome::Skipped {
                                reason: SkipReason::PoolUnusable { problem: "not applied".into() },
                            });
                            (name, outcome)
                        }
                        Found::Unusable(reason) => (None, Outcome::Skipped { reason }),
                    };
                    AccountReport { entry: entry.entry, provider: entry.provider, name, outcome }
                })
                .collect();
            FileReport { source: file.source, status: file.status, accounts }
        })
        .collect();
    ImportReport { files }
}

/// Merges the candidates of one pool, in order, into its document.
fn merge(document: &mut AccountsDocument, candidates: &[&Candidate], now: EpochMs) -> Vec<Outcome> {
    let was_empty = document.accounts.is_empty();
    let outcomes: Vec<Outcome> =
        candidates.iter().map(|candidate| merge_one(document, candidate, now)).collect();
    if was_empty {
        // As `AccountStore::add_account` does: the first account of an empty pool becomes the
        // active one (as the plugins' migration did), preferring one that is usable.
        let added: Vec<&str> = outcomes
            .iter()
            .filter_map(|outcome| match outcome {
                Outcome::Added { uuid } => Some(uuid.as_str()),
                _ => None,
            })
            .collect();
        let usable = added
            .iter()
            .find(|uuid| document.account(uuid).is_some_and(StoredAccount::is_eligible));
        if let Some(uuid) = usable.or(added.first()) {
            document.active_account_uuid = Some((*uuid).to_owned());
        }
    }
    outcomes
}

fn merge_one(document: &mut AccountsDocument, candidate: &Candidate, now: EpochMs) -> Outcome {
    let new = &candidate.account;
    let fingerprint = new.credentials.refresh_token.fingerprint();
    let Some((index, matched_by)) = find_same_account(document, new, &fingerprint) else {
        let account = new_account(candidate, now, fingerprint);
        let uuid = account.uuid.clone().unwrap_or_default();
        document.accounts.push(account);
        return Outcome::Added { uuid };
    };
    let account = &mut document.accounts[index];
    let uuid = account.uuid.clone().unwrap_or_default();
    if account.has_credentials(&new.credentials) {
        return Outcome::Skipped { reason: SkipReason::AlreadyInPool { uuid } };
    }
    // `None` (no expiry known) is older than any time: a revoked account has lost its access
    // token, and a source without an expiry can never prove its tokens newer.
    if new.credentials.expires_at <= account.expires_at {
        return Outcome::Skipped { reason: SkipReason::PoolHasNewer { uuid, matched_by } };
    }
    account.refresh_token.clone_from(&new.credentials.refresh_token);
    account.access_token.clone_from(&new.credentials.access_token);
    account.expires_at = new.credentials.expires_at;
    // An authentication verdict is about the tokens it was observed on (D11); these are others.
    // The user's own on/off switch stays as it is.
    account.is_auth_disabled = false;
    account.auth_disabled_reason = None;
    account.consecutive_auth_failures = 0;
    fill_identity(account, new);
    remember_fingerprint(account, fingerprint);
    Outcome::Updated { uuid, why: UpdateReason::NewerCredentials { matched_by } }
}

/// A pool account for a candidate that matched none: the plugin's stored account (its state)
/// when there is one, else a fresh one; always a fresh local uuid.
fn new_account(candidate: &Candidate, now: EpochMs, fingerprint: String) -> StoredAccount {
    let new = &candidate.account;
    let fresh = StoredAccount::new(new.credentials.clone(), now);
    let mut account = match &candidate.seed {
        Some(seed) => StoredAccount {
            uuid: fresh.uuid,
            refresh_token: fresh.refresh_token,
            access_token: fresh.access_token,
            expires_at: fresh.expires_at,
            // The plugins' unknown fields were dropped by the scan.
            extra: mac_storage::UnknownFields::new(),
            ..seed.clone()
        },
        None => fresh,
    };
    fill_identity(&mut account, new);
    remember_fingerprint(&mut account, fingerprint);
    account
}

/// The account of the pool that is `new`, and how it was recognized: the store's identity
/// rules (`AccountsDocument::find_same_account`, as `AccountStore::add_account` applies them),
/// with "this refresh token was imported into it before" right after "same refresh token".
fn find_same_account(
    document: &AccountsDocument,
    new: &NewAccount,
    fingerprint: &str,
) -> Option<(usize, Match)> {
    let by_store = document.find_same_account(new);
    if let Some((i, MatchedBy::RefreshToken)) = by_store {
        return Some((i, Match::RefreshToken));
    }
    if let Some(i) =
        document.accounts.iter().position(|a| fingerprints(a).any(|f| f == fingerprint))
    {
        return Some((i, Match::ImportedBefore));
    }
    by_store.map(|(i, matched_by)| {
        let how = match matched_by {
            MatchedBy::RefreshToken => Match::RefreshToken,
            MatchedBy::ProviderId => Match::ProviderId,
            MatchedBy::Email => Match::Email,
        };
        (i, how)
    })
}

/// Sets the identity fields the account lacks; never changes one it has.
fn fill_identity(account: &mut StoredAccount, new: &NewAccount) {
    fill(&mut account.email, new.email.as_ref());
    fill(&mut account.account_uuid, new.account_uuid.as_ref());
    fill(&mut account.account_id, new.account_id.as_ref());
    fill(&mut account.label, new.label.as_ref());
    if account.plan_tier.is_empty()
        && let Some(plan) = new.plan_tier.as_ref().filter(|plan| !plan.is_empty())
    {
        account.plan_tier.clone_from(plan);
    }
}

fn fill(field: &mut Option<String>, value: Option<&String>) {
    if field.as_deref().is_none_or(str::is_empty)
        && let Some(value) = value.filter(|value| !value.is_empty())
    {
        *field = Some(value.clone());
    }
}

fn fingerprints(account: &StoredAccount) -> impl Iterator<Item = &str> {
    account
        .extra
        .get(IMPORT_FINGERPRINTS_KEY)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn remember_fingerprint(account: &mut StoredAccount, fingerprint: String) {
    let mut list: Vec<String> = fingerprints(account).map(str::to_owned).collect();
    if list.contains(&fingerprint) {
        return;
    }
    list.push(fingerprint);
    let excess = list.len().saturating_sub(MAX_FINGERPRINTS);
    list.drain(..excess);
    account
        .extra
        .insert(IMPORT_FINGERPRINTS_KEY.to_owned(), list.into_iter().map(Value::String).collect());
}
