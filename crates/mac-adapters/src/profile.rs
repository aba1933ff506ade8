//! Who an account is and which plan it has, as the seed read them: Anthropic's profile body, and
//! Codex's access-token claims (Codex has no profile endpoint).
//!
//! Errors name the field and the problem, never a value from the body.

use crate::http::MAX_RESPONSE_BYTES;
use mac_storage::Secret;
use serde_json::{Map, Value};
use snafu::Snafu;

use crate::jwt;

/// An account's identity and plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// The login email, if known.
    pub email: Option<String>,
    /// The plan tier: `max` / `pro` / `free` (Anthropic); the lower-cased plan claim, `free`
    /// when missing (Codex).
    pub plan_tier: String,
    /// Anthropic: the server's account uuid (`account.uuid`), if sent.
    pub account_uuid: Option<String>,
    /// Codex: the ChatGPT account id in the access token, if any.
    pub account_id: Option<String>,
}

/// Why a profile body could not be read. Messages never quote the body.
#[derive(Clone, Debug, PartialEq, Eq, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum ProfileError {
    /// The body is larger than 1 MiB.
    #[snafu(display(
        "the anthropic profile response is {size} bytes, more than the 1 MiB accepted"
    ))]
    TooLarge {
        /// The body's size.
        size: usize,
    },
    /// The body is not JSON.
    #[snafu(display(
        "the anthropic profile response is not JSON (error at line {line} column {column})"
    ))]
    NotJson {
        /// Line of the first error.
        line: usize,
        /// Column of the first error.
        column: usize,
    },
    /// A field is missing or has the wrong type.
    #[snafu(display("the anthropic profile response's `{field}` {problem}"))]
    Shape {
        /// Where, e.g. `account.has_claude_max` (`.` for the whole body).
        field: &'static str,
        /// What is wrong, e.g. `is not a boolean`.
        problem: &'static str,
    },
}

/// Reads Anthropic's `/api/oauth/profile` body: `{"account": {"email", "has_claude_pro",
/// "has_claude_max", "uuid"}}`, each optional (`null` counts as absent; the flags default to
/// `false`). The plan is `max` if `has_claude_max`, else `pro` if `has_claude_pro`, else
/// `free`. Other keys are ignored.
pub fn parse_anthropic_profile(body: &[u8]) -> Result<Profile, ProfileError> {
    if body.len() > MAX_RESPONSE_BYTES {
        return TooLargeSnafu { size: body.len() }.fail();
    }
    let top = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(top)) => top,
        Ok(_) => return ShapeSnafu { field: ".", problem: "is not a JSON object" }.fail(),
        Err(err) => return NotJsonSnafu { line: err.line(), column: err.column() }.fail(),
    };
    let account = match top.get("account") {
        Some(Value::Object(account)) => account,
        None | Some(Value::Null) => {
            return ShapeSnafu { field: "account", problem: "is missing" }.fail();
        }
        Some(_) => return ShapeSnafu { field: "account", problem: "is not an object" }.fail(),
    };
    let max = flag(account, "has_claude_max", "account.has_claude_max")?;
    let pro = flag(account, "has_claude_pro", "account.has_claude_pro")?;
    let plan_tier = if max {
        "max"
    } else if pro {
        "pro"
    } else {
        "free"
    };
    Ok(Profile {
        email: text(account, "email", "account.email")?,
        plan_tier: plan_tier.to_owned(),
        account_uuid: text(account, "uuid", "account.uuid")?,
        account_id: None,
    })
}

/// Codex's profile, read from the access token's claims without a request: the email
/// (profile claim, else `email`), the plan (auth claim's `chatgpt_plan_type`, normalized by
/// [`jwt::derive_plan_tier`]) and the account id. A token that is not a JWT gives plan `free`
/// and nothing else, as in the seed.
pub fn codex_profile(access_token: &Secret) -> Profile {
    let Some(claims) = jwt::decode_payload(access_token.expose()) else {
        return Profile { plan_tier: jwt::derive_plan_tier(None), ..Profile::default() };
    };
    Profile {
        email: jwt::email_from_claims(&claims),
        plan_tier: jwt::derive_plan_tier(jwt::plan_from_claims(&claims).as_deref()),
        account_uuid: None,
        account_id: jwt::account_id_from_claims(&claims),
    }
}

fn flag(
    account: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<bool, ProfileError> {
    match account.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => ShapeSnafu { field, problem: "is not a boolean" }.fail(),
    }
}

fn text(
    account: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<String>, ProfileError> {
    match account.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone()).filter(|v| !v.is_empty())),
        Some(_) => ShapeSnafu { field, problem: "is not a string" }.fail(),
    }
}
