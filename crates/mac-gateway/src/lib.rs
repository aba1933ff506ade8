//! The loopback HTTP gateway of `mac` (D20): Claude Code, Codex CLI and OpenCode point their base
//! URL at it and every request is served by a healthy account of the pool, rotated before the
//! first byte reaches the client, streamed through as it arrives.
//!
//! Must not depend on: `mac-cli`, terminal crates, `clap` (the command line is `mac serve`'s).
//!
//! # Shape
//!
//! [`Gateway::start`] opens one pool per provider (`mac_core::MacPool`), binds the listener and
//! serves the router (`router`) over one shared state (`state::AppState`). Every pool's events
//! and a record of every finished request go to the in-process [`EventHub`], which the status
//! page and the metrics read. [`RunningGateway::shutdown`] stops accepting, lets streams finish
//! up to the grace time, then shuts the pools down (claims released, writes settled).

// Modules (each owner inserts its own line; keep one module per line, sorted).
mod access;
mod connections;
mod error;
mod events;
mod inspect;
mod metrics;
mod proxy;
mod reply;
mod router;
mod server;
mod state;
mod status;

pub use error::GatewayError;
pub use events::{EventHub, GatewayEvent, Outcome, RequestRecord, Route};
pub use server::{Gateway, RunningGateway};
