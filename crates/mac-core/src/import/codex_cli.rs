//! Codex CLI's `auth.json` (in `CODEX_HOME`, else `~/.codex`, as Codex CLI resolves it): a ChatGPT login
//! under `tokens`. The expiry is the access token's JWT `exp`; the ChatGPT account id is
//! `tokens.account_id`, else the JWTs'; email and plan come from the id token's claims. An
//! API-key login (`OPENAI_API_KEY` without `tokens`) is reported, not imported.
//!
//! ```json
//! { "OPENAI_API_KEY": null, "last_refresh": "2026-03-10T12:00:00Z",
//!   "tokens": { "id_token": "<jwt>", "access_token": "<jwt>", "refresh_token": "…",
//!               "account_id": "…" } }
//! ```

use std::path::Path;

use mac_storage::{Credentials, NewAccount, Provider, Secret};
use serde_json::Value;

use crate::import::error::{ShapeSnafu, SourceError};
use crate::import::plan::{Candidate, ScannedEntry};
use crate::import::read::{Fields, fill_codex_identity};
use crate::import::report::SkipReason;

const KEY: &str = "tokens";
const API_KEY: &str = "OPENAI_API_KEY";

pub(crate) fn parse(path: &Path, document: &Value) -> Result<Vec<ScannedEntry>, SourceError> {
    let top = Fields::of(document, "").map_err(|problem| ShapeSnafu { path, problem }.build())?;
    let entry = match top.get(KEY) {
        Some(value) => match entry(value) {
            Ok(candidate) => ScannedEntry::account(KEY, Provider::Codex, candidate),
            Err(reason) => ScannedEntry::unusable(KEY, Provider::Codex, reason),
        },
        None if matches!(top.get(API_KEY), Some(Value::String(key)) if !key.is_empty()) => {
            let reason = SkipReason::NotOAuth { kind: "API key".to_owned() };
            ScannedEntry::unusable(API_KEY, Provider::Codex, reason)
        }
        None => return Ok(Vec::new()),
    };
    Ok(vec![entry])
}

fn entry(value: &Value) -> Result<Candidate, SkipReason> {
    let bad = |problem: String| SkipReason::BadEntry { problem };
    let fields = Fields::of(value, KEY).map_err(bad)?;
    let refresh = fields.string("refresh_token").map_err(bad)?.ok_or(SkipReason::NoRefreshToken)?;
    let access = fields.string("access_token").map_err(bad)?;
    let id_token = fields.string("id_token").map_err(bad)?;
    let credentials = Credentials {
        refresh_token: Secret::new(refresh),
        expires_at: access.as_deref().and_then(mac_adapters::jwt::expiry),
        access_token: access.map(Secret::new),
    };
    let mut account = NewAccount::from_credentials(credentials);
    account.account_id = fields.string("account_id").map_err(bad)?;
    fill_codex_identity(&mut account, id_token.as_deref());
    Ok(Candidate::new(account))
}
