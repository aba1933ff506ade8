//! How long a request must wait for any account of a pool (for the executor's bounded wait,
//! D15).

use std::time::Duration;

use mac_storage::{EpochMs, StoredAccount};

use crate::state::blocked_until;

/// When some account of a pool can next be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolWait {
    /// An eligible account is not rate-limited now.
    UsableNow,
    /// Every eligible account is rate-limited; the first frees up then.
    At(EpochMs),
    /// No account is eligible (none enabled and logged in): waiting will not help.
    NoEligibleAccount,
}

impl PoolWait {
    /// How long to wait from `now`: zero when usable now, `None` when waiting cannot help.
    pub fn wait_from(self, now: EpochMs) -> Option<Duration> {
        match self {
            PoolWait::UsableNow => Some(Duration::ZERO),
            PoolWait::At(at) => Some(at.duration_since(now)),
            PoolWait::NoEligibleAccount => None,
        }
    }
}

/// The soonest time any eligible account ([`StoredAccount::is_eligible`]) is not rate-limited
/// (the seed's `getMinWaitTime`, over D9's deadlines). The soft quota is not considered:
/// selection falls back to accounts over it rather than wait.
pub fn soonest_usable<'a>(
    accounts: impl IntoIterator<Item = &'a StoredAccount>,
    now: EpochMs,
) -> PoolWait {
    soonest_usable_with(accounts, now, |_| None)
}

/// [`soonest_usable`] with deadlines the caller keeps besides the stored ones (a process's own
/// holds: a model family's limit, an overload's rest, an auth backoff): an account is blocked
/// until the later of its stored deadline and `held_until`'s (past deadlines count as none).
pub fn soonest_usable_with<'a>(
    accounts: impl IntoIterator<Item = &'a StoredAccount>,
    now: EpochMs,
    held_until: impl Fn(&StoredAccount) -> Option<EpochMs>,
) -> PoolWait {
    let mut soonest: Option<EpochMs> = None;
    for account in accounts.into_iter().filter(|account| account.is_eligible()) {
        let held = held_until(account).filter(|at| *at > now);
        match blocked_until(account, now).max(held) {
            None => return PoolWait::UsableNow,
            Some(at) => soonest = Some(soonest.map_or(at, |current| current.min(at))),
        }
    }
    soonest.map_or(PoolWait::NoEligibleAccount, PoolWait::At)
}
