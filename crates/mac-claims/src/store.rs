//! [`ClaimsStore`]: where a pool's claim entries live — the seam between the claims logic
//! (holds, keeper, heartbeat, idle release, snapshot; all in [`crate::Claims`], one definition
//! for every store) and the storage of the entries: the claims file of one host
//! ([`crate::FileClaims`]) or a table shared by several hosts (`mac_postgres::PostgresClaims`).
//!
//! A store answers three things: the entries as they are (read without the writers' lock),
//! a read-modify-write of every entry under the writers' lock, and whether the holders of
//! entries are alive — by the means the store has: a process on this host by pid and start
//! time; a holder on another host by its database session.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::claims_file::ClaimMap;
use crate::error::ClaimsError;
use crate::liveness::ProcessIdentity;

/// Who wrote a claim: one [`crate::Claims`] instance of one process on one host.
///
/// The random `instance` id alone tells holders apart; the host, pid and start time say where
/// the holder runs (for `mac status`) and let a store on one host ask the OS about it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Holder {
    /// The holder's host name, where the store spans hosts (`None` in a host-local file).
    pub host: Option<String>,
    /// The holding process.
    pub pid: u32,
    /// Its start time (clock ticks since boot), where known.
    pub start: Option<u64>,
    /// The [`crate::Claims`] instance inside that process (`None` in entries of the seed).
    pub instance: Option<String>,
}

impl Holder {
    /// A new holder in this process on `host`, with a fresh random instance id.
    pub fn current(host: Option<String>) -> Self {
        let me = ProcessIdentity::current();
        Self {
            host,
            pid: me.pid,
            start: me.start,
            instance: Some(uuid::Uuid::new_v4().simple().to_string()),
        }
    }

    /// The holder's process, as the OS of its host knows it.
    pub fn process(&self) -> ProcessIdentity {
        ProcessIdentity { pid: self.pid, start: self.start }
    }

    /// The holder as one stable text: `host/pid/start/instance` (`-` for what is unknown),
    /// a database key.
    pub fn key(&self) -> String {
        let start = self.start.map_or_else(|| "-".to_owned(), |start| start.to_string());
        format!(
            "{}/{}/{start}/{}",
            self.host.as_deref().unwrap_or("-"),
            self.pid,
            self.instance.as_deref().unwrap_or("-")
        )
    }
}

/// Answers whether each of the given holders is alive, in order (inside
/// [`ClaimsStore::update`], by the store's means within its locked read-modify-write).
pub type AliveCheck<'a> = dyn FnMut(&[Holder]) -> Result<Vec<bool>, ClaimsError> + 'a;

/// The change a [`ClaimsStore::update`] makes: from the entries under the writers' lock, and
/// a liveness check usable while the lock is held, to the entries to store.
pub type ClaimsChange<'a> =
    dyn FnMut(&ClaimMap, &mut AliveCheck<'_>) -> Result<ClaimMap, ClaimsError> + 'a;

/// Where one pool's claim entries live. One store per [`crate::Claims`] instance: the store
/// carries that instance's [`Holder`] identity (and, on a database, the session that proves
/// the holder alive).
pub trait ClaimsStore: Send + Sync + fmt::Debug {
    /// This instance as a holder (fixed for the store's life).
    fn holder(&self) -> &Holder;

    /// Where the claims are kept, for messages and logs (a path for files; `postgres://…`
    /// for a database).
    fn location(&self) -> &Path;

    /// Every entry now, read without the writers' lock (a store may serve an unchanged
    /// version from its cache). **Blocking.**
    fn read(&self) -> Result<Arc<ClaimMap>, ClaimsError>;

    /// Read-modify-write under the writers' lock of every holder of the pool: `change` gets
    /// the stored entries (it may run again if the store retries) and returns the entries
    /// to store, which are written unless equal to what was read. Returns what is stored
    /// now. **Blocking.**
    fn update(&self, change: &mut ClaimsChange<'_>) -> Result<ClaimMap, ClaimsError>;

    /// Whether each of `holders` (never this instance) is alive, in order. **Blocking.**
    fn alive(&self, holders: &[Holder]) -> Result<Vec<bool>, ClaimsError>;

    /// How many times this store has written its entries (benchmarks and tests: in steady
    /// state one per heartbeat, not per request).
    fn writes(&self) -> u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_key_names_every_part() {
        let holder = Holder {
            host: Some("h1".into()),
            pid: 7,
            start: Some(9),
            instance: Some("abc".into()),
        };
        assert_eq!(holder.key(), "h1/7/9/abc");
        let seed = Holder { host: None, pid: 7, start: None, instance: None };
        assert_eq!(seed.key(), "-/7/-/-");
        assert_ne!(Holder::current(None), Holder::current(None), "every instance is new");
    }
}
