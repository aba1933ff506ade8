//! One response, read for every rate-limit signal it carries (D9): [`observe`] turns a status,
//! the headers and an optional body into an [`Observation`]. Pure: no I/O, no clock (the
//! caller passes `now`), no panic on any input. The header rules are on [`observe`]; the
//! readers live in `headers` and `error_body`.

use http::{HeaderMap, StatusCode};
use mac_storage::EpochMs;

use crate::error_body::error_body;
use crate::headers::{Field, read_field};
use crate::value::ascii_text;

pub use crate::value::MAX_HORIZON;

/// 529, the status Anthropic answers when it is overloaded (not in the IANA registry, so `http`
/// has no name for it).
pub const OVERLOADED: StatusCode = match StatusCode::from_u16(529) {
    Ok(status) => status,
    // Never taken: `from_u16` accepts every value from 100 to 999 (evaluated at compile time).
    Err(_) => StatusCode::SERVICE_UNAVAILABLE,
};

/// Everything a response said about rate limits. Every field is optional: absent means the
/// response did not carry the signal, or carried it in a form that could not be trusted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observation {
    /// The HTTP status.
    pub status: StatusCode,
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
    /// Anthropic's `rate_limit_error` (or the OpenAI-style `rate_limit_exceeded`).
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

    /// The representative claim, if it is a non-subscription billing claim.
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
/// subscription" (the seed's list): `api`, `api_*`, `overage`, `overage_*`, anything containing
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

/// Reads every rate-limit signal of a response.
///
/// `headers` is the response's header map as reqwest, hyper and axum hand it over (borrowed:
/// nothing is copied). `body` is the response body if the caller has it (a 429/529 error body is small; pass `None` for a stream; bodies over
/// 64 KiB are ignored).
///
/// The rules every header follows:
///
/// - Names match regardless of case. Values must be printable ASCII of at most 128 bytes;
///   anything else (non-UTF-8, non-ASCII, control characters) is ignored.
/// - Numbers are plain decimals (`7`, `1.5`): a sign, an exponent, `NaN`, `inf` or trailing
///   text make the value garbage, and garbage is absent, never zero.
/// - Every deadline lies in `(now, now + 31 days]` ([`MAX_HORIZON`]): one in the past or at
///   `now` (`retry-after: 0`) says nothing about when to come back, and one beyond the horizon
///   is not believed; both are absent.
/// - Reset headers are epoch seconds; a value of at least 10^11 is milliseconds (10^11 s is
///   the year 5138, 10^11 ms is 1973); an RFC 3339 timestamp is accepted too.
/// - **Repeated headers: the most restrictive valid value wins.** Among several values of one
///   name, invalid ones are ignored; of the rest the latest deadline, the highest percentage
///   or window length, and the most severe status (`rejected` > `allowed_warning` > `allowed`)
///   win; for the representative claim a billing claim wins over any other, else the first.
///   A folded value (`5, 10`) is one garbage value.
///
/// An ignored value of a known header is logged at `debug` level by name (never its value).
pub fn observe(
    status: StatusCode,
    headers: &HeaderMap,
    body: Option<&[u8]>,
    now: EpochMs,
) -> Observation {
    let mut observation = Observation { status, observed_at: now, ..Observation::default() };
    for (name, raw) in headers {
        let Some(field) = Field::of(name.as_str()) else { continue };
        let used = ascii_text(raw.as_bytes())
            .is_some_and(|text| read_field(&mut observation, field, text, now));
        if !used {
            tracing::debug!(header = name.as_str(), "ignored an unusable rate-limit header value");
        }
    }
    observation.error = body.and_then(|body| error_body(body, now));
    observation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overloaded_is_529() {
        assert_eq!(OVERLOADED.as_u16(), 529);
    }
}
