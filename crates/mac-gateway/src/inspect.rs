//! The gateway's own read-only routes: `GET /v1/pool` (the JSON of `mac status`, built by
//! `mac_core::status`, no secrets, with the model-family limits this gateway holds in memory) and `GET /metrics` (Prometheus text: the counters of
//! `metrics` and a per-account state gauge). Both read files, so they run on the blocking
//! pool, never on a runtime worker; neither is on the proxied request path.

use std::fmt::Write as _;
use std::time::Instant;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use mac_core::status::{AccountState, pool_status_on, state_of};
use mac_storage::{EpochMs, Provider};

use crate::events::{Outcome, Route};
use crate::metrics::header as metric_header;
use crate::proxy::Finish;
use crate::reply::{self, Problem};
use crate::state::AppState;

/// `GET /v1/pool`.
pub(crate) async fn pool(State(state): State<AppState>) -> Response {
    let started = Instant::now();
    let reader = state.clone();
    // The pools' own storage (no new connection to a database) and the claims their keepers
    // hold in memory.
    let view = tokio::task::spawn_blocking(move || {
        let claims = |provider| {
            reader.pool(provider).pool().claims_snapshot().map(|c| (*c).clone()).unwrap_or_default()
        };
        let storage = reader.pool(Provider::Anthropic).storage();
        pool_status_on(storage, &claims, reader.data_dir(), reader.config(), None, EpochMs::now())
    })
    .await;
    let response = match view {
        Ok(mut view) => {
            // The model-family limits live in this gateway's pools, not in the file.
            for provider in Provider::ALL {
                for (id, family, until) in state.pool(provider).pool().family_limits() {
                    view.add_family_limit(provider, &id, family, until);
                }
            }
            axum::Json(view).into_response()
        }
        Err(err) => reply::error(
            Provider::Anthropic,
            Problem::Internal,
            &format!("reading the pools failed: {err}"),
        ),
    };
    done(state, Route::Pool, &response, started);
    response
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let started = Instant::now();
    let reader = state.clone();
    let text = tokio::task::spawn_blocking(move || {
        let mut text = String::with_capacity(16 * 1024);
        reader.metrics().render(&mut text);
        account_gauge(&reader, &mut text);
        text
    })
    .await;
    let response = match text {
        Ok(text) => {
            let kind = "text/plain; version=0.0.4; charset=utf-8";
            (StatusCode::OK, [(header::CONTENT_TYPE, kind)], text).into_response()
        }
        Err(err) => reply::error(
            Provider::Anthropic,
            Problem::Internal,
            &format!("rendering the metrics failed: {err}"),
        ),
    };
    done(state, Route::Metrics, &response, started);
    response
}

/// `mac_gateway_account_state{provider, account, state}`: 1 for each account's state, 0 for
/// the others (the enum pattern of Prometheus). Blocking: reads the accounts files.
fn account_gauge(state: &AppState, out: &mut String) {
    metric_header(
        out,
        "mac_gateway_account_state",
        "gauge",
        "Each account's state (1 for the state it is in).",
    );
    let now = EpochMs::now();
    for provider in Provider::ALL {
        let Ok(document) = state.pool(provider).pool().store().load() else { continue };
        for account in &document.accounts {
            let (current, _, _) = state_of(account, now);
            let name = escape(&account.display_name());
            for each in AccountState::ALL {
                let _ = writeln!(
                    out,
                    "mac_gateway_account_state{{provider=\"{provider}\",account=\"{name}\",state=\"{each}\"}} {}",
                    u8::from(each == current)
                );
            }
        }
    }
}

/// A label value in the text format: backslash, quote and newline escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn done(state: AppState, route: Route, response: &Response, started: Instant) {
    let outcome =
        if response.status().is_success() { Outcome::Local } else { Outcome::UpstreamFailed };
    Finish {
        id: state.next_request_id(),
        state,
        route,
        account: None,
        status: response.status().as_u16(),
        attempts: 0,
        started,
    }
    .record(outcome);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
