//! Human durations: `"90s"`, `"5m"`, `"1h30m"`, `"500ms"`, `"2d"`, or a whole number of seconds.

use std::time::Duration;

/// What a duration may look like, for error messages.
pub(crate) const DURATION_FORMS: &str =
    r#"written like "90s", "5m", "1h30m", "500ms", "2d" or as a whole number of seconds"#;

/// The units a duration may use, longest name first so `ms` wins over `m`.
const UNITS: [(&str, u64); 5] =
    [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)];

/// Parses a human duration: one or more `<whole number><unit>` parts (`1h30m`; spaces allowed
/// between parts and before a unit), or a bare whole number of seconds. The error says what is wrong, without
/// repeating the accepted forms.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty".to_owned());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| "too many seconds".to_owned());
    }
    let mut total_ms: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("`{rest}` does not start with a number"));
        }
        let (number, after) = rest.split_at(digits);
        if after.starts_with('.') {
            return Err("fractions are not accepted (write 1h30m, not 1.5h)".to_owned());
        }
        let after = after.trim_start();
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!("`{number}` has no unit"));
        }
        let Some((_, unit_ms)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!("unknown unit `{unit}` (units: ms, s, m, h, d)"));
        };
        let part = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(*unit_ms))
            .and_then(|ms| total_ms.checked_add(ms));
        total_ms = part.ok_or_else(|| "too long".to_owned())?;
        rest = after.trim_start();
    }
    Ok(Duration::from_millis(total_ms))
}

/// The canonical form of a duration, as `parse_duration` reads it back: the largest units first
/// (`h`, `m`, `s`, `ms`), `0s` for zero; whole numbers of days from two days on as `d`
/// (`24h` stays `24h`, `720h` is `30d`). Sub-millisecond parts are dropped (no setting has them).
pub(crate) fn format_duration(duration: Duration) -> String {
    const DAY_MS: u64 = 86_400_000;
    let mut ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_owned();
    }
    if ms >= 2 * DAY_MS && ms % DAY_MS == 0 {
        return format!("{}d", ms / DAY_MS);
    }
    let mut out = String::new();
    for (name, unit_ms) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        let count = ms / unit_ms;
        if count > 0 {
            out.push_str(&count.to_string());
            out.push_str(name);
            ms %= unit_ms;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<Duration, &str>) {
        assert_eq!(parse_duration(text), expected.map_err(str::to_owned), "input {text:?}");
    }

    #[test]
    fn parses_every_form() {
        let s = Duration::from_secs;
        check("90s", Ok(s(90)));
        check("5m", Ok(s(300)));
        check("1h30m", Ok(s(5400)));
        check("1h 30m", Ok(s(5400)));
        check("500ms", Ok(Duration::from_millis(500)));
        check("1s500ms", Ok(Duration::from_millis(1500)));
        check("2d", Ok(s(172_800)));
        check("90", Ok(s(90)));
        check("0", Ok(s(0)));
        check(" 7s ", Ok(s(7)));
        check("5 m", Ok(s(300)));
    }

    #[test]
    fn refuses_with_the_reason() {
        check("", Err("empty"));
        check("5", Ok(Duration::from_secs(5)));
        check("1m30", Err("`30` has no unit"));
        check("5 minutes", Err("unknown unit `minutes` (units: ms, s, m, h, d)"));
        check("1.5h", Err("fractions are not accepted (write 1h30m, not 1.5h)"));
        check("-5s", Err("`-5s` does not start with a number"));
        check("h", Err("`h` does not start with a number"));
        check("99999999999999999999", Err("too many seconds"));
        check("99999999999999999d", Err("too long"));
    }

    #[test]
    fn formats_canonically_and_reads_back() {
        for (ms, text) in [
            (0, "0s"),
            (500, "500ms"),
            (1_500, "1s500ms"),
            (60_000, "1m"),
            (5_400_000, "1h30m"),
            (86_400_000, "24h"),
            (172_800_000, "2d"),
            (176_400_000, "49h"),
        ] {
            let duration = Duration::from_millis(ms);
            assert_eq!(format_duration(duration), text);
            assert_eq!(parse_duration(text), Ok(duration));
        }
    }

    proptest::proptest! {
        #[test]
        fn every_duration_reads_back_from_its_canonical_form(ms in 0u64..=100 * 86_400_000) {
            let duration = Duration::from_millis(ms);
            proptest::prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }

        #[test]
        fn no_text_makes_the_parser_panic(text in "\\PC{0,24}") {
            let _ = parse_duration(&text);
        }
    }
}
