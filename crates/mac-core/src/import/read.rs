//! Shared reading of source files: a read-only, size-limited read, JSON parsing, typed access
//! to fields with messages that name the field and never the value, and the claims of Codex's
//! JWTs.

use std::path::Path;

use mac_adapters::jwt;
use mac_storage::{EpochMs, NewAccount, Secret, read_file};
use serde::Deserialize as _;
use serde_json::{Map, Value};
use snafu::ResultExt as _;

use crate::import::error::{NotJsonSnafu, SourceError, TooLargeSnafu, UnreadableSnafu};

/// The largest credentials file read (OpenCode, Claude Code and Codex files are a few KiB).
pub(crate) const CREDENTIALS_LIMIT: u64 = 1 << 20;

/// The file's bytes, or `None` when it does not exist. Opens the file read-only and takes no
/// lock (D3).
pub(crate) fn read_bytes(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
    let Some(contents) = read_file(path, limit).context(UnreadableSnafu { path })? else {
        return Ok(None);
    };
    let size = contents.stamp.len().max(contents.bytes.len() as u64);
    if size > limit {
        return TooLargeSnafu { path, size, limit }.fail();
    }
    Ok(Some(contents.bytes))
}

/// Parses JSON. Syntax errors of `serde_json` describe the position, never the input.
pub(crate) fn parse_json(path: &Path, bytes: &[u8]) -> Result<Value, SourceError> {
    serde_json::from_slice(bytes).map_err(|err| {
        let text = err.to_string();
        let message = text.rfind(" at line ").map_or(text.as_str(), |end| &text[..end]).to_owned();
        NotJsonSnafu { path, line: err.line(), column: err.column(), message }.build()
    })
}

/// The fields of one JSON object, named in messages as `` `prefix.key` ``.
pub(crate) struct Fields<'a> {
    object: &'a Map<String, Value>,
    prefix: &'a str,
}

impl<'a> Fields<'a> {
    /// The object `value`, or a message saying `prefix` is not one.
    pub(crate) fn of(value: &'a Value, prefix: &'a str) -> Result<Self, String> {
        match value {
            Value::Object(object) => Ok(Self { object, prefix }),
            _ if prefix.is_empty() => Err("the top level is not a JSON object".to_owned()),
            _ => Err(format!("`{prefix}` is not a JSON object")),
        }
    }

    /// The field `key`; `null` counts as absent.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.object.get(key).filter(|value| !value.is_null())
    }

    /// A string field; absent, `null` and `""` are `None`.
    pub(crate) fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone()).filter(|text| !text.is_empty())),
            Some(_) => Err(format!("{} is not a string", self.name(key))),
        }
    }

    /// A time in epoch milliseconds; absent and `null` are `None`.
    pub(crate) fn epoch_ms(&self, key: &str) -> Result<Option<EpochMs>, String> {
        match self.get(key) {
            None => Ok(None),
            // The deserializer's message would quote a string value: use our own.
            Some(value) => EpochMs::deserialize(value).map(Some).map_err(|_| {
                format!("{} is not a time in milliseconds since the epoch", self.name(key))
            }),
        }
    }

    /// How a field is named in messages.
    pub(crate) fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() { format!("`{key}`") } else { format!("`{}.{key}`", self.prefix) }
    }
}

/// Fills what a Codex account's JWTs say and the source did not: the ChatGPT account id (id
/// token first, then access token), email, plan and the access token's expiry.
pub(crate) fn fill_codex_identity(account: &mut NewAccount, id_token: Option<&str>) {
    let access = account.credentials.access_token.as_ref().map(Secret::expose);
    let claims: Vec<Map<String, Value>> =
        [id_token, access].into_iter().flatten().filter_map(jwt::decode_payload).collect();
    if account.account_id.is_none() {
        account.account_id = jwt::chatgpt_account_id(id_token, access);
    }
    if account.email.is_none() {
        account.email = claims.iter().find_map(jwt::email_from_claims);
    }
    if account.plan_tier.is_none() {
        account.plan_tier = claims
            .iter()
            .find_map(jwt::plan_from_claims)
            .map(|plan| jwt::derive_plan_tier(Some(&plan)));
    }
    if account.credentials.expires_at.is_none() {
        account.credentials.expires_at = access.and_then(jwt::expiry);
    }
}

/// A login kind read from a file, shown in a report only if it looks like a kind name (a short
/// word), never something that could be a misplaced token.
pub(crate) fn kind_name(kind: &str) -> String {
    let word = kind.len() <= 24
        && kind.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ' '));
    if word && !kind.is_empty() { kind.to_owned() } else { "unknown".to_owned() }
}
