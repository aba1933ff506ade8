//! Monotonic time for the holder's own decisions — when to renew, when an account has been idle
//! long enough to release — so that a wall clock stepping back or forward never stalls the
//! heartbeat or releases a busy account. Injectable, like the wall [`mac_storage::Clock`], so
//! tests move it by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A clock that never goes backwards: time elapsed since an arbitrary fixed origin.
pub trait Monotonic: Send + Sync + std::fmt::Debug {
    /// Time since this clock's origin.
    fn elapsed(&self) -> Duration;
}

/// The operating system's monotonic clock ([`Instant`]), with its origin at construction.
#[derive(Clone, Copy, Debug)]
pub struct SystemMonotonic {
    origin: Instant,
}

impl SystemMonotonic {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self { origin: Instant::now() }
    }
}

impl Default for SystemMonotonic {
    fn default() -> Self {
        Self::new()
    }
}

impl Monotonic for SystemMonotonic {
    fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A monotonic clock that only moves when told to: for tests.
#[derive(Debug, Default)]
pub struct ManualMonotonic {
    nanos: AtomicU64,
}

impl ManualMonotonic {
    /// A clock at its origin.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Monotonic for ManualMonotonic {
    fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_moves_only_when_told_and_system_never_goes_back() {
        let manual = ManualMonotonic::new();
        assert_eq!(manual.elapsed(), Duration::ZERO);
        manual.advance(Duration::from_secs(3));
        assert_eq!(manual.elapsed(), Duration::from_secs(3));
        let system = SystemMonotonic::new();
        let first = system.elapsed();
        assert!(system.elapsed() >= first);
    }
}
