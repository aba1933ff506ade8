//! The commit point (`AttemptResponse::read_prelude`): a 200 whose stream opens with an error
//! frame is classified like the status the frame stands for and the request rotates; a prelude
//! that cannot be read is an attempt without a response. Scripted responses over a real
//! accounts file.

use std::time::Duration;

use mac_executor::{ExecuteError, PoolEvent, RequestInfo, RotationCause, SendError, SendErrorKind};
use mac_ratelimit::RateLimitClass;
use mac_storage::EpochMs;

use crate::harness::Harness;
use crate::scripted::{
    ANTHROPIC_OVERLOADED, ANTHROPIC_RATE_LIMIT, CODEX_USAGE_LIMIT, Script, ScriptedResponse,
};

/// The `CooledDown` events: (account index, class, until).
fn cooled(h: &Harness) -> Vec<(usize, RateLimitClass, EpochMs)> {
    h.events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|event| match event {
            PoolEvent::CooledDown { account, class, until, .. } => {
                Some((h.uuids.iter().position(|u| u == account).unwrap(), *class, *until))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_frame_opening_a_200_stream_cools_the_account_down_and_rotates() {
    let h = Harness::new(3).await;
    let script = Script::new(vec![ScriptedResponse::error_frame("error", ANTHROPIC_RATE_LIMIT)]);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), script.sender()).await.unwrap();
    pool.settle().await;
    assert_eq!(
        (done.account.as_str(), done.attempts, done.gave_up),
        (h.uuids[1].as_str(), 2, false)
    );
    assert!(done.response.prelude_read, "the answer that was handed over was read to its commit");
    assert_eq!(script.sequence(&h.uuids), [0, 1]);
    assert_eq!(h.rotations(), [RotationCause::RateLimited]);
    let cooled = cooled(&h);
    assert_eq!(cooled.len(), 1, "{cooled:?}");
    assert_eq!((cooled[0].0, cooled[0].1), (0, RateLimitClass::Throttle));
    assert!(h.account(0).rate_limit_reset_at.is_some(), "the cooldown is in the shared file");
    assert_eq!(h.account(0).last_used, h.account(0).added_at, "no success recorded on it");
    assert!(h.account(1).rate_limit_reset_at.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_codex_usage_limit_frame_cools_the_account_down_for_its_window_not_a_throttle() {
    let h = Harness::new(2).await;
    let script =
        Script::new(vec![ScriptedResponse::error_frame("response.failed", CODEX_USAGE_LIMIT)]);
    let pool = h.pool(Harness::config());
    let before = EpochMs::now();
    let done = pool.execute(&RequestInfo::default(), script.sender()).await.unwrap();
    pool.settle().await;
    assert_eq!(done.account, h.uuids[1]);
    assert_eq!(h.rotations(), [RotationCause::RateLimited]);
    let cooled = cooled(&h);
    assert_eq!((cooled[0].0, cooled[0].1), (0, RateLimitClass::FiveHourExhausted), "{cooled:?}");
    // `resets_in_seconds: 9000`: the window's own reset, 2.5 hours out.
    let until = h.account(0).rate_limit_reset_at.unwrap();
    let reset = before.saturating_add(Duration::from_secs(9_000));
    assert!(until >= reset, "{until:?} < {reset:?}");
    assert!(until <= reset.saturating_add(Duration::from_secs(60)), "{until:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_frame_rests_the_account_in_memory_and_rotates() {
    let h = Harness::new(2).await;
    let script = Script::new(vec![ScriptedResponse::error_frame("error", ANTHROPIC_OVERLOADED)]);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), script.sender()).await.unwrap();
    pool.settle().await;
    assert_eq!(done.account, h.uuids[1]);
    assert_eq!(script.sequence(&h.uuids), [0, 1]);
    assert_eq!(h.rotations(), [RotationCause::RateLimited]);
    let cooled = cooled(&h);
    assert_eq!((cooled.len(), cooled[0].0, cooled[0].1), (1, 0, RateLimitClass::Overload));
    assert!(h.account(0).rate_limit_reset_at.is_none(), "an overload is not parked in the file");
}

/// One account: held or marked, it could not serve the retry (the pool does not wait here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prelude_timeout_rotates_without_marking_the_account() {
    let h = Harness::new(1).await;
    let script = Script::new(vec![ScriptedResponse::prelude_failed(SendError::timeout(
        "no first byte within 10s",
    ))]);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), script.sender()).await.unwrap();
    pool.settle().await;
    assert_eq!(
        (done.account.as_str(), done.attempts, done.gave_up),
        (h.uuids[0].as_str(), 2, false)
    );
    assert_eq!(script.sequence(&h.uuids), [0, 0]);
    assert_eq!(h.rotations(), [RotationCause::NetworkError]);
    assert!(cooled(&h).is_empty());
    let account = h.account(0);
    assert!(account.rate_limit_reset_at.is_none());
    assert_eq!((account.consecutive_auth_failures, account.rate_limit_streak), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_prelude_error_ends_the_request() {
    let h = Harness::new(2).await;
    let script = Script::new(vec![ScriptedResponse::prelude_failed(SendError::fatal("bad"))]);
    let pool = h.pool(Harness::config());
    let err = pool.execute(&RequestInfo::default(), script.sender()).await.unwrap_err();
    let ExecuteError::Send { source } = err else { panic!("{err:?}") };
    assert_eq!(source.kind(), SendErrorKind::Fatal);
    assert_eq!(script.sequence(&h.uuids), [0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_band_request_error_hands_the_200_back_as_is() {
    let h = Harness::new(2).await;
    let invalid = r#"{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}"#;
    let script = Script::new(vec![ScriptedResponse::error_frame("error", invalid)]);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), script.sender()).await.unwrap();
    assert_eq!(
        (done.account.as_str(), done.attempts, done.gave_up),
        (h.uuids[0].as_str(), 1, false)
    );
    assert_eq!(done.response.status.as_u16(), 200);
    assert!(h.rotations().is_empty());
    assert!(cooled(&h).is_empty());
}

/// The prelude is read only for 2xx: a 429 is classified from its status and body, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_status_is_classified_without_reading_a_prelude() {
    let h = Harness::new(2).await;
    let limited = ScriptedResponse::status(429, ANTHROPIC_RATE_LIMIT, &[("retry-after", "120")]);
    let script = Script::new(vec![limited]);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), script.sender()).await.unwrap();
    assert_eq!(done.account, h.uuids[1]);
    assert_eq!(h.rotations(), [RotationCause::RateLimited]);
}

/// A frame without an `event` line, reported under `SseFrame::event_name` (`message`), is named
/// by its JSON `type`, as `mac_adapters::Prelude` named it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_frame_without_an_event_line_is_named_by_its_type() {
    let h = Harness::new(2).await;
    let script = Script::new(vec![ScriptedResponse::error_frame("message", CODEX_USAGE_LIMIT)]);
    let pool = h.pool(Harness::config());
    let done = pool.execute(&RequestInfo::default(), script.sender()).await.unwrap();
    assert_eq!(done.account, h.uuids[1]);
    assert_eq!(h.rotations(), [RotationCause::RateLimited]);
    let cooled = cooled(&h);
    assert_eq!((cooled[0].0, cooled[0].1), (0, RateLimitClass::FiveHourExhausted), "{cooled:?}");
}
