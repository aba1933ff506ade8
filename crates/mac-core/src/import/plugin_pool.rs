//! The TypeScript multi-account plugins' pool files (`anthropic-multi-account-accounts.json`,
//! `openai-multi-account-accounts.json`): the TypeScript library's accounts document, the same
//! JSON shape as ours, read with [`mac_storage::decode`]. Every account comes with its state.
//!
//! The decoder is all-or-nothing for a document; when only some accounts are bad, each account
//! is decoded on its own so the good ones still import and the bad ones are reported one by one.

use std::path::Path;

use mac_storage::{DocumentProblem, NewAccount, Provider, StoreOptions, StoredAccount, decode};
use serde_json::Value;

use crate::import::error::{DocumentSnafu, SourceError};
use crate::import::plan::{Candidate, ScannedEntry};
use crate::import::read::{fill_codex_identity, parse_json};
use crate::import::report::SkipReason;

/// The largest pool file read: the store's own limit.
pub(crate) fn size_limit() -> u64 {
    StoreOptions::default().max_file_bytes
}

pub(crate) fn parse(
    path: &Path,
    provider: Provider,
    bytes: &[u8],
) -> Result<Vec<ScannedEntry>, SourceError> {
    match decode(bytes, size_limit()) {
        Ok(document) => Ok(document
            .accounts
            .into_iter()
            .enumerate()
            .map(|(index, account)| entry(index, provider, account))
            .collect()),
        Err(DocumentProblem::Shape { field, .. }) if field.starts_with("accounts[") => {
            each_account(path, provider, bytes)
        }
        Err(problem) => DocumentSnafu { path, problem }.fail(),
    }
}

/// Decodes the document without its accounts (so everything else is checked as usual), then
/// each account alone.
fn each_account(
    path: &Path,
    provider: Provider,
    bytes: &[u8],
) -> Result<Vec<ScannedEntry>, SourceError> {
    let mut document = parse_json(path, bytes)?;
    let accounts = match document.get_mut("accounts") {
        Some(Value::Array(accounts)) => std::mem::take(accounts),
        _ => Vec::new(),
    };
    let rest = serde_json::to_vec(&document).map_err(|err| DocumentProblem::Shape {
        field: String::new(),
        message: redact_quoted(&err.to_string()),
    });
    if let Err(problem) = rest.and_then(|rest| decode(&rest, size_limit())) {
        return DocumentSnafu { path, problem }.fail();
    }
    Ok(accounts
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            let name = format!("accounts[{index}]");
            let refresh = value.get("refreshToken");
            if value.is_object() && matches!(refresh, None | Some(Value::Null)) {
                return ScannedEntry::unusable(name, provider, SkipReason::NoRefreshToken);
            }
            match serde_json::from_value::<StoredAccount>(value) {
                Ok(account) => entry(index, provider, account),
                Err(err) => {
                    let problem =
                        format!("`{name}` is not an account: {}", redact_quoted(&err.to_string()));
                    ScannedEntry::unusable(name, provider, SkipReason::BadEntry { problem })
                }
            }
        })
        .collect())
}

fn entry(index: usize, provider: Provider, mut stored: StoredAccount) -> ScannedEntry {
    let name = format!("accounts[{index}]");
    // Fields of the plugins unknown to mac mean nothing here, and one could hold a token that
    // `Debug` would show: dropped at once.
    stored.extra.clear();
    if stored.refresh_token.is_empty() {
        return ScannedEntry::unusable(name, provider, SkipReason::NoRefreshToken);
    }
    let non_empty = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
    let mut account = NewAccount {
        credentials: stored.credentials(),
        email: non_empty(&stored.email),
        plan_tier: non_empty(&Some(stored.plan_tier.clone())),
        account_uuid: non_empty(&stored.account_uuid),
        account_id: non_empty(&stored.account_id),
        label: non_empty(&stored.label),
    };
    if provider == Provider::Codex {
        fill_codex_identity(&mut account, None);
    }
    ScannedEntry::account(name, provider, Candidate { account, seed: Some(stored) })
}

/// Replaces every double-quoted string in a parser message (the offending value, which could
/// be a token) with `"…"`. Field names in serde messages are in backticks and stay.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for ch in message.chars() {
        if ch == '"' {
            out.push_str(if inside { "…\"" } else { "\"" });
            inside = !inside;
        } else if !inside {
            out.push(ch);
        }
    }
    out
}
