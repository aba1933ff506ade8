//! One response, read for every rate-limit signal it carries (D9): [`observe`] turns a status,
//! the headers and an optional body into an [`Observation`]. Pure: no I/O, no clock (the
//! caller passes `now`), no panic on any input.
//!
//! # Rules every signal follows
//!
//! - Header names match regardless of case. Values must be printable ASCII of at most 128
//!   bytes; anything else (non-UTF-8, non-ASCII, control characters) is ignored.
//! - Numbers are plain decimals (`7`, `1.5`): a sign, an exponent, `NaN`, `inf` or trailing
//!   text make the value garbage, and garbage is absent, never zero.
//! - Every deadline lies in `(now, now + 31 days]` ([`MAX_HORIZON`]): one in the past or at
//!   `now` (`retry-after: 0`) says nothing about when to come back, and one beyond the horizon
//!   is not believed; both are absent.
//! - **Repeated headers: the most restrictive valid value wins.** Among several values of one
//!   name, invalid ones are ignored; of the rest the latest deadline, the highest percentage
//!   or window length, and the most severe status (`rejected` > `allowed_warning` > `allowed`)
//!   win; for the representative claim a billing claim wins over any other, else the first.
//!   A folded value (`5, 10`) is one garbage value.

use mac_storage::EpochMs;
use serde_json::Value;

use crate::date::parse_http_date;
use crate::value::{
    after_millis, after_seconds, ascii_text, decimal, epoch_number, reset_time, whole_number,
    within_horizon,
};

pub use crate::value::MAX_HORIZON;

/// The largest body looked at; a larger one is treated as absent (error bodies are small).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The longest representative claim accepted.
const MAX_CLAIM_LEN: usize = 64;

/// Everything a response said about rate limits. Every field is optional: absent means the
/// response did not carry the signal, or carried it in a form that could not be trusted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observation {
    /// The HTTP status.
    pub status: u16,
    /// When the response was observed (the `now` passed to [`observe`]).
    pub observed_at: EpochMs,
    /// `retry-after-ms`: milliseconds, fractions allowed, as a deadline.
    pub retry_after_ms: Option<EpochMs>,
    /// `retry-after`: seconds (fractions allowed) or an HTTP-date, as a deadline.
    pub retry_after: Option<EpochMs>,
    /// Anthropic's `anthropic-ratelimit-unified-*` headers.
    pub unified: Unified,
    /// Codex's `x-codex-primary-*` / `x-codex-secondary-*` headers.
    pub codex: Codex,
    /// A recognised JSON error body.
    pub error: Option<ErrorBody>,
}

/// Anthropic's subscription ("unified") rate-limit headers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Unified {
    /// `-unified-status`.
    pub status: Option<UnifiedStatus>,
    /// `-unified-reset`: when the limit named by the representative claim resets.
    pub reset: Option<EpochMs>,
    /// `-unified-5h-*`.
    pub five_hour: UnifiedWindow,
    /// `-unified-7d-*`.
    pub seven_day: UnifiedWindow,
    /// `-unified-representative-claim`, lowercased: the limit that decided the status
    /// (`five_hour`, `seven_day`, `seven_day_opus`, `api`, `overage`, …).
    pub representative_claim: Option<String>,
    /// `-unified-overage-status`.
    pub overage_status: Option<UnifiedStatus>,
    /// `-unified-overage-reset`.
    pub overage_reset: Option<EpochMs>,
    /// `-unified-fallback-percentage`, as the fraction the header sends (`0.5`), at most 1.
    pub fallback_fraction: Option<f64>,
}

/// One of Anthropic's unified windows (`5h`, `7d`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UnifiedWindow {
    /// `-status`.
    pub status: Option<UnifiedStatus>,
    /// `-reset`: epoch seconds as sent (see the crate docs for milliseconds and RFC 3339).
    pub reset: Option<EpochMs>,
    /// `-utilization`, in percent. The header sends a fraction (`0.42` = 42 %); values above
    /// 10 (1000 %) are garbage.
    pub utilization: Option<f64>,
}

/// The value of a unified status header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnifiedStatus {
    /// `allowed`.
    Allowed,
    /// `allowed_warning`: close to the limit.
    AllowedWarning,
    /// `rejected`: over the limit.
    Rejected,
}

/// Codex's two usage windows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Codex {
    /// `x-codex-primary-*` (the short window, 5 h on paid plans).
    pub primary: CodexWindow,
    /// `x-codex-secondary-*` (the long window, 7 days).
    pub secondary: CodexWindow,
}

/// One Codex window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CodexWindow {
    /// `-used-percent`, 0 to 1000.
    pub used_percent: Option<f64>,
    /// `-window-minutes`.
    pub window_minutes: Option<u32>,
    /// `-reset-at`: epoch seconds (or milliseconds, or RFC 3339), as a deadline.
    pub reset_at: Option<EpochMs>,
    /// `-reset-after-seconds`, as a deadline.
    pub reset_after: Option<EpochMs>,
}

impl CodexWindow {
    /// When the window resets: the absolute `reset-at` if given, else `reset-after-seconds`.
    pub fn reset(&self) -> Option<EpochMs> {
        self.reset_at.or(self.reset_after)
    }

    /// Whether the window is a long (multi-day) one: by `window-minutes` when given (more than
    /// a day), else `default` (its position: secondary is the long one).
    pub fn is_long(&self, default: bool) -> bool {
        self.window_minutes.map_or(default, |minutes| minutes > 24 * 60)
    }
}

/// A recognised JSON error body: `{"error": {"type": …}}` (Anthropic also wraps it in
/// `{"type": "error", …}`; OpenAI-style bodies may say `code` instead of `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorBody {
    /// What the error says.
    pub kind: ErrorKind,
    /// Codex's `resets_at` (epoch seconds), else `now + resets_in_seconds`.
    pub resets_at: Option<EpochMs>,
}

/// The error types that matter for rate limits; other types make the body unrecognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Anthropic's `overloaded_error`: the provider is overloaded.
    Overloaded,
    /// Anthropic's `rate_limit_error` (or OpenAI's `rate_limit_exceeded`).
    RateLimit,
    /// Codex's `usage_limit_reached`: a usage window is exhausted.
    UsageLimitReached,
}

impl Observation {
    /// The retry-after deadline: `retry-after-ms` if present (more precise), else
    /// `retry-after`.
    pub fn retry_after(&self) -> Option<EpochMs> {
        self.retry_after_ms.or(self.retry_after)
    }

    /// The representative claim, if it is a non-subscription billing claim (SEED L13).
    pub fn billing_claim(&self) -> Option<&str> {
        self.unified.representative_claim.as_deref().filter(|claim| is_billing_claim(claim))
    }

    /// Every deadline this observation holds (for checks and logs).
    pub fn deadlines(&self) -> Vec<EpochMs> {
        let unified = &self.unified;
        let codex = [&self.codex.primary, &self.codex.secondary];
        [
            self.retry_after_ms,
            self.retry_after,
            unified.reset,
            unified.five_hour.reset,
            unified.seven_day.reset,
            unified.overage_reset,
            self.error.and_then(|error| error.resets_at),
        ]
        .into_iter()
        .chain(codex.iter().flat_map(|window| [window.reset_at, window.reset_after]))
        .flatten()
        .collect()
    }
}

/// Whether a representative claim means "this request would be billed outside the
/// subscription" (SEED L13): `api`, `api_*`, `overage`, `overage_*`, anything containing
/// `credit`, or starting with `sdk`. `unknown` is not one. Compared ignoring ASCII case.
pub fn is_billing_claim(claim: &str) -> bool {
    let claim = claim.to_ascii_lowercase();
    claim == "api"
        || claim.starts_with("api_")
        || claim == "overage"
        || claim.starts_with("overage_")
        || claim.contains("credit")
        || claim.starts_with("sdk")
}

/// Reads every rate-limit signal of a response (see the module docs for the rules).
///
/// `headers` yields `(name, value)` pairs in any case and any order, so any HTTP crate can feed
/// it (`map.iter().map(|(n, v)| (n.as_str(), v.as_bytes()))`). `body` is the response body if
/// the caller has it (a 429/529 error body is small; pass `None` for a stream).
pub fn observe<'a, I>(status: u16, headers: I, body: Option<&[u8]>, now: EpochMs) -> Observation
where
    I: IntoIterator<Item = (&'a str, &'a [u8])>,
{
    let mut observation = Observation { status, observed_at: now, ..Observation::default() };
    for (name, raw) in headers {
        let Some(text) = ascii_text(raw) else { continue };
        read_header(&mut observation, name, text, now);
    }
    observation.error = body.and_then(|body| error_body(body, now));
    observation
}

fn read_header(observation: &mut Observation, name: &str, text: &str, now: EpochMs) {
    if name.eq_ignore_ascii_case("retry-after-ms") {
        latest(&mut observation.retry_after_ms, decimal(text).and_then(|ms| after_millis(ms, now)));
    } else if name.eq_ignore_ascii_case("retry-after") {
        let deadline = match decimal(text) {
            Some(seconds) => after_seconds(seconds, now),
            None => parse_http_date(text, now).and_then(|at| within_horizon(at, now)),
        };
        latest(&mut observation.retry_after, deadline);
    } else if let Some(key) = strip_prefix_ignore_case(name, "anthropic-ratelimit-unified-") {
        read_unified(&mut observation.unified, key, text, now);
    } else if let Some(key) = strip_prefix_ignore_case(name, "x-codex-primary-") {
        read_codex(&mut observation.codex.primary, key, text, now);
    } else if let Some(key) = strip_prefix_ignore_case(name, "x-codex-secondary-") {
        read_codex(&mut observation.codex.secondary, key, text, now);
    }
}

fn read_unified(unified: &mut Unified, key: &str, text: &str, now: EpochMs) {
    let key = key.to_ascii_lowercase();
    match key.as_str() {
        "status" => most_severe(&mut unified.status, status(text)),
        "reset" => latest(&mut unified.reset, reset_time(text, now)),
        "representative-claim" => claim(&mut unified.representative_claim, text),
        "overage-status" => most_severe(&mut unified.overage_status, status(text)),
        "overage-reset" => latest(&mut unified.overage_reset, reset_time(text, now)),
        "fallback-percentage" => {
            highest(&mut unified.fallback_fraction, decimal(text).filter(|f| *f <= 1.0));
        }
        _ => {
            let window = match key.split_once('-') {
                Some(("5h", field)) => Some((&mut unified.five_hour, field)),
                Some(("7d", field)) => Some((&mut unified.seven_day, field)),
                _ => None,
            };
            if let Some((window, field)) = window {
                read_unified_window(window, field, text, now);
            }
        }
    }
}

fn read_unified_window(window: &mut UnifiedWindow, field: &str, text: &str, now: EpochMs) {
    match field {
        "status" => most_severe(&mut window.status, status(text)),
        "reset" => latest(&mut window.reset, reset_time(text, now)),
        "utilization" => {
            let percent = decimal(text).filter(|fraction| *fraction <= 10.0).map(|f| f * 100.0);
            highest(&mut window.utilization, percent);
        }
        _ => {}
    }
}

fn read_codex(window: &mut CodexWindow, key: &str, text: &str, now: EpochMs) {
    match key.to_ascii_lowercase().as_str() {
        "used-percent" => {
            highest(&mut window.used_percent, decimal(text).filter(|p| *p <= 1000.0));
        }
        "window-minutes" => {
            let minutes = whole_number(text).filter(|m| (1..=10 * 366 * 24 * 60).contains(m));
            if let Some(minutes) = minutes {
                window.window_minutes =
                    Some(window.window_minutes.map_or(minutes, |m| m.max(minutes)));
            }
        }
        "reset-at" => latest(&mut window.reset_at, reset_time(text, now)),
        "reset-after-seconds" => {
            latest(&mut window.reset_after, decimal(text).and_then(|s| after_seconds(s, now)));
        }
        _ => {}
    }
}

fn status(text: &str) -> Option<UnifiedStatus> {
    if text.eq_ignore_ascii_case("allowed") {
        Some(UnifiedStatus::Allowed)
    } else if text.eq_ignore_ascii_case("allowed_warning") {
        Some(UnifiedStatus::AllowedWarning)
    } else if text.eq_ignore_ascii_case("rejected") {
        Some(UnifiedStatus::Rejected)
    } else {
        None
    }
}

/// Keeps a claim made of letters, digits, `_`, `-` and `.`; a billing claim replaces any
/// other, otherwise the first stays.
fn claim(slot: &mut Option<String>, text: &str) {
    let valid = text.len() <= MAX_CLAIM_LEN
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !valid {
        return;
    }
    let replace = match slot.as_deref() {
        None => true,
        Some(current) => !is_billing_claim(current) && is_billing_claim(text),
    };
    if replace {
        *slot = Some(text.to_ascii_lowercase());
    }
}

fn latest(slot: &mut Option<EpochMs>, value: Option<EpochMs>) {
    if let Some(value) = value {
        *slot = Some(slot.map_or(value, |current| current.max(value)));
    }
}

fn highest(slot: &mut Option<f64>, value: Option<f64>) {
    if let Some(value) = value {
        *slot = Some(slot.map_or(value, |current| current.max(value)));
    }
}

fn most_severe(slot: &mut Option<UnifiedStatus>, value: Option<UnifiedStatus>) {
    if let Some(value) = value {
        *slot = Some(slot.map_or(value, |current| current.max(value)));
    }
}

fn strip_prefix_ignore_case<'n>(name: &'n str, prefix: &str) -> Option<&'n str> {
    let head = name.as_bytes().get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix.as_bytes()) { name.get(prefix.len()..) } else { None }
}

/// The rate-limit meaning of a JSON error body, if it has one.
fn error_body(body: &[u8], now: EpochMs) -> Option<ErrorBody> {
    if body.len() > MAX_BODY_BYTES {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let name = error
        .get("type")
        .and_then(Value::as_str)
        .filter(|name| error_kind(name).is_some())
        .or_else(|| error.get("code").and_then(Value::as_str))?;
    let kind = error_kind(name)?;
    let resets_at = match error.get("resets_at") {
        Some(Value::Number(n)) => n.as_f64().and_then(|v| epoch_number(v, now)),
        Some(Value::String(s)) => reset_time(s, now),
        _ => None,
    };
    let resets_in = error
        .get("resets_in_seconds")
        .and_then(Value::as_f64)
        .and_then(|seconds| after_seconds(seconds, now));
    Some(ErrorBody { kind, resets_at: resets_at.or(resets_in) })
}

fn error_kind(name: &str) -> Option<ErrorKind> {
    match name {
        "overloaded_error" => Some(ErrorKind::Overloaded),
        "rate_limit_error" | "rate_limit_exceeded" => Some(ErrorKind::RateLimit),
        "usage_limit_reached" => Some(ErrorKind::UsageLimitReached),
        _ => None,
    }
}
