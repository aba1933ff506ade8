//! Header values to numbers and deadlines, with the guards every signal shares: ASCII only,
//! short, plain decimals (no sign, exponent, `NaN` or `inf`), and deadlines kept only inside
//! the horizon `(now, now + MAX_HORIZON]`.

use std::time::Duration;

use mac_storage::EpochMs;

use mac_storage::{epoch_from_number, parse_rfc3339};

/// The furthest ahead any deadline read from a response may lie: 31 days. A longer one is not
/// believed (no subscription window is longer than 7 days) and is dropped as garbage.
pub const MAX_HORIZON: Duration = Duration::from_secs(31 * 24 * 3600);

/// The longest header value looked at; anything longer is garbage.
const MAX_VALUE_LEN: usize = 128;

/// The text of a header value: trimmed of spaces and tabs, printable ASCII only, at most
/// [`MAX_VALUE_LEN`] bytes, not empty.
pub(crate) fn ascii_text(raw: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(raw).ok()?.trim_matches([' ', '\t']);
    let plain = text.bytes().all(|b| (0x20..0x7f).contains(&b));
    (plain && !text.is_empty() && text.len() <= MAX_VALUE_LEN).then_some(text)
}

/// A non-negative decimal: digits, optionally a point and more digits (`7`, `1.5`).
pub(crate) fn decimal(text: &str) -> Option<f64> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return None;
    }
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// A non-negative integer that fits a `u32`.
pub(crate) fn whole_number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `deadline` if it lies inside the horizon: after `now`, at most [`MAX_HORIZON`] later.
pub(crate) fn within_horizon(deadline: EpochMs, now: EpochMs) -> Option<EpochMs> {
    (deadline > now && deadline <= now.saturating_add(MAX_HORIZON)).then_some(deadline)
}

/// `now` plus a delay of `millis` milliseconds (fractions rounded up, so `0.2` still waits),
/// if the result lies inside the horizon.
pub(crate) fn after_millis(millis: f64, now: EpochMs) -> Option<EpochMs> {
    #[allow(clippy::cast_precision_loss)] // the horizon in ms is far below 2^52
    let horizon_ms = MAX_HORIZON.as_millis() as f64;
    if !(millis.is_finite() && millis > 0.0 && millis <= horizon_ms) {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)] // range-checked just above
    let millis = millis.ceil() as i64;
    within_horizon(EpochMs::from_millis(now.as_millis().saturating_add(millis)), now)
}

/// `now` plus `seconds` (fractional allowed), inside the horizon.
pub(crate) fn after_seconds(seconds: f64, now: EpochMs) -> Option<EpochMs> {
    after_millis(seconds * 1000.0, now)
}

/// An absolute time given as epoch seconds or milliseconds (see
/// [`mac_storage::epoch_from_number`]), kept only inside the horizon.
pub(crate) fn epoch_number(value: f64, now: EpochMs) -> Option<EpochMs> {
    within_horizon(epoch_from_number(value)?, now)
}

/// A reset time as a header states it: epoch seconds (or milliseconds, see
/// [`epoch_number`]) or an RFC 3339 timestamp. Kept only inside the horizon.
pub(crate) fn reset_time(text: &str, now: EpochMs) -> Option<EpochMs> {
    match decimal(text) {
        Some(value) => epoch_number(value, now),
        None => parse_rfc3339(text).and_then(|at| within_horizon(at, now)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_plain() {
        assert_eq!(decimal("7"), Some(7.0));
        assert_eq!(decimal("1.5"), Some(1.5));
        for bad in ["", "-1", "+1", "1e3", "NaN", "inf", ".5", "5.", "1.2.3", " 1", "0x10"] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ascii_text_trims_and_rejects() {
        assert_eq!(ascii_text(b"  5\t"), Some("5"));
        assert_eq!(ascii_text(b""), None);
        assert_eq!(ascii_text(b"   "), None);
        assert_eq!(ascii_text("5\u{e9}".as_bytes()), None);
        assert_eq!(ascii_text(b"\xff\xfe"), None);
        assert_eq!(ascii_text(b"a\nb"), None);
        assert_eq!(ascii_text(&[b'1'; 200]), None);
    }

    #[test]
    fn epoch_rule_tells_seconds_from_milliseconds() {
        let now = EpochMs::from_millis(1_773_200_000_000);
        assert_eq!(
            epoch_number(1_773_200_060.0, now),
            Some(EpochMs::from_millis(1_773_200_060_000))
        );
        assert_eq!(
            epoch_number(1_773_200_060_000.0, now),
            Some(EpochMs::from_millis(1_773_200_060_000))
        );
        assert_eq!(epoch_number(1_773_199_000.0, now), None, "past");
        assert_eq!(epoch_number(1e300, now), None, "huge");
    }
}
