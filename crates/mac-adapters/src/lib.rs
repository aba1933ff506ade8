//! Provider facts for `anthropic` and `codex`: OAuth login flows, token exchange and refresh,
//! usage and profile reads, and request shaping (DECISIONS.md D4, D11–D13, D17–D18).
//!
//! Must not depend on: any `mac-*` crate but `mac-storage`, terminal crates, HTTP servers other
//! than the one-request loopback callback listener it owns.

mod descriptor;

pub use descriptor::{BadEndpoint, ENDPOINT_KEYS, EndpointKeyError, Endpoints, ProviderDescriptor};
