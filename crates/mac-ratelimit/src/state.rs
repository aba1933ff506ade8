//! An account's limit state, read from its stored fields (D9, D10): pure functions of a
//! [`StoredAccount`] and `now`.
//!
//! Two sources stay apart: the header-derived deadline `rateLimitResetAt` (set by
//! [`apply`] after a 429) and the usage-derived exhaustion (windows of the cached usage at
//! 100 % or more with a future reset). The account is blocked until the later of the active
//! ones. Both are deadlines that pass by themselves: nothing has to clear them (other pools kept
//! expired cooldowns until a restart).

use mac_storage::{EpochMs, StoredAccount, UsageWindow};

use crate::classify::{Basis, Decision};
use mac_storage::parse_rfc3339;

/// The header-derived deadline, if it is still ahead.
pub fn header_blocked_until(account: &StoredAccount, now: EpochMs) -> Option<EpochMs> {
    account.rate_limit_reset_at.filter(|at| *at > now)
}

/// The usage-derived deadline: the latest future `resets_at` among the `five_hour` and
/// `seven_day` windows at 100 % or more. A window below 100 % never blocks, whatever its
/// reset (the seed let a 20 % window resetting in 4 h park the account); a full window
/// without a readable future reset does not block either (the next 429 will say more).
/// `seven_day_sonnet` is ignored, as in the seed's selection.
pub fn usage_exhausted_until(account: &StoredAccount, now: EpochMs) -> Option<EpochMs> {
    let usage = account.cached_usage.as_ref()?;
    [&usage.five_hour, &usage.seven_day]
        .into_iter()
        .flatten()
        .filter(|window| window.utilization >= 100.0)
        .filter_map(reset_of)
        .filter(|at| *at > now)
        .max()
}

/// When the account may be used again: the later of [`header_blocked_until`] and
/// [`usage_exhausted_until`]; `None` when it is not blocked.
pub fn blocked_until(account: &StoredAccount, now: EpochMs) -> Option<EpochMs> {
    header_blocked_until(account, now).max(usage_exhausted_until(account, now))
}

/// Whether the account is rate-limited at `now` (the seed's `isRateLimited`, with D9's sources).
pub fn is_rate_limited(account: &StoredAccount, now: EpochMs) -> bool {
    blocked_until(account, now).is_some()
}

/// Whether the cached usage is at or over the soft quota (the seed's `exceedsSoftQuota`): a
/// threshold of 100 or more (or not a number) turns the check off; no cached usage is never
/// over; otherwise the `five_hour` or `seven_day` utilization at or above the threshold is
/// over, whatever the reset time.
pub fn exceeds_soft_quota(account: &StoredAccount, threshold_percent: f64) -> bool {
    if threshold_percent.is_nan() || threshold_percent >= 100.0 {
        return false;
    }
    let Some(usage) = account.cached_usage.as_ref() else { return false };
    [&usage.five_hour, &usage.seven_day]
        .into_iter()
        .flatten()
        .any(|window| window.utilization >= threshold_percent)
}

/// Whether selection may pick the account now by its limits: not rate-limited and not over
/// the soft quota (`soft_threshold_percent`; 100 turns it off). Eligibility (enabled, not
/// auth-disabled, has a uuid) is [`StoredAccount::is_eligible`], checked separately.
pub fn is_usable(account: &StoredAccount, now: EpochMs, soft_threshold_percent: f64) -> bool {
    !is_rate_limited(account, now) && !exceeds_soft_quota(account, soft_threshold_percent)
}

/// Records a decision on the account: `rateLimitResetAt` becomes the later of a deadline
/// still ahead and the new one (a short throttle never shortens a known longer block; a
/// passed deadline is simply replaced), and a ladder-based decision climbs the streak one
/// rung past the rung it used. Other decisions leave the streak alone; a success resets it
/// (`AccountStore::record_success`).
pub fn apply(account: &mut StoredAccount, decision: &Decision, now: EpochMs) {
    let until =
        header_blocked_until(account, now).map_or(decision.until, |at| at.max(decision.until));
    account.rate_limit_reset_at = Some(until);
    if let Basis::Ladder { rung } = decision.basis {
        account.rate_limit_streak = account.rate_limit_streak.max(rung).saturating_add(1);
    }
}

fn reset_of(window: &UsageWindow) -> Option<EpochMs> {
    window.resets_at.as_deref().and_then(parse_rfc3339)
}
