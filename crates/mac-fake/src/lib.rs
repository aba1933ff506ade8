//! A loopback fake of both providers for adapter, executor and gateway tests and for `mac demo`
//! (which is why it is a crate of its own rather than a dev-only helper): one origin serving
//! the real paths of Anthropic (`/v1/oauth/token`, `/api/oauth/usage`, `/v1/messages`, …) and
//! OpenAI / ChatGPT (`/oauth/token`, device flow, `/backend-api/wham/usage`, Responses), so a
//! test points a descriptor at it with `ProviderDescriptor::anthropic().with_origin(&fake.origin())`.
//!
//! Accounts are registered as grants ([`FakeGrant`]) behind refresh tokens, authorization codes
//! or device logins; access tokens the fake issues are valid for `expires_in` and accepted as
//! bearers by the usage, profile and model endpoints. Every request is recorded
//! ([`RecordedRequest`]); any endpoint can be scripted ([`Scripted`]) to answer errors, slow
//! answers, broken bodies or a dropped connection before its default behaviour resumes.
//!
//! Error shapes: Anthropic's token endpoint answers flat OAuth errors
//! (`{"error": "invalid_grant", "error_description": …}`); OpenAI's answers nested ones
//! (`{"error": {"code": "refresh_token_reused", "message": …}}`); the device endpoints answer
//! as the `device` module describes (403 while pending); bearer failures answer `401 {"type":"error","error":{"type":
//! "authentication_error","message":"invalid token"}}`.
//!
//! [`FakeProvider::start`] binds `127.0.0.1:0` on the caller's tokio runtime: on a
//! current-thread runtime the fake only answers while the test awaits, so a test whose code
//! under test blocks uses `#[tokio::test(flavor = "multi_thread")]` or
//! [`FakeProvider::start_in_background`]. The server shuts down gracefully when the
//! [`FakeProvider`] is dropped.
//!
//! For load tests, [`BenchProvider`] is the bench mode, chosen at start instead of
//! [`FakeProvider::start`]: model endpoints only, no recording, canned answers and timestamped
//! SSE deltas (the `bench` module says exactly what it sends).
//!
//! Must not depend on: any other `mac-*` crate but mac-storage (the adapters, the executor and
//! the gateway are what it is tested against, so it must not share their code), HTTP clients.

mod api;
mod bench;
mod device;
mod endpoint;
mod grant;
mod oauth;
mod script;
mod seed;
mod server;
mod sse;
mod state;
mod time;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::to_bytes;
use axum::extract::{ConnectInfo, Request, State as Ext};
use axum::response::Response;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use bench::{BenchProvider, DELTA_INTERVAL, DELTAS, FIRST_DELTA_AFTER};
pub use device::{DEVICE_CALLBACK_PATH, DeviceOutcome};
pub use endpoint::{Endpoint, RecordedRequest};
pub use grant::{FakeGrant, codex_claims, jwt, pkce_challenge};
pub use oauth::AuthorizeOutcome;
pub use script::{Scripted, ScriptedBody};
pub use seed::SeededAccount;
pub use sse::event as sse_event;
pub use time::http_date;

use oauth::CodeEntry;
use server::{ConnHandle, FakeListener, Reply};
use state::{Flavor, RefreshStatus, Shared, State};

/// Claude Code's OAuth client id: the only one Anthropic's token endpoint accepts.
pub const ANTHROPIC_CLIENT_ID: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";
/// Codex's OAuth client id: the only one OpenAI's token and device endpoints accept.
pub const OPENAI_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
/// The `anthropic-beta` value Anthropic's usage and profile endpoints require.
pub const OAUTH_BETA: &str = "oauth-2025-04-20";

/// The running fake. Dropping it stops the server (in-flight answers finish first).
#[derive(Debug)]
pub struct FakeProvider {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FakeProvider {
    /// Binds `127.0.0.1:0` and serves on the caller's tokio runtime.
    pub async fn start() -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        shared.lock().origin = format!("http://{addr}");
        let app = Router::new().fallback(handle).with_state(Arc::clone(&shared));
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = axum::serve(
            FakeListener::new(listener),
            app.into_make_service_with_connect_info::<ConnHandle>(),
        )
        .with_graceful_shutdown(async {
            let _ = stop.await;
        });
        let task = tokio::spawn(async move {
            // Serving only ends on shutdown; an accept error is retried inside the listener.
            let _ = server.await;
        });
        Ok(Self { shared, addr, shutdown: Some(shutdown), task: Some(task) })
    }

    /// Starts the fake on a thread of its own (a current-thread runtime), for tests without a
    /// runtime or whose code under test blocks the test thread (a child process waited for, a
    /// blocking client). Dropping the fake stops the server and ends the thread.
    pub fn start_in_background() -> io::Result<Self> {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new().name("fake-provider".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(err) => {
                    let _ = sender.send(Err(err));
                    return;
                }
            };
            runtime.block_on(async move {
                let mut fake = match Self::start().await {
                    Ok(fake) => fake,
                    Err(err) => {
                        let _ = sender.send(Err(err));
                        return;
                    }
                };
                let task = fake.task.take();
                if sender.send(Ok(fake)).is_ok()
                    && let Some(task) = task
                {
                    let _ = task.await;
                }
            });
        })?;
        receiver.recv().map_err(|_| io::Error::other("the fake provider thread ended early"))?
    }

    /// Stops the server and waits until it has stopped (dropping only starts the stop).
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for `ProviderDescriptor::with_origin`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The origin followed by `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    // --- tokens -------------------------------------------------------------------------

    /// Registers `token` as a refresh token of `grant`, accepted once when the grant rotates
    /// (the refresh issues a new refresh token of the same grant and spends `token`).
    pub fn add_refresh_token(&self, token: &str, grant: FakeGrant) {
        self.shared.lock().add_refresh(token, grant);
    }

    /// Revokes a refresh token: Anthropic answers `invalid_grant`, OpenAI
    /// `refresh_token_invalidated`.
    pub fn revoke_refresh_token(&self, token: &str) {
        if let Some(entry) = self.shared.lock().refresh.get_mut(token) {
            entry.status = RefreshStatus::Revoked;
        }
    }

    /// The refresh token valid now in the rotation chain that began with `original` (which
    /// may be `original` itself); `None` when the chain is unknown or its token was revoked.
    pub fn current_refresh_token(&self, original: &str) -> Option<String> {
        let state = self.shared.lock();
        let current = state.chains.get(original)?;
        let live = state.refresh.get(current).is_some_and(|e| e.status == RefreshStatus::Live);
        live.then(|| current.clone())
    }

    /// Registers `token` as an access token of `grant`, valid for `grant.expires_in` from now,
    /// so a test can use a bearer without a refresh.
    pub fn add_access_token(&self, token: &str, grant: FakeGrant) {
        self.shared.lock().add_access(token, grant);
    }

    /// Makes an access token invalid from now on.
    pub fn revoke_access_token(&self, token: &str) {
        if let Some(entry) = self.shared.lock().access.get_mut(token) {
            entry.revoked = true;
        }
    }

    /// Revokes everything the account with `email` holds — every access token and every live
    /// refresh token of its grants — as when its owner revokes the app: bearers answer 401 and
    /// a refresh answers `invalid_grant`, the evidence that disables it in a pool.
    pub fn revoke_account(&self, email: &str) {
        let mut state = self.shared.lock();
        for entry in state.access.values_mut() {
            if entry.grant.email.as_deref() == Some(email) {
                entry.revoked = true;
            }
        }
        for entry in state.refresh.values_mut() {
            if entry.grant.email.as_deref() == Some(email) && entry.status == RefreshStatus::Live {
                entry.status = RefreshStatus::Revoked;
            }
        }
    }

    /// Every access token issued or added, oldest first (valid or not).
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.shared.lock().access_order.clone()
    }

    /// Whether the fake accepts `token` as a bearer now (known, not revoked, not expired).
    pub fn is_access_token_valid(&self, token: &str) -> bool {
        self.shared.lock().valid_access(Some(token)).is_some()
    }

    /// Registers an authorization code accepted once by either token endpoint, without a PKCE
    /// check; with `expected_redirect_uri` the exchange must send exactly that `redirect_uri`.
    pub fn add_authorization_code(
        &self,
        code: &str,
        grant: FakeGrant,
        expected_redirect_uri: Option<String>,
    ) {
        self.insert_code(code, grant, expected_redirect_uri, None);
    }

    /// Like [`FakeProvider::add_authorization_code`], bound to an S256 `code_challenge`: the
    /// exchange must send the `code_verifier` it was computed from. (Codes the authorize
    /// endpoint hands out are bound to the challenge it received.)
    pub fn add_authorization_code_with_challenge(
        &self,
        code: &str,
        grant: FakeGrant,
        expected_redirect_uri: Option<String>,
        code_challenge: &str,
    ) {
        self.insert_code(code, grant, expected_redirect_uri, Some(code_challenge.to_owned()));
    }

    fn insert_code(
        &self,
        code: &str,
        grant: FakeGrant,
        redirect_uri: Option<String>,
        challenge: Option<String>,
    ) {
        let entry = CodeEntry {
            grant,
            redirect_uri,
            challenge: challenge.map(|c| ("S256".to_owned(), c)),
            state: None,
            used: false,
        };
        self.shared.lock().codes.insert(code.to_owned(), entry);
    }

    // --- logins -------------------------------------------------------------------------

    /// The grant of codes `GET /oauth/authorize` hands out from now on.
    pub fn set_authorize_grant(&self, grant: FakeGrant) {
        self.shared.lock().authorize_grant = grant;
    }

    /// How `GET /oauth/authorize` answers from now on (default: approve).
    pub fn set_authorize_outcome(&self, outcome: AuthorizeOutcome) {
        self.shared.lock().authorize_outcome = outcome;
    }

    /// How device logins end, for codes already handed out too (default: approve on the
    /// second poll with a default grant).
    pub fn set_device_outcome(&self, outcome: DeviceOutcome) {
        self.shared.lock().device_outcome = outcome;
    }

    /// The `interval` (seconds, answered as a string like the real service) of device codes
    /// handed out from now on (default 1).
    pub fn set_device_interval(&self, seconds: u64) {
        self.shared.lock().device_interval = seconds;
    }

    /// How long device codes handed out from now on stay valid, in seconds (default 900, the
    /// 15 minutes Codex CLI waits). The answer does not carry it, as the real one does not; a
    /// poll after it answers `400 expired_token`.
    pub fn set_device_expires_in(&self, seconds: u64) {
        self.shared.lock().device_expires_in = seconds;
    }

    /// When each device-token poll arrived, oldest first (the fake records timing, it does not
    /// enforce it).
    pub fn device_poll_times(&self) -> Vec<Instant> {
        self.requests(Endpoint::DeviceToken).into_iter().map(|r| r.at).collect()
    }

    // --- bodies -------------------------------------------------------------------------

    /// The body of `GET /api/oauth/usage` for grants without their own `usage`.
    pub fn set_anthropic_usage(&self, body: Value) {
        self.shared.lock().anthropic_usage = Some(body);
    }

    /// The body of `GET /api/oauth/profile` for grants without their own `profile`.
    pub fn set_anthropic_profile(&self, body: Value) {
        self.shared.lock().anthropic_profile = Some(body);
    }

    /// The body of `GET /backend-api/wham/usage` for grants without their own `usage`.
    pub fn set_codex_usage(&self, body: Value) {
        self.shared.lock().codex_usage = Some(body);
    }

    /// The assistant text of default Messages and Responses answers.
    pub fn set_reply_text(&self, text: &str) {
        text.clone_into(&mut self.shared.lock().reply_text);
    }

    /// The pause between chunks of streamed answers (default 10 ms).
    pub fn set_stream_pause(&self, pause: Duration) {
        self.shared.lock().stream_pause = pause;
    }

    // --- scripting ----------------------------------------------------------------------

    /// Waits `delay` before answering every request to `endpoint` (scripted ones too); the
    /// request is recorded on arrival and processed after the wait. `Duration::ZERO` clears it.
    pub fn set_delay(&self, endpoint: Endpoint, delay: Duration) {
        self.shared.lock().delays.insert(endpoint, delay);
    }

    /// Queues answers for `endpoint`, consumed one per request before the default behaviour.
    pub fn script(&self, endpoint: Endpoint, answers: Vec<Scripted>) {
        self.shared.lock().scripts.entry(endpoint).or_default().extend(answers);
    }

    /// Drops the answers still queued for `endpoint` (an outage scripted with more answers
    /// than requests ends here).
    pub fn clear_script(&self, endpoint: Endpoint) {
        self.shared.lock().scripts.remove(&endpoint);
    }

    /// How many scripted answers for `endpoint` are still queued.
    pub fn scripts_left(&self, endpoint: Endpoint) -> usize {
        self.shared.lock().scripts.get(&endpoint).map_or(0, std::collections::VecDeque::len)
    }

    // --- recording ----------------------------------------------------------------------

    /// The requests to `endpoint`, oldest first.
    pub fn requests(&self, endpoint: Endpoint) -> Vec<RecordedRequest> {
        self.shared.lock().requests.iter().filter(|r| r.endpoint == endpoint).cloned().collect()
    }

    /// Every request, oldest first.
    pub fn all_requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// The latest request to `endpoint`.
    pub fn last_request(&self, endpoint: Endpoint) -> Option<RecordedRequest> {
        self.shared.lock().requests.iter().rev().find(|r| r.endpoint == endpoint).cloned()
    }

    /// How many requests `endpoint` received.
    pub fn count(&self, endpoint: Endpoint) -> usize {
        self.shared.lock().requests.iter().filter(|r| r.endpoint == endpoint).count()
    }

    /// Forgets every recorded request (tokens, scripts and settings stay).
    pub fn reset_counts(&self) {
        self.shared.lock().requests.clear();
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Every request: read the body, record, wait the endpoint's delay, answer the next script or
/// the default.
async fn handle(
    Ext(shared): Ext<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        return Reply::text(400, "fake: unreadable request body").send(&conn);
    };
    let recorded = RecordedRequest {
        endpoint: Endpoint::from_path(parts.uri.path()),
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned())
            })
            .collect(),
        body: body.to_vec(),
        at: Instant::now(),
    };
    let (delay, script) = shared.lock().begin(recorded.clone());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let reply = match script {
        Some(script) => {
            if let Some(delay) = script.delay {
                tokio::time::sleep(delay).await;
            }
            scripted(&shared, script, &recorded)
        }
        None => answer(&shared, &recorded),
    };
    reply.send(&conn)
}

fn scripted(shared: &Shared, script: Scripted, request: &RecordedRequest) -> Reply {
    let Scripted { status, mut headers, body, drop_connection, .. } = script;
    let mut typed = |default: &str| {
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
            headers.push(("content-type".into(), default.into()));
        }
        std::mem::take(&mut headers)
    };
    match body {
        ScriptedBody::Sse(chunks) => Reply::Stream {
            status,
            headers: typed("text/event-stream"),
            chunks: chunks.into_iter().map(String::into_bytes).collect(),
            pause: shared.lock().stream_pause,
            cut: drop_connection,
        },
        _ if drop_connection => Reply::Drop,
        ScriptedBody::Default => answer(shared, request),
        ScriptedBody::Json(value) => Reply::Full {
            status,
            headers: typed("application/json"),
            body: value.to_string().into_bytes(),
        },
        ScriptedBody::Text(text) => Reply::Full {
            status,
            headers: typed("text/plain; charset=utf-8"),
            body: text.into_bytes(),
        },
        ScriptedBody::Bytes(bytes) => {
            Reply::Full { status, headers: typed("application/octet-stream"), body: bytes }
        }
    }
}

/// The default behaviour of each endpoint.
fn answer(shared: &Shared, request: &RecordedRequest) -> Reply {
    let endpoint = request.endpoint;
    if let Some(method) = endpoint.method()
        && request.method != method
    {
        return Reply::text(405, "fake: method not allowed");
    }
    let mut state = shared.lock();
    match endpoint {
        Endpoint::AnthropicToken => state.token(request, Flavor::Anthropic),
        Endpoint::OpenAiToken => state.token(request, Flavor::OpenAi),
        Endpoint::Authorize => state.authorize(request),
        Endpoint::CodeCallback => State::code_page(request),
        Endpoint::DeviceCode => state.device_code(request),
        Endpoint::DeviceToken => state.device_token(request),
        Endpoint::AnthropicUsage => state.anthropic_account(request, false),
        Endpoint::AnthropicProfile => state.anthropic_account(request, true),
        Endpoint::CodexUsage => state.codex_usage(request),
        Endpoint::Messages => state.model_call(request, false),
        Endpoint::Responses => state.model_call(request, true),
        Endpoint::Unknown if request.path == "/" => Reply::text(200, ""),
        Endpoint::Unknown => Reply::text(404, "fake: no such endpoint"),
    }
}
