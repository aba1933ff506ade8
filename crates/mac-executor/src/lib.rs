//! Account selection, the rotating retry loop over one request, refresh of a token exactly once
//! across processes, and proactive refresh (DECISIONS.md D11–D16).
//!
//! Must not depend on: `mac-core`, `mac-cli`, `mac-ui`, HTTP servers (the request is a closure
//! the caller passes), terminal crates.

// Modules (each owner inserts its own line; keep one module per line, sorted).
mod config;
mod error;
mod events;
mod pool;
mod proactive;
mod refresh;
mod response;
mod selection;
mod session;

pub use config::PoolConfig;
pub use error::ExecuteError;
pub use events::{EventSink, PoolEvent, RotationCause};
pub use pool::{Attempt, Executed, Pool, PoolBuilder, RequestInfo};
pub use proactive::{OnRefreshed, ProactiveConfig, ProactiveRefresher};
pub use refresh::{Obtained, RefreshConfig, RefreshError, RefreshService, Refreshed};
pub use response::{AttemptResponse, BufferedResponse, SendError, SendErrorKind};
pub use selection::{
    CLAIM_PENALTY, DEFAULT_UTILIZATION, FRESHNESS_HORIZON_SECS, FRESHNESS_WEIGHT, HEALTH_WEIGHT,
    HYBRID_SWITCH_MARGIN, HybridScore, STICKINESS_BONUS, Selection, SelectionInput,
    SelectionReason, Strategy, USAGE_WEIGHT, UnknownStrategy, hybrid_score, reset_pace, select,
};
pub use session::{
    DEFAULT_SESSION_CAP, DEFAULT_SESSION_TTL, SessionBindings, SessionKey, derive_session_key,
};
