//! What a plugin needs from the lower crates under one coherent API. Each lower crate is also
//! re-exported whole (`mac_core::storage`, …), and a plugin that needs only one of them can
//! depend on that crate alone.

pub use mac_adapters as adapters;
pub use mac_claims as claims;
pub use mac_executor as executor;
pub use mac_postgres as postgres;
pub use mac_ratelimit as ratelimit;
pub use mac_storage as storage;

pub use mac_adapters::{AdapterClient, ProviderDescriptor};
pub use mac_executor::{
    Attempt, AttemptResponse, BufferedResponse, ExecuteError, Executed, Lease, Pool, PoolConfig,
    PoolEvent, PreludeVerdict, RequestInfo, RotationCause, SendError, SessionKey, Strategy,
    StreamEnd, StreamEndKind, derive_session_key,
};
pub use mac_storage::{AccountStore, DataDir, EpochMs, Provider, Secret};
