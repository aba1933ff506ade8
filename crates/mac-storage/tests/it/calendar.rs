//! RFC 3339 parsing, ISO formatting and HTTP-dates.

use mac_storage::{EpochMs, format_iso, parse_http_date, parse_rfc3339};
use proptest::prelude::*;

/// A fixed "now": 2026-03-11T03:33:20Z.
const NOW: EpochMs = EpochMs::from_millis(1_773_200_000_000);

fn check_rfc3339(text: &str, expected: Option<i64>) {
    assert_eq!(parse_rfc3339(text), expected.map(EpochMs::from_millis), "{text:?}");
}

#[test]
fn rfc3339_forms() {
    let table: &[(&str, Option<i64>)] = &[
        ("2026-03-11T05:00:00Z", Some(1_773_205_200_000)),
        ("2026-03-11T05:00:00.123Z", Some(1_773_205_200_123)),
        ("2026-03-11T05:00:00.1Z", Some(1_773_205_200_100)),
        ("2026-03-11T05:00:00.123987654Z", Some(1_773_205_200_123)),
        ("2026-03-11T07:00:00+02:00", Some(1_773_205_200_000)),
        ("2026-03-11T07:00:00+0200", Some(1_773_205_200_000)),
        ("2026-03-11T07:00:00+02", Some(1_773_205_200_000)),
        ("2026-03-11T03:30:00-01:30", Some(1_773_205_200_000)),
        ("2026-03-11T05:00:00+00:00", Some(1_773_205_200_000)),
        ("2026-03-11t05:00:00z", Some(1_773_205_200_000)),
        ("2026-03-11 05:00:00Z", Some(1_773_205_200_000)),
        (" 2026-03-11T05:00:00Z ", Some(1_773_205_200_000)),
        ("2026-03-11T04:59:60Z", Some(1_773_205_200_000)),
        ("2000-02-29T00:00:00Z", Some(951_782_400_000)),
        ("1970-01-01T00:00:00Z", Some(0)),
        ("1969-12-31T23:59:59Z", Some(-1_000)),
        ("9999-12-31T23:59:59.999Z", Some(253_402_300_799_999)),
        // Invalid.
        ("", None),
        ("2026-03-11", None),
        ("2026-03-11T05:00:00", None),
        ("2026-03-11T05:00Z", None),
        ("2026-3-11T05:00:00Z", None),
        ("2026-02-29T00:00:00Z", None),
        ("2100-02-29T00:00:00Z", None),
        ("2026-04-31T00:00:00Z", None),
        ("2026-13-01T00:00:00Z", None),
        ("2026-00-01T00:00:00Z", None),
        ("2026-03-00T00:00:00Z", None),
        ("2026-03-11T24:00:00Z", None),
        ("2026-03-11T23:60:00Z", None),
        ("2026-03-11T23:59:61Z", None),
        ("2026-03-11T05:00:00.Z", None),
        ("2026-03-11T05:00:00+24:00", None),
        ("2026-03-11T05:00:00+02:60", None),
        ("2026-03-11T05:00:00Zjunk", None),
        ("2026-03-11X05:00:00Z", None),
        ("+2026-03-11T05:00:00Z", None),
        ("２０２６-03-11T05:00:00Z", None),
        ("1773205200", None),
    ];
    for (text, expected) in table {
        check_rfc3339(text, *expected);
    }
}

#[test]
fn iso_format_is_javascripts() {
    let table: &[(i64, &str)] = &[
        (0, "1970-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (1_773_205_200_123, "2026-03-11T05:00:00.123Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        (253_402_300_800_000, "+010000-01-01T00:00:00.000Z"),
        (-62_167_219_200_001, "-000001-12-31T23:59:59.999Z"),
    ];
    for (ms, expected) in table {
        assert_eq!(format_iso(EpochMs::from_millis(*ms)), *expected, "{ms}");
    }
}

#[test]
fn iso_round_trips_through_the_parser() {
    for ms in [0, 1, 999, 1_773_205_200_123, 4_102_444_800_000, -86_400_001] {
        let at = EpochMs::from_millis(ms);
        assert_eq!(parse_rfc3339(&format_iso(at)), Some(at));
    }
}

fn check_http_date(text: &str, expected: Option<i64>) {
    assert_eq!(parse_http_date(text, NOW), expected.map(EpochMs::from_millis), "{text:?}");
}

#[test]
fn http_date_forms() {
    const NOV_6_1994: i64 = 784_111_777_000;
    let table: &[(&str, Option<i64>)] = &[
        ("Sun, 06 Nov 1994 08:49:37 GMT", Some(NOV_6_1994)),
        ("Sunday, 06-Nov-94 08:49:37 GMT", Some(NOV_6_1994)),
        ("Sun Nov  6 08:49:37 1994", Some(NOV_6_1994)),
        ("Sun Nov 06 08:49:37 1994", Some(NOV_6_1994)),
        // Tolerated: case, UTC, a long weekday with the fixdate form, the wrong weekday.
        ("sun, 06 nov 1994 08:49:37 gmt", Some(NOV_6_1994)),
        ("Sun, 06 Nov 1994 08:49:37 UTC", Some(NOV_6_1994)),
        ("Sunday, 06 Nov 1994 08:49:37 GMT", Some(NOV_6_1994)),
        ("Mon, 06 Nov 1994 08:49:37 GMT", Some(NOV_6_1994)),
        // RFC 850 years: 26 is 2026; 80 is 1980, since 2080 is over 50 years after now (2026).
        ("Wednesday, 11-Mar-26 05:00:00 GMT", Some(1_773_205_200_000)),
        ("Wednesday, 11-Mar-76 05:00:00 GMT", Some(3_351_128_400_000)),
        ("Monday, 11-Mar-80 05:00:00 GMT", Some(321_598_800_000)),
        // Invalid.
        ("", None),
        ("Sun, 06 Nov 1994 08:49:37", None),
        ("Sun, 06 Nov 1994 08:49:37 PST", None),
        ("Sun, 6 Nov 1994 08:49:37 GMT", None),
        ("Sun, 31 Nov 1994 08:49:37 GMT", None),
        ("Sun, 06 Foo 1994 08:49:37 GMT", None),
        ("Xyz, 06 Nov 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 25:49:37 GMT", None),
        ("Sun, 06 Nov 1994 08:49:37 GMT extra", None),
        ("Sun Nov  6 08:49:37", None),
        ("Sun Nov 123 08:49:37 1994", None),
        ("06 Nov 1994 08:49:37 GMT", None),
        ("Sun,06 Nov 1994 08:49:37 GMT", None),
        ("Sün, 06 Nov 1994 08:49:37 GMT", None),
        ("120", None),
    ];
    for (text, expected) in table {
        check_http_date(text, *expected);
    }
}

proptest! {
    #[test]
    fn date_parsers_never_panic(text in ".{0,60}", now in any::<i64>()) {
        let _ = parse_rfc3339(&text);
        let _ = parse_http_date(&text, EpochMs::from_millis(now));
    }

    #[test]
    fn iso_round_trips(ms in -62_167_219_200_000_i64..253_402_300_800_000) {
        let at = EpochMs::from_millis(ms);
        prop_assert_eq!(parse_rfc3339(&format_iso(at)), Some(at));
    }
}
