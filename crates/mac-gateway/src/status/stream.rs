//! `GET /v1/events`: the page's live feed, as server-sent events. First an `activity` snapshot
//! with the recent notable events, then every gateway event as its [`Wire`] form, an
//! `activity` snapshot every [`ACTIVITY_EVERY`] and [`ACTIVITY_AFTER`] an event, a comment every 15 s to keep proxies from
//! closing an idle stream, and `lagged` when this subscriber fell behind (the page then re-reads
//! the pool). The stream ends when the gateway starts shutting down, so it never holds a
//! graceful shutdown for its grace time. Like every route it writes one log line with its
//! metrics, when it closes (with how long it was open), and one more when it opens.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use mac_storage::EpochMs;
use serde::Serialize;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::events::{GatewayEvent, Outcome, Route};
use crate::proxy::Finish;
use crate::state::AppState;
use crate::status::access;
use crate::status::activity::{Activity, Watched};
use crate::status::wire::{Wire, is_notable};

/// How often the counters are sent.
pub(crate) const ACTIVITY_EVERY: Duration = Duration::from_secs(2);
/// How soon after an event that moved the counters they are sent (the feeding task has seen
/// the event by then).
const ACTIVITY_AFTER: Duration = Duration::from_millis(200);
/// How long a browser waits before reconnecting a dropped stream.
const RECONNECT: Duration = Duration::from_secs(2);

/// `GET /v1/events`.
pub(crate) async fn events(
    State(state): State<AppState>,
    Extension(watched): Extension<Arc<Watched>>,
    headers: HeaderMap,
) -> Response {
    let started = std::time::Instant::now();
    let finish = |state: AppState, status: StatusCode| Finish {
        id: state.next_request_id(),
        state,
        route: Route::Events,
        account: None,
        status: status.as_u16(),
        attempts: 0,
        started,
    };
    if !access::granted(&state, &headers, EpochMs::now()) {
        finish(state, StatusCode::UNAUTHORIZED).record(Outcome::Refused);
        return (StatusCode::UNAUTHORIZED, "sign in at / first\n").into_response();
    }
    let open = Open(Some(finish(state.clone(), StatusCode::OK)));
    tracing::info!(
        target: "mac_gateway::request",
        id = open.id(),
        route = Route::Events.as_str(),
        status = 200,
        "event stream opened"
    );
    let feed = Feed {
        _open: open,
        // Subscribed before the first snapshot is taken: nothing falls between the two.
        receiver: state.events().subscribe(),
        activity: watched.watch(),
        closing: state.closing(),
        tick: None,
        moved: None,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok::<_, Infallible>(event), feed))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

/// An open stream: its log line (with its whole duration), metrics and record are written
/// when it closes, however it closes (the client went away, or the gateway shuts down).
struct Open(Option<Finish>);

impl Open {
    fn id(&self) -> u64 {
        self.0.as_ref().map_or(0, |finish| finish.id)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(finish) = self.0.take() {
            finish.record(Outcome::Local);
        }
    }
}

/// One subscriber's feed.
struct Feed {
    /// Written out when the feed is dropped.
    _open: Open,
    receiver: Receiver<GatewayEvent>,
    activity: Arc<Activity>,
    closing: watch::Receiver<bool>,
    /// `None` until the first snapshot went out.
    tick: Option<Interval>,
    /// When to send the counters early: an event moved them.
    moved: Option<Instant>,
}

impl Feed {
    async fn next(&mut self) -> Option<Event> {
        let Some(tick) = self.tick.as_mut() else {
            let mut tick =
                tokio::time::interval_at(Instant::now() + ACTIVITY_EVERY, ACTIVITY_EVERY);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            self.tick = Some(tick);
            let first = self.activity.snapshot(EpochMs::now(), true);
            return Some(data(&first).retry(RECONNECT));
        };
        loop {
            tokio::select! {
                received = self.receiver.recv() => match received {
                    Ok(event) => {
                        if let Some(wire) = Wire::of(&event, EpochMs::now()) {
                            self.moved.get_or_insert_with(|| Instant::now() + ACTIVITY_AFTER);
                            let notable = is_notable(&event);
                            return Some(data(&Sent { wire: &wire, notable }));
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        return Some(data(&Lagged { kind: "lagged", missed }));
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = tick.tick() => {
                    self.moved = None;
                    return Some(data(&self.activity.snapshot(EpochMs::now(), false)));
                }
                () = tokio::time::sleep_until(self.moved.unwrap_or_else(Instant::now)),
                    if self.moved.is_some() => {
                    self.moved = None;
                    return Some(data(&self.activity.snapshot(EpochMs::now(), false)));
                }
                _ = self.closing.wait_for(|closing| *closing) => return None,
            }
        }
    }
}

/// A live event, marked for the page's "recent events" list.
#[derive(Serialize)]
struct Sent<'a> {
    #[serde(flatten)]
    wire: &'a Wire,
    notable: bool,
}

#[derive(Serialize)]
struct Lagged {
    #[serde(rename = "type")]
    kind: &'static str,
    missed: u64,
}

fn data(value: &impl Serialize) -> Event {
    // These types serialize without fail (strings, numbers, options); a failure would be a
    // bug worth seeing in the page rather than a dropped event.
    let json = serde_json::to_string(value).unwrap_or_else(|err| {
        serde_json::json!({"type": "error", "message": err.to_string()}).to_string()
    });
    Event::default().data(json)
}
