//! The executor's commit point and lease end to end: `Pool::execute` over real HTTP to the
//! loopback fake provider, with a streaming `AttemptResponse` that reads the prelude the way a
//! gateway does (`mac_adapters::Prelude` under a first-byte timeout) and replays it. A 200 whose
//! stream opens with `rate_limit_error` rotates and cools the account down in the accounts file;
//! a stream cut inside its prelude rotates and marks nothing; the answer handed over streams
//! from its first byte while its account stays claimed, until `Lease::finish`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use mac_adapters::{AdapterClient, PRELUDE_LIMIT, Prelude, PreludeEnd, ProviderDescriptor};
use mac_claims::{Claims, ClaimsOptions};
use mac_executor::{
    Attempt, AttemptResponse, Pool, PoolConfig, PoolEvent, PreludeVerdict, ProactiveConfig,
    RequestInfo, RotationCause, SendError, StreamEnd, StreamEndKind,
};
use mac_storage::{
    AccountStore, AddOutcome, Credentials, EpochMs, NewAccount, Provider, Secret, StoreOptions,
    SystemClock,
};
use mac_test_support::{Endpoint, FakeGrant, FakeProvider, Scripted, TempDataDir};

/// How long the prelude may wait for its next chunk (the gateway's first-byte timeout).
const FIRST_BYTE: Duration = Duration::from_secs(10);

/// A streamed upstream response (its status and headers are reqwest's own): the chunks read so
/// far are kept and replayed first.
struct Streaming {
    response: reqwest::Response,
    read: Vec<Bytes>,
}

impl Streaming {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, SendError> {
        match tokio::time::timeout(FIRST_BYTE, self.response.chunk()).await {
            Err(_) => Err(SendError::timeout("no data from the upstream in time")),
            Ok(Err(err)) => Err(SendError::network(err.to_string())),
            Ok(Ok(chunk)) => Ok(chunk),
        }
    }

    /// The whole body as the client gets it: what was read, then the rest.
    async fn into_body(mut self) -> Result<Vec<u8>, SendError> {
        let mut body: Vec<u8> = self.read.concat();
        while let Some(chunk) = self.next_chunk().await? {
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

impl AttemptResponse for Streaming {
    fn status(&self) -> StatusCode {
        self.response.status()
    }

    fn headers(&self) -> &HeaderMap {
        self.response.headers()
    }

    async fn buffer_body(&mut self, limit: usize) -> Result<Bytes, SendError> {
        let mut body: Vec<u8> = self.read.concat();
        while body.len() < limit {
            let Some(chunk) = self.next_chunk().await? else { break };
            body.extend_from_slice(&chunk);
            self.read.push(chunk);
        }
        body.truncate(limit);
        Ok(Bytes::from(body))
    }

    async fn read_prelude(&mut self) -> Result<PreludeVerdict, SendError> {
        let mut prelude = Prelude::new(PRELUDE_LIMIT);
        loop {
            let Some(chunk) = self.next_chunk().await? else {
                prelude.finish();
                return Ok(PreludeVerdict::Committed);
            };
            let end = prelude.feed(&chunk);
            self.read.push(chunk);
            match end {
                None => {}
                Some(PreludeEnd::Error(frame)) => {
                    return Ok(PreludeVerdict::Error {
                        event: frame.event_name().to_owned(),
                        data: Bytes::from(frame.data),
                    });
                }
                Some(_) => return Ok(PreludeVerdict::Committed),
            }
        }
    }
}

/// Sends a streamed Messages request with the attempt's bearer.
fn streaming_sender(
    fake: &FakeProvider,
) -> impl FnMut(
    Attempt,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Streaming, SendError>> + Send>,
> + use<> {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = fake.url("/v1/messages");
    move |attempt: Attempt| {
        let request = client
            .post(&url)
            .bearer_auth(attempt.access_token.expose())
            .header("content-type", "application/json")
            .body(
                r#"{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
            );
        Box::pin(async move {
            let response = request.send().await.map_err(|e| SendError::network(e.to_string()))?;
            Ok(Streaming { response, read: Vec::new() })
        })
    }
}

/// Two Anthropic accounts at the fake, a pool with claims over them, its events recorded.
struct Setup {
    fake: FakeProvider,
    _dir: TempDataDir,
    store: Arc<AccountStore>,
    uuids: Vec<String>,
    claims: Claims,
    pool: Pool,
    events: Arc<Mutex<Vec<PoolEvent>>>,
}

impl Setup {
    async fn new() -> Self {
        let fake = FakeProvider::start().await.unwrap();
        let dir = TempDataDir::new().unwrap();
        let store = Arc::new(
            AccountStore::open(dir.data_dir(), Provider::Anthropic, StoreOptions::default())
                .unwrap(),
        );
        let uuids = (0..2).map(|n| add_account(&fake, &store, n)).collect();
        let claims = Claims::open(
            dir.data_dir(),
            Provider::Anthropic,
            ClaimsOptions::default(),
            Arc::new(SystemClock),
        )
        .unwrap();
        let descriptor = ProviderDescriptor::anthropic().with_origin(&fake.origin()).unwrap();
        let client = AdapterClient::builder(descriptor).no_proxy().build().unwrap();
        let config = PoolConfig {
            max_wait: Duration::ZERO,
            proactive: ProactiveConfig { enabled: false, ..ProactiveConfig::default() },
            ..PoolConfig::default()
        };
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let pool = Pool::builder(Arc::clone(&store), client)
            .config(config)
            .claims(claims.clone())
            .on_event(Arc::new(move |event: &PoolEvent| sink.lock().unwrap().push(event.clone())))
            .build();
        Self { fake, _dir: dir, store, uuids, claims, pool, events }
    }

    /// Which accounts the Messages requests went to (tokens of account `aN` start `aN-`).
    fn sequence(&self) -> Vec<usize> {
        self.fake
            .requests(Endpoint::Messages)
            .iter()
            .map(|request| {
                let bearer = request.bearer().unwrap();
                bearer[1..bearer.find('-').unwrap()].parse().unwrap()
            })
            .collect()
    }

    fn rotations(&self) -> Vec<RotationCause> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter_map(|event| match event {
                PoolEvent::Rotated { why, .. } => Some(why.clone()),
                _ => None,
            })
            .collect()
    }

    fn ended(&self) -> Vec<StreamEndKind> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter_map(|event| match event {
                PoolEvent::StreamEnded { end, .. } => Some(*end),
                _ => None,
            })
            .collect()
    }

    fn account(&self, n: usize) -> mac_storage::StoredAccount {
        self.store.load().unwrap().account(&self.uuids[n]).unwrap().clone()
    }
}

fn add_account(fake: &FakeProvider, store: &AccountStore, n: usize) -> String {
    let grant = FakeGrant {
        access_token_prefix: format!("a{n}-access-"),
        ..FakeGrant::anthropic(&format!("remote-{n}"), &format!("a{n}@example.com"))
    };
    fake.add_refresh_token(&format!("a{n}-refresh"), grant.clone());
    fake.add_access_token(&format!("a{n}-initial"), grant);
    let now = EpochMs::now();
    let mut new = NewAccount::from_credentials(Credentials {
        refresh_token: Secret::new(format!("a{n}-refresh")),
        access_token: Some(Secret::new(format!("a{n}-initial"))),
        expires_at: Some(now.saturating_add(Duration::from_secs(3_600))),
    });
    new.email = Some(format!("a{n}@example.com"));
    match store.add_account(&new, now).unwrap() {
        AddOutcome::Added { uuid } | AddOutcome::Updated { uuid, .. } => uuid,
    }
}

const MESSAGE_START: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n";
const RATE_LIMIT_FRAME: &str = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"This request would exceed your rate limit.\"}}\n\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_stream_opening_with_a_rate_limit_frame_rotates_and_the_answer_streams_leased() {
    let s = Setup::new().await;
    s.fake.script(
        Endpoint::Messages,
        vec![Scripted::sse(vec![MESSAGE_START.to_owned(), RATE_LIMIT_FRAME.to_owned()])],
    );
    let done = s.pool.execute(&RequestInfo::default(), streaming_sender(&s.fake)).await.unwrap();
    assert_eq!(
        (done.account.as_str(), done.attempts, done.gave_up),
        (s.uuids[1].as_str(), 2, false)
    );
    assert_eq!(s.sequence(), [0, 1]);
    assert_eq!(s.rotations(), [RotationCause::RateLimited]);
    // The answer streams from its first byte while its account stays claimed.
    let lease = done.lease;
    assert_eq!(s.claims.guards(&s.uuids[1]), 1);
    let body = String::from_utf8(done.response.into_body().await.unwrap()).unwrap();
    assert!(body.starts_with("event: message_start\n"), "{body}");
    assert!(body.contains("event: content_block_delta\n"), "{body}");
    assert!(body.trim_end().ends_with(r#"data: {"type":"message_stop"}"#), "{body}");
    assert_eq!(s.claims.guards(&s.uuids[1]), 1, "held until the caller reports the end");
    lease.finish(StreamEnd::Completed);
    assert_eq!(s.claims.guards(&s.uuids[1]), 0);
    assert_eq!(s.ended(), [StreamEndKind::Completed]);
    s.pool.settle().await;
    let first = s.account(0);
    assert!(first.rate_limit_reset_at.is_some(), "the in-band limit is in the file: {first:?}");
    assert!(s.account(1).rate_limit_reset_at.is_none());
    s.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_inside_its_prelude_rotates_and_marks_nothing() {
    let s = Setup::new().await;
    s.fake.script(
        Endpoint::Messages,
        vec![Scripted::sse(vec![MESSAGE_START.to_owned()]).with_drop()],
    );
    let done = s.pool.execute(&RequestInfo::default(), streaming_sender(&s.fake)).await.unwrap();
    assert_eq!((done.account.as_str(), done.attempts), (s.uuids[1].as_str(), 2));
    assert_eq!(s.rotations(), [RotationCause::NetworkError]);
    drop(done); // the client went away: reported, nothing marked
    assert_eq!(s.ended(), [StreamEndKind::ClientGone]);
    s.pool.settle().await;
    let first = s.account(0);
    assert!(first.rate_limit_reset_at.is_none(), "{first:?}");
    assert_eq!((first.consecutive_auth_failures, first.is_auth_disabled), (0, false));
    assert!(!s.events.lock().unwrap().iter().any(|e| matches!(e, PoolEvent::CooledDown { .. })));
    s.pool.shutdown().await;
}
