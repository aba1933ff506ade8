//! The listener under axum: every connection's socket is shared with its handler, so a handler
//! can close it without an answer ([`Reply::Drop`], a provider that hangs up).
//!
//! Why raw for that one case: an axum handler must return a response, and hyper writes its
//! status line before any body can fail, so "no answer at all" needs the socket itself. A
//! handler that takes a connection over makes hyper's own reads see end-of-file and its writes
//! vanish, then drops the socket. Everything else, paced SSE streams included, is an ordinary
//! axum response: a stream's chunks come from a `Stream` body that sleeps between them, and a
//! stream cut short ends in a body error, on which hyper closes the connection before the
//! terminating chunk.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use bytes::Bytes;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener whose connections can be taken over by their handler.
pub(crate) struct FakeListener {
    inner: TcpListener,
}

impl FakeListener {
    pub(crate) fn new(inner: TcpListener) -> Self {
        Self { inner }
    }
}

impl Listener for FakeListener {
    type Io = FakeIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (FakeIo, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    // Paced chunks must leave one by one; a failure only costs latency.
                    let _ = stream.set_nodelay(true);
                    return (FakeIo::new(stream), addr);
                }
                // Out of descriptors or a reset before accept: wait a little and go on.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// The socket as hyper sees it: a plain stream until the handler takes the connection over.
pub(crate) struct FakeIo {
    stream: Arc<TcpStream>,
    conn: ConnHandle,
}

impl FakeIo {
    fn new(stream: TcpStream) -> Self {
        let stream = Arc::new(stream);
        let conn =
            ConnHandle { taken: Arc::new(AtomicBool::new(false)), stream: Arc::downgrade(&stream) };
        Self { stream, conn }
    }
}

impl AsyncRead for FakeIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.conn.is_taken() || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            ready!(self.stream.poll_read_ready(cx))?;
            match self.stream.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }
}

impl AsyncWrite for FakeIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.conn.is_taken() {
            return Poll::Ready(Ok(data.len()));
        }
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_write(data) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// The socket closes when its last owner drops it (hyper's side and a raw writer).
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A handler's grip on its connection (axum `ConnectInfo`).
#[derive(Clone, Debug)]
pub(crate) struct ConnHandle {
    taken: Arc<AtomicBool>,
    stream: Weak<TcpStream>,
}

impl ConnHandle {
    fn is_taken(&self) -> bool {
        self.taken.load(Ordering::Acquire)
    }

    /// Takes the connection away from hyper; the socket if it is still open.
    fn take(&self) -> Option<Arc<TcpStream>> {
        self.taken.store(true, Ordering::Release);
        self.stream.upgrade()
    }
}

impl Connected<IncomingStream<'_, FakeListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, FakeListener>) -> Self {
        stream.io().conn.clone()
    }
}

/// A handler's answer.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A complete response, sent by axum.
    Full { status: u16, headers: Vec<(String, String)>, body: Vec<u8> },
    /// A chunked response, `pause` between chunks; `cut` closes the connection before the
    /// terminating chunk.
    Stream {
        status: u16,
        headers: Vec<(String, String)>,
        chunks: Vec<Vec<u8>>,
        pause: Duration,
        cut: bool,
    },
    /// No answer: the connection is closed.
    Drop,
}

impl Reply {
    /// `status` with a JSON body.
    pub(crate) fn json(status: u16, body: &Value) -> Self {
        Self::Full {
            status,
            headers: vec![(header::CONTENT_TYPE.as_str().into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// `status` with a plain-text body.
    pub(crate) fn text(status: u16, body: &str) -> Self {
        Self::Full {
            status,
            headers: vec![(
                header::CONTENT_TYPE.as_str().into(),
                "text/plain; charset=utf-8".into(),
            )],
            body: body.as_bytes().to_vec(),
        }
    }

    /// An SSE stream of `chunks`.
    pub(crate) fn sse(chunks: Vec<String>, pause: Duration) -> Self {
        Self::Stream {
            status: 200,
            headers: vec![
                (header::CONTENT_TYPE.as_str().into(), "text/event-stream".into()),
                (header::CACHE_CONTROL.as_str().into(), "no-cache".into()),
            ],
            chunks: chunks.into_iter().map(String::into_bytes).collect(),
            pause,
            cut: false,
        }
    }

    /// Sends the answer on `conn`; the returned response is what axum sends (or, for a taken
    /// connection, what hyper believes it sends).
    pub(crate) fn send(self, conn: &ConnHandle) -> Response {
        match self {
            Reply::Full { status, headers, body } => full_response(status, &headers, body),
            Reply::Stream { status, mut headers, chunks, pause, cut } => {
                headers.push((header::CONNECTION.as_str().into(), "close".into()));
                let mut response = full_response(status, &headers, Vec::new());
                if response.status().as_u16() == status {
                    *response.body_mut() = Body::from_stream(paced(chunks, pause, cut));
                }
                response
            }
            Reply::Drop => {
                conn.take();
                taken_response()
            }
        }
    }
}

fn full_response(status: u16, headers: &[(String, String)], body: Vec<u8>) -> Response {
    let mut response = body.into_response();
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let map = response.headers_mut();
    map.remove(header::CONTENT_TYPE);
    for (name, value) in headers {
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(name), Ok(value)) => {
                if name == header::CONTENT_TYPE {
                    map.insert(name, value);
                } else {
                    map.append(name, value);
                }
            }
            _ => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("fake: invalid header {name:?}"),
                )
                    .into_response();
            }
        }
    }
    response
}

/// What hyper "sends" on a taken connection: its writes are dropped, and `connection: close`
/// makes it let go of the socket right after.
fn taken_response() -> Response {
    ([(header::CONNECTION, "close")], "").into_response()
}

/// The chunks of a streamed answer, `pause` apart (empty ones skipped: they carry nothing);
/// `cut` ends the body with an error instead of its end, so the connection closes before the
/// terminating chunk.
fn paced(
    chunks: Vec<Vec<u8>>,
    pause: Duration,
    cut: bool,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    let chunks: Vec<Bytes> =
        chunks.into_iter().filter(|c| !c.is_empty()).map(Bytes::from).collect();
    futures_util::stream::unfold(
        (chunks.into_iter(), true, cut),
        move |(mut rest, first, cut)| async move {
            match rest.next() {
                Some(chunk) => {
                    if !first && !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                    Some((Ok(chunk), (rest, false, cut)))
                }
                None if cut => {
                    // Waiting first lets hyper flush what was sent before it aborts.
                    if pause.is_zero() {
                        tokio::task::yield_now().await;
                    } else {
                        tokio::time::sleep(pause).await;
                    }
                    let cut = io::Error::new(io::ErrorKind::ConnectionAborted, "fake: stream cut");
                    Some((Err(cut), (rest, false, false)))
                }
                None => None,
            }
        },
    )
}
