//! Calendar dates without a date crate: RFC 3339 timestamps (usage bodies, some reset headers),
//! the ISO form the accounts file stores (`2026-03-11T05:00:00.000Z`), and the three HTTP-date
//! forms a `retry-after` may hold (RFC 9110 §5.6.7).
//!
//! It lives in layer 1 because two layer-2 crates need it: `mac-ratelimit` (reset times in
//! headers and in stored usage) and `mac-adapters` (usage bodies mapped to `resets_at`).
//!
//! The arithmetic is Howard Hinnant's `days_from_civil` / `civil_from_days` on the proleptic
//! Gregorian calendar. Every parser returns `None` for anything it does not recognise; none can
//! panic or overflow.

use crate::epoch::EpochMs;

const MS_PER_SECOND: i64 = 1_000;
const MS_PER_DAY: i64 = 86_400_000;

/// Parses an RFC 3339 / ISO-8601 timestamp: `YYYY-MM-DDTHH:MM:SS`, optional fractional seconds
/// (any number of digits; beyond milliseconds they are truncated), then `Z` or an offset
/// `±HH:MM` (also `±HHMM` and `±HH`). A lowercase `t`/`z` and a space instead of `T` are
/// accepted; a leap second (`:60`) counts as the first second of the next minute. Anything
/// else — a missing zone, a 31st of April, surrounding text — is `None`.
pub fn parse_rfc3339(text: &str) -> Option<EpochMs> {
    if let Some(at) = parse_common_rfc3339(text.as_bytes()) {
        return Some(at);
    }
    let mut cursor = Cursor::new(text.trim());
    let year = cursor.digits(4)?;
    cursor.expect(b'-')?;
    let month = cursor.digits(2)?;
    cursor.expect(b'-')?;
    let day = cursor.digits(2)?;
    match cursor.next()? {
        b'T' | b't' | b' ' => {}
        _ => return None,
    }
    let hour = cursor.digits(2)?;
    cursor.expect(b':')?;
    let minute = cursor.digits(2)?;
    cursor.expect(b':')?;
    let second = cursor.digits(2)?;
    let mut millis = 0;
    if cursor.peek() == Some(b'.') {
        cursor.next();
        millis = cursor.fraction_millis()?;
    }
    let offset_minutes = match cursor.next()? {
        b'Z' | b'z' => 0,
        sign @ (b'+' | b'-') => {
            let hours = cursor.digits(2)?;
            let minutes = match cursor.peek() {
                None => 0,
                Some(b':') => {
                    cursor.next();
                    cursor.digits(2)?
                }
                Some(_) => cursor.digits(2)?,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = hours * 60 + minutes;
            if sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    if !cursor.at_end() || second > 60 {
        return None;
    }
    let local = civil_to_ms(year, month, day, hour, minute, second)?;
    Some(EpochMs::from_millis(local + millis - offset_minutes * 60 * MS_PER_SECOND))
}

/// [`parse_rfc3339`] for the shapes the accounts file holds, by position: `YYYY-MM-DDTHH:MM:SS`,
/// an optional fraction, then `Z` or `±HH:MM` (what JavaScript's `toISOString`, [`format_iso`]
/// and Anthropic's usage endpoint write). `None` for anything else, which the general parser
/// then decides. Selection reads every account's reset times on every request (the hybrid
/// strategy's reset pace), where the general parser's trimming and byte-by-byte cursor cost
/// ~420 instructions a timestamp; this costs about a quarter of that.
fn parse_common_rfc3339(bytes: &[u8]) -> Option<EpochMs> {
    let (head, tail) = bytes.split_at_checked(19)?;
    let &[y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'T', h0, h1, b':', i0, i1, b':', s0, s1] =
        head
    else {
        return None;
    };
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0_i64, |value, &byte| {
            byte.is_ascii_digit().then(|| value * 10 + i64::from(byte - b'0'))
        })
    };
    let year = number(&[y0, y1, y2, y3])?;
    let (month, day) = (number(&[m0, m1])?, number(&[d0, d1])?);
    let (hour, minute, second) = (number(&[h0, h1])?, number(&[i0, i1])?, number(&[s0, s1])?);
    let (millis, zone) = match tail.split_first() {
        Some((b'.', rest)) => {
            let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            let (fraction, zone) = rest.split_at(digits);
            let kept = &fraction[..digits.min(3)];
            let scale = [100, 10, 1][kept.len() - 1];
            (number(kept)? * scale, zone)
        }
        _ => (0, tail),
    };
    let offset_minutes = match *zone {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h0, h1, b':', m0, m1] => {
            let (hours, minutes) = (number(&[h0, h1])?, number(&[m0, m1])?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            if sign == b'-' { -(hours * 60 + minutes) } else { hours * 60 + minutes }
        }
        _ => return None,
    };
    let local = civil_to_ms(year, month, day, hour, minute, second)?;
    Some(EpochMs::from_millis(local + millis - offset_minutes * 60 * MS_PER_SECOND))
}

/// Formats an instant the way JavaScript's `toISOString` does, and as the accounts file
/// stores `resets_at`: `YYYY-MM-DDTHH:MM:SS.sssZ`. Years outside 0..=9999 use the expanded
/// six-digit form with a sign (`+275760-…`), as JavaScript does.
pub fn format_iso(at: EpochMs) -> String {
    let ms = at.as_millis();
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / MS_PER_SECOND % 60,
        in_day % MS_PER_SECOND,
    );
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else {
        format!("{}{:06}", if year < 0 { '-' } else { '+' }, year.unsigned_abs())
    };
    format!("{year}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
}

/// Values from this number on are epoch milliseconds, below it epoch seconds: 10^11 seconds is
/// the year 5138, 10^11 milliseconds is 1973, so no real reset time is ambiguous.
pub const EPOCH_MS_THRESHOLD: f64 = 1e11;

/// An absolute time as providers send it in headers and bodies: epoch seconds, or epoch
/// milliseconds from [`EPOCH_MS_THRESHOLD`] on; fractions allowed (rounded up to the next
/// millisecond). `None` for non-finite, non-positive or out-of-range (beyond 2^53 ms) values;
/// callers judge whether the time is plausible (in the future, within their horizon).
pub fn epoch_from_number(value: f64) -> Option<EpochMs> {
    if !value.is_finite() || value <= 0.0 {
        return None;
    }
    let millis = if value >= EPOCH_MS_THRESHOLD { value } else { value * 1000.0 };
    if millis > 9_007_199_254_740_991.0 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)] // range-checked just above
    Some(EpochMs::from_millis(millis.ceil() as i64))
}

/// Parses an HTTP-date (RFC 9110 §5.6.7) in any of its three forms:
///
/// - IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT` (the one servers must send);
/// - RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT`, whose two-digit year is read as the year of
///   `now`'s century, moved back a century when that lies more than 50 years after `now`, as
///   RFC 9110 requires;
/// - asctime `Sun Nov  6 08:49:37 1994`.
///
/// Day and month names match regardless of case; the weekday must be a real day name but is
/// not checked against the date (servers get it wrong, and the date is what matters). `UTC`
/// is accepted for `GMT`.
pub fn parse_http_date(text: &str, now: EpochMs) -> Option<EpochMs> {
    let text = text.trim();
    if text.is_empty() || !text.is_ascii() {
        return None;
    }
    let (weekday, rest) = text.split_once([',', ' '])?;
    let comma = text.as_bytes().get(weekday.len()) == Some(&b',');
    if comma {
        // Either weekday spelling with either date form: senders mix them up.
        if !is_weekday(weekday, false) && !is_weekday(weekday, true) {
            return None;
        }
        let rest = rest.strip_prefix(' ')?;
        imf_fixdate(rest).or_else(|| rfc850(rest, now))
    } else {
        if !is_weekday(weekday, false) {
            return None;
        }
        asctime(rest)
    }
}

/// `06 Nov 1994 08:49:37 GMT`
fn imf_fixdate(rest: &str) -> Option<EpochMs> {
    let mut parts = rest.split(' ');
    let day = exact_digits(parts.next()?, 2)?;
    let month = month_number(parts.next()?)?;
    let year = exact_digits(parts.next()?, 4)?;
    let (hour, minute, second) = time_of_day(parts.next()?)?;
    gmt(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    civil_to_ms(year, month, day, hour, minute, second).map(EpochMs::from_millis)
}

/// `06-Nov-94 08:49:37 GMT`
fn rfc850(rest: &str, now: EpochMs) -> Option<EpochMs> {
    let mut parts = rest.split(' ');
    let mut date = parts.next()?.split('-');
    let day = exact_digits(date.next()?, 2)?;
    let month = month_number(date.next()?)?;
    let two_digit = exact_digits(date.next()?, 2)?;
    if date.next().is_some() {
        return None;
    }
    let (hour, minute, second) = time_of_day(parts.next()?)?;
    gmt(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    let (now_year, _, _) = civil_from_days(now.as_millis().div_euclid(MS_PER_DAY));
    let mut year = now_year - now_year.rem_euclid(100) + two_digit;
    if year > now_year + 50 {
        year -= 100;
    }
    civil_to_ms(year, month, day, hour, minute, second).map(EpochMs::from_millis)
}

/// `Nov  6 08:49:37 1994` (the day is space-padded; a zero-padded day is accepted too).
fn asctime(rest: &str) -> Option<EpochMs> {
    let mut parts = rest.split(' ').filter(|part| !part.is_empty());
    let month = month_number(parts.next()?)?;
    let day_text = parts.next()?;
    if day_text.is_empty() || day_text.len() > 2 {
        return None;
    }
    let day = exact_digits(day_text, day_text.len())?;
    let (hour, minute, second) = time_of_day(parts.next()?)?;
    let year = exact_digits(parts.next()?, 4)?;
    if parts.next().is_some() {
        return None;
    }
    civil_to_ms(year, month, day, hour, minute, second).map(EpochMs::from_millis)
}

fn time_of_day(text: &str) -> Option<(i64, i64, i64)> {
    let mut parts = text.split(':');
    let hour = exact_digits(parts.next()?, 2)?;
    let minute = exact_digits(parts.next()?, 2)?;
    let second = exact_digits(parts.next()?, 2)?;
    if parts.next().is_some() || second > 60 {
        return None;
    }
    Some((hour, minute, second))
}

fn gmt(text: &str) -> Option<()> {
    (text.eq_ignore_ascii_case("GMT") || text.eq_ignore_ascii_case("UTC")).then_some(())
}

const WEEKDAYS: [&str; 7] =
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const MONTHS: [&str; 12] =
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

fn is_weekday(text: &str, long: bool) -> bool {
    WEEKDAYS.iter().any(|day| {
        if long { day.eq_ignore_ascii_case(text) } else { day[..3].eq_ignore_ascii_case(text) }
    })
}

fn month_number(text: &str) -> Option<i64> {
    let index = MONTHS.iter().position(|month| month.eq_ignore_ascii_case(text))?;
    i64::try_from(index).ok().map(|index| index + 1)
}

/// `text` as a number if it is exactly `len` ASCII digits.
fn exact_digits(text: &str, len: usize) -> Option<i64> {
    if text.len() != len || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Milliseconds since the epoch of a validated civil date and time (UTC), or `None` if any
/// field is out of range (month 13, February 30th, hour 24, minute 60).
fn civil_to_ms(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
) -> Option<i64> {
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * MS_PER_SECOND)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = (month + 9) % 12; // March = 0
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Hinnant). Valid for every
/// day count an `EpochMs` can hold.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400;
    (if month <= 2 { year + 1 } else { year }, month, day)
}

/// A byte cursor over an ASCII timestamp.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self { bytes: text.as_bytes(), at: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn at_end(&self) -> bool {
        self.at == self.bytes.len()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    /// Exactly `count` decimal digits.
    fn digits(&mut self, count: usize) -> Option<i64> {
        let mut value = 0;
        for _ in 0..count {
            let byte = self.next()?;
            if !byte.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(byte - b'0');
        }
        Some(value)
    }

    /// One or more digits of a fraction of a second, as whole milliseconds (truncated).
    fn fraction_millis(&mut self) -> Option<i64> {
        let mut millis = 0;
        let mut seen = 0;
        while let Some(byte) = self.peek().filter(u8::is_ascii_digit) {
            self.at += 1;
            if seen < 3 {
                millis = millis * 10 + i64::from(byte - b'0');
            }
            seen += 1;
        }
        if seen == 0 {
            return None;
        }
        for _ in seen..3 {
            millis *= 10;
        }
        Some(millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `parse_rfc3339`, checking that the fast path, when it answers, answers the same.
    fn checked_parse(text: &str) -> Option<EpochMs> {
        let bytes = text.as_bytes();
        let fast = parse_common_rfc3339(bytes);
        let full = parse_rfc3339(text);
        // Whatever the fast path accepts, the result is the general parser's.
        if let Some(fast) = fast {
            assert_eq!(Some(fast), full, "{text}");
        }
        full
    }

    #[test]
    fn the_fast_path_agrees_with_the_general_parser() {
        let mut checked = 0;
        for year in ["1970", "2000", "2024", "2026", "2100", "9999"] {
            for month in ["01", "02", "04", "12", "13", "00"] {
                for day in ["01", "28", "29", "30", "31", "32"] {
                    for time in ["00:00:00", "23:59:59", "12:34:60", "24:00:00", "07:61:00"] {
                        for tail in [
                            "Z",
                            ".5Z",
                            ".123Z",
                            ".123456Z",
                            ".Z",
                            "+00:00",
                            ".479125+00:00",
                            "-05:30",
                            "+24:00",
                            "+01:60",
                            "z",
                            "+0100",
                            "",
                            "Z ",
                        ] {
                            let text = format!("{year}-{month}-{day}T{time}{tail}");
                            let by_cursor = {
                                let trimmed = text.trim();
                                // The cursor path, forced: a leading space skips the fast path.
                                parse_rfc3339(&format!(" {trimmed}"))
                            };
                            assert_eq!(checked_parse(&text), by_cursor, "{text}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000);
    }

    #[test]
    fn civil_round_trip_over_four_centuries() {
        // Every day from 1900 to 2300 maps back to itself.
        let start = days_from_civil(1900, 1, 1);
        let end = days_from_civil(2300, 1, 1);
        for days in start..end {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn extremes_do_not_overflow() {
        for ms in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX] {
            let text = format_iso(EpochMs::from_millis(ms));
            assert!(text.ends_with('Z'), "{text}");
        }
        assert_eq!(
            format_iso(EpochMs::from_millis(8_640_000_000_000_000)),
            "+275760-09-13T00:00:00.000Z"
        );
    }
}
