//! The gateway's in-process event hub: every pool's [`PoolEvent`]s and one [`RequestRecord`]
//! per finished request, broadcast to whoever subscribes (the status page's event stream, tests).
//! A record carries the route, the account's label, the status, the attempts and the time; never
//! a token or a body. Publishing costs nothing when nobody listens: nothing is built.

use std::time::Duration;

use mac_executor::PoolEvent;
use mac_storage::Provider;
use tokio::sync::broadcast;

/// How many events a slow subscriber may fall behind before it misses the oldest ones.
const CAPACITY: usize = 1024;

/// The routes of the gateway, as records and metrics name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /v1/messages`.
    Messages,
    /// `POST /v1/messages/count_tokens`.
    CountTokens,
    /// `POST /v1/responses`.
    Responses,
    /// `POST /backend-api/codex/responses`.
    CodexResponses,
    /// `GET /healthz`, `HEAD /`.
    Health,
    /// `GET /v1/pool`.
    Pool,
    /// `GET /metrics`.
    Metrics,
    /// The status page: `GET /` (the page or its sign-in form) and its stylesheet and script.
    Page,
    /// The status page's sign-in form: `POST /`.
    SignIn,
    /// The status page's event stream: `GET /v1/events`.
    Events,
    /// Anything else (answered 404).
    Unknown,
}

impl Route {
    /// Every route, in the order metrics list them.
    pub const ALL: [Route; 11] = [
        Route::Messages,
        Route::CountTokens,
        Route::Responses,
        Route::CodexResponses,
        Route::Health,
        Route::Pool,
        Route::Metrics,
        Route::Page,
        Route::SignIn,
        Route::Events,
        Route::Unknown,
    ];

    /// Its name in logs and metrics (`messages`, `count_tokens`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Messages => "messages",
            Route::CountTokens => "count_tokens",
            Route::Responses => "responses",
            Route::CodexResponses => "codex_responses",
            Route::Health => "health",
            Route::Pool => "pool",
            Route::Metrics => "metrics",
            Route::Page => "page",
            Route::SignIn => "sign_in",
            Route::Events => "events",
            Route::Unknown => "unknown",
        }
    }

    /// The route of `path`.
    pub fn of_path(path: &str) -> Route {
        match path {
            "/v1/messages" => Route::Messages,
            "/v1/messages/count_tokens" => Route::CountTokens,
            "/v1/responses" => Route::Responses,
            "/backend-api/codex/responses" => Route::CodexResponses,
            "/healthz" | "/" => Route::Health,
            "/v1/pool" => Route::Pool,
            "/metrics" => Route::Metrics,
            "/v1/events" => Route::Events,
            _ if path.starts_with("/status/") => Route::Page,
            _ => Route::Unknown,
        }
    }

    /// The provider whose pool serves it, for the proxied routes.
    pub fn provider(self) -> Option<Provider> {
        match self {
            Route::Messages | Route::CountTokens => Some(Provider::Anthropic),
            Route::Responses | Route::CodexResponses => Some(Provider::Codex),
            Route::Health
            | Route::Pool
            | Route::Metrics
            | Route::Page
            | Route::SignIn
            | Route::Events
            | Route::Unknown => None,
        }
    }
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// An account's response was passed through to its end (whatever its status).
    Completed,
    /// An account's stream carried an in-band error after the commit point (passed through).
    InBandError,
    /// The provider cut the stream or went silent past the idle timeout.
    UpstreamCut,
    /// The client went away before the end.
    ClientGone,
    /// The gateway answered itself: a bad request, an unknown route, a missing inbound key.
    Refused,
    /// No account could serve it: all cooling down (429) or none usable (503).
    NoAccount,
    /// Every attempt failed to reach the provider (502, 504), or the pool failed.
    UpstreamFailed,
    /// A route of the gateway's own (`/healthz`, `/v1/pool`, `/metrics`, the status page)
    /// answered.
    Local,
}

impl Outcome {
    /// Every outcome, in the order metrics list them.
    pub const ALL: [Outcome; 8] = [
        Outcome::Completed,
        Outcome::InBandError,
        Outcome::UpstreamCut,
        Outcome::ClientGone,
        Outcome::Refused,
        Outcome::NoAccount,
        Outcome::UpstreamFailed,
        Outcome::Local,
    ];

    /// Its name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::InBandError => "in_band_error",
            Outcome::UpstreamCut => "upstream_cut",
            Outcome::ClientGone => "client_gone",
            Outcome::Refused => "refused",
            Outcome::NoAccount => "no_account",
            Outcome::UpstreamFailed => "upstream_failed",
            Outcome::Local => "local",
        }
    }
}

/// One finished request: what the log line says, as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// The gateway's id of the request (also in its log line).
    pub id: u64,
    /// The route.
    pub route: Route,
    /// The label of the account that served it, when one did.
    pub account: Option<String>,
    /// The status sent to the client.
    pub status: u16,
    /// Attempts made (0 when no account was tried).
    pub attempts: u32,
    /// From the request's arrival to the end of its response (a stream's last byte).
    pub elapsed: Duration,
    /// How it ended.
    pub outcome: Outcome,
}

/// Something that happened in the gateway.
#[derive(Clone, Debug, PartialEq)]
pub enum GatewayEvent {
    /// A pool's executor did something (selected, rotated, cooled down, refreshed, …).
    Pool {
        /// Whose pool.
        provider: Provider,
        /// What.
        event: PoolEvent,
    },
    /// A request was answered.
    RequestFinished(RequestRecord),
}

/// The broadcast of [`GatewayEvent`]s. Cheap to clone; every clone publishes to the same
/// subscribers.
#[derive(Clone, Debug)]
pub struct EventHub {
    sender: broadcast::Sender<GatewayEvent>,
}

impl Default for EventHub {
    fn default() -> Self {
        Self { sender: broadcast::Sender::new(CAPACITY) }
    }
}

impl EventHub {
    /// Every event from now on. A subscriber that falls more than 1,024 events behind gets
    /// `RecvError::Lagged` and continues with the oldest kept.
    pub fn subscribe(&self) -> broadcast::Receiver<GatewayEvent> {
        self.sender.subscribe()
    }

    /// Whether anyone listens (callers skip building an event otherwise).
    pub fn has_subscribers(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// Publishes the event `make` builds, only if anyone listens.
    pub fn publish_with(&self, make: impl FnOnce() -> GatewayEvent) {
        if self.has_subscribers() {
            // An error means the last subscriber left meanwhile: nobody to tell.
            let _ = self.sender.send(make());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_subscribers_and_cost_nothing_without_them() {
        let hub = EventHub::default();
        hub.publish_with(|| unreachable!("nobody listens"));
        let mut receiver = hub.subscribe();
        let record = RequestRecord {
            id: 1,
            route: Route::Messages,
            account: Some("work".into()),
            status: 200,
            attempts: 1,
            elapsed: Duration::from_millis(3),
            outcome: Outcome::Completed,
        };
        hub.clone().publish_with(|| GatewayEvent::RequestFinished(record.clone()));
        assert_eq!(receiver.try_recv().unwrap(), GatewayEvent::RequestFinished(record));
    }

    #[test]
    fn proxied_routes_name_their_provider() {
        assert_eq!(Route::CountTokens.provider(), Some(Provider::Anthropic));
        assert_eq!(Route::CodexResponses.provider(), Some(Provider::Codex));
        assert_eq!(Route::Metrics.provider(), None);
        let names: std::collections::BTreeSet<_> = Route::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), Route::ALL.len());
    }
}
