//! Which live process holds which account of a provider pool: claims in
//! `<provider>-claims.json`, read-modify-written under their own OS lock with `mac-storage`'s
//! crash-safe write, with the holder's liveness checked by pid and start time (DECISIONS.md D8).
//!
//! Must not depend on: any `mac-*` crate but `mac-storage`, network or HTTP crates, an async
//! runtime, terminal crates.
//!
//! A claim is a soft reservation: selection prefers accounts no other live process holds, but
//! may still use a claimed one (and then takes the claim over). Claims are soft state in the
//! file too — a malformed claims file reads as empty and is replaced by the next write (after a
//! one-time `0600` backup), where a bad accounts file is never written over.
//!
//! Lifetime of a claim:
//! - [`Claims::claim`] writes `{pid, startTime, instance, claimedAt, at}` for the account and
//!   returns a [`ClaimGuard`];
//! - while guards are held, a heartbeat thread renews `at` every 20 s (see the `heartbeat`
//!   module's docs for why a thread and not a tokio task), so a claim lives as long as its
//!   holder;
//! - dropping the last guard (or [`Claims::release_all`] at shutdown) removes the entry, but only
//!   if this instance still owns it: releasing never removes another process's claim;
//! - a holder that dies without releasing loses its claims at once for everyone else (its pid
//!   is gone, or now belongs to a process with another start time), and any claim without a
//!   heartbeat for 60 s expires.
//!
//! Every read-modify-write holds `<provider>-claims.json.lock`, so no claim is lost to a race
//! (the seed's unlocked writes lost 80 % of the claims with 8 processes, SEED §5.11).

mod claims;
mod claims_file;
mod error;
mod heartbeat;
mod liveness;

pub use claims::{ClaimGuard, Claims, ClaimsOptions, ClaimsSnapshot, LiveClaim};
pub use claims_file::{ClaimEntry, ClaimMap};
pub use error::ClaimsError;
pub use liveness::{ProcessIdentity, start_time};
