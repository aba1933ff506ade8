//! The end of a request, written once: its one log line (request id, route, account label,
//! status, attempts, milliseconds, how it ended), its metrics, and its record on the event hub.
//! Never a token or a body.

use std::time::Instant;

use mac_executor::StreamEnd;

use crate::events::{GatewayEvent, Outcome, RequestRecord, Route};
use crate::state::AppState;

/// What is known of a request when its response begins; [`Finish::done`] writes it out.
pub(crate) struct Finish {
    pub(crate) state: AppState,
    pub(crate) id: u64,
    pub(crate) route: Route,
    pub(crate) account: Option<String>,
    pub(crate) status: u16,
    pub(crate) attempts: u32,
    pub(crate) started: Instant,
}

impl Finish {
    /// The response served by an account ended as `end`.
    pub(crate) fn done(self, end: &StreamEnd) {
        let outcome = match end {
            StreamEnd::Completed => Outcome::Completed,
            StreamEnd::InBandError { .. } => Outcome::InBandError,
            StreamEnd::UpstreamCut { .. } => Outcome::UpstreamCut,
            StreamEnd::ClientGone => Outcome::ClientGone,
        };
        self.record(outcome);
    }

    /// Writes the log line, the metrics and the record.
    pub(crate) fn record(self, outcome: Outcome) {
        let Finish { state, id, route, account, status, attempts, started } = self;
        let elapsed = started.elapsed();
        state.metrics().request(route, status, outcome);
        tracing::info!(
            target: "mac_gateway::request",
            id,
            route = route.as_str(),
            account = account.as_deref().unwrap_or("-"),
            status,
            attempts,
            ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            outcome = outcome.as_str(),
        );
        state.events().publish_with(|| {
            GatewayEvent::RequestFinished(RequestRecord {
                id,
                route,
                account,
                status,
                attempts,
                elapsed,
                outcome,
            })
        });
    }
}
