//! Which account serves the next attempt: [`select`], a pure function of the pool, the time,
//! the claims of other processes, the accounts that already failed in this request and the
//! request's session binding (D14).
//!
//! No I/O, no clock, no randomness: the same [`SelectionInput`] always gives the same
//! [`Selection`]. The caller reads the pool and the claims, passes `now`, and afterwards moves the
//! active pointer, the round-robin cursor and the session binding as it sees fit.
//!
//! # Terms
//!
//! - **Eligible**: [`StoredAccount::is_eligible`] — has a local uuid, enabled, not disabled for
//!   authentication problems. Nothing else is ever returned.
//! - **Usable**: eligible and [`mac_ratelimit::is_usable`] — not rate-limited (neither the
//!   header deadline nor an exhausted usage window is ahead) and not over the soft quota.
//! - **Rate-limited**: [`mac_ratelimit::is_rate_limited`], or held by the caller past `now`
//!   ([`SelectionInput::held_until`]: the executor's in-memory holds). A rate-limited account is never
//!   returned; when every eligible account is rate-limited, [`select`] returns `None` and the
//!   caller waits or fails (D15).
//! - **Claimed**: `claimed_by_other` says another live process holds the account.
//! - **Avoided**: in `avoid`, i.e. it already failed in this request.
//!
//! # Tiers
//!
//! Selection walks tiers from the top and stops at the first that yields an account. A tier is
//! a usability level split in two: accounts **not** avoided first, then the avoided ones. So an
//! avoided account is chosen only when no account that is not avoided exists at the same
//! usability level — a usable avoided account still beats one over the soft quota, and nothing
//! beats a usable account that is not avoided. (The caller tells a retry of an avoided account
//! by `avoid.contains(&selection.uuid)`.)
//!
//! Before any strategy, the **session binding** wins: the account the request's session is
//! bound to is returned when it is eligible, usable and not avoided, whatever the strategy
//! (claims are not consulted: the session keeps its prompt cache). When it is not, the binding
//! is left at once (a failover never waits for a bound account) and the strategy decides.
//!
//! | Tier | Sticky | Round-robin | Hybrid |
//! |---|---|---|---|
//! | 0 | session binding | session binding | session binding |
//! | 1. usable, not avoided | the active account (claims not consulted) → first unclaimed → first | from the cursor: first unclaimed → first; cursor moves past it | highest score; the active account is kept unless the best beats it by more than 40 |
//! | 2. usable, avoided | as tier 1 among the avoided | as tier 1 among the avoided | as tier 1 among the avoided |
//! | 3. not rate-limited (so over the soft quota), not avoided | first in file order | first in file order; cursor unchanged | as tier 1 over these accounts |
//! | 4. not rate-limited, avoided | first in file order | first in file order; cursor unchanged | as tier 1 over these accounts |
//! | — | `None` | `None` | `None` |
//!
//! "First" is file order among eligible accounts. The **active account** is the one
//! `active_uuid` names; with no pointer at all, sticky takes the first account of the file (the
//! seed's `getActiveAccount`), hybrid gives no stickiness bonus.
//!
//! **Round-robin**'s cursor is an index into the eligible accounts (file order), taken modulo
//! their number; picking the account at eligible position `p` in tiers 1–2 returns the cursor
//! `(p + 1) mod n`. Every other outcome returns the cursor unchanged.
//!
//! # Hybrid score
//!
//! score = usage + reset pace + health + freshness + stickiness + claim penalty
//! ([`HybridScore`]):
//!
//! | Term | Value |
//! |---|---|
//! | usage | (100 − u) × 450 / 100, u = the highest `five_hour` / `seven_day` utilization clamped to [0, 100]; 65 without any |
//! | reset pace | [`reset_pace`]: the minimum over windows of a score in [−160, 120]; 0 without any |
//! | health | max(0, (F − failures) × 250 / F), F = max(1, `max_auth_failures`) |
//! | freshness | min(seconds since `lastUsed`, 900) × 60 / 900 (a future `lastUsed` counts as 0 s) |
//! | stickiness | 120 for the active account, else 0 |
//! | claim penalty | −200 when another process holds the account, else 0 |
//!
//! The best is the highest total (the first in file order on a tie). When the active account is
//! in the pool and is not the best, it is kept if the best's score without stickiness is at
//! most the active account's score with stickiness plus 40 (the switch margin).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use mac_ratelimit::{is_rate_limited, is_usable};
use mac_storage::{EpochMs, StoredAccount, UsageWindow, parse_rfc3339};
use serde_json::Value;
use snafu::Snafu;

/// Usage weight of the hybrid score: a fully unused account scores 450.
const USAGE_WEIGHT: f64 = 450.0;
/// Health weight of the hybrid score: an account without auth failures scores 250.
const HEALTH_WEIGHT: f64 = 250.0;
/// Freshness weight of the hybrid score: an account idle for [`FRESHNESS_HORIZON_SECS`] or
/// longer scores 60.
const FRESHNESS_WEIGHT: f64 = 60.0;
/// Idle time (seconds) after which freshness is full.
const FRESHNESS_HORIZON_SECS: f64 = 900.0;
/// Bonus of the active account in the hybrid score.
const STICKINESS_BONUS: f64 = 120.0;
/// Penalty (negative) of an account another live process holds, in the hybrid score.
const CLAIM_PENALTY: f64 = -200.0;
/// The hybrid keeps the active account unless the best scores more than this above it.
const HYBRID_SWITCH_MARGIN: f64 = 40.0;
/// The utilization assumed when an account has no usage snapshot (percent).
const DEFAULT_UTILIZATION: f64 = 65.0;

/// The utilization the reset-pace term aims for at the moment a window resets (percent).
const PACE_TARGET_AT_RESET: f64 = 90.0;
/// Length of the 5-hour window, in milliseconds.
const FIVE_HOURS_MS: f64 = 5.0 * 3_600_000.0;
/// Length of the 7-day windows, in milliseconds.
const SEVEN_DAYS_MS: f64 = 7.0 * 86_400_000.0;
/// The lowest reset-pace term: a window far ahead of its pace.
const RESET_PACE_MIN: f64 = -160.0;
/// The highest reset-pace term: a window far behind its pace.
const RESET_PACE_MAX: f64 = 120.0;

/// How [`select`] chooses among usable accounts (`account_selection_strategy`, the TypeScript
/// library's setting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Stay on the active account while it is usable; on failure take the first usable one.
    #[default]
    Sticky,
    /// Take turns over the eligible accounts from a cursor.
    RoundRobin,
    /// Score every usable account by usage, reset pace, health and idleness, with a bonus for
    /// staying and a penalty for accounts other processes hold.
    Hybrid,
}

impl Strategy {
    /// Every strategy, in the order of the docs.
    pub const ALL: [Strategy; 3] = [Strategy::Sticky, Strategy::RoundRobin, Strategy::Hybrid];

    /// The configuration name: `sticky`, `round-robin` or `hybrid`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Strategy::Sticky => "sticky",
            Strategy::RoundRobin => "round-robin",
            Strategy::Hybrid => "hybrid",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A strategy name that is not `sticky`, `round-robin` or `hybrid`.
#[derive(Clone, Debug, PartialEq, Eq, Snafu)]
#[snafu(display(
    "unknown selection strategy `{value}` (expected `sticky`, `round-robin` or `hybrid`)"
))]
pub struct UnknownStrategy {
    value: String,
}

impl UnknownStrategy {
    /// The name that was given.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl FromStr for Strategy {
    type Err = UnknownStrategy;

    /// Parses the exact configuration names; anything else is an error rather than
    /// a silent fallback to sticky (D17).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Strategy::ALL
            .into_iter()
            .find(|strategy| strategy.as_str() == s)
            .ok_or_else(|| UnknownStrategy { value: s.to_owned() })
    }
}

/// Everything [`select`] looks at. The caller reads it; selection only computes.
pub struct SelectionInput<'a> {
    /// The pool, in file order (order decides "first" and round-robin positions).
    pub accounts: &'a [StoredAccount],
    /// The shared active pointer (`activeAccountUuid`): sticky's default and hybrid's
    /// stickiness bonus.
    pub active_uuid: Option<&'a str>,
    /// The time every limit is judged at.
    pub now: EpochMs,
    /// Whether another live process holds the account (by local uuid).
    pub claimed_by_other: &'a dyn Fn(&str) -> bool,
    /// Deadlines the caller keeps besides the stored ones (the executor's in-memory holds for
    /// this request's model family, an auth backoff): an account held past `now` counts as
    /// rate-limited.
    pub held_until: &'a dyn Fn(&StoredAccount) -> Option<EpochMs>,
    /// Accounts (local uuids) that already failed in this request: chosen only when no
    /// other account is at the same usability level.
    pub avoid: &'a HashSet<String>,
    /// The account this request's session is bound to, if any.
    pub session_account: Option<&'a str>,
    /// The soft quota in percent: 100 or more turns it off.
    pub soft_quota_percent: f64,
    /// `max_consecutive_auth_failures`, for the hybrid health term.
    pub max_auth_failures: u32,
    /// Round-robin's cursor: an index into the eligible accounts, taken modulo their number.
    pub round_robin_cursor: usize,
}

impl fmt::Debug for SelectionInput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uuids: Vec<Option<&str>> =
            self.accounts.iter().map(|account| account.uuid.as_deref()).collect();
        f.debug_struct("SelectionInput")
            .field("accounts", &uuids)
            .field("active_uuid", &self.active_uuid)
            .field("now", &self.now)
            .field("avoid", &self.avoid)
            .field("session_account", &self.session_account)
            .field("soft_quota_percent", &self.soft_quota_percent)
            .field("max_auth_failures", &self.max_auth_failures)
            .field("round_robin_cursor", &self.round_robin_cursor)
            .finish_non_exhaustive()
    }
}

/// The chosen account and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// Its local uuid.
    pub uuid: String,
    /// Its position in [`SelectionInput::accounts`].
    pub index: usize,
    /// The rule that chose it.
    pub reason: SelectionReason,
    /// The round-robin cursor to pass next time (unchanged unless round-robin moved it).
    pub next_round_robin_cursor: usize,
}

/// The rule that chose an account (see the tier table in the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SelectionReason {
    /// The request's session is bound to it, and it is usable and not avoided.
    SessionBinding,
    /// Sticky: the active account is usable (claims are not consulted for it).
    Active,
    /// Sticky: the active account is not usable; the first usable account no other process
    /// holds.
    FirstUsableUnclaimed,
    /// Sticky: every usable account is held by another process; the first usable one.
    FirstUsable,
    /// Round-robin: the next usable account from the cursor that no other process holds.
    RoundRobinUnclaimed,
    /// Round-robin: every usable account is held by another process; the next usable one from
    /// the cursor.
    RoundRobin,
    /// Sticky or round-robin: nothing is usable; the first account that is not rate-limited
    /// (so it is over the soft quota).
    NotRateLimited,
    /// Hybrid: the highest score of its tier (when nothing is usable, the tier of accounts
    /// over the soft quota).
    HybridBest {
        /// Its total score.
        score: f64,
    },
    /// Hybrid: the active account, kept because the best did not beat it by more than the
    /// switch margin.
    HybridKeptActive {
        /// The active account's total score (with stickiness).
        score: f64,
        /// The best account's score without stickiness.
        best_score: f64,
    },
}

/// The terms of one account's hybrid score (the TypeScript library's terms plus the reset
/// pace), kept apart so a decision can be explained.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HybridScore {
    /// (100 − highest utilization) × 450 / 100.
    pub usage: f64,
    /// [`reset_pace`], in [−160, 120].
    pub reset_pace: f64,
    /// Up to 250, less for each consecutive auth failure.
    pub health: f64,
    /// Up to 60 for an account idle 15 minutes or more.
    pub freshness: f64,
    /// 120 for the active account, else 0.
    pub stickiness: f64,
    /// −200 when another process holds the account, else 0.
    pub claim_penalty: f64,
}

impl HybridScore {
    /// The sum of every term.
    pub fn total(&self) -> f64 {
        self.usage
            + self.reset_pace
            + self.health
            + self.freshness
            + self.stickiness
            + self.claim_penalty
    }

    /// The sum of every term but stickiness.
    pub fn without_stickiness(&self) -> f64 {
        self.total() - self.stickiness
    }
}

/// Computes one account's hybrid score at `now` (see the module docs for each term).
pub fn hybrid_score(
    account: &StoredAccount,
    now: EpochMs,
    max_auth_failures: u32,
    is_active: bool,
    claimed_by_other: bool,
) -> HybridScore {
    HybridScore {
        reset_pace: reset_pace(account, now),
        ..score_without_pace(account, now, max_auth_failures, is_active, claimed_by_other)
    }
}

/// [`hybrid_score`] with a reset pace of 0: every term but the one that costs (it parses every
/// window's reset time) and is bounded to [`RESET_PACE_MIN`]..=[`RESET_PACE_MAX`].
fn score_without_pace(
    account: &StoredAccount,
    now: EpochMs,
    max_auth_failures: u32,
    is_active: bool,
    claimed_by_other: bool,
) -> HybridScore {
    let max_utilization = account
        .cached_usage
        .as_ref()
        .and_then(|usage| {
            [&usage.five_hour, &usage.seven_day]
                .into_iter()
                .flatten()
                .map(|window| window.utilization)
                .filter(|utilization| !utilization.is_nan())
                .reduce(f64::max)
        })
        .unwrap_or(DEFAULT_UTILIZATION)
        .clamp(0.0, 100.0);
    let max_failures = f64::from(max_auth_failures.max(1));
    let failures = f64::from(account.consecutive_auth_failures);
    let idle_secs = now.duration_since(account.last_used).as_secs_f64();
    HybridScore {
        usage: (100.0 - max_utilization) * USAGE_WEIGHT / 100.0,
        reset_pace: 0.0,
        health: ((max_failures - failures) * HEALTH_WEIGHT / max_failures).max(0.0),
        freshness: idle_secs.min(FRESHNESS_HORIZON_SECS) * FRESHNESS_WEIGHT
            / FRESHNESS_HORIZON_SECS,
        stickiness: if is_active { STICKINESS_BONUS } else { 0.0 },
        claim_penalty: if claimed_by_other { CLAIM_PENALTY } else { 0.0 },
    }
}

/// The reset-pace term of the hybrid score: how far each usage window is behind
/// (or ahead of) a pace that would reach 90 % just as it resets.
///
/// Windows: `five_hour` (5 h long), `seven_day`, `seven_day_sonnet` and any other
/// `seven_day_*` window of the snapshot (7 days long). For each window with a utilization and
/// a parseable `resets_at`: elapsed = clamp(1 − time to reset / length, 0, 1) (a reset in the
/// past counts as fully elapsed); slack = 90 × elapsed − clamp(utilization, 0, 100); the
/// window scores min(120, 3 × slack) when slack ≥ 0, else max(−160, 4 × slack). The term is
/// the minimum over the windows, 0 when there is none.
pub fn reset_pace(account: &StoredAccount, now: EpochMs) -> f64 {
    let Some(usage) = account.cached_usage.as_ref() else { return 0.0 };
    let named = [
        (&usage.five_hour, FIVE_HOURS_MS),
        (&usage.seven_day, SEVEN_DAYS_MS),
        (&usage.seven_day_sonnet, SEVEN_DAYS_MS),
    ]
    .into_iter()
    .filter_map(|(window, length)| {
        let window: &UsageWindow = window.as_ref()?;
        window_pace(window.utilization, window.resets_at.as_deref()?, length, now)
    });
    let others = usage.extra.iter().filter(|(key, _)| key.starts_with("seven_day_")).filter_map(
        |(_, value)| {
            let utilization = value.get("utilization").and_then(Value::as_f64)?;
            let resets_at = value.get("resets_at").and_then(Value::as_str)?;
            window_pace(utilization, resets_at, SEVEN_DAYS_MS, now)
        },
    );
    named.chain(others).reduce(f64::min).unwrap_or(0.0)
}

/// One window's reset-pace score; `None` without a usable utilization or a parseable reset.
#[allow(clippy::cast_precision_loss)] // a time to reset far beyond 2^52 ms only clamps
fn window_pace(utilization: f64, resets_at: &str, length_ms: f64, now: EpochMs) -> Option<f64> {
    if utilization.is_nan() {
        return None;
    }
    let reset = parse_rfc3339(resets_at)?;
    let to_reset = reset.as_millis().saturating_sub(now.as_millis()).max(0) as f64;
    let elapsed = (1.0 - to_reset / length_ms).clamp(0.0, 1.0);
    let slack = PACE_TARGET_AT_RESET * elapsed - utilization.clamp(0.0, 100.0);
    Some(if slack >= 0.0 {
        (3.0 * slack).min(RESET_PACE_MAX)
    } else {
        (4.0 * slack).max(RESET_PACE_MIN)
    })
}

/// Chooses the account for the next attempt, or `None` when every eligible account is
/// rate-limited (or none is eligible). See the module docs for the tiers of each strategy.
pub fn select(strategy: Strategy, input: &SelectionInput<'_>) -> Option<Selection> {
    let pool = Pool::new(input);
    if let Some(selection) = pool.session_binding() {
        return Some(selection);
    }
    match strategy {
        Strategy::Sticky => pool.sticky(),
        Strategy::RoundRobin => pool.round_robin(),
        Strategy::Hybrid => pool.hybrid(),
    }
}

/// One eligible account with every fact selection asks about, computed once.
struct Candidate<'a> {
    index: usize,
    uuid: &'a str,
    account: &'a StoredAccount,
    limits: Limits,
    avoided: bool,
    claimed: bool,
}

/// Where an account stands by its limits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Limits {
    Usable,
    OverSoftQuota,
    RateLimited,
}

/// The usability levels of the tier table, best first.
#[derive(Clone, Copy)]
enum Level {
    Usable,
    NotRateLimited,
}

impl Candidate<'_> {
    fn usable(&self) -> bool {
        self.limits == Limits::Usable
    }

    fn at(&self, level: Level, avoided: bool) -> bool {
        self.avoided == avoided
            && match level {
                Level::Usable => self.usable(),
                Level::NotRateLimited => self.limits != Limits::RateLimited,
            }
    }

    fn selection(&self, reason: SelectionReason, next_round_robin_cursor: usize) -> Selection {
        Selection { uuid: self.uuid.to_owned(), index: self.index, reason, next_round_robin_cursor }
    }
}

/// The eligible accounts of an input, in file order.
struct Pool<'i, 'a> {
    input: &'i SelectionInput<'a>,
    eligible: Vec<Candidate<'a>>,
}

impl<'i, 'a> Pool<'i, 'a> {
    fn new(input: &'i SelectionInput<'a>) -> Self {
        let mut eligible = Vec::with_capacity(input.accounts.len());
        eligible.extend(
            input
                .accounts
                .iter()
                .enumerate()
                .filter(|(_, account)| account.is_eligible())
                .filter_map(|(index, account)| {
                    let uuid = account.uuid.as_deref()?;
                    let held = (input.held_until)(account).is_some_and(|at| at > input.now);
                    let limits = if held || is_rate_limited(account, input.now) {
                        Limits::RateLimited
                    } else if is_usable(account, input.now, input.soft_quota_percent) {
                        Limits::Usable
                    } else {
                        Limits::OverSoftQuota
                    };
                    Some(Candidate {
                        index,
                        uuid,
                        account,
                        limits,
                        avoided: input.avoid.contains(uuid),
                        claimed: (input.claimed_by_other)(uuid),
                    })
                }),
        );
        Self { input, eligible }
    }

    /// Selects `candidate`, leaving the round-robin cursor where it was.
    fn pick(&self, candidate: &Candidate<'_>, reason: SelectionReason) -> Selection {
        candidate.selection(reason, self.input.round_robin_cursor)
    }

    fn find(&self, uuid: &str) -> Option<&Candidate<'a>> {
        self.eligible.iter().find(|candidate| candidate.uuid == uuid)
    }

    fn first(&self, matches: impl Fn(&Candidate<'a>) -> bool) -> Option<&Candidate<'a>> {
        self.eligible.iter().find(|candidate| matches(candidate))
    }

    /// Tier 0: the session's account while it is usable and not avoided.
    fn session_binding(&self) -> Option<Selection> {
        let bound = self.find(self.input.session_account?)?;
        (bound.usable() && !bound.avoided)
            .then(|| self.pick(bound, SelectionReason::SessionBinding))
    }

    /// Tiers 3–4 of sticky and round-robin: the first account that is not rate-limited.
    fn not_rate_limited(&self) -> Option<Selection> {
        [false, true].into_iter().find_map(|avoided| {
            self.first(|c| c.at(Level::NotRateLimited, avoided))
                .map(|c| self.pick(c, SelectionReason::NotRateLimited))
        })
    }

    fn sticky(&self) -> Option<Selection> {
        let active = match self.input.active_uuid {
            Some(uuid) => self.find(uuid),
            None => self.eligible.first().filter(|candidate| candidate.index == 0),
        };
        for avoided in [false, true] {
            if let Some(active) = active.filter(|c| c.at(Level::Usable, avoided)) {
                return Some(self.pick(active, SelectionReason::Active));
            }
            if let Some(c) = self.first(|c| c.at(Level::Usable, avoided) && !c.claimed) {
                return Some(self.pick(c, SelectionReason::FirstUsableUnclaimed));
            }
            if let Some(c) = self.first(|c| c.at(Level::Usable, avoided)) {
                return Some(self.pick(c, SelectionReason::FirstUsable));
            }
        }
        self.not_rate_limited()
    }

    fn round_robin(&self) -> Option<Selection> {
        let n = self.eligible.len();
        if n == 0 {
            return None;
        }
        let start = self.input.round_robin_cursor % n;
        for avoided in [false, true] {
            for unclaimed_only in [true, false] {
                let found = (0..n).map(|k| (start + k) % n).find(|&position| {
                    let c = &self.eligible[position];
                    c.at(Level::Usable, avoided) && !(unclaimed_only && c.claimed)
                });
                if let Some(position) = found {
                    let reason = if unclaimed_only {
                        SelectionReason::RoundRobinUnclaimed
                    } else {
                        SelectionReason::RoundRobin
                    };
                    return Some(self.eligible[position].selection(reason, (position + 1) % n));
                }
            }
        }
        self.not_rate_limited()
    }

    fn hybrid(&self) -> Option<Selection> {
        let levels = [Level::Usable, Level::NotRateLimited];
        let mut tiers = levels.into_iter().flat_map(|level| [(level, false), (level, true)]);
        tiers.find_map(|(level, avoided)| self.hybrid_tier(level, avoided))
    }

    /// Scores the tier's accounts; `None` when the tier is empty.
    ///
    /// The reset pace is computed only for accounts that can still be the best: an account
    /// whose other terms plus the highest pace stay below some account's other terms plus the
    /// lowest pace cannot win, and is left out (the active account is always scored, for the
    /// switch margin). The choice is the one scoring every account would make; at 100 accounts
    /// this skips a third to a half of the reset-time parsing that made hybrid the slowest
    /// strategy.
    fn hybrid_tier(&self, level: Level, avoided: bool) -> Option<Selection> {
        let input = self.input;
        let mut scored: Vec<(&Candidate<'a>, HybridScore)> =
            Vec::with_capacity(self.eligible.len());
        let mut floor = f64::NEG_INFINITY;
        for c in self.eligible.iter().filter(|c| c.at(level, avoided)) {
            let is_active = input.active_uuid == Some(c.uuid);
            let partial = score_without_pace(
                c.account,
                input.now,
                input.max_auth_failures,
                is_active,
                c.claimed,
            );
            floor = floor.max(partial.total() + RESET_PACE_MIN);
            scored.push((c, partial));
        }
        scored.retain_mut(|(c, score)| {
            let is_active = input.active_uuid == Some(c.uuid);
            let contender = is_active || score.total() + RESET_PACE_MAX >= floor;
            if contender {
                score.reset_pace = reset_pace(c.account, input.now);
            }
            contender
        });
        let mut best = scored.first()?;
        for entry in &scored[1..] {
            if entry.1.total() > best.1.total() {
                best = entry;
            }
        }
        let active = scored.iter().find(|(c, _)| input.active_uuid == Some(c.uuid));
        if let Some((active, active_score)) = active
            && active.index != best.0.index
        {
            let best_score = best.1.without_stickiness();
            if best_score <= active_score.total() + HYBRID_SWITCH_MARGIN {
                let reason =
                    SelectionReason::HybridKeptActive { score: active_score.total(), best_score };
                return Some(self.pick(active, reason));
            }
        }
        Some(self.pick(best.0, SelectionReason::HybridBest { score: best.1.total() }))
    }
}
