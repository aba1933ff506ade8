//! What the status page shows beyond the pool file: per account, the attempts and errors of the
//! last minutes, the last rotation and the last cooldown with its class; per pool, the account
//! serving now and the requests per second; and the last notable events, so a page opened now
//! sees what just happened. [`Activity`] folds the gateway's events into these counters while a
//! page watches (one subscriber of the event hub; memory bounded by the pool's size and fixed
//! slot rings). [`Watched`] starts it when the first page opens its event stream and lets it go
//! with the last one: while nobody watches, the hub has no subscriber, so the request path
//! builds no event, sends nothing and wakes no task (this subscriber used to run from start-up
//! and cost every request a clone per event and a task wake-up). The price: a page opened
//! after none was open starts its per-minute counters from zero (the pool's state, cooldowns
//! and usage come from `GET /v1/pool` and are complete).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use mac_executor::{PoolEvent, StreamEndKind};
use mac_storage::{EpochMs, Provider};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use crate::events::{EventHub, GatewayEvent};
use crate::status::wire::{Wire, family_of, is_notable};

/// How far back the per-account counters look.
pub(crate) const ACCOUNT_WINDOW_MS: i64 = 5 * 60 * 1000;
/// The per-account counters' slot width.
const ACCOUNT_SLOT_MS: i64 = 10 * 1000;
/// How far back the requests-per-second figure looks.
pub(crate) const RATE_WINDOW_MS: i64 = 60 * 1000;
/// The request-rate counter's slot width.
const RATE_SLOT_MS: i64 = 1000;
/// How many notable events a new page is shown.
const RECENT: usize = 30;

/// The counters, shared by the task that feeds them and the stream handlers that read them.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    tally: Mutex<Tally>,
}

#[derive(Debug, Default)]
struct Tally {
    accounts: BTreeMap<Provider, BTreeMap<String, AccountTally>>,
    pools: BTreeMap<Provider, PoolTally>,
    recent: VecDeque<Wire>,
}

#[derive(Debug)]
struct AccountTally {
    attempts: Slots,
    errors: Slots,
    last_selected: Option<EpochMs>,
    last_rotation: Option<Rotation>,
    last_cooldown: Option<Cooldown>,
}

impl Default for AccountTally {
    fn default() -> Self {
        Self {
            attempts: Slots::new(ACCOUNT_WINDOW_MS, ACCOUNT_SLOT_MS),
            errors: Slots::new(ACCOUNT_WINDOW_MS, ACCOUNT_SLOT_MS),
            last_selected: None,
            last_rotation: None,
            last_cooldown: None,
        }
    }
}

#[derive(Debug)]
struct PoolTally {
    requests: Slots,
    serving: Option<String>,
}

impl Default for PoolTally {
    fn default() -> Self {
        Self { requests: Slots::new(RATE_WINDOW_MS, RATE_SLOT_MS), serving: None }
    }
}

/// A sliding count: `n` slots of `width` ms, each remembering which slot of time it counts.
#[derive(Debug)]
struct Slots {
    width: i64,
    slots: Vec<(i64, u32)>,
}

impl Slots {
    fn new(window: i64, width: i64) -> Self {
        let n = usize::try_from(window / width).unwrap_or(1).max(1);
        Self { width, slots: vec![(i64::MIN, 0); n] }
    }

    fn len(&self) -> i64 {
        i64::try_from(self.slots.len()).unwrap_or(i64::MAX)
    }

    fn add(&mut self, now: EpochMs) {
        let slot = now.as_millis().div_euclid(self.width);
        let index = usize::try_from(slot.rem_euclid(self.len())).unwrap_or(0);
        if let Some(entry) = self.slots.get_mut(index) {
            if entry.0 != slot {
                *entry = (slot, 0);
            }
            entry.1 = entry.1.saturating_add(1);
        }
    }

    /// The count of the window ending at `now` (the current slot included).
    fn sum(&self, now: EpochMs) -> u32 {
        let current = now.as_millis().div_euclid(self.width);
        let oldest = current - self.len() + 1;
        self.slots
            .iter()
            .filter(|(slot, _)| (oldest..=current).contains(slot))
            .fold(0_u32, |sum, (_, n)| sum.saturating_add(*n))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Rotation {
    cause: &'static str,
    at: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Cooldown {
    class: &'static str,
    until: i64,
    /// The model family it blocks, `None` for the whole account.
    family: Option<&'static str>,
    at: i64,
}

/// The stream's `activity` event: the counters as of `at`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "activity", rename_all = "camelCase")]
pub(crate) struct Snapshot {
    /// The gateway's clock (epoch ms): the page corrects its countdowns by it.
    at: i64,
    /// The gateway's process id (the page names the accounts it holds).
    pid: u32,
    /// The per-account window, ms.
    account_window_ms: i64,
    /// The request-rate window, ms.
    rate_window_ms: i64,
    pools: Vec<PoolSnapshot>,
    accounts: Vec<AccountSnapshot>,
    /// The last notable events, oldest first (only in the stream's first snapshot).
    #[serde(skip_serializing_if = "Option::is_none")]
    recent: Option<Vec<Wire>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PoolSnapshot {
    provider: &'static str,
    /// Requests answered in the rate window.
    requests: u32,
    /// The account the last attempt went to, while it has not rotated away.
    serving: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountSnapshot {
    provider: &'static str,
    account: String,
    /// Attempts sent with it in the account window.
    attempts: u32,
    /// Rotations away from it and broken streams in the account window.
    errors: u32,
    last_selected: Option<i64>,
    last_rotation: Option<Rotation>,
    last_cooldown: Option<Cooldown>,
}

/// The counters while any page watches: one [`Activity`] shared by every open event stream,
/// started by the first and dropped with the last.
#[derive(Debug)]
pub(crate) struct Watched {
    hub: EventHub,
    current: Mutex<Weak<Activity>>,
}

impl Watched {
    /// Nothing runs until [`watch`](Self::watch).
    pub(crate) fn new(hub: EventHub) -> Self {
        Self { hub, current: Mutex::new(Weak::new()) }
    }

    /// The counters for one more watcher: the running ones, or new ones fed from now on. The
    /// feeding task stops at the first event after the last holder dropped them.
    pub(crate) fn watch(&self) -> Arc<Activity> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(activity) = current.upgrade() {
            return activity;
        }
        let activity = Activity::start(&self.hub);
        *current = Arc::downgrade(&activity);
        activity
    }
}

impl Activity {
    /// Counters fed from `hub` by a task of their own, from now until the hub closes or the
    /// returned value is dropped.
    pub(crate) fn start(hub: &EventHub) -> Arc<Self> {
        let activity = Arc::new(Self::default());
        let mut receiver = hub.subscribe();
        let weak = Arc::downgrade(&activity);
        tokio::spawn(async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => match weak.upgrade() {
                        Some(activity) => activity.record(&event, EpochMs::now()),
                        None => break,
                    },
                    // Missed events only make the counters low; they catch up from here.
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "status page counters fell behind");
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
        activity
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        // Nothing under the lock can panic half-way through an update that matters: a
        // poisoned tally is still a tally.
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Folds `event`, seen at `now`, into the counters.
    pub(crate) fn record(&self, event: &GatewayEvent, now: EpochMs) {
        let wire = if is_notable(event) { Wire::of(event, now) } else { None };
        let mut tally = self.tally();
        match event {
            GatewayEvent::Pool { provider, event } => tally.pool_event(*provider, event, now),
            GatewayEvent::RequestFinished(record) => {
                if let Some(provider) = record.route.provider() {
                    tally.pools.entry(provider).or_default().requests.add(now);
                }
            }
        }
        if let Some(wire) = wire {
            if tally.recent.len() == RECENT {
                tally.recent.pop_front();
            }
            tally.recent.push_back(wire);
        }
    }

    /// The counters as of `now`, with the recent events when `with_recent`.
    pub(crate) fn snapshot(&self, now: EpochMs, with_recent: bool) -> Snapshot {
        let tally = self.tally();
        let pools = Provider::ALL
            .into_iter()
            .map(|provider| {
                let pool = tally.pools.get(&provider);
                PoolSnapshot {
                    provider: provider.as_str(),
                    requests: pool.map_or(0, |p| p.requests.sum(now)),
                    serving: pool.and_then(|p| p.serving.clone()),
                }
            })
            .collect();
        let accounts = tally
            .accounts
            .iter()
            .flat_map(|(provider, accounts)| accounts.iter().map(move |(id, a)| (*provider, id, a)))
            .map(|(provider, account, a)| AccountSnapshot {
                provider: provider.as_str(),
                account: account.clone(),
                attempts: a.attempts.sum(now),
                errors: a.errors.sum(now),
                last_selected: a.last_selected.map(EpochMs::as_millis),
                last_rotation: a.last_rotation.clone(),
                last_cooldown: a.last_cooldown.clone(),
            })
            .collect();
        Snapshot {
            at: now.as_millis(),
            pid: std::process::id(),
            account_window_ms: ACCOUNT_WINDOW_MS,
            rate_window_ms: RATE_WINDOW_MS,
            pools,
            accounts,
            recent: with_recent.then(|| tally.recent.iter().cloned().collect()),
        }
    }
}

impl Tally {
    /// Runs `change` on the account's counters (looked up by `&str`: no key is allocated for
    /// an account already counted).
    fn account(
        &mut self,
        provider: Provider,
        account: &str,
        change: impl FnOnce(&mut AccountTally),
    ) {
        let accounts = self.accounts.entry(provider).or_default();
        if let Some(tally) = accounts.get_mut(account) {
            change(tally);
        } else {
            let mut tally = AccountTally::default();
            change(&mut tally);
            accounts.insert(account.to_owned(), tally);
        }
    }

    fn stop_serving(&mut self, provider: Provider, account: &str) {
        let pool = self.pools.entry(provider).or_default();
        if pool.serving.as_deref() == Some(account) {
            pool.serving = None;
        }
    }

    fn pool_event(&mut self, provider: Provider, event: &PoolEvent, now: EpochMs) {
        match event {
            PoolEvent::Selected { account, .. } => {
                self.account(provider, account, |tally| {
                    tally.attempts.add(now);
                    tally.last_selected = Some(now);
                });
                let pool = self.pools.entry(provider).or_default();
                if pool.serving.as_deref() != Some(account.as_str()) {
                    pool.serving = Some(account.clone());
                }
            }
            PoolEvent::Rotated { from, why } => {
                self.account(provider, from, |tally| {
                    tally.errors.add(now);
                    tally.last_rotation =
                        Some(Rotation { cause: why.as_str(), at: now.as_millis() });
                });
                self.stop_serving(provider, from);
            }
            PoolEvent::CooledDown { account, class, until, scope } => {
                self.account(provider, account, |tally| {
                    tally.last_cooldown = Some(Cooldown {
                        class: class.as_str(),
                        until: until.as_millis(),
                        family: family_of(*scope),
                        at: now.as_millis(),
                    });
                });
            }
            PoolEvent::Disabled { account, .. } => self.stop_serving(provider, account),
            PoolEvent::StreamEnded { account, end, .. } => {
                if matches!(end, StreamEndKind::InBandError | StreamEndKind::UpstreamCut) {
                    self.account(provider, account, |tally| tally.errors.add(now));
                }
            }
            PoolEvent::Refreshed { .. } | PoolEvent::Waiting { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mac_executor::RotationCause;
    use mac_ratelimit::RateLimitClass;

    use super::*;
    use crate::events::{Outcome, RequestRecord, Route};

    fn pool(event: PoolEvent) -> GatewayEvent {
        GatewayEvent::Pool { provider: Provider::Anthropic, event }
    }

    fn selected(account: &str) -> GatewayEvent {
        pool(PoolEvent::Selected {
            account: account.into(),
            label: account.to_uppercase(),
            reason: "Sticky".into(),
        })
    }

    fn finished(route: Route) -> GatewayEvent {
        GatewayEvent::RequestFinished(RequestRecord {
            id: 1,
            route,
            account: Some("A".into()),
            status: 200,
            attempts: 1,
            elapsed: Duration::from_millis(3),
            outcome: if route == Route::Pool { Outcome::Local } else { Outcome::Completed },
        })
    }

    fn json(snapshot: &Snapshot) -> serde_json::Value {
        serde_json::to_value(snapshot).unwrap()
    }

    #[test]
    fn counts_attempts_errors_and_the_serving_account() {
        let activity = Activity::default();
        let t = |s: i64| EpochMs::from_millis(1_700_000_000_000 + s * 1000);
        activity.record(&selected("a"), t(0));
        activity.record(&finished(Route::Messages), t(0));
        activity.record(&selected("a"), t(1));
        activity.record(
            &pool(PoolEvent::Rotated { from: "a".into(), why: RotationCause::RateLimited }),
            t(1),
        );
        activity.record(
            &pool(PoolEvent::CooledDown {
                account: "a".into(),
                class: RateLimitClass::Throttle,
                until: t(61),
                scope: mac_ratelimit::Scope::Account,
            }),
            t(1),
        );
        activity.record(&selected("b"), t(1));
        activity.record(&finished(Route::Messages), t(1));
        activity.record(&finished(Route::Pool), t(1));

        let now = json(&activity.snapshot(t(2), true));
        assert_eq!(now["pools"][0]["provider"], "anthropic");
        assert_eq!(now["pools"][0]["serving"], "b");
        assert_eq!(now["pools"][0]["requests"], 2, "the gateway's own routes are not counted");
        assert_eq!(now["pools"][1]["requests"], 0);
        let a = &now["accounts"][0];
        assert_eq!((a["account"].as_str(), a["attempts"].as_u64()), (Some("a"), Some(2)));
        assert_eq!(a["errors"], 1);
        assert_eq!(a["lastRotation"]["cause"], "rate_limited");
        assert_eq!(a["lastCooldown"]["class"], "throttle");
        assert_eq!(a["lastCooldown"]["until"], t(61).as_millis());
        let recent: Vec<&str> =
            now["recent"].as_array().unwrap().iter().map(|w| w["type"].as_str().unwrap()).collect();
        assert_eq!(recent, ["rotated", "cooled_down"], "selections and successes are not news");

        // A minute on, the request rate has forgotten them; five minutes on, the account's
        // counters have too, but the last rotation and cooldown stay.
        let later = json(&activity.snapshot(t(61), false));
        assert_eq!(later["pools"][0]["requests"], 0);
        assert_eq!(later["accounts"][0]["attempts"], 2);
        assert!(later.get("recent").is_none());
        let much_later = json(&activity.snapshot(t(302), false));
        assert_eq!(much_later["accounts"][0]["attempts"], 0);
        assert_eq!(much_later["accounts"][0]["lastRotation"]["cause"], "rate_limited");
    }

    #[test]
    fn slots_forget_what_left_the_window() {
        let mut slots = Slots::new(60_000, 1000);
        let t = |ms: i64| EpochMs::from_millis(ms);
        slots.add(t(500));
        slots.add(t(59_999));
        assert_eq!(slots.sum(t(59_999)), 2);
        assert_eq!(slots.sum(t(60_000)), 1);
        // The slot of 500 ms is reused 60 s later and restarts at one.
        slots.add(t(60_500));
        assert_eq!(slots.sum(t(60_500)), 2);
        assert_eq!(slots.sum(t(200_000)), 0);
    }

    #[test]
    fn the_recent_list_is_bounded() {
        let activity = Activity::default();
        for i in 0..100 {
            activity.record(
                &pool(PoolEvent::Refreshed { account: format!("a{i}"), adopted: false }),
                EpochMs::from_millis(i),
            );
        }
        let snapshot = json(&activity.snapshot(EpochMs::from_millis(100), true));
        let recent = snapshot["recent"].as_array().unwrap();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[RECENT - 1]["account"], "a99");
    }
}
