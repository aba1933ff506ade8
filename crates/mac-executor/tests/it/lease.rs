//! The lease (`Executed::lease`): the account stays claimed while its response streams and is
//! released by `Lease::finish` or the lease's drop, which report how the response ended; an
//! in-band error after the commit point marks the account without rotating. And the request's
//! own `max_wait`. Scripted responses over a real accounts file and a real claims file.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mac_claims::{Claims, ClaimsOptions};
use mac_executor::{
    ExecuteError, Pool, PoolConfig, PoolEvent, RequestInfo, StreamEnd, StreamEndKind,
};
use mac_ratelimit::RateLimitClass;
use mac_storage::{Provider, SystemClock};

use crate::harness::Harness;
use crate::scripted::{ANTHROPIC_OVERLOADED, ANTHROPIC_RATE_LIMIT, Script, ScriptedResponse};

/// The pool's claims (no keeper thread: the test drives `maintain`; an account no guard holds
/// is released at the next pass) and another holder's view of the same file.
fn claims(h: &Harness) -> (Claims, Claims) {
    let open = |options: ClaimsOptions| {
        Claims::builder(
            h.dir.data_dir().claims_file(Provider::Anthropic),
            options,
            Arc::new(SystemClock),
        )
        .keeper_thread(false)
        .build()
    };
    let mine = open(ClaimsOptions { idle_release: Duration::ZERO, ..ClaimsOptions::default() });
    let other = open(ClaimsOptions { heartbeat_interval: None, ..ClaimsOptions::default() });
    (mine, other)
}

/// One keeper pass of `mine`, then whether `other` sees `account` claimed by someone else.
async fn seen_by_other(mine: &Claims, other: &Claims, account: &str) -> bool {
    let (mine, other, account) = (mine.clone(), other.clone(), account.to_owned());
    tokio::task::spawn_blocking(move || {
        mine.maintain().unwrap();
        other.snapshot().unwrap().is_claimed_by_other(&account)
    })
    .await
    .unwrap()
}

fn pool_with_claims(h: &Harness, claims: &Claims) -> Pool {
    h.pool_builder(Harness::config()).claims(claims.clone()).build()
}

fn ended(h: &Harness) -> Vec<(String, StreamEndKind)> {
    h.events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|event| match event {
            PoolEvent::StreamEnded { account, end, .. } => Some((account.clone(), *end)),
            _ => None,
        })
        .collect()
}

fn cooled(h: &Harness) -> Vec<(String, RateLimitClass)> {
    h.events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|event| match event {
            PoolEvent::CooledDown { account, class, .. } => Some((account.clone(), *class)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claim_is_held_after_execute_returns_until_the_lease_is_finished() {
    let h = Harness::new(2).await;
    let (mine, other) = claims(&h);
    let pool = pool_with_claims(&h, &mine);
    let script = Script::default();
    let done = pool.execute(&RequestInfo::default(), script.sender()).await.unwrap();
    let account = done.account.clone();
    assert_eq!(done.lease.account(), account);
    assert_eq!(done.lease.label(), "a0@example.com");
    // While the response streams: held in memory, and on file for the other holder.
    assert_eq!(mine.guards(&account), 1);
    assert!(seen_by_other(&mine, &other, &account).await, "another holder sees the claim");
    assert!(seen_by_other(&mine, &other, &account).await, "still held at the next keeper pass");
    assert!(ended(&h).is_empty());
    done.lease.finish(StreamEnd::Completed);
    assert_eq!(mine.guards(&account), 0);
    assert!(!seen_by_other(&mine, &other, &account).await, "released after the end");
    assert_eq!(ended(&h), [(account, StreamEndKind::Completed)]);
    assert!(cooled(&h).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_lease_releases_the_claim_and_reports_the_client_gone() {
    let h = Harness::new(2).await;
    let (mine, other) = claims(&h);
    let pool = pool_with_claims(&h, &mine);
    let done = pool.execute(&RequestInfo::default(), Script::default().sender()).await.unwrap();
    let account = done.account.clone();
    assert!(seen_by_other(&mine, &other, &account).await);
    // The lease crosses to another task, as a gateway's body stream does, and is dropped there.
    tokio::spawn(async move { drop(done) }).await.unwrap();
    assert_eq!(mine.guards(&account), 0);
    assert!(!seen_by_other(&mine, &other, &account).await);
    assert_eq!(ended(&h), [(account, StreamEndKind::ClientGone)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_band_rate_limit_after_the_commit_point_cools_the_account_down_without_rotating() {
    let h = Harness::new(2).await;
    let pool = h.pool(Harness::config());
    let script = Script::default();
    let done = pool.execute(&RequestInfo::default(), script.sender()).await.unwrap();
    assert_eq!(done.account, h.uuids[0]);
    // The success of the commit point is being recorded behind the request (first use: due);
    // the cooldown reported right after must not be cleared by it.
    done.lease.finish(StreamEnd::InBandError {
        event: "error".into(),
        data: Bytes::from_static(ANTHROPIC_RATE_LIMIT.as_bytes()),
    });
    pool.settle().await;
    assert!(h.rotations().is_empty(), "nothing rotates after the commit point");
    assert_eq!(script.sequence(&h.uuids), [0], "nothing is sent again");
    assert_eq!(cooled(&h), [(h.uuids[0].clone(), RateLimitClass::Throttle)]);
    assert_eq!(ended(&h), [(h.uuids[0].clone(), StreamEndKind::InBandError)]);
    let first = h.account(0);
    assert!(first.rate_limit_reset_at.is_some(), "in the shared file: {first:?}");
    assert!(first.last_used > first.added_at, "the success at the commit point was recorded");
    // The next request goes to the other account.
    let next = pool.execute(&RequestInfo::default(), script.sender()).await.unwrap();
    assert_eq!(next.account, h.uuids[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_band_overload_after_the_commit_point_rests_the_account() {
    let h = Harness::new(2).await;
    // A rest of 30–60 s, so it has not passed by the next request.
    let rest = Duration::from_secs(60);
    let pool =
        h.pool(PoolConfig { server_retry_base: rest, server_retry_max: rest, ..Harness::config() });
    let script = Script::default();
    let done = pool.execute(&RequestInfo::default(), script.sender()).await.unwrap();
    done.lease.finish(StreamEnd::InBandError {
        event: "error".into(),
        data: Bytes::from_static(ANTHROPIC_OVERLOADED.as_bytes()),
    });
    pool.settle().await;
    assert_eq!(cooled(&h), [(h.uuids[0].clone(), RateLimitClass::Overload)]);
    assert!(h.account(0).rate_limit_reset_at.is_none(), "an overload stays in memory");
    let next = pool.execute(&RequestInfo::default(), script.sender()).await.unwrap();
    assert_eq!(next.account, h.uuids[1], "the resting account is skipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_cut_or_a_client_gone_marks_nothing() {
    let h = Harness::new(2).await;
    let (mine, _other) = claims(&h);
    let pool = pool_with_claims(&h, &mine);
    let script = Script::default();
    let ends = [StreamEnd::UpstreamCut { reason: "idle for 120s".into() }, StreamEnd::ClientGone];
    for end in ends {
        let done = pool.execute(&RequestInfo::default(), script.sender()).await.unwrap();
        assert_eq!(done.account, h.uuids[0], "the same account serves again: it is not held");
        done.lease.finish(end);
        assert_eq!(mine.guards(&h.uuids[0]), 0);
    }
    pool.settle().await;
    assert!(cooled(&h).is_empty());
    assert!(h.rotations().is_empty());
    assert!(h.account(0).rate_limit_reset_at.is_none());
    let kinds: Vec<StreamEndKind> = ended(&h).into_iter().map(|(_, end)| end).collect();
    assert_eq!(kinds, [StreamEndKind::UpstreamCut, StreamEndKind::ClientGone]);
    let next = pool.execute(&RequestInfo::default(), script.sender()).await.unwrap();
    assert_eq!(next.account, h.uuids[0]);
}

/// A response handed back after the budget ran out holds its account too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_up_response_is_leased_as_well() {
    let h = Harness::new(1).await;
    let (mine, _other) = claims(&h);
    let pool = h
        .pool_builder(PoolConfig { server_retries: 0, min_attempts: 1, ..Harness::config() })
        .claims(mine.clone())
        .build();
    let script = Script::new(vec![ScriptedResponse::status(500, "{}", &[]); 3]);
    let done = pool.execute(&RequestInfo::default(), script.sender()).await.unwrap();
    assert!(done.gave_up);
    assert_eq!((done.response.status.as_u16(), done.attempts), (500, 3));
    assert_eq!(mine.guards(&h.uuids[0]), 1);
    done.lease.finish(StreamEnd::Completed);
    assert_eq!(mine.guards(&h.uuids[0]), 0);
}

/// Every account cools down for an hour; the pool would wait two, the request only a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requests_own_max_wait_ends_the_wait_sooner() {
    let h = Harness::new(1).await;
    let config = PoolConfig { max_wait: Duration::from_secs(2 * 3_600), ..Harness::config() };
    let pool = h.pool(config);
    let limited =
        || ScriptedResponse::status(429, ANTHROPIC_RATE_LIMIT, &[("retry-after", "3600")]);
    let script = Script::new(vec![limited()]);
    let request = RequestInfo { max_wait: Some(Duration::from_secs(60)), ..RequestInfo::default() };
    // A guard against the hour-long wait the pool's own limit allows (the request must not
    // get there at all).
    let outcome =
        tokio::time::timeout(Duration::from_secs(60), pool.execute(&request, script.sender()))
            .await
            .expect("the request's own max_wait applies");
    let err = outcome.unwrap_err();
    assert!(matches!(err, ExecuteError::AllRateLimited { .. }), "{err:?}");
    assert!(err.retry_after().unwrap() > Duration::from_secs(3_500), "{err:?}");
    assert_eq!(script.sequence(&h.uuids), [0]);
}

/// The smaller of the two applies: a request cannot wait longer than the pool allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_longer_max_wait_of_a_request_does_not_extend_the_pools() {
    let h = Harness::new(1).await;
    let pool = h.pool(Harness::config()); // max_wait 0
    let limited = ScriptedResponse::status(429, ANTHROPIC_RATE_LIMIT, &[("retry-after", "1")]);
    let script = Script::new(vec![limited]);
    let request =
        RequestInfo { max_wait: Some(Duration::from_secs(3_600)), ..RequestInfo::default() };
    let err = pool.execute(&request, script.sender()).await.unwrap_err();
    assert!(matches!(err, ExecuteError::AllRateLimited { .. }), "{err:?}");
}
