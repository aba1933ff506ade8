//! The accounts one [`crate::Claims`] instance holds, in memory: how many guards hold each,
//! when each was last used, and when its claim was last written. Pure bookkeeping on monotonic
//! time, no I/O — taking and returning a guard is what a request does, so it must be cheap —
//! plus the keeper's plan of what to write next.

use std::collections::HashMap;
use std::time::Duration;

/// One held account.
#[derive(Debug)]
struct Hold {
    /// Live guards on it.
    guards: usize,
    /// When a guard was last taken or returned.
    last_used: Duration,
    /// When this instance last wrote its claim (taken or renewed); `None` while the first
    /// write is still to do.
    written_at: Option<Duration>,
}

/// What the next write of the claims file does for this instance.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Accounts whose first claim is still to be written.
    pub(crate) claim: Vec<String>,
    /// Accounts whose heartbeat is renewed (all written ones, once any is due).
    pub(crate) renew: Vec<String>,
    /// Accounts idle long enough to release (already forgotten in memory).
    pub(crate) release: Vec<String>,
}

impl Plan {
    /// Whether the plan needs no write.
    pub(crate) fn is_empty(&self) -> bool {
        self.claim.is_empty() && self.renew.is_empty() && self.release.is_empty()
    }

    /// The accounts whose claim the write puts on file.
    pub(crate) fn written(&self) -> impl Iterator<Item = &String> {
        self.claim.iter().chain(&self.renew)
    }
}

/// The held accounts, by account uuid.
#[derive(Debug, Default)]
pub(crate) struct Holds {
    map: HashMap<String, Hold>,
}

impl Holds {
    /// Takes a guard on `account`; `true` when its claim is not on file yet.
    pub(crate) fn take(&mut self, account: &str, now: Duration) -> bool {
        if let Some(hold) = self.map.get_mut(account) {
            hold.guards += 1;
            hold.last_used = now;
            return hold.written_at.is_none();
        }
        self.map.insert(account.to_owned(), Hold { guards: 1, last_used: now, written_at: None });
        true
    }

    /// Returns a guard on `account` (a no-op when the account was released meanwhile).
    pub(crate) fn put_back(&mut self, account: &str, now: Duration) {
        if let Some(hold) = self.map.get_mut(account) {
            hold.guards = hold.guards.saturating_sub(1);
            hold.last_used = now;
        }
    }

    /// Live guards on `account`.
    pub(crate) fn guards(&self, account: &str) -> usize {
        self.map.get(account).map_or(0, |hold| hold.guards)
    }

    /// Whether `account`'s claim is still to be written.
    pub(crate) fn is_pending(&self, account: &str) -> bool {
        self.map.get(account).is_some_and(|hold| hold.written_at.is_none())
    }

    /// Forgets `account` unless a guard holds it; `false` (and nothing forgotten) if one does.
    pub(crate) fn forget_unused(&mut self, account: &str) -> bool {
        if self.guards(account) > 0 {
            return false;
        }
        self.map.remove(account);
        true
    }

    /// Forgets every account (they are being released), returning those whose claim may be on
    /// file.
    pub(crate) fn drain(&mut self) -> Vec<String> {
        self.map.drain().map(|(account, _)| account).collect()
    }

    /// Every held account.
    pub(crate) fn accounts(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }

    /// What to write now: first claims still to do; every written claim when any is due for
    /// its heartbeat (`heartbeat` `None`: never by itself); and the accounts no guard has held
    /// for `idle`, which are forgotten here.
    pub(crate) fn plan(
        &mut self,
        now: Duration,
        heartbeat: Option<Duration>,
        idle: Duration,
    ) -> Plan {
        let mut plan = Plan::default();
        let mut renew_due = false;
        self.map.retain(|account, hold| {
            if hold.guards == 0 && now.saturating_sub(hold.last_used) >= idle {
                if hold.written_at.is_some() {
                    plan.release.push(account.clone());
                }
                return false;
            }
            match hold.written_at {
                None => plan.claim.push(account.clone()),
                Some(at) => {
                    renew_due |= heartbeat.is_some_and(|every| now.saturating_sub(at) >= every);
                }
            }
            true
        });
        if renew_due {
            plan.renew = self
                .map
                .iter()
                .filter(|(_, hold)| hold.written_at.is_some())
                .map(|(account, _)| account.clone())
                .collect();
        }
        plan
    }

    /// Records that the claims of `accounts` were written at `now` (those still held).
    pub(crate) fn mark_written<'a>(
        &mut self,
        accounts: impl IntoIterator<Item = &'a String>,
        now: Duration,
    ) {
        for account in accounts {
            if let Some(hold) = self.map.get_mut(account) {
                hold.written_at = Some(now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_first_take_is_pending_until_written_and_later_takes_are_not() {
        let mut holds = Holds::default();
        assert!(holds.take("a", secs(0)));
        assert!(holds.take("a", secs(0)), "still not written");
        let plan = holds.plan(secs(0), Some(secs(20)), secs(40));
        assert_eq!(plan.claim, ["a"]);
        holds.mark_written(plan.written(), secs(0));
        assert!(!holds.take("a", secs(1)));
        assert_eq!(holds.guards("a"), 3);
        assert!(holds.plan(secs(1), Some(secs(20)), secs(40)).is_empty());
    }

    #[test]
    fn renewal_is_due_by_monotonic_time_and_renews_every_written_claim() {
        let mut holds = Holds::default();
        holds.take("a", secs(0));
        holds.take("b", secs(0));
        let plan = holds.plan(secs(0), Some(secs(20)), secs(40));
        holds.mark_written(plan.written(), secs(0));
        holds.take("c", secs(5));
        holds.mark_written(&["c".to_owned()], secs(5));
        assert!(holds.plan(secs(19), Some(secs(20)), secs(40)).is_empty());
        let mut renew = holds.plan(secs(20), Some(secs(20)), secs(40)).renew;
        renew.sort();
        assert_eq!(renew, ["a", "b", "c"], "one write renews them all");
        assert!(holds.plan(secs(1_000), None, secs(4_000)).renew.is_empty(), "no heartbeat");
    }

    #[test]
    fn an_account_is_released_only_when_no_guard_held_it_for_the_idle_time() {
        let mut holds = Holds::default();
        holds.take("busy", secs(0));
        holds.take("idle", secs(0));
        holds.take("never-written", secs(0));
        holds.mark_written(&["busy".to_owned(), "idle".to_owned()], secs(0));
        holds.put_back("idle", secs(10));
        holds.put_back("never-written", secs(10));
        assert!(holds.plan(secs(49), None, secs(40)).release.is_empty());
        let plan = holds.plan(secs(50), None, secs(40));
        assert_eq!(plan.release, ["idle"], "a claim never written needs no release");
        assert_eq!(holds.accounts(), ["busy"], "a held guard keeps its account, however long");
        holds.put_back("gone", secs(50));
        assert_eq!(holds.guards("gone"), 0);
    }
}
