//! The backoff ladder for rate limits that say nothing about when to come back (D10): a capped
//! exponential schedule, built with `backon` (D21), indexed by the account's
//! `rateLimitStreak`.
//!
//! Deterministic on purpose: the rung lives in the shared accounts file, so every process that
//! reads it computes the same deadline; jitter would only make them disagree.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// A capped exponential schedule: rung 0 waits `first`, each next rung `factor` times longer,
/// never more than `cap`. The default is 10 s, 20 s, 40 s, 80 s, 160 s, then 5 min forever.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ladder {
    first: Duration,
    factor: f32,
    cap: Duration,
}

impl Default for Ladder {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Ladder {
    /// 10 s doubling up to 5 min.
    pub const DEFAULT: Ladder =
        Ladder { first: Duration::from_secs(10), factor: 2.0, cap: Duration::from_secs(300) };

    /// A ladder starting at `first` (at least 1 ms), growing by `factor` (clamped to 1..=16; a
    /// non-finite factor is 1) up to `cap` (at least `first`).
    pub fn new(first: Duration, factor: f32, cap: Duration) -> Self {
        let first = first.max(Duration::from_millis(1));
        let factor = if factor.is_finite() { factor.clamp(1.0, 16.0) } else { 1.0 };
        Self { first, factor, cap: cap.max(first) }
    }

    /// The first rung's delay.
    pub fn first(&self) -> Duration {
        self.first
    }

    /// The growth factor.
    pub fn factor(&self) -> f32 {
        self.factor
    }

    /// The longest delay.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// The delay of rung `rung` (0-based: the first header-less 429 after a success is rung 0).
    /// Cheap for any rung: the walk stops once the schedule stops growing.
    pub fn delay(&self, rung: u32) -> Duration {
        let mut steps = ExponentialBuilder::new()
            .with_min_delay(self.first)
            .with_factor(self.factor)
            .with_max_delay(self.cap)
            .without_max_times()
            .build();
        let mut delay = self.first;
        for index in 0..=rung {
            let Some(next) = steps.next() else { break };
            if index > 0 && next <= delay {
                break; // at the cap (or not growing): every later rung is the same
            }
            delay = next;
        }
        delay.min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_rungs_are_cheap_and_capped() {
        assert_eq!(Ladder::DEFAULT.delay(u32::MAX), Duration::from_secs(300));
        let flat = Ladder::new(Duration::from_secs(1), 1.0, Duration::from_secs(9));
        assert_eq!(flat.delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn constructor_clamps() {
        let ladder = Ladder::new(Duration::ZERO, f32::NAN, Duration::ZERO);
        assert_eq!(ladder.first(), Duration::from_millis(1));
        assert!((ladder.factor() - 1.0).abs() < f32::EPSILON);
        assert_eq!(ladder.cap(), Duration::from_millis(1));
    }
}
