//! PostgreSQL storage for mac: the accounts store of a pool shared by processes on several
//! hosts, behind mac-storage's [`mac_storage::AccountsBackend`] contract — the same guarantees
//! as the file backend (every change a transaction over the fresh document, credentials by
//! compare-and-swap, unknown fields kept exactly, unusable or newer documents never
//! overwritten), passing the same conformance suite.
//!
//! Must not depend on: any `mac-*` crate but `mac-storage` and `mac-claims` (layer 3, beside
//! `mac-executor`, which it must not use either); HTTP or terminal crates.
//!
//! ```no_run
//! use mac_postgres::{PostgresOptions, PostgresStorage};
//! use mac_storage::{Provider, Secret, StoreOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let url = Secret::new("postgres://mac:password@db.internal/mac");
//! let storage = PostgresStorage::connect(&url, &PostgresOptions::default())?;
//! let store = storage.account_store(Provider::Anthropic, StoreOptions::default());
//! let accounts = store.load()?.accounts.len();
//! # Ok(())
//! # }
//! ```
//!
//! # Choices
//! - **Client: `tokio-postgres`** (the asynchronous half of the well-kept `rust-postgres`
//!   project) behind a private one-thread runtime (`driver.rs` says why not the blocking
//!   `postgres` crate), with a small pool of its own (`pool.rs`).
//! - **TLS on every connection** (`ssl_params.rs`, `tls.rs`): rustls, honouring the URL's
//!   `sslmode` (default `prefer`, as libpq) and `sslrootcert`, with a verifier for
//!   `verify-ca`; a refused TLS or an unverified certificate is [`PostgresError::Tls`].
//! - **One row per provider holding the whole document** (`statements.rs`): the contract's
//!   unit is the document, and every commit bumps its generation, so writers serialize on
//!   the document whatever the layout; one row keeps a transaction at one row lock, one read
//!   and one write, and `json` keeps unknown fields byte for byte.
//! - **The refresh lock** (`account_locks.rs`, [`PostgresAccountLocks`]): a session advisory
//!   lock per account on a connection of its own, so one refresh per account runs in the whole
//!   pool, and a dead holder's session end frees it.
//! - **Schema versions** (`schema.rs`): migrations at start-up, under an advisory lock; a
//!   newer schema is refused with a clear error.
//! - **Changes by `LISTEN`/`NOTIFY`** (`changes.rs`): every commit announces
//!   `<provider>:<generation>` on the schema's channel, and one listening connection per
//!   storage lets `refresh_cached` answer from the cache while nothing changed — no round trip
//!   per request in steady state — falling back to a read while the listener is down.
//! - **Claims across hosts** (`claims.rs`, [`PostgresClaims`]): the claims table, written in
//!   one statement per keeper tick, with each holder's liveness its own session's advisory
//!   lock (a killed process's claims go at once) and the heartbeat lease (a lost host's go
//!   after 60 s).
//! - **Secrets**: the URL is a [`mac_storage::Secret`]; messages name the server as
//!   `postgres://USER@HOST:PORT/DATABASE` ([`Target`]); server errors are reduced to their
//!   code and primary message ([`ClientFailure`]).

mod account_locks;
mod accounts;
mod changes;
mod claims;
mod driver;
mod error;
mod inspect;
mod pool;
mod redacted_param;
mod schema;
mod ssl_params;
mod statements;
mod storage;
mod tls;
mod url;

#[cfg(feature = "testing")]
pub mod testing;

pub use account_locks::PostgresAccountLocks;
pub use accounts::PostgresBackend;
pub use claims::PostgresClaims;
pub use error::{ClientFailure, PostgresError};
pub use inspect::{Inspection, SchemaState, inspect};
pub use schema::SCHEMA_VERSION;
pub use storage::{DEFAULT_SCHEMA, PostgresOptions, PostgresStorage};
pub use url::Target;
