//! [`Holds`]: deadlines this process keeps in memory, beside the shared accounts file, that keep
//! an account (or one model family on it) out of selection until they pass (D10: nothing has
//! to clear them).
//!
//! What goes here rather than into the file:
//!
//! - a model family's weekly limit (`seven_day_opus`): the file has one account-wide deadline,
//!   and writing a family's limit there would block every other family;
//! - an overload's short rest: an overload is the provider's state, not the account's, so it
//!   is not shared with other processes (each meets the overload itself);
//! - a transient auth failure (a 401 after a fresh refresh): a short backoff that never counts
//!   toward disabling the account;
//! - a rate limit whose write to the file failed: the cooldown still holds in this process.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use mac_ratelimit::{ModelFamily, Scope};
use mac_storage::EpochMs;

/// One account's holds.
#[derive(Clone, Copy, Debug, Default)]
struct AccountHolds {
    account: Option<EpochMs>,
    families: [Option<EpochMs>; ModelFamily::ALL.len()],
}

/// The in-memory holds of one pool, by account uuid.
#[derive(Debug, Default)]
pub(crate) struct Holds {
    accounts: Mutex<HashMap<String, AccountHolds>>,
}

impl Holds {
    /// Holds `uuid` in `scope` until `until`; a later hold already in place is kept.
    pub(crate) fn hold(&self, uuid: &str, scope: Scope, until: EpochMs) {
        let mut accounts = self.lock();
        let holds = accounts.entry(uuid.to_owned()).or_default();
        let slot = match scope {
            Scope::Account => &mut holds.account,
            Scope::Family(family) => &mut holds.families[family.index()],
        };
        *slot = Some(slot.map_or(until, |at| at.max(until)));
    }

    /// Until when `uuid` is held for a request of `family` (`None` for a request of no known
    /// family: only account-wide holds apply), if that is after `now`.
    pub(crate) fn until(
        &self,
        uuid: &str,
        family: Option<ModelFamily>,
        now: EpochMs,
    ) -> Option<EpochMs> {
        let accounts = self.lock();
        let holds = accounts.get(uuid)?;
        let family_hold = family.and_then(|family| holds.families[family.index()]);
        holds.account.max(family_hold).filter(|at| *at > now)
    }

    /// Every model family's hold still ahead of `now`: (account uuid, family, until).
    pub(crate) fn families(&self, now: EpochMs) -> Vec<(String, ModelFamily, EpochMs)> {
        let accounts = self.lock();
        let mut held = Vec::new();
        for (uuid, holds) in accounts.iter() {
            for family in ModelFamily::ALL {
                if let Some(until) = holds.families[family.index()].filter(|at| *at > now) {
                    held.push((uuid.clone(), family, until));
                }
            }
        }
        held
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, AccountHolds>> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_keep_their_scope_and_pass_by_themselves() {
        let holds = Holds::default();
        let at = |ms| EpochMs::from_millis(ms);
        holds.hold("a", Scope::Family(ModelFamily::Opus), at(1_000));
        assert_eq!(holds.until("a", Some(ModelFamily::Opus), at(0)), Some(at(1_000)));
        assert_eq!(holds.until("a", Some(ModelFamily::Sonnet), at(0)), None);
        assert_eq!(holds.until("a", None, at(0)), None);
        assert_eq!(holds.until("a", Some(ModelFamily::Opus), at(1_000)), None, "passed");
        holds.hold("a", Scope::Account, at(500));
        holds.hold("a", Scope::Account, at(200));
        assert_eq!(holds.until("a", None, at(0)), Some(at(500)), "a shorter hold never shortens");
        assert_eq!(holds.until("a", Some(ModelFamily::Opus), at(0)), Some(at(1_000)));
        assert_eq!(holds.until("b", None, at(0)), None);
        assert_eq!(holds.families(at(0)), [("a".to_owned(), ModelFamily::Opus, at(1_000))]);
        assert_eq!(holds.families(at(1_000)), [], "passed");
    }
}
