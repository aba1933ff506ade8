//! The rate-limit headers [`crate::observe`] reads: which names are known, and how each value
//! is parsed and merged into an [`Observation`] (the rules are on `observe`).

use mac_storage::EpochMs;

use crate::observation::{
    CodexWindow, Observation, Unified, UnifiedStatus, UnifiedWindow, is_billing_claim,
};
use crate::value::{
    after_millis, after_seconds, decimal, reset_time, whole_number, within_horizon,
};
use mac_storage::parse_http_date;

/// The longest representative claim accepted.
const MAX_CLAIM_LEN: usize = 64;

/// The longest Codex window accepted: ten years, in minutes.
const MAX_WINDOW_MINUTES: u32 = 10 * 366 * 24 * 60;

/// Every header name [`crate::observe`] reads, in lowercase (names match in any case). The
/// parser below is the definition; this list is checked against it (a unit test maps every name
/// to a field and counts that no field is missing), for callers that need the names themselves:
/// a test generating arbitrary headers, a gateway deciding which headers carry limits.
pub const HEADER_NAMES: &[&str] = &[
    "retry-after",
    "retry-after-ms",
    "anthropic-ratelimit-unified-status",
    "anthropic-ratelimit-unified-reset",
    "anthropic-ratelimit-unified-representative-claim",
    "anthropic-ratelimit-unified-overage-status",
    "anthropic-ratelimit-unified-overage-reset",
    "anthropic-ratelimit-unified-fallback-percentage",
    "anthropic-ratelimit-unified-5h-status",
    "anthropic-ratelimit-unified-5h-reset",
    "anthropic-ratelimit-unified-5h-utilization",
    "anthropic-ratelimit-unified-7d-status",
    "anthropic-ratelimit-unified-7d-reset",
    "anthropic-ratelimit-unified-7d-utilization",
    "x-codex-primary-used-percent",
    "x-codex-primary-window-minutes",
    "x-codex-primary-reset-at",
    "x-codex-primary-reset-after-seconds",
    "x-codex-secondary-used-percent",
    "x-codex-secondary-window-minutes",
    "x-codex-secondary-reset-at",
    "x-codex-secondary-reset-after-seconds",
];

/// A header this crate reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    RetryAfterMs,
    RetryAfter,
    UnifiedStatus,
    UnifiedReset,
    RepresentativeClaim,
    OverageStatus,
    OverageReset,
    FallbackPercentage,
    WindowStatus(Span),
    WindowReset(Span),
    WindowUtilization(Span),
    UsedPercent(Slot),
    WindowMinutes(Slot),
    ResetAt(Slot),
    ResetAfterSeconds(Slot),
}

/// One of Anthropic's unified windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Span {
    FiveHour,
    SevenDay,
}

/// One of Codex's windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    Primary,
    Secondary,
}

impl Field {
    /// The field a header name stands for, if this crate reads it (case-insensitive).
    pub(crate) fn of(name: &str) -> Option<Field> {
        if name.len() > 64 {
            return None;
        }
        // A `HeaderName` is lowercase already: copy only a name that is not.
        let lowered;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = name.to_ascii_lowercase();
            lowered.as_str()
        } else {
            name
        };
        if let Some(key) = name.strip_prefix("anthropic-ratelimit-unified-") {
            return Self::unified(key);
        }
        if let Some(key) = name.strip_prefix("x-codex-primary-") {
            return Self::codex(key, Slot::Primary);
        }
        if let Some(key) = name.strip_prefix("x-codex-secondary-") {
            return Self::codex(key, Slot::Secondary);
        }
        match name {
            "retry-after-ms" => Some(Field::RetryAfterMs),
            "retry-after" => Some(Field::RetryAfter),
            _ => None,
        }
    }

    fn unified(key: &str) -> Option<Field> {
        Some(match key {
            "status" => Field::UnifiedStatus,
            "reset" => Field::UnifiedReset,
            "representative-claim" => Field::RepresentativeClaim,
            "overage-status" => Field::OverageStatus,
            "overage-reset" => Field::OverageReset,
            "fallback-percentage" => Field::FallbackPercentage,
            _ => {
                let (span, field) = key.split_once('-')?;
                let span = match span {
                    "5h" => Span::FiveHour,
                    "7d" => Span::SevenDay,
                    _ => return None,
                };
                match field {
                    "status" => Field::WindowStatus(span),
                    "reset" => Field::WindowReset(span),
                    "utilization" => Field::WindowUtilization(span),
                    _ => return None,
                }
            }
        })
    }

    fn codex(key: &str, slot: Slot) -> Option<Field> {
        Some(match key {
            "used-percent" => Field::UsedPercent(slot),
            "window-minutes" => Field::WindowMinutes(slot),
            "reset-at" => Field::ResetAt(slot),
            "reset-after-seconds" => Field::ResetAfterSeconds(slot),
            _ => return None,
        })
    }
}

/// Parses `text` as `field` and merges it into `observation`; `false` when the value was
/// unusable (and ignored).
pub(crate) fn read_field(
    observation: &mut Observation,
    field: Field,
    text: &str,
    now: EpochMs,
) -> bool {
    let unified = &mut observation.unified;
    match field {
        Field::RetryAfterMs => latest(
            &mut observation.retry_after_ms,
            decimal(text).and_then(|ms| after_millis(ms, now)),
        ),
        Field::RetryAfter => {
            let deadline = match decimal(text) {
                Some(seconds) => after_seconds(seconds, now),
                None => parse_http_date(text, now).and_then(|at| within_horizon(at, now)),
            };
            latest(&mut observation.retry_after, deadline)
        }
        Field::UnifiedStatus => most_severe(&mut unified.status, status(text)),
        Field::UnifiedReset => latest(&mut unified.reset, reset_time(text, now)),
        Field::RepresentativeClaim => claim(&mut unified.representative_claim, text),
        Field::OverageStatus => most_severe(&mut unified.overage_status, status(text)),
        Field::OverageReset => latest(&mut unified.overage_reset, reset_time(text, now)),
        Field::FallbackPercentage => {
            highest(&mut unified.fallback_fraction, decimal(text).filter(|f| *f <= 1.0))
        }
        Field::WindowStatus(span) => most_severe(&mut window(unified, span).status, status(text)),
        Field::WindowReset(span) => latest(&mut window(unified, span).reset, reset_time(text, now)),
        Field::WindowUtilization(span) => {
            // A fraction (0.42 = 42 %); above 10 (1000 %) is garbage.
            let percent = decimal(text).filter(|fraction| *fraction <= 10.0).map(|f| f * 100.0);
            highest(&mut window(unified, span).utilization, percent)
        }
        Field::UsedPercent(slot) => highest(
            &mut codex(observation, slot).used_percent,
            decimal(text).filter(|percent| *percent <= 1000.0),
        ),
        Field::WindowMinutes(slot) => {
            let minutes = whole_number(text).filter(|m| (1..=MAX_WINDOW_MINUTES).contains(m));
            let slot = &mut codex(observation, slot).window_minutes;
            match minutes {
                Some(minutes) => {
                    *slot = Some(slot.map_or(minutes, |current| current.max(minutes)));
                    true
                }
                None => false,
            }
        }
        Field::ResetAt(slot) => {
            latest(&mut codex(observation, slot).reset_at, reset_time(text, now))
        }
        Field::ResetAfterSeconds(slot) => latest(
            &mut codex(observation, slot).reset_after,
            decimal(text).and_then(|seconds| after_seconds(seconds, now)),
        ),
    }
}

fn window(unified: &mut Unified, span: Span) -> &mut UnifiedWindow {
    match span {
        Span::FiveHour => &mut unified.five_hour,
        Span::SevenDay => &mut unified.seven_day,
    }
}

fn codex(observation: &mut Observation, slot: Slot) -> &mut CodexWindow {
    match slot {
        Slot::Primary => &mut observation.codex.primary,
        Slot::Secondary => &mut observation.codex.secondary,
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

/// Keeps a claim made of letters, digits, `_`, `-` and `.`, lowercased; a billing claim
/// replaces any other, otherwise the first stays.
fn claim(slot: &mut Option<String>, text: &str) -> bool {
    let valid = text.len() <= MAX_CLAIM_LEN
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !valid {
        return false;
    }
    let replace = match slot.as_deref() {
        None => true,
        Some(current) => !is_billing_claim(current) && is_billing_claim(text),
    };
    if replace {
        *slot = Some(text.to_ascii_lowercase());
    }
    true
}

fn latest(slot: &mut Option<EpochMs>, value: Option<EpochMs>) -> bool {
    merge(slot, value, Ord::max)
}

fn most_severe(slot: &mut Option<UnifiedStatus>, value: Option<UnifiedStatus>) -> bool {
    merge(slot, value, Ord::max)
}

fn highest(slot: &mut Option<f64>, value: Option<f64>) -> bool {
    merge(slot, value, f64::max)
}

/// Merges `value` into `slot` with `pick`; whether there was a value.
fn merge<T: Copy>(slot: &mut Option<T>, value: Option<T>, pick: impl Fn(T, T) -> T) -> bool {
    let Some(value) = value else { return false };
    *slot = Some(slot.map_or(value, |current| pick(current, value)));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_fields() {
        let table = [
            ("Retry-After", Some(Field::RetryAfter)),
            ("retry-after-ms", Some(Field::RetryAfterMs)),
            ("anthropic-ratelimit-unified-5h-reset", Some(Field::WindowReset(Span::FiveHour))),
            (
                "ANTHROPIC-RATELIMIT-UNIFIED-7D-UTILIZATION",
                Some(Field::WindowUtilization(Span::SevenDay)),
            ),
            ("anthropic-ratelimit-unified-7d_oi-status", None),
            ("anthropic-ratelimit-unified-5h", None),
            ("x-codex-secondary-reset-at", Some(Field::ResetAt(Slot::Secondary))),
            ("x-codex-primary-over", None),
            ("content-type", None),
        ];
        for (name, expected) in table {
            assert_eq!(Field::of(name), expected, "{name}");
        }
    }

    #[test]
    fn the_list_of_names_is_the_parser_s() {
        let mut fields = Vec::new();
        for name in HEADER_NAMES {
            let field = Field::of(name);
            assert!(field.is_some(), "the listed name {name} reads no field");
            assert!(!fields.contains(&field), "{name} reads a field another name reads");
            fields.push(field);
        }
        // 8 account-wide fields, 3 per Anthropic window, 4 per Codex window.
        assert_eq!(fields.len(), 8 + 2 * 3 + 2 * 4);
    }
}
