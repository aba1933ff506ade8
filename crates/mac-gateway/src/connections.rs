//! The accept loop: every client socket becomes one hyper HTTP/1.1 connection serving the
//! router, with `TCP_NODELAY` and a bounded read buffer; on the stop signal no new connection is
//! accepted, idle ones close at once and busy ones after their response (graceful shutdown),
//! and [`serve`] returns when the last one has closed. Every request carries its connection's
//! peer address as axum's `ConnectInfo<SocketAddr>` (the status page's sign-in limit is per
//! client address).
//!
//! Why not `axum::serve`: it offers neither of the two settings this loop exists for.
//!
//! - **`TCP_NODELAY`.** The gateway writes a streamed response chunk by chunk as the provider
//!   sends it (SSE deltas every few milliseconds, each a small write). With Nagle's algorithm a
//!   small write waits while an earlier one is unacknowledged, and the client's delayed ACK can
//!   hold it for tens of milliseconds: chunk age and the tail of every latency. The upstream
//!   client sets it too (`proxy::upstream`).
//! - **A read buffer of at most [`READ_BUFFER_MAX`].** hyper's read buffer starts at 8 KiB and
//!   doubles whenever a read fills it, up to ~400 KiB by default; a 48 KB request body grows it
//!   to 64 KiB, and the connection keeps that buffer for as long as it lives (hyper also reads
//!   into it while a response streams, to notice a client that hangs up). Measured with
//!   heaptrack at 256 SSE streams in flight, those buffers were ~95 KB of the ~200 KB each
//!   in-flight request cost. Bounded, a large body arrives in several reads and
//!   `axum::body::to_bytes` joins them into one copy (needed anyway to replay it on another
//!   account): a few microseconds of copying per request against ~80 KB per open connection.
//!   The bound is also the largest request head accepted: a head over it is answered
//!   `431 Request Header Fields Too Large` by hyper (the real clients send 1–3 KB of headers).

use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The largest read buffer of a client connection, and so the largest request head (bytes).
pub(crate) const READ_BUFFER_MAX: usize = 16 * 1024;

/// Serves `app` on every connection `listener` accepts until `stopped` turns true, then drains
/// the open connections and returns once they have closed.
pub(crate) async fn serve(listener: TcpListener, app: Router, mut stopped: watch::Receiver<bool>) {
    // Each connection holds a receiver; `closed()` of the sender resolves when all are gone.
    let (open_tx, open_rx) = watch::channel(());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|stop| *stop) => break,
        };
        match accepted {
            Ok((socket, peer)) => {
                let open = open_rx.clone();
                let stopped = stopped.clone();
                let service = PeerService { app: app.clone(), peer: ConnectInfo(peer) };
                tokio::spawn(connection(socket, service, stopped, open));
            }
            // Out of descriptors or a connection reset before it was accepted: wait a little
            // (the condition may pass as connections close) and go on.
            Err(err) => {
                tracing::debug!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    drop(listener);
    drop(open_rx);
    open_tx.closed().await;
}

/// Serves one client connection; `_open` marks it open until it returns.
async fn connection(
    socket: TcpStream,
    service: PeerService,
    mut stopped: watch::Receiver<bool>,
    _open: watch::Receiver<()>,
) {
    let service = TowerToHyperService::new(service);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_buf_size(READ_BUFFER_MAX);
    let mut conn = pin!(builder.serve_connection(client_io(socket), service));
    let mut stopping = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(err) = served {
                    tracing::debug!(error = %err, "client connection ended with an error");
                }
                return;
            }
            _ = stopped.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The router for one connection: each request gets the connection's peer address (what
/// `axum::serve` does with `into_make_service_with_connect_info`). The router takes any body
/// type; it wraps hyper's in its own `Body`.
#[derive(Clone)]
struct PeerService {
    app: Router,
    peer: ConnectInfo<SocketAddr>,
}

impl tower_service::Service<hyper::Request<Incoming>> for PeerService {
    type Response = <Router as tower_service::Service<hyper::Request<Incoming>>>::Response;
    type Error = <Router as tower_service::Service<hyper::Request<Incoming>>>::Error;
    type Future = <Router as tower_service::Service<hyper::Request<Incoming>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower_service::Service::<hyper::Request<Incoming>>::poll_ready(&mut self.app, cx)
    }

    fn call(&mut self, mut request: hyper::Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(self.peer);
        self.app.call(request)
    }
}

/// A client socket as the connection uses it: `TCP_NODELAY` set, so chunks leave one by one
/// (see the module doc); a failure to set it costs latency only.
fn client_io(socket: TcpStream) -> TokioIo<TcpStream> {
    let _ = socket.set_nodelay(true);
    TokioIo::new(socket)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::extract::Request;
    use axum::routing::{get, post};
    use bytes::Bytes;
    use tokio::sync::Notify;

    use super::*;

    /// A router that answers the length of the body it read, and a stream that sends one
    /// chunk, waits for `release`, then sends the last.
    fn app(release: Arc<Notify>) -> Router {
        Router::new()
            .route(
                "/peer",
                get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
            )
            .route(
                "/length",
                post(|request: Request| async move {
                    let body = axum::body::to_bytes(request.into_body(), usize::MAX).await;
                    body.map_or_else(|e| e.to_string(), |b| b.len().to_string())
                }),
            )
            .route(
                "/stream",
                get(move || {
                    let release = Arc::clone(&release);
                    async move {
                        let chunks = futures_util::stream::unfold(0, move |step| {
                            let release = Arc::clone(&release);
                            async move {
                                match step {
                                    0 => Some((Ok::<_, std::io::Error>(Bytes::from("first\n")), 1)),
                                    1 => {
                                        release.notified().await;
                                        Some((Ok(Bytes::from("last\n")), 2))
                                    }
                                    _ => None,
                                }
                            }
                        });
                        Body::from_stream(chunks)
                    }
                }),
            )
    }

    struct Served {
        url: String,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
        release: Arc<Notify>,
    }

    async fn serve_app() -> Served {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = watch::channel(false);
        let release = Arc::new(Notify::new());
        let task = tokio::spawn(serve(listener, app(Arc::clone(&release)), stopped));
        Served { url, stop, task, release }
    }

    #[tokio::test]
    async fn accepted_sockets_send_without_delay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (socket, _) = listener.accept().await.unwrap();
        assert!(!socket.nodelay().unwrap(), "a fresh socket has Nagle's algorithm on");
        assert!(client_io(socket).inner().nodelay().unwrap());
        drop(client);
    }

    #[tokio::test]
    async fn every_request_carries_its_connections_peer_address() {
        let served = serve_app().await;
        let mut client =
            TcpStream::connect(served.url.trim_start_matches("http://")).await.unwrap();
        let local = client.local_addr().unwrap();
        tokio::io::AsyncWriteExt::write_all(
            &mut client,
            b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        let mut answer = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut client, &mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with(&local.to_string()), "{answer}");
        served.stop.send(true).unwrap();
        served.task.await.unwrap();
    }

    #[tokio::test]
    async fn a_body_larger_than_the_read_buffer_is_read_whole() {
        let served = serve_app().await;
        let http = reqwest::Client::new();
        for size in [0, READ_BUFFER_MAX - 1, 48 * 1024, 5 * READ_BUFFER_MAX + 7] {
            let answer = http
                .post(format!("{}/length", served.url))
                .body(vec![b'x'; size])
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
            assert_eq!(answer.text().await.unwrap(), size.to_string());
        }
        served.stop.send(true).unwrap();
        served.task.await.unwrap();
    }

    #[tokio::test]
    async fn a_request_head_over_the_read_buffer_is_refused_with_431() {
        let served = serve_app().await;
        let http = reqwest::Client::new();
        let send = |header: usize| {
            http.post(format!("{}/length", served.url))
                .header("x-padding", "p".repeat(header))
                .body("{}")
                .send()
        };
        // A head well inside the bound (the real clients send 1–3 KB) is served.
        assert_eq!(send(READ_BUFFER_MAX / 2).await.unwrap().status(), 200);
        // Past the bound hyper answers 431 instead of growing the buffer (by default it grew to
        // ~400 KB).
        assert_eq!(send(READ_BUFFER_MAX + 1).await.unwrap().status(), 431);
        served.stop.send(true).unwrap();
        served.task.await.unwrap();
    }

    #[tokio::test]
    async fn stopping_lets_a_response_in_flight_finish_and_accepts_nothing_new() {
        let served = serve_app().await;
        let http = reqwest::Client::new();
        // An idle keep-alive connection must not hold the stop up.
        let idle = http.post(format!("{}/length", served.url)).body("ab").send().await.unwrap();
        assert_eq!(idle.text().await.unwrap(), "2");
        let mut streaming = http.get(format!("{}/stream", served.url)).send().await.unwrap();
        assert_eq!(streaming.chunk().await.unwrap().unwrap(), "first\n");

        served.stop.send(true).unwrap();
        // Once the accept loop has stopped, a new connection is refused (a connection accepted
        // before that is served and closed).
        let refused = async {
            for _ in 0..10_000 {
                let fresh = reqwest::Client::new();
                if fresh.post(format!("{}/length", served.url)).send().await.is_err() {
                    return true;
                }
                tokio::task::yield_now().await;
            }
            false
        };
        assert!(refused.await, "still accepting connections after the stop");
        assert!(!served.task.is_finished(), "a response is still in flight");
        served.release.notify_one();
        assert_eq!(streaming.chunk().await.unwrap().unwrap(), "last\n");
        assert!(streaming.chunk().await.unwrap().is_none());
        served.task.await.unwrap();
    }
}
