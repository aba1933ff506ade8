//! Streaming through the gateway against a hand-driven upstream (a raw HTTP/1.1 server the
//! test controls chunk by chunk, for the Messages API; tokens come from the fake provider):
//! the first chunk reaches the client while the upstream still holds back its last; a client
//! that disconnects cancels the upstream request and releases the account; an upstream that
//! goes silent mid-stream is cut after the idle timeout, one that never answers is a 504.

use std::time::Duration;

use mac_executor::{PoolEvent, StreamEndKind};
use mac_gateway::{GatewayEvent, Outcome};
use mac_storage::Provider;
use mac_test_support::{FakeProvider, TempDataDir};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::gateway_support::{
    anthropic_opening, base_url, config, messages_body, seed, sse_event, start,
};

/// What the raw upstream does with each request.
#[derive(Clone, Copy)]
enum Script {
    /// Headers and a first chunk bearing output, then wait for the test's go; then the rest.
    FirstThenWait,
    /// Accept the request and never answer.
    Hang,
}

/// Events of the raw upstream.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// A request arrived.
    Request,
    /// The gateway closed the connection while the response was unfinished.
    PeerClosed,
}

struct RawUpstream {
    origin: String,
    seen: mpsc::UnboundedReceiver<Seen>,
    go: mpsc::UnboundedSender<()>,
}

fn first_chunk() -> String {
    anthropic_opening("first").concat()
}

fn last_chunk() -> String {
    [
        sse_event("content_block_stop", &json!({"type": "content_block_stop", "index": 0})),
        sse_event("message_stop", &json!({"type": "message_stop"})),
    ]
    .concat()
}

/// One HTTP/1.1 chunk of `data`.
fn chunked(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

impl RawUpstream {
    async fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let (seen_tx, seen) = mpsc::unbounded_channel();
        let (go, go_rx) = mpsc::unbounded_channel::<()>();
        let go_rx = std::sync::Arc::new(tokio::sync::Mutex::new(go_rx));
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { return };
                let (seen, go) = (seen_tx.clone(), std::sync::Arc::clone(&go_rx));
                tokio::spawn(async move { serve(socket, script, seen, go).await });
            }
        });
        Self { origin, seen, go }
    }

    async fn next(&mut self) -> Seen {
        tokio::time::timeout(Duration::from_secs(20), self.seen.recv()).await.unwrap().unwrap()
    }
}

async fn serve(
    mut socket: TcpStream,
    script: Script,
    seen: mpsc::UnboundedSender<Seen>,
    go: std::sync::Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<()>>>,
) {
    // The request: its head, then as many body bytes as it declares.
    let mut request = Vec::new();
    let mut buf = [0_u8; 8192];
    let head_end = loop {
        let n = socket.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while request.len() < head_end + length {
        let n = socket.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let _ = seen.send(Seen::Request);
    if let Script::Hang = script {
        // Hold the connection open, answering nothing, until the peer goes.
        let _ = socket.read(&mut buf).await;
        return;
    }
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    socket.write_all(format!("{head}{}", chunked(&first_chunk())).as_bytes()).await.unwrap();
    // Wait for the test's go, or for the gateway to close the connection.
    let mut go = go.lock().await;
    tokio::select! {
        _ = go.recv() => {
            let rest = format!("{}0\r\n\r\n", chunked(&last_chunk()));
            let _ = socket.write_all(rest.as_bytes()).await;
        }
        n = socket.read(&mut buf) => {
            if matches!(n, Ok(0) | Err(_)) {
                let _ = seen.send(Seen::PeerClosed);
            }
        }
    }
}

/// A config with the Messages API on the raw upstream and everything else on the fake.
fn raw_config(fake: &FakeProvider, raw: &RawUpstream) -> mac_core::MacConfig {
    let mut config = config(fake);
    config.providers.anthropic.endpoints.insert("api_base_url".into(), raw.origin.clone());
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_chunk_reaches_the_client_while_the_upstream_holds_back_its_last() {
    let fake = FakeProvider::start().await.unwrap();
    let mut raw = RawUpstream::start(Script::FirstThenWait).await;
    let dir = TempDataDir::new().unwrap();
    seed(&dir, &fake, Provider::Anthropic, "only");
    let gateway = start(&dir, raw_config(&fake, &raw)).await;
    let url = base_url(&gateway);
    let mut answer = reqwest::Client::new()
        .post(format!("{url}/v1/messages"))
        .body(messages_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(raw.next().await, Seen::Request);
    // The upstream has sent only its first chunk and waits for the go: what the client reads
    // now came through while the stream is still open.
    let mut received = String::new();
    while !received.contains("\"first\"") {
        let chunk = answer.chunk().await.unwrap().expect("the stream ended before its first delta");
        received.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(!received.contains("message_stop"), "{received}");
    raw.go.send(()).unwrap();
    while let Some(chunk) = answer.chunk().await.unwrap() {
        received.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(received.ends_with(&last_chunk()), "{received}");
    assert!(received.starts_with("event: message_start"), "{received}");
    gateway.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_cancels_the_upstream_and_releases_the_account() {
    let fake = FakeProvider::start().await.unwrap();
    let mut raw = RawUpstream::start(Script::FirstThenWait).await;
    let dir = TempDataDir::new().unwrap();
    seed(&dir, &fake, Provider::Anthropic, "only");
    let gateway = start(&dir, raw_config(&fake, &raw)).await;
    let mut events = gateway.events().subscribe();
    let url = base_url(&gateway);
    let http = reqwest::Client::new();
    let mut answer =
        http.post(format!("{url}/v1/messages")).body(messages_body(true)).send().await.unwrap();
    assert_eq!(raw.next().await, Seen::Request);
    answer.chunk().await.unwrap().unwrap();
    drop(answer);
    drop(http);
    assert_eq!(raw.next().await, Seen::PeerClosed, "the upstream request was cancelled");

    let (mut ended, mut recorded) = (None, None);
    while ended.is_none() || recorded.is_none() {
        let event =
            tokio::time::timeout(Duration::from_secs(10), events.recv()).await.unwrap().unwrap();
        match event {
            GatewayEvent::Pool { event: PoolEvent::StreamEnded { end, .. }, .. } => {
                ended = Some(end);
            }
            GatewayEvent::RequestFinished(record) => recorded = Some(record),
            GatewayEvent::Pool { .. } => {}
        }
    }
    assert_eq!(ended, Some(StreamEndKind::ClientGone));
    let record = recorded.unwrap();
    assert_eq!(
        (record.outcome, record.status, record.account.as_deref()),
        (Outcome::ClientGone, 200, Some("only"))
    );
    gateway.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_silent_mid_stream_is_cut_after_the_idle_timeout_without_marking() {
    let fake = FakeProvider::start().await.unwrap();
    let mut raw = RawUpstream::start(Script::FirstThenWait).await;
    let dir = TempDataDir::new().unwrap();
    seed(&dir, &fake, Provider::Anthropic, "only");
    let mut config = raw_config(&fake, &raw);
    config.gateway.idle_timeout = Duration::from_secs(1);
    let gateway = start(&dir, config).await;
    let mut events = gateway.events().subscribe();
    let url = base_url(&gateway);
    let mut answer = reqwest::Client::new()
        .post(format!("{url}/v1/messages"))
        .body(messages_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.next().await, Seen::Request);
    let mut outcome = Ok(());
    loop {
        match answer.chunk().await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(err) => {
                outcome = Err(err);
                break;
            }
        }
    }
    assert!(outcome.is_err(), "the client sees a cut stream, not a complete one");
    assert_eq!(raw.next().await, Seen::PeerClosed);
    loop {
        let event =
            tokio::time::timeout(Duration::from_secs(10), events.recv()).await.unwrap().unwrap();
        if let GatewayEvent::RequestFinished(record) = event {
            assert_eq!(record.outcome, Outcome::UpstreamCut);
            break;
        }
    }
    let states = crate::gateway_support::states(&url).await;
    assert_eq!(states, [("only".to_owned(), "ready".to_owned())], "a cut marks nothing");
    gateway.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_never_answers_is_a_504_after_the_first_byte_timeout() {
    let fake = FakeProvider::start().await.unwrap();
    let raw = RawUpstream::start(Script::Hang).await;
    let dir = TempDataDir::new().unwrap();
    seed(&dir, &fake, Provider::Anthropic, "only");
    let mut config = raw_config(&fake, &raw);
    config.gateway.first_byte_timeout = Duration::from_secs(1);
    config.pool.min_attempts = 1;
    let gateway = start(&dir, config).await;
    let url = base_url(&gateway);
    let (done_tx, done) = oneshot::channel();
    let request =
        reqwest::Client::new().post(format!("{url}/v1/messages")).body(messages_body(true));
    tokio::spawn(async move {
        let _ = done_tx.send(request.send().await);
    });
    let answer =
        tokio::time::timeout(Duration::from_secs(20), done).await.unwrap().unwrap().unwrap();
    assert_eq!(answer.status(), 504);
    let json = crate::gateway_support::json_of(answer).await;
    assert_eq!(json["error"]["type"], "api_error");
    let states = crate::gateway_support::states(&url).await;
    assert_eq!(states, [("only".to_owned(), "ready".to_owned())], "a timeout marks nothing");
    gateway.shutdown().await.unwrap();
}
