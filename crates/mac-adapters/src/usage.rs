//! Usage bodies into the accounts file's [`UsageLimits`]: Anthropic's
//! `/api/oauth/usage` has that shape already; Codex's `wham/usage` is mapped into it.
//!
//! These parsers lived in `mac-ratelimit` first. They moved here because a usage body is a
//! provider HTTP fact like the endpoint it comes from: the adapters fetch it, and layer-2
//! crates cannot depend on each other. `mac-ratelimit` works on the parsed [`UsageLimits`].
//!
//! Errors name the field and the problem, never a value from the body.

use crate::http::MAX_RESPONSE_BYTES;
use std::time::Duration;

use mac_storage::{EpochMs, UsageLimits, UsageWindow, epoch_from_number, format_iso};
use serde_json::{Map, Value};
use snafu::Snafu;

/// The furthest ahead a reset time may lie: 31 days, as `mac_ratelimit::MAX_HORIZON` (no
/// subscription window is longer than 7 days; a later time is garbage and dropped).
const MAX_HORIZON: Duration = Duration::from_secs(31 * 24 * 3600);

/// Why a usage body could not be read. Messages never quote the body.
#[derive(Clone, Debug, PartialEq, Eq, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum UsageError {
    /// The body is larger than 1 MiB.
    #[snafu(display(
        "the {provider} usage response is {size} bytes, more than the 1 MiB accepted"
    ))]
    TooLarge {
        /// `anthropic` or `codex`.
        provider: &'static str,
        /// The body's size.
        size: usize,
    },
    /// The body is not JSON.
    #[snafu(display(
        "the {provider} usage response is not JSON (error at line {line} column {column})"
    ))]
    NotJson {
        /// `anthropic` or `codex`.
        provider: &'static str,
        /// Line of the first error.
        line: usize,
        /// Column of the first error.
        column: usize,
    },
    /// A field has the wrong type or an impossible value.
    #[snafu(display("the {provider} usage response's `{field}` {problem}"))]
    Shape {
        /// `anthropic` or `codex`.
        provider: &'static str,
        /// Where, e.g. `five_hour.utilization` (`.` for the whole body).
        field: String,
        /// What is wrong, e.g. `is not a number`.
        problem: &'static str,
    },
}

/// A Codex usage snapshot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CodexUsage {
    /// The windows: primary as `five_hour`, secondary as `seven_day`, no `seven_day_sonnet`.
    pub limits: UsageLimits,
    /// `plan_type` (`plus`, `pro`, …), if the body names one.
    pub plan_type: Option<String>,
}

/// Reads Anthropic's usage body: `five_hour`, `seven_day`, `seven_day_sonnet`, each `null` or
/// `{utilization, resets_at}`. Unknown keys are kept (top level and per window). A window
/// whose `utilization` is `null` counts as absent; a window that is not an object, a
/// utilization that is not a non-negative number, or a `resets_at` that is neither a string
/// nor `null` is an error.
pub fn parse_anthropic_usage(body: &[u8]) -> Result<UsageLimits, UsageError> {
    const PROVIDER: &str = "anthropic";
    let mut top = parse_object(PROVIDER, body)?;
    let mut window = |key: &str| -> Result<Option<UsageWindow>, UsageError> {
        match top.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(fields)) => anthropic_window(fields, key),
            Some(_) => shape(PROVIDER, key, "is neither an object nor null"),
        }
    };
    let five_hour = window("five_hour")?;
    let seven_day = window("seven_day")?;
    let seven_day_sonnet = window("seven_day_sonnet")?;
    Ok(UsageLimits { five_hour, seven_day, seven_day_sonnet, extra: top.into() })
}

fn anthropic_window(
    mut fields: Map<String, Value>,
    key: &str,
) -> Result<Option<UsageWindow>, UsageError> {
    const PROVIDER: &str = "anthropic";
    let utilization = match fields.remove("utilization") {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => percent(PROVIDER, &value, &format!("{key}.utilization"))?,
    };
    let resets_at = match fields.remove("resets_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text),
        Some(_) => return shape(PROVIDER, &format!("{key}.resets_at"), "is not a string"),
    };
    Ok(Some(UsageWindow { utilization, resets_at, extra: fields.into() }))
}

/// Reads Codex's usage body (`wham/usage`) observed at `now`: `plan_type`, and
/// `rate_limit.primary_window` / `secondary_window`, each `{used_percent,
/// reset_after_seconds}` and optionally `reset_at` (epoch seconds) and
/// `limit_window_seconds`. Primary becomes `five_hour`, secondary `seven_day`, each with
/// `utilization = used_percent` and `resets_at = ISO(now + reset_after_seconds)` (else
/// `ISO(reset_at)`; `null` when neither is usable — negative or beyond 31 days);
/// `seven_day_sonnet` is always `null`. Other window keys are kept in the window's `extra`.
pub fn parse_codex_usage(body: &[u8], now: EpochMs) -> Result<CodexUsage, UsageError> {
    const PROVIDER: &str = "codex";
    let mut top = parse_object(PROVIDER, body)?;
    let plan_type = match top.remove("plan_type") {
        None | Some(Value::Null) => None,
        Some(Value::String(plan)) => Some(plan),
        Some(_) => return shape(PROVIDER, "plan_type", "is not a string"),
    };
    let mut rate_limit = match top.remove("rate_limit") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(fields)) => fields,
        Some(_) => return shape(PROVIDER, "rate_limit", "is neither an object nor null"),
    };
    let mut window = |key: &str| -> Result<Option<UsageWindow>, UsageError> {
        match rate_limit.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(fields)) => codex_window(fields, key, now),
            Some(_) => {
                shape(PROVIDER, &format!("rate_limit.{key}"), "is neither an object nor null")
            }
        }
    };
    let five_hour = window("primary_window")?;
    let seven_day = window("secondary_window")?;
    let limits =
        UsageLimits { five_hour, seven_day, seven_day_sonnet: None, extra: Map::new().into() };
    Ok(CodexUsage { limits, plan_type })
}

fn codex_window(
    mut fields: Map<String, Value>,
    key: &str,
    now: EpochMs,
) -> Result<Option<UsageWindow>, UsageError> {
    const PROVIDER: &str = "codex";
    let field = |name: &str| format!("rate_limit.{key}.{name}");
    let utilization = match fields.remove("used_percent") {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => percent(PROVIDER, &value, &field("used_percent"))?,
    };
    let after = optional_number(
        PROVIDER,
        fields.remove("reset_after_seconds"),
        &field("reset_after_seconds"),
    )?;
    let at = optional_number(PROVIDER, fields.remove("reset_at"), &field("reset_at"))?;
    let reset = after
        .and_then(|seconds| seconds_after(seconds, now))
        .or_else(|| at.and_then(|epoch| epoch_number(epoch, now)));
    Ok(Some(UsageWindow { utilization, resets_at: reset.map(format_iso), extra: fields.into() }))
}

/// `now + seconds` for `0 <= seconds <= 31 days` (0 is "resets now").
fn seconds_after(seconds: f64, now: EpochMs) -> Option<EpochMs> {
    #[allow(clippy::cast_precision_loss)] // 31 days in seconds is exact
    let horizon = MAX_HORIZON.as_secs() as f64;
    if !(0.0..=horizon).contains(&seconds) {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)] // range-checked just above
    let millis = (seconds * 1000.0).round() as i64;
    Some(EpochMs::from_millis(now.as_millis().saturating_add(millis)))
}

/// An absolute reset time given as epoch seconds or milliseconds, kept only inside
/// `(now, now + MAX_HORIZON]`.
fn epoch_number(value: f64, now: EpochMs) -> Option<EpochMs> {
    epoch_from_number(value).filter(|at| *at > now && *at <= now.saturating_add(MAX_HORIZON))
}

fn parse_object(provider: &'static str, body: &[u8]) -> Result<Map<String, Value>, UsageError> {
    if body.len() > MAX_RESPONSE_BYTES {
        return TooLargeSnafu { provider, size: body.len() }.fail();
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => shape(provider, ".", "is not a JSON object"),
        Err(err) => NotJsonSnafu { provider, line: err.line(), column: err.column() }.fail(),
    }
}

fn percent(provider: &'static str, value: &Value, field: &str) -> Result<f64, UsageError> {
    match value.as_f64() {
        Some(number) if number >= 0.0 => Ok(number),
        Some(_) => shape(provider, field, "is negative"),
        None => shape(provider, field, "is not a number"),
    }
}

fn optional_number(
    provider: &'static str,
    value: Option<Value>,
    field: &str,
) -> Result<Option<f64>, UsageError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_f64() {
            Some(number) => Ok(Some(number)),
            None => shape(provider, field, "is not a number"),
        },
    }
}

fn shape<T>(provider: &'static str, field: &str, problem: &'static str) -> Result<T, UsageError> {
    ShapeSnafu { provider, field, problem }.fail()
}
