//! The live status page of `mac serve` (issue 14): `GET /` shows every account of both pools —
//! state badge with its reason and reset, 5-hour and 7-day usage with live reset countdowns,
//! token expiry, holding process, attempts and errors of the last minutes, last rotation — and
//! a pool summary (usable now, soonest reset, requests per second). Read-only: nothing on the
//! page changes the pool.
//!
//! # How it stays live
//!
//! The page (`assets/status.js`, embedded: no build step, works offline) opens an
//! `EventSource` on `GET /v1/events` ([`stream`]): every pool event (selected, rotated, cooled
//! down, refreshed, disabled, waiting, stream ended) and every finished request, as JSON
//! ([`wire`]), plus the counters of [`activity`] every 2 s. An event that changes an account's
//! state updates its row at once; the page re-reads `GET /v1/pool` (usage, resets, token
//! expiry, holders) every 15 s and shortly after such an event. Countdowns tick in the page
//! each second, corrected by the gateway's clock.
//!
//! # What it never shows
//!
//! Tokens and bodies: the stream is built from the events' ids, labels, states, classes,
//! statuses and times; the pool JSON has no token field. Access: [`access`].
//!
//! `HEAD /` stays the health answer Claude Code probes; `GET /` is the page.

mod access;
mod activity;
mod assets;
mod limiter;
mod stream;
mod wire;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use mac_storage::EpochMs;

pub(crate) use access::cookie_opens;
pub(crate) use limiter::SignInLimiter;

use crate::events::{Outcome, Route};
use crate::proxy::Finish;
use crate::state::AppState;

/// The page's routes: `GET /` (the page, or the sign-in form), `POST /` (sign in), the
/// stylesheet and script, and `GET /v1/events`. The counters of [`activity`] run only while an
/// event stream is open; call inside the gateway's runtime.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let counters = Arc::new(activity::Watched::new(state.events().clone()));
    // The page, its files and the sign-in form are answered at once: one layer writes their
    // log line and metrics. The event stream writes its own (at open, and at close with its
    // duration).
    let answered = Router::new()
        .route("/", get(page).post(access::sign_in))
        .route(assets::STYLE_PATH, get(assets::style))
        .route(assets::SCRIPT_PATH, get(assets::script))
        .layer(from_fn_with_state(state.clone(), recorded));
    Router::new()
        .route("/v1/events", get(stream::events))
        .layer(Extension(Arc::clone(&counters)))
        .merge(answered)
}

/// Writes the request's one log line, its metrics and its record (as every route does):
/// `sign_in` for `POST /`, `page` for the rest; a refusal (401 sign-in form, 429) counts as
/// refused, anything else as answered locally.
async fn recorded(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = if request.method() == Method::POST { Route::SignIn } else { Route::Page };
    let response = next.run(request).await;
    let status = response.status();
    let outcome = if status.is_client_error() { Outcome::Refused } else { Outcome::Local };
    Finish {
        id: state.next_request_id(),
        state,
        route,
        account: None,
        status: status.as_u16(),
        attempts: 0,
        started,
    }
    .record(outcome);
    response
}

/// `GET /`: the page, or the sign-in form when an inbound key is configured and not shown.
async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !access::granted(&state, &headers, EpochMs::now()) {
        return access::sign_in_form(access::Note::Asked);
    }
    (StatusCode::OK, assets::html_headers(), assets::PAGE_HTML).into_response()
}
