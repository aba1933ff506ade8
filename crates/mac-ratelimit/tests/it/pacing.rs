//! Per-account pacing with `governor` on a fake clock (no test sleeps).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::Quota;
use governor::clock::FakeRelativeClock;
use mac_ratelimit::{Pace, Pacer};

fn per_minute(n: u32) -> Option<Quota> {
    NonZeroU32::new(n).map(Quota::per_minute)
}

#[test]
fn off_by_default_never_waits() {
    let pacer: Pacer<FakeRelativeClock> = Pacer::off();
    assert!(!pacer.is_on());
    for _ in 0..1000 {
        assert_eq!(pacer.check("a"), Pace::Go);
    }
    let none = Pacer::per_minute(None);
    assert!(!none.is_on());
    assert_eq!(none.check("a"), Pace::Go);
}

#[test]
fn paces_each_account_on_its_own() {
    let clock = FakeRelativeClock::default();
    let pacer = Pacer::with_clock(per_minute(2), clock.clone());
    assert!(pacer.is_on());
    // A burst of 2, then one every 30 s.
    assert_eq!(pacer.check("a"), Pace::Go);
    assert_eq!(pacer.check("a"), Pace::Go);
    assert_eq!(pacer.check("a"), Pace::Wait(Duration::from_secs(30)));
    // Another account has its own budget.
    assert_eq!(pacer.check("b"), Pace::Go);
    clock.advance(Duration::from_secs(10));
    assert_eq!(pacer.check("a"), Pace::Wait(Duration::from_secs(20)));
    clock.advance(Duration::from_secs(20));
    assert_eq!(pacer.check("a"), Pace::Go);
    assert_eq!(pacer.check("a"), Pace::Wait(Duration::from_secs(30)));
    // Idle accounts can be forgotten; they start afresh.
    clock.advance(Duration::from_secs(600));
    pacer.forget_idle();
    assert_eq!(pacer.check("a"), Pace::Go);
    assert_eq!(pacer.check("a"), Pace::Go);
    assert_eq!(format!("{pacer:?}"), "Pacer { on: true }");
}
