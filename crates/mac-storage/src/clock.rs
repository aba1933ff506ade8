//! Time as an injectable value: every decision that depends on "now" (claims expiry, rate-limit
//! deadlines, bookkeeping) takes a [`Clock`], so tests move time by hand instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::epoch::EpochMs;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> EpochMs;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> EpochMs {
        EpochMs::now()
    }
}

/// A clock that only moves when told to: for tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: EpochMs) -> Self {
        Self { now_ms: AtomicI64::new(start.as_millis()) }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `to` (also backwards, to test clock jumps).
    pub fn set(&self, to: EpochMs) {
        self.now_ms.store(to.as_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> EpochMs {
        EpochMs::from_millis(self.now_ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(EpochMs::from_millis(1_000));
        assert_eq!(clock.now(), EpochMs::from_millis(1_000));
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now(), EpochMs::from_millis(3_000));
        clock.set(EpochMs::from_millis(5));
        assert_eq!(clock.now(), EpochMs::from_millis(5));
        assert!(SystemClock.now() > EpochMs::from_millis(1_700_000_000_000));
    }
}
