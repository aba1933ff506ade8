//! OpenCode's `auth.json`: one credential per provider key. Only the
//! `anthropic` and `openai` keys are ours (`openai` is the `codex` pool); each is read on its
//! own, so a bad one does not stop the other.
//!
//! ```json
//! { "anthropic": { "type": "oauth", "refresh": "…", "access": "…", "expires": 1773200000000 },
//!   "openai": { "type": "oauth", "refresh": "…", "access": "…", "expires": 1773200000000,
//!               "accountId": "…" } }
//! ```

use std::path::Path;

use mac_storage::{Credentials, NewAccount, Provider, Secret};
use serde_json::Value;

use crate::import::error::{ShapeSnafu, SourceError};
use crate::import::plan::{Candidate, ScannedEntry};
use crate::import::read::{Fields, fill_codex_identity, kind_name};
use crate::import::report::SkipReason;

/// The provider keys of `auth.json` that are ours, and their pools.
const KEYS: [(&str, Provider); 2] =
    [("anthropic", Provider::Anthropic), ("openai", Provider::Codex)];

pub(crate) fn parse(path: &Path, document: &Value) -> Result<Vec<ScannedEntry>, SourceError> {
    let top = Fields::of(document, "").map_err(|problem| ShapeSnafu { path, problem }.build())?;
    let entries = KEYS
        .iter()
        .filter_map(|&(key, provider)| {
            let value = top.get(key)?;
            Some(match entry(key, provider, value) {
                Ok(candidate) => ScannedEntry::account(key, provider, candidate),
                Err(reason) => ScannedEntry::unusable(key, provider, reason),
            })
        })
        .collect();
    Ok(entries)
}

fn entry(key: &str, provider: Provider, value: &Value) -> Result<Candidate, SkipReason> {
    let bad = |problem: String| SkipReason::BadEntry { problem };
    let fields = Fields::of(value, key).map_err(bad)?;
    match fields.get("type") {
        Some(Value::String(kind)) if kind == "oauth" => {}
        Some(Value::String(kind)) => return Err(SkipReason::NotOAuth { kind: kind_name(kind) }),
        Some(_) => return Err(bad(format!("{} is not a string", fields.name("type")))),
        None => return Err(bad(format!("{} is missing", fields.name("type")))),
    }
    let refresh = fields.string("refresh").map_err(bad)?.ok_or(SkipReason::NoRefreshToken)?;
    let credentials = Credentials {
        refresh_token: Secret::new(refresh),
        access_token: fields.string("access").map_err(bad)?.map(Secret::new),
        expires_at: fields.epoch_ms("expires").map_err(bad)?,
    };
    let mut account = NewAccount::from_credentials(credentials);
    if provider == Provider::Codex {
        account.account_id = fields.string("accountId").map_err(bad)?;
        fill_codex_identity(&mut account, None);
    }
    Ok(Candidate::new(account))
}
