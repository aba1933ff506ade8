//! Human durations: the countdown format of `mac status` (`1d 1h 1m`, `5m 6s`, `7s`) and the
//! "last used" day hint of the menu (`today`, `yesterday`, `3d ago`, `2w ago`).

use std::time::Duration;

/// A wait or countdown: whole seconds rounded up; under a minute `<s>s`; else the non-zero
/// parts of `<d>d <h>h <m>m <s>s`, seconds left out once there are days; nothing left is `0s`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(mac_ui::wait_time(Duration::from_millis(1)), "1s");
/// assert_eq!(mac_ui::wait_time(Duration::from_secs(61)), "1m 1s");
/// assert_eq!(mac_ui::wait_time(Duration::from_secs(3_600)), "1h");
/// assert_eq!(mac_ui::wait_time(Duration::from_secs(90_061)), "1d 1h 1m");
/// ```
pub fn wait_time(duration: Duration) -> String {
    let secs = duration.as_millis().div_ceil(1_000);
    let secs = u64::try_from(secs).unwrap_or(u64::MAX);
    if secs < 60 {
        return format!("{secs}s");
    }
    let (days, hours, minutes, seconds) =
        (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    let mut parts = Vec::with_capacity(4);
    for (value, unit) in [(days, 'd'), (hours, 'h'), (minutes, 'm')] {
        if value > 0 {
            parts.push(format!("{value}{unit}"));
        }
    }
    if days == 0 && seconds > 0 {
        parts.push(format!("{seconds}s"));
    }
    if parts.is_empty() { "0s".to_owned() } else { parts.join(" ") }
}

/// How long ago, in days: `today` (under a day), `yesterday`, `<d>d ago` (under a week),
/// `<w>w ago`.
pub fn relative_day(ago: Duration) -> String {
    let days = ago.as_secs() / 86_400;
    match days {
        0 => "today".to_owned(),
        1 => "yesterday".to_owned(),
        2..=6 => format!("{days}d ago"),
        _ => format!("{}w ago", days / 7),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_times_follow_the_seed_format() {
        let s = |secs| wait_time(Duration::from_secs(secs));
        assert_eq!(wait_time(Duration::ZERO), "0s");
        assert_eq!(wait_time(Duration::from_millis(1)), "1s");
        assert_eq!(wait_time(Duration::from_millis(59_001)), "1m");
        assert_eq!(s(59), "59s");
        assert_eq!(s(60), "1m");
        assert_eq!(s(61), "1m 1s");
        assert_eq!(s(3_600), "1h");
        assert_eq!(s(3_661), "1h 1m 1s");
        assert_eq!(s(86_400), "1d");
        assert_eq!(s(90_061), "1d 1h 1m");
    }

    #[test]
    fn relative_days() {
        let d = |days: u64| relative_day(Duration::from_secs(days * 86_400 + 5));
        assert_eq!(d(0), "today");
        assert_eq!(d(1), "yesterday");
        assert_eq!(d(3), "3d ago");
        assert_eq!(d(15), "2w ago");
    }
}
