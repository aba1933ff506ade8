//! Account selection, the rotating retry loop over one request, refresh of a token exactly once
//! across processes, and proactive refresh (D11–D16).
//!
//! Must not depend on: `mac-core`, `mac-cli`, `mac-ui`, HTTP servers (the request is a closure
//! the caller passes), terminal crates.
//!
//! # A pool in a few lines
//!
//! A plugin builds a [`Pool`] over the accounts file and the provider's client, and hands
//! [`Pool::execute`] a closure that sends one attempt with the credentials it is given. The pool
//! chooses the account, refreshes its token exactly once across processes, rotates on rate
//! limits, auth failures, revoked tokens, 5xx, network errors and a 200 stream that opens with
//! an error frame, and waits (boundedly) when every account is cooling down. The response comes
//! back with a [`Lease`] that keeps its account held until the caller reports how the response
//! ended ([`StreamEnd`]).
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use mac_adapters::{AdapterClient, ProviderDescriptor};
//! use mac_executor::{Attempt, BufferedResponse, Pool, RequestInfo, SendError, StreamEnd};
//! use mac_storage::{AccountStore, DataDir, Provider, StoreOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let data_dir = DataDir::from_process_env()?;
//! let store = Arc::new(AccountStore::open(&data_dir, Provider::Anthropic, StoreOptions::default())?);
//! let client = AdapterClient::builder(ProviderDescriptor::anthropic()).build()?;
//! let pool = Pool::builder(store, client).build();
//!
//! let http = reqwest::Client::new();
//! let body = r#"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#;
//! let done = pool
//!     .execute(&RequestInfo::default(), |attempt: Attempt| {
//!         let request = http
//!             .post("https://api.anthropic.com/v1/messages?beta=true")
//!             .bearer_auth(attempt.access_token.expose())
//!             .header("anthropic-beta", "oauth-2025-04-20")
//!             .body(body);
//!         async move {
//!             let response = request.send().await.map_err(|e| SendError::network(e.to_string()))?;
//!             let (status, headers) = (response.status(), response.headers().clone());
//!             let body = response.bytes().await.map_err(|e| SendError::network(e.to_string()))?;
//!             Ok(BufferedResponse { status, headers, body })
//!         }
//!     })
//!     .await?;
//! println!("{} answered by {}", done.response.status, done.lease.label());
//! // The account stays held until the response has been read; then say how it ended.
//! done.lease.finish(StreamEnd::Completed);
//! pool.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! (A gateway implements [`AttemptResponse`] for a streaming response instead of buffering,
//! and shapes the request with `mac_adapters::shape_anthropic` / `shape_codex`.)

// Modules (each owner inserts its own line; keep one module per line, sorted).
mod body_fields;
mod config;
mod error;
mod events;
mod holds;
mod jitter;
mod lease;
mod pool;
mod proactive;
mod refresh;
mod response;
mod selection;
mod session;
mod step;
mod write_behind;

pub use body_fields::BodyFields;
pub use config::PoolConfig;
pub use error::ExecuteError;
pub use events::{EventSink, PoolEvent, RotationCause, StreamEndKind};
pub use lease::{Lease, StreamEnd};
pub use mac_ratelimit::PoolWait;
pub use pool::{Attempt, Executed, Pool, PoolBuilder, RequestInfo};
pub use proactive::{OnRefreshed, ProactiveConfig, ProactiveRefresher};
pub use refresh::{Obtained, RefreshConfig, RefreshError, RefreshService, Refreshed};
pub use response::{AttemptResponse, BufferedResponse, PreludeVerdict, SendError, SendErrorKind};
pub use selection::{
    HybridScore, Selection, SelectionInput, SelectionReason, Strategy, UnknownStrategy,
    hybrid_score, reset_pace, select,
};
pub use session::{
    DEFAULT_SESSION_CAP, DEFAULT_SESSION_TTL, SessionBindings, SessionKey, derive_session_key,
    session_key_of,
};
