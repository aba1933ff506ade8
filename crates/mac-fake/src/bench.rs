//! The fake's bench mode ([`BenchProvider`]): the model endpoints only, answering as cheaply as
//! a real server can, for load tests of a client or a gateway in front of it.
//!
//! Unlike [`FakeProvider`](super::FakeProvider) it records nothing, checks no bearer and keeps
//! no state, so its own cost stays flat however long a run lasts. `POST /v1/messages`,
//! `/v1/responses` and `/backend-api/codex/responses` answer:
//!
//! - without `"stream": true` in the JSON body: a canned answer (an Anthropic `message` or an
//!   OpenAI `response` object), built once at start;
//! - with it: the provider's SSE sequence with [`DELTAS`] text deltas, the first after
//!   [`FIRST_DELTA_AFTER`] and then one every [`DELTA_INTERVAL`] (a steady tick, not a sleep
//!   after each send, so the cadence does not drift). Each delta's JSON carries `sent_us`, the
//!   wall-clock time in microseconds since the Unix epoch taken as the chunk is handed to the
//!   server, so a client on the same machine measures each chunk's age on arrival.
//!
//! Any other path or method answers 404. The server binds `127.0.0.1:0` on the caller's
//! runtime and stops when the value is dropped.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::sse::{anthropic_message, event, openai_response};

/// Text deltas per streamed answer.
pub const DELTAS: usize = 40;
/// When the first delta is sent, after the request arrived.
pub const FIRST_DELTA_AFTER: Duration = Duration::from_millis(20);
/// The gap between deltas.
pub const DELTA_INTERVAL: Duration = Duration::from_millis(5);

/// Which API a path belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    Messages,
    Responses,
}

/// The canned JSON answers, encoded once.
#[derive(Debug)]
struct Canned {
    messages: Bytes,
    responses: Bytes,
}

/// The running bench-mode fake. Dropping it stops the server.
#[derive(Debug)]
pub struct BenchProvider {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl BenchProvider {
    /// Binds `127.0.0.1:0` and serves on the caller's tokio runtime.
    ///
    /// # Errors
    ///
    /// When the port cannot be bound.
    pub async fn start() -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let text = "The quick brown fox jumps over the lazy dog.";
        let canned = Arc::new(Canned {
            messages: Bytes::from(anthropic_message("msg_bench", "claude-bench", text).to_string()),
            responses: Bytes::from(
                openai_response("resp_bench", "gpt-bench", text, 0, true).to_string(),
            ),
        });
        let app = Router::new().fallback(answer).with_state(canned);
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stop.await;
        });
        let task = tokio::spawn(async move {
            let _ = server.await;
        });
        Ok(Self { addr, shutdown: Some(shutdown), task: Some(task) })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits until it has stopped.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for BenchProvider {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

async fn answer(
    State(canned): State<Arc<Canned>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let api = match uri.path() {
        "/v1/messages" => Api::Messages,
        "/v1/responses" | "/backend-api/codex/responses" => Api::Responses,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    if method != Method::POST {
        return StatusCode::NOT_FOUND.into_response();
    }
    let streaming = serde_json::from_slice::<Value>(&body)
        .is_ok_and(|request| request.get("stream").and_then(Value::as_bool) == Some(true));
    if !streaming {
        let body = match api {
            Api::Messages => canned.messages.clone(),
            Api::Responses => canned.responses.clone(),
        };
        return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    let body = Body::from_stream(stream(api));
    ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], body)
        .into_response()
}

/// The streamed answer: the opening frames with the first delta, then one delta per tick, the
/// closing frames with the last.
fn stream(api: Api) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    let start = tokio::time::Instant::now() + FIRST_DELTA_AFTER;
    let ticks = tokio::time::interval_at(start, DELTA_INTERVAL);
    futures_util::stream::unfold((ticks, 0_usize), move |(mut ticks, sent)| async move {
        if sent == DELTAS {
            return None;
        }
        ticks.tick().await;
        let mut chunk = String::new();
        if sent == 0 {
            chunk.push_str(&opening(api));
        }
        chunk.push_str(&delta(api, sent));
        if sent + 1 == DELTAS {
            chunk.push_str(&closing(api));
        }
        Some((Ok(Bytes::from(chunk)), (ticks, sent + 1)))
    })
}

fn now_us() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros())
}

fn opening(api: Api) -> String {
    match api {
        Api::Messages => [
            event(
                "message_start",
                &json!({ "type": "message_start", "message": {
                    "id": "msg_bench", "type": "message", "role": "assistant",
                    "model": "claude-bench", "content": [], "stop_reason": null,
                    "usage": { "input_tokens": 10, "output_tokens": 1 } } }),
            ),
            event(
                "content_block_start",
                &json!({ "type": "content_block_start", "index": 0,
                         "content_block": { "type": "text", "text": "" } }),
            ),
        ]
        .concat(),
        Api::Responses => [
            event(
                "response.created",
                &json!({ "type": "response.created",
                         "response": openai_response("resp_bench", "gpt-bench", "", 0, false) }),
            ),
            event(
                "response.output_item.added",
                &json!({ "type": "response.output_item.added", "output_index": 0,
                         "item": { "id": "resp_bench_msg", "type": "message", "role": "assistant",
                                   "status": "in_progress", "content": [] } }),
            ),
        ]
        .concat(),
    }
}

fn delta(api: Api, index: usize) -> String {
    let sent_us = now_us();
    match api {
        Api::Messages => event(
            "content_block_delta",
            &json!({ "type": "content_block_delta", "index": 0, "sent_us": sent_us,
                     "delta": { "type": "text_delta", "text": format!("w{index} ") } }),
        ),
        Api::Responses => event(
            "response.output_text.delta",
            &json!({ "type": "response.output_text.delta", "item_id": "resp_bench_msg",
                     "output_index": 0, "content_index": 0, "sent_us": sent_us,
                     "delta": format!("w{index} ") }),
        ),
    }
}

fn closing(api: Api) -> String {
    match api {
        Api::Messages => [
            event("content_block_stop", &json!({ "type": "content_block_stop", "index": 0 })),
            event(
                "message_delta",
                &json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn" },
                         "usage": { "output_tokens": DELTAS } }),
            ),
            event("message_stop", &json!({ "type": "message_stop" })),
        ]
        .concat(),
        Api::Responses => event(
            "response.completed",
            &json!({ "type": "response.completed",
                     "response": openai_response("resp_bench", "gpt-bench", "", 0, true) }),
        ),
    }
}
