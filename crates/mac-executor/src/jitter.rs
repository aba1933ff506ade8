//! Timing jitter for the executor: a small seeded generator (xorshift64*) that spreads timers
//! and retry pauses across processes. Not for secrets; no process-global state (each owner
//! keeps its own).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A seed differing between processes and starts (not random enough for secrets; it only
/// spreads timers).
pub(crate) fn default_seed() -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    // Truncation is fine: only the low bits vary anyway.
    #[allow(clippy::cast_possible_truncation)]
    let nanos = nanos as u64;
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// The interval's variation: xorshift64* from a seed.
#[derive(Debug)]
pub(crate) struct Jitter {
    state: u64,
    fraction: f64,
}

impl Jitter {
    pub(crate) fn new(fraction: f64, seed: u64) -> Self {
        // NaN and negative mean none; more than the whole interval is capped.
        let fraction = if fraction > 0.0 { fraction.min(1.0) } else { 0.0 };
        Self { state: if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed }, fraction }
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `interval` times a factor in `[1 − fraction, 1 + fraction)`.
    pub(crate) fn vary(&mut self, interval: Duration) -> Duration {
        if self.fraction == 0.0 {
            return interval;
        }
        // 53 random bits make an exact f64 in [0, 1).
        #[allow(clippy::cast_precision_loss)]
        let unit = (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64;
        let factor = 1.0 + self.fraction * (2.0 * unit - 1.0);
        Duration::try_from_secs_f64(interval.as_secs_f64() * factor).unwrap_or(interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_fraction_and_follows_the_seed() {
        let interval = Duration::from_secs(300);
        let mut a = Jitter::new(0.1, 42);
        let mut b = Jitter::new(0.1, 42);
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..1000 {
            let d = a.vary(interval);
            assert_eq!(d, b.vary(interval));
            assert!(d >= Duration::from_secs(270) && d < Duration::from_secs(330), "{d:?}");
            seen_low |= d < Duration::from_secs(285);
            seen_high |= d > Duration::from_secs(315);
        }
        assert!(seen_low && seen_high);
        assert_eq!(Jitter::new(0.0, 7).vary(interval), interval);
        assert_eq!(Jitter::new(f64::NAN, 7).vary(interval), interval);
        assert_eq!(Jitter::new(-1.0, 7).vary(interval), interval);
        let capped = Jitter::new(5.0, 7).vary(interval);
        assert!(capped < Duration::from_secs(600), "{capped:?}");
    }
}
