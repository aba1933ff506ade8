//! Forwarding one request through a provider's pool: read the client's request
//! (`request`), let the executor choose the account and send attempts (`upstream`: shaped
//! per attempt with `mac_adapters::shape_anthropic` / `shape_codex`, rotated before the first
//! byte), then answer with the provider's response streamed through (`body`) or with the
//! gateway's own error in the provider's shape (`crate::reply`). `finish` writes the
//! request's one log line when the response ends.
//!
//! The request path does no file I/O (the executor reads its cached view of the accounts
//! file; its bookkeeping writes go behind the request) and logs one line.

mod body;
mod finish;
mod request;
mod upstream;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::response::Response;
use mac_adapters::{AnthropicShaping, shape_anthropic, shape_codex};
use mac_executor::{ExecuteError, Executed, SendError, SendErrorKind};
use mac_storage::Provider;

pub(crate) use finish::Finish;
pub(crate) use upstream::Upstream;

use self::body::ClientBody;
use self::request::{HOP_BY_HOP, Refusal};
use self::upstream::UpstreamResponse;
use crate::events::{Outcome, Route};
use crate::reply::{self, Problem};
use crate::state::AppState;

/// Serves `request` on `route` (a proxied route) with `provider`'s pool.
pub(crate) async fn forward(
    state: AppState,
    route: Route,
    provider: Provider,
    request: Request,
) -> Response {
    let started = Instant::now();
    let id = state.next_request_id();
    let finish = |status: u16, attempts: u32, account: Option<String>| Finish {
        state: state.clone(),
        id,
        route,
        account,
        status,
        attempts,
        started,
    };
    let inbound = match request::read(request, state.settings().body_limit).await {
        Ok(inbound) => inbound,
        Err(refusal) => {
            let response = refused(provider, &refusal);
            finish(response.status().as_u16(), 0, None).record(Outcome::Refused);
            return response;
        }
    };
    let descriptor = state.descriptor(provider);
    let upstream = state.upstream();
    let metrics = state.metrics();
    let timed_out = AtomicBool::new(false);
    let timed_out = &timed_out;
    let base = &inbound.request;
    let executed = state
        .pool(provider)
        .execute(&inbound.info, |attempt| {
            let shaped = match provider {
                Provider::Anthropic => shape_anthropic(
                    base,
                    descriptor,
                    &attempt.access_token,
                    AnthropicShaping::default(),
                ),
                Provider::Codex => shape_codex(
                    base,
                    descriptor,
                    &attempt.access_token,
                    attempt.account_id.as_deref(),
                ),
            };
            async move {
                let sent = match shaped {
                    Ok(shaped) => upstream.send(shaped, provider, metrics).await,
                    // The account's token or account id cannot be sent as a header: no request
                    // leaves with it, and another account can serve (nothing is marked against
                    // this one, as for a connection failure). The message names the header only.
                    Err(err) => Err(SendError::network(err.to_string())),
                };
                if let Err(err) = &sent {
                    timed_out.store(err.kind() == SendErrorKind::Timeout, Ordering::Relaxed);
                }
                sent
            }
        })
        .await;
    match executed {
        Ok(executed) => respond(&state, executed, |status, attempts, account| {
            finish(status, attempts, Some(account))
        }),
        Err(err) => {
            let (response, outcome) = failed(provider, &err, timed_out.load(Ordering::Relaxed));
            finish(response.status().as_u16(), attempts_of(&err), None).record(outcome);
            response
        }
    }
}

/// The response of the account that served the request, its body streamed through.
fn respond(
    state: &AppState,
    executed: Executed<UpstreamResponse>,
    finish: impl FnOnce(u16, u32, String) -> Finish,
) -> Response {
    let Executed { response, attempts, lease, .. } = executed;
    let event_stream = response.is_event_stream();
    let parts = response.into_parts();
    let finish = finish(parts.status.as_u16(), attempts, lease.label().to_owned());
    let body = ClientBody::new(
        parts.kept,
        parts.body,
        event_stream,
        state.settings().idle_timeout,
        lease,
        finish,
    );
    let mut answer = Response::new(Body::new(body));
    *answer.status_mut() = parts.status;
    *answer.headers_mut() = end_to_end(parts.headers);
    answer
}

/// `headers` without the hop-by-hop ones.
fn end_to_end(mut headers: HeaderMap) -> HeaderMap {
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    headers
}

/// The gateway's answer to a request it would not forward.
fn refused(provider: Provider, refusal: &Refusal) -> Response {
    match refusal {
        Refusal::TooLarge { limit } => reply::error(
            provider,
            Problem::TooLarge,
            &format!(
                "the request body is larger than the gateway's limit of {limit} bytes \
                 (`[gateway] body_limit` in config.toml)"
            ),
        ),
        Refusal::Unreadable => {
            reply::error(provider, Problem::InvalidRequest, "the request body could not be read")
        }
        Refusal::Malformed(why) => reply::error(provider, Problem::InvalidRequest, why),
    }
}

/// The gateway's answer when the pool gave no response, and how to count it.
fn failed(provider: Provider, err: &ExecuteError, timed_out: bool) -> (Response, Outcome) {
    let message = err.to_string();
    match err {
        ExecuteError::AllRateLimited { retry_after, .. } => {
            (reply::rate_limited(provider, &message, *retry_after), Outcome::NoAccount)
        }
        ExecuteError::NoUsableAccount { .. } => (
            reply::error(
                provider,
                Problem::Unavailable,
                &format!("{message}; `mac doctor` shows what is wrong"),
            ),
            Outcome::NoAccount,
        ),
        ExecuteError::Exhausted { .. } => {
            let problem = if timed_out { Problem::Timeout } else { Problem::BadGateway };
            (reply::error(provider, problem, &message), Outcome::UpstreamFailed)
        }
        ExecuteError::Send { .. } => {
            (reply::error(provider, Problem::BadGateway, &message), Outcome::UpstreamFailed)
        }
        ExecuteError::Store { .. } | ExecuteError::Internal { .. } => (
            reply::error(
                provider,
                Problem::Internal,
                &format!("{message}; `mac doctor` shows what is wrong"),
            ),
            Outcome::UpstreamFailed,
        ),
    }
}

fn attempts_of(err: &ExecuteError) -> u32 {
    match err {
        ExecuteError::Exhausted { attempts, .. } => *attempts,
        _ => 0,
    }
}
