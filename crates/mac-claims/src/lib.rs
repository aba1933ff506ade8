//! Which live process holds which account of a provider pool: claims in
//! `<provider>-claims.json`, read-modify-written under their own OS lock with `mac-storage`'s
//! crash-safe write, with the holder's liveness checked by pid and start time (D8).
//!
//! Must not depend on: any `mac-*` crate but `mac-storage`, network or HTTP crates, an async
//! runtime, terminal crates.
//!
//! A claim is a soft reservation: selection prefers accounts no other live holder has, but may
//! still use a claimed one (and then takes the claim over). Claims are soft state in the file
//! too — a malformed claims file reads as empty and is replaced by the next write (after a
//! one-time `0600` backup), where a bad accounts file is never written over.
//!
//! No write per request. A process keeps the claims it uses in memory:
//! - [`Claims::hold`] (per request) takes an in-memory [`ClaimGuard`]; the first hold of an
//!   account queues its claim `{pid, startTime, instance, claimedAt, at}`, which the keeper
//!   thread writes at once ([`Claims::claim`] does the same but writes before returning);
//! - the keeper renews every held claim in one write per heartbeat (20 s, scheduled on a
//!   monotonic clock), so a claim lives as long as its holder — a streaming request of ten
//!   minutes keeps its account claimed;
//! - dropping a guard writes nothing; an account no guard has held for
//!   [`ClaimsOptions::idle_release`] (40 s) is released by the keeper, and
//!   [`Claims::release_all`] releases everything at shutdown — removing only entries this
//!   instance wrote, never another holder's;
//! - [`Claims::cached_snapshot`] (per request) answers "is it claimed by another?" from a view
//!   the keeper rebuilds every second, holders' liveness cached for 5 s; [`Claims::snapshot`]
//!   asks the file and the OS now.
//!
//! Every claims instance has its own identity: another instance, even in this process, is
//! another holder. A holder that dies without releasing loses its claims for everyone else as
//! soon as they ask the OS (its pid is gone, or belongs to a process with another start time);
//! any claim without a heartbeat for 60 s expires, and a heartbeat stamped more than a few
//! seconds in the future (the wall clock stepped back) counts as expired too.
//!
//! Every read-modify-write holds `<provider>-claims.json.lock`, so no claim is lost to a race
//! (the seed's unlocked writes lost 80 % of the claims with 8 processes; D8).
//!
//! Where the entries live is a seam, [`ClaimsStore`]: [`FileClaims`] is the claims file above
//! (what [`Claims::open`] uses); `mac_postgres::PostgresClaims` keeps them in a table shared by
//! several hosts, where a holder is (host, pid, start time, instance) and its liveness is its
//! database session. The claims logic — holds, keeper, heartbeat, idle release, snapshot — is
//! the same for every store ([`Claims::builder_with_store`]).

mod claims;
mod claims_file;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod file_store;
mod holds;
mod keeper;
mod liveness;
mod monotonic;
mod options;
mod snapshot;
mod store;

pub use claims::{ClaimGuard, Claims, ClaimsBuilder};
pub use claims_file::{ClaimEntry, ClaimMap, FUTURE_TOLERANCE};
pub use error::ClaimsError;
pub use file_store::FileClaims;
pub use liveness::{ProcessIdentity, host_name, start_time};
pub use monotonic::{ManualMonotonic, Monotonic, SystemMonotonic};
pub use options::ClaimsOptions;
pub use snapshot::{ClaimsSnapshot, LiveClaim};
pub use store::{AliveCheck, ClaimsChange, ClaimsStore, Holder};
