//! The all-in-one facade of `mac`: re-exports of the lower crates, `config.toml`, import of
//! existing credentials, and one-call pool setup (D17).
//!
//! Must not depend on: `mac-cli`, terminal crates, HTTP servers.

// Modules (each owner inserts its own line; keep one module per line, sorted).
mod accounts_backend;
pub mod config;
mod facade;
pub mod http_response;
pub mod import;
mod reexports;
pub mod status;
pub mod storage_migrate;

pub use accounts_backend::{AccountsStorage, StorageView, connect_postgres, open_account_store};
pub use config::{ConfigError, ConfigErrors, MacConfig};
pub use facade::{MacPool, MacPoolBuilder, SetupError};
pub use reexports::*;
