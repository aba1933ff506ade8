//! The routes of the gateway over the shared [`AppState`]: what path goes where. Handlers live
//! in their own modules; this one only wires them.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, head};

use crate::state::AppState;

/// The router of every route.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/", head(healthz))
        .merge(crate::status::routes(&state))
        .fallback(not_found)
        .with_state(state)
}

/// `GET /healthz`, `HEAD /`: the process serves.
async fn healthz() -> &'static str {
    "ok\n"
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}
