//! The contract between [`crate::AccountStore`] and where the accounts document lives: the
//! file backend ([`crate::file::FileBackend`]) today, a shared database later.
//!
//! A backend offers two things: reads of the current document, and transactions — run a
//! closure over the current document and commit what it leaves, atomically with respect to
//! every other transaction on the same storage (no lost update). What a backend must
//! guarantee, and what the conformance suite (`mac_storage::conformance`, cargo feature
//! `conformance`) checks:
//!
//! - **Fresh reads in a transaction.** The closure sees the latest committed document, never a
//!   cached one; a database runs it in a serializable transaction (or under a row lock) and may
//!   run it again after a serialization failure — closures are `FnMut` and must be repeatable
//!   (compute from the document they are given; side effects only through captured results).
//! - **Commit only changes.** A closure that leaves the document equal writes nothing.
//! - **Each commit** sets `version` to [`crate::SUPPORTED_VERSION`], bumps `generation` by one,
//!   and stores only bytes that read back ([`crate::encode_checked`]): a document the readers
//!   would refuse (a `NaN`, an out-of-range time) fails with [`crate::StoreError::Unwritable`]
//!   and the stored document stays as it was.
//! - **Refusals.** A newer version is never written ([`crate::StoreError::NewerVersion`]); an
//!   unusable stored document is never overwritten ([`crate::StoreError::Invalid`]).
//! - **Blocking.** Methods may block (locks, fsync, network); [`AccountsBackend::cached`] never
//!   does. Backends are `Send + Sync` so that an async caller can run the blocking methods on a
//!   blocking thread with an `Arc` of the store.

use std::fmt;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use crate::document::AccountsDocument;
use crate::error::StoreError;

/// What a transaction did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxOutcome {
    /// The closure changed the document and the change is committed.
    Written,
    /// The closure left the document as it was; nothing was written.
    Unchanged,
    /// The closure asked to abort ([`ControlFlow::Break`]); nothing was written.
    Aborted,
}

/// The closure of one transaction: change the document, then `Continue` to commit or `Break`
/// to abort. May be called more than once (see the module docs).
pub type TxClosure<'a> = dyn FnMut(&mut AccountsDocument) -> ControlFlow<()> + 'a;

/// Storage for one provider's accounts document (see the module docs for the contract).
pub trait AccountsBackend: Send + Sync + fmt::Debug {
    /// Names the storage in messages and errors (the accounts file, for the file backend).
    fn location(&self) -> &Path;

    /// The current committed document. A missing document is an empty pool.
    fn load(&self) -> Result<Arc<AccountsDocument>, StoreError>;

    /// The document this handle last read or wrote, without any I/O: never blocks. `None`
    /// before the first read. May be older than the stored one.
    fn cached(&self) -> Option<Arc<AccountsDocument>>;

    /// Brings the cached document up to date as cheaply as the backend can, and returns it
    /// (blocking: call it off async workers). The default is [`AccountsBackend::load`]; a
    /// backend that learns of changes by itself (PostgreSQL's `LISTEN`/`NOTIFY`) answers from
    /// its cache, without I/O, while nothing said the document changed since the cache was
    /// filled. For views that may lag a commit by a moment (the request path's view);
    /// anything that decides on the current state (a refresh, under its lock) calls `load`,
    /// which is authoritative.
    fn refresh_cached(&self) -> Result<Arc<AccountsDocument>, StoreError> {
        self.load()
    }

    /// Runs `change` over the current document in one transaction and commits the result when
    /// it asks to and changed something.
    fn transact(&self, change: &mut TxClosure<'_>) -> Result<TxOutcome, StoreError>;

    /// How many times this handle has parsed a stored document (a diagnostic of read costs).
    fn parse_count(&self) -> u64 {
        0
    }
}
