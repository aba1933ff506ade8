//! A tiny seeded random source (xorshift64*) for test timings and fixtures: reproducible from
//! the seed a failing test prints.

use std::time::{SystemTime, UNIX_EPOCH};

/// A seeded pseudo-random generator. Not for secrets.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator from `seed` (0 is replaced by a fixed non-zero constant).
    pub fn new(seed: u64) -> Self {
        Self { state: if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed } }
    }

    /// A generator seeded from the clock; print [`Rng::seed`] so a failure can be replayed.
    pub fn from_time() -> Self {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.subsec_nanos());
        Self::new(u64::from(nanos) ^ u64::from(std::process::id()) << 32)
    }

    /// The current state, usable as a seed to replay from here.
    pub fn seed(&self) -> u64 {
        self.state
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}
