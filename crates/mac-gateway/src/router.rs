//! The routes of the gateway over the shared [`AppState`]: what path goes where. Handlers live
//! in their own modules; this one only wires them. Every route but `/healthz` sits behind the
//! inbound-key check (`access`).

use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{get, head, post};
use mac_storage::Provider;

use crate::access::require_key;
use crate::events::{Outcome, Route};
use crate::inspect;
use crate::proxy::{Finish, forward};
use crate::reply::{self, Problem, provider_of_path};
use crate::state::AppState;

/// The router of every route.
pub(crate) fn router(state: AppState) -> Router {
    let guarded = Router::new()
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/v1/responses", post(responses))
        .route("/backend-api/codex/responses", post(codex_responses))
        .route("/", head(healthz))
        .route("/v1/pool", get(inspect::pool))
        .route("/metrics", get(inspect::metrics))
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), require_key));
    // The status page checks its own access (a browser signs in with a form; see status).
    let page = crate::status::routes(&state);
    Router::new().route("/healthz", get(healthz)).merge(page).merge(guarded).with_state(state)
}

async fn messages(State(state): State<AppState>, request: Request) -> Response {
    forward(state, Route::Messages, Provider::Anthropic, request).await
}

async fn count_tokens(State(state): State<AppState>, request: Request) -> Response {
    forward(state, Route::CountTokens, Provider::Anthropic, request).await
}

async fn responses(State(state): State<AppState>, request: Request) -> Response {
    forward(state, Route::Responses, Provider::Codex, request).await
}

async fn codex_responses(State(state): State<AppState>, request: Request) -> Response {
    forward(state, Route::CodexResponses, Provider::Codex, request).await
}

/// `GET /healthz`, `HEAD /`: the process serves.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Any other path: 404 in the shape of the provider the path belongs to.
async fn not_found(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let path = request.uri().path();
    let response = reply::error(
        provider_of_path(path),
        Problem::NotFound,
        &format!(
            "the gateway has no route {} {path}; it serves POST /v1/messages, \
             /v1/messages/count_tokens, /v1/responses and /backend-api/codex/responses",
            request.method()
        ),
    );
    Finish {
        id: state.next_request_id(),
        state,
        route: Route::Unknown,
        account: None,
        status: response.status().as_u16(),
        attempts: 0,
        started,
    }
    .record(Outcome::Refused);
    response
}
