//! The accept loop: every client socket becomes one hyper HTTP/1.1 connection serving the
//! router, with `TCP_NODELAY` and a bounded read buffer; on the stop signal no new connection is
//! accepted, idle ones close at once and busy ones after their response (graceful shutdown),
//! and [`serve`] returns when the last one has closed.
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

use std::pin::pin;
use std::time::Duration;

use axum::Router;
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
            Ok((socket, _)) => {
                let open = open_rx.clone();
                let stopped = stopped.clone();
                tokio::spawn(connection(socket, app.clone(), stopped, open));
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
    app: Router,
    mut stopped: watch::Receiver<bool>,
    _open: watch::Receiver<()>,
) {
    // Chunks must leave one by one (see the module doc); a failure costs latency only.
    let _ = socket.set_nodelay(true);
    // The router takes any body type; it wraps hyper's in its own `Body`.
    let service = TowerToHyperService::new(app);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_buf_size(READ_BUFFER_MAX);
    let mut conn = pin!(builder.serve_connection(TokioIo::new(socket), service));
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
