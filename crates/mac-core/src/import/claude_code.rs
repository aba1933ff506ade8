//! Claude Code's `.credentials.json` (in `CLAUDE_CONFIG_DIR`, else `~/.claude`): one Claude.ai
//! login under `claudeAiOauth`. A file without that key (only MCP logins, say) holds no account.
//!
//! ```json
//! { "claudeAiOauth": { "accessToken": "…", "refreshToken": "…", "expiresAt": 1773200000000,
//!                      "scopes": ["user:inference"], "subscriptionType": "max" } }
//! ```

use std::path::Path;

use mac_storage::{Credentials, NewAccount, Provider, Secret};
use serde_json::Value;

use crate::import::error::{ShapeSnafu, SourceError};
use crate::import::plan::{Candidate, ScannedEntry};
use crate::import::read::Fields;
use crate::import::report::SkipReason;

const KEY: &str = "claudeAiOauth";

pub(crate) fn parse(path: &Path, document: &Value) -> Result<Vec<ScannedEntry>, SourceError> {
    let top = Fields::of(document, "").map_err(|problem| ShapeSnafu { path, problem }.build())?;
    let Some(value) = top.get(KEY) else {
        return Ok(Vec::new());
    };
    Ok(vec![match entry(value) {
        Ok(candidate) => ScannedEntry::account(KEY, Provider::Anthropic, candidate),
        Err(reason) => ScannedEntry::unusable(KEY, Provider::Anthropic, reason),
    }])
}

fn entry(value: &Value) -> Result<Candidate, SkipReason> {
    let bad = |problem: String| SkipReason::BadEntry { problem };
    let fields = Fields::of(value, KEY).map_err(bad)?;
    let refresh = fields.string("refreshToken").map_err(bad)?.ok_or(SkipReason::NoRefreshToken)?;
    let credentials = Credentials {
        refresh_token: Secret::new(refresh),
        access_token: fields.string("accessToken").map_err(bad)?.map(Secret::new),
        expires_at: fields.epoch_ms("expiresAt").map_err(bad)?,
    };
    let mut account = NewAccount::from_credentials(credentials);
    account.plan_tier = fields
        .string("subscriptionType")
        .map_err(bad)?
        .map(|plan| plan.trim().to_lowercase())
        .filter(|plan| !plan.is_empty());
    Ok(Candidate::new(account))
}
