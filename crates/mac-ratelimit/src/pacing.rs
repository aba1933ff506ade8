//! Optional client-side pacing inside one process (D21: `governor`): at most N requests per
//! minute per account, so a runaway loop does not hammer one subscription (users of other
//! pools worry about bans and ask for conservative pacing).
//! Off by default. Per process only: every process paces itself.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as GovernorClock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// The keyed limiter of one clock type.
type Limiter<C> = RateLimiter<
    String,
    DefaultKeyedStateStore<String>,
    C,
    NoOpMiddleware<<C as GovernorClock>::Instant>,
>;

/// The answer of [`Pacer::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pace {
    /// Send now (the request was counted).
    Go,
    /// Not yet: this account's next slot is this far away (nothing was counted).
    Wait(Duration),
}

/// A per-account request pacer, keyed by the account's local uuid. Generic over `governor`'s
/// clock so tests use `governor::clock::FakeRelativeClock` and never sleep.
pub struct Pacer<C: GovernorClock = DefaultClock> {
    limiter: Option<Limiter<C>>,
}

impl Pacer<DefaultClock> {
    /// A pacer allowing `per_minute` requests per minute per account (`None`: no pacing), on
    /// the system's monotonic clock.
    pub fn per_minute(per_minute: Option<NonZeroU32>) -> Self {
        Self::with_clock(per_minute.map(Quota::per_minute), DefaultClock::default())
    }
}

impl<C: GovernorClock> Pacer<C> {
    /// A pacer with an explicit `governor` quota (`None`: no pacing) and clock.
    /// `Quota::per_minute(n)` allows a burst of `n`, then one request every `60 s / n`.
    pub fn with_clock(quota: Option<Quota>, clock: C) -> Self {
        let limiter =
            quota.map(|quota| RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock));
        Self { limiter }
    }

    /// A pacer that never holds anything back.
    pub fn off() -> Self {
        Self { limiter: None }
    }

    /// Whether pacing is on.
    pub fn is_on(&self) -> bool {
        self.limiter.is_some()
    }

    /// Asks to send one request with account `uuid`: [`Pace::Go`] counts it, [`Pace::Wait`]
    /// says how long until the account's next slot.
    pub fn check(&self, uuid: &str) -> Pace {
        let Some(limiter) = &self.limiter else { return Pace::Go };
        match limiter.check_key(&uuid.to_owned()) {
            Ok(()) => Pace::Go,
            Err(not_until) => Pace::Wait(not_until.wait_time_from(limiter.clock().now())),
        }
    }

    /// Forgets accounts whose pacing state has fully recovered (keeps memory bounded when
    /// accounts come and go).
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
        }
    }
}

impl<C: GovernorClock> fmt::Debug for Pacer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pacer").field("on", &self.is_on()).finish()
    }
}
