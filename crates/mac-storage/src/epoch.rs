//! Wall-clock instants as the accounts file stores them: milliseconds since the Unix epoch.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Milliseconds since the Unix epoch (JavaScript's `Date.now()` scale, which the seed's files
/// hold).
///
/// Files written by the TypeScript library hold integers; a finite number with a fraction is
/// accepted and truncated, so a hand-edited `1.7e12` does not make the whole file invalid.
/// Anything else (a string, `NaN`, a value outside ±2^53) is a type error naming the field.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EpochMs(i64);

/// The largest integer a JavaScript number holds exactly; the accounts file must stay
/// readable by the TypeScript plugins' import, so values beyond it are rejected.
const MAX_SAFE: i64 = (1 << 53) - 1;

impl EpochMs {
    /// The epoch itself.
    pub const ZERO: EpochMs = EpochMs(0);

    /// Wraps a millisecond count.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// The millisecond count.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The current wall-clock time. Library code takes `now` as a parameter instead, so tests
    /// control time; this is for the edges (binaries, workers).
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// Converts a `SystemTime`, saturating at the epoch and at `i64::MAX` milliseconds.
    pub fn from_system_time(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(since) => Self(i64::try_from(since.as_millis()).unwrap_or(i64::MAX)),
            Err(_) => Self(0),
        }
    }

    /// This instant plus a duration, saturating.
    #[must_use]
    pub fn saturating_add(self, duration: Duration) -> Self {
        let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(ms))
    }

    /// The time from `earlier` to `self`, or zero when `earlier` is later.
    pub fn duration_since(self, earlier: EpochMs) -> Duration {
        u64::try_from(self.0.saturating_sub(earlier.0))
            .map_or(Duration::ZERO, Duration::from_millis)
    }
}

impl fmt::Debug for EpochMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EpochMs({})", self.0)
    }
}

impl Serialize for EpochMs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

impl<'de> Deserialize<'de> for EpochMs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EpochMsVisitor)
    }
}

struct EpochMsVisitor;

impl Visitor<'_> for EpochMsVisitor {
    type Value = EpochMs;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a time in milliseconds since the Unix epoch")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<EpochMs, E> {
        if (-MAX_SAFE..=MAX_SAFE).contains(&v) {
            Ok(EpochMs(v))
        } else {
            Err(E::invalid_value(de::Unexpected::Signed(v), &self))
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<EpochMs, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
        }
    }

    #[allow(clippy::cast_possible_truncation)] // range-checked just above
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<EpochMs, E> {
        if v.is_finite() && v.abs() <= 9_007_199_254_740_991.0 {
            self.visit_i64(v.trunc() as i64)
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EpochMs;
    use std::time::Duration;

    #[test]
    fn accepts_integers_and_integral_floats() {
        let a: EpochMs = serde_json::from_str("1773200000000").unwrap();
        let b: EpochMs = serde_json::from_str("1773200000000.7").unwrap();
        assert_eq!(a, EpochMs::from_millis(1_773_200_000_000));
        assert_eq!(b, a);
        assert_eq!(serde_json::to_string(&a).unwrap(), "1773200000000");
    }

    #[test]
    fn rejects_strings_and_out_of_range_values() {
        assert!(serde_json::from_str::<EpochMs>("\"1773200000000\"").is_err());
        assert!(serde_json::from_str::<EpochMs>("1e300").is_err());
        assert!(serde_json::from_str::<EpochMs>("18446744073709551615").is_err());
    }

    #[test]
    fn arithmetic_saturates() {
        let t = EpochMs::from_millis(1_000);
        assert_eq!(t.saturating_add(Duration::from_secs(2)).as_millis(), 3_000);
        assert_eq!(t.duration_since(EpochMs::from_millis(5_000)), Duration::ZERO);
        assert_eq!(
            EpochMs::from_millis(i64::MAX).saturating_add(Duration::MAX).as_millis(),
            i64::MAX
        );
    }
}
