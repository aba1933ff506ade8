//! What a rate-limit response means and how long the account rests (D9, D10; other pools lock
//! accounts for hours on a transient throttle): [`classify`] names the kind of limit, [`decide`]
//! turns it into a deadline by the table in the crate docs.

use std::time::Duration;

use http::StatusCode;
use mac_storage::EpochMs;

use crate::ladder::Ladder;
use crate::observation::{
    CodexWindow, ErrorKind, MAX_HORIZON, OVERLOADED, Observation, UnifiedStatus,
};

/// The kind of a rate-limit response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateLimitClass {
    /// A short throttle (requests per minute, a burst): no usage window is exhausted.
    Throttle,
    /// The 5-hour window is used up.
    FiveHourExhausted,
    /// The 7-day window (or a 7-day model window such as `seven_day_opus`) is used up.
    SevenDayExhausted,
    /// The request would be billed outside the subscription: keep away for a day.
    BillingClaim,
    /// The provider is overloaded (529, `overloaded_error`): trouble for every account, not a
    /// sign of this account's quota.
    Overload,
}

impl RateLimitClass {
    /// Every class, in the order metrics list them.
    pub const ALL: [RateLimitClass; 5] = [
        Self::Throttle,
        Self::FiveHourExhausted,
        Self::SevenDayExhausted,
        Self::BillingClaim,
        Self::Overload,
    ];

    /// Its name in metrics, event streams and pages: `throttle`, `five_hour`, `seven_day`,
    /// `billing`, `overload`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Throttle => "throttle",
            Self::FiveHourExhausted => "five_hour",
            Self::SevenDayExhausted => "seven_day",
            Self::BillingClaim => "billing",
            Self::Overload => "overload",
        }
    }

    /// Whether fetching the account's usage can tell more (the seed fetches it after a 429
    /// and skips it for billing claims). An overload says nothing about the account either.
    pub fn wants_usage_refresh(self) -> bool {
        matches!(self, Self::Throttle | Self::FiveHourExhausted | Self::SevenDayExhausted)
    }
}

/// Where a decision's deadline came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Basis {
    /// The exhausted window's own reset (unified `5h`/`7d` reset, Codex reset-at or
    /// reset-after-seconds).
    WindowReset,
    /// `anthropic-ratelimit-unified-reset`.
    UnifiedReset,
    /// The error body's `resets_at` / `resets_in_seconds`.
    BodyReset,
    /// `retry-after-ms` / `retry-after`.
    RetryAfter,
    /// The class's fixed minimum (24 h for a billing claim, the overload cooldown).
    Floor,
    /// The backoff ladder, at this rung (the streak before this response).
    Ladder {
        /// The rung used.
        rung: u32,
    },
}

/// What to do with the account after a rate-limit response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decision {
    /// The kind of limit.
    pub class: RateLimitClass,
    /// The account rests until then.
    pub until: EpochMs,
    /// Where `until` came from.
    pub basis: Basis,
}

impl Decision {
    /// Whether the deadline came from the ladder (so the streak climbs one rung).
    pub fn uses_ladder(&self) -> bool {
        matches!(self.basis, Basis::Ladder { .. })
    }
}

/// The tunable parts of the cooldown table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CooldownPolicy {
    /// The ladder for responses without a usable deadline. Default 10 s doubling to 5 min.
    pub ladder: Ladder,
    /// How long a billing claim keeps the account away at least. Default 24 h, as in the seed.
    pub billing_block: Duration,
    /// How long an overload rests the account at least. Default 15 s; never more than the
    /// ladder's cap, whatever `retry-after` says.
    pub overload_cooldown: Duration,
}

impl Default for CooldownPolicy {
    fn default() -> Self {
        Self {
            ladder: Ladder::DEFAULT,
            billing_block: Duration::from_secs(24 * 3600),
            overload_cooldown: Duration::from_secs(15),
        }
    }
}

/// The kind of rate limit a response is, or `None` when it is not one: a 529 or an
/// `overloaded_error` body is an overload; otherwise only a 429 is a rate limit. A 429 is, in
/// this order: a billing claim, a 7-day exhaustion, a 5-hour exhaustion, else a throttle
/// (see the crate docs for what marks a window exhausted).
pub fn classify(observation: &Observation) -> Option<RateLimitClass> {
    let overloaded_body = observation.error.is_some_and(|e| e.kind == ErrorKind::Overloaded);
    if observation.status == OVERLOADED || overloaded_body {
        return Some(RateLimitClass::Overload);
    }
    if observation.status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    if observation.billing_claim().is_some() {
        return Some(RateLimitClass::BillingClaim);
    }
    let exhausted = Exhausted::of(observation);
    Some(if exhausted.seven_day {
        RateLimitClass::SevenDayExhausted
    } else if exhausted.five_hour {
        RateLimitClass::FiveHourExhausted
    } else if observation.error.is_some_and(|e| e.kind == ErrorKind::UsageLimitReached) {
        // Codex said a window is used up but no header says which: a reset more than 5 h
        // away cannot be the 5-hour window's.
        let five_hours_later = observation.observed_at.saturating_add(FIVE_HOURS);
        match observation.error.and_then(|e| e.resets_at) {
            Some(reset) if reset > five_hours_later => RateLimitClass::SevenDayExhausted,
            _ => RateLimitClass::FiveHourExhausted,
        }
    } else {
        RateLimitClass::Throttle
    })
}

/// The decision for a response, given the account's current streak (its ladder rung) and
/// `now`; `None` when the response is not a rate limit. The deadline is always after `now`
/// and at most `now + MAX_HORIZON`.
pub fn decide(
    observation: &Observation,
    streak: u32,
    policy: &CooldownPolicy,
    now: EpochMs,
) -> Option<Decision> {
    let class = classify(observation)?;
    let future = |at: Option<EpochMs>| at.filter(|at| *at > now);
    let retry_after = future(observation.retry_after());
    let ladder =
        || (now.saturating_add(policy.ladder.delay(streak)), Basis::Ladder { rung: streak });
    let (until, basis) = match class {
        RateLimitClass::Overload => {
            let floor = now.saturating_add(policy.overload_cooldown.min(policy.ladder.cap()));
            let cap = now.saturating_add(policy.ladder.cap());
            match retry_after {
                Some(at) if at > floor => (at.min(cap), Basis::RetryAfter),
                _ => (floor, Basis::Floor),
            }
        }
        RateLimitClass::BillingClaim => {
            let floor = now.saturating_add(policy.billing_block);
            match retry_after {
                Some(at) if at > floor => (at, Basis::RetryAfter),
                _ => (floor, Basis::Floor),
            }
        }
        RateLimitClass::FiveHourExhausted | RateLimitClass::SevenDayExhausted => {
            future(Exhausted::of(observation).reset(observation))
                .map(|at| (at, Basis::WindowReset))
                .or_else(|| future(observation.unified.reset).map(|at| (at, Basis::UnifiedReset)))
                .or_else(|| {
                    future(observation.error.and_then(|e| e.resets_at))
                        .map(|at| (at, Basis::BodyReset))
                })
                .or_else(|| retry_after.map(|at| (at, Basis::RetryAfter)))
                .unwrap_or_else(ladder)
        }
        RateLimitClass::Throttle => retry_after.map_or_else(ladder, |at| (at, Basis::RetryAfter)),
    };
    let until = until.min(now.saturating_add(MAX_HORIZON));
    Some(Decision { class, until, basis })
}

const FIVE_HOURS: Duration = Duration::from_secs(5 * 3600);

/// Which windows a 429 says are used up.
#[derive(Clone, Copy, Debug, Default)]
struct Exhausted {
    five_hour: bool,
    seven_day: bool,
}

impl Exhausted {
    /// A window is exhausted when its own status is `rejected`, its utilization is at least
    /// 100 %, or the unified status is `rejected` and the representative claim names it
    /// (`five_hour`; `seven_day` or `seven_day_*`). A Codex window counts at 100 % used; its
    /// `window-minutes` decides whether it is the short or the long one.
    fn of(observation: &Observation) -> Self {
        let unified = &observation.unified;
        let rejected = unified.status == Some(UnifiedStatus::Rejected);
        let claim = unified.representative_claim.as_deref().unwrap_or("");
        let window_full = |status: Option<UnifiedStatus>, utilization: Option<f64>| {
            status == Some(UnifiedStatus::Rejected) || utilization.is_some_and(|u| u >= 100.0)
        };
        let mut exhausted = Exhausted {
            five_hour: window_full(unified.five_hour.status, unified.five_hour.utilization)
                || (rejected && claim == "five_hour"),
            seven_day: window_full(unified.seven_day.status, unified.seven_day.utilization)
                || (rejected && claim.starts_with("seven_day")),
        };
        for (window, long_by_default) in codex_windows(observation) {
            if window.used_percent.is_some_and(|used| used >= 100.0) {
                if window.is_long(long_by_default) {
                    exhausted.seven_day = true;
                } else {
                    exhausted.five_hour = true;
                }
            }
        }
        exhausted
    }

    /// The latest reset among the exhausted windows' own reset times.
    fn reset(self, observation: &Observation) -> Option<EpochMs> {
        let unified = &observation.unified;
        let mut resets = Vec::new();
        if self.five_hour {
            resets.push(unified.five_hour.reset);
        }
        if self.seven_day {
            resets.push(unified.seven_day.reset);
        }
        for (window, long_by_default) in codex_windows(observation) {
            let long = window.is_long(long_by_default);
            let full = window.used_percent.is_some_and(|used| used >= 100.0);
            if full && ((long && self.seven_day) || (!long && self.five_hour)) {
                resets.push(window.reset());
            }
        }
        resets.into_iter().flatten().max()
    }
}

fn codex_windows(observation: &Observation) -> [(&CodexWindow, bool); 2] {
    [(&observation.codex.primary, false), (&observation.codex.secondary, true)]
}
