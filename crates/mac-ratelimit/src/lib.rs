//! When an account may be used again: rate-limit headers and error bodies parsed into
//! observations, 429/529 responses classified, cooldown deadlines decided and recorded, usage
//! snapshots judged, and optional client-side pacing (D9, D10).
//!
//! Must not depend on: any `mac-*` crate but `mac-storage`, network or HTTP clients and servers,
//! an async runtime (parsing is pure). It speaks the `http` crate's types (`HeaderMap`,
//! `StatusCode`), the vocabulary its callers' HTTP stacks already hand it.
//!
//! # The flow
//!
//! 1. [`observe`] reads a response (status, header map, optional body, `now`) into an
//!    [`Observation`]: every signal of D9, each validated on its own.
//!    A 200 stream that opens with an error frame goes through [`observe_in_band`] instead
//!    (event name and data): the same observation, with the status the frame stands for.
//! 2. [`classify`] names the kind of limit; [`decide`] turns it into a [`Decision`] (class,
//!    deadline, where the deadline came from) by the table below.
//! 3. [`record`] does both inside one [`mac_storage::AccountStore::mutate`], reading the
//!    ladder rung fresh under the file's lock, and [`apply`]s the decision to the account.
//! 4. Selection asks [`blocked_until`] / [`is_usable`]; the executor's bounded wait asks
//!    [`soonest_usable`]. Deadlines pass by themselves: nothing is ever cleared (D10).
//!
//! Usage bodies are parsed into the accounts file's `UsageLimits` by `mac-adapters`
//! (`parse_anthropic_usage`, `parse_codex_usage`): a usage body is a provider HTTP fact, the
//! adapters fetch it, and layer-2 crates cannot depend on each other. This crate works on the
//! parsed snapshot: `AccountStore::record_usage` stores it without touching the 429 deadline,
//! and [`usage_exhausted_until`] derives the usage block from the snapshot itself.
//!
//! # Classification
//!
//! A 529, or any response whose body is an `overloaded_error`, is an **overload**. Otherwise
//! only a 429 is a rate limit, and it is, first match wins:
//!
//! 1. a **billing claim** when `anthropic-ratelimit-unified-representative-claim` is a
//!    non-subscription claim: `api`, `api_*`, `overage`, `overage_*`, containing `credit`, or
//!    starting with `sdk` (`unknown` is not one, as in the seed);
//! 2. **7-day exhausted** when the `7d` window's status is `rejected` or its utilization is at
//!    least 100 %, or the unified status is `rejected` with the claim `seven_day` /
//!    `seven_day_*`, or a long Codex window (secondary, or `window-minutes` over a day) is at
//!    100 %;
//! 3. **5-hour exhausted** likewise for `5h` / `five_hour` / the short Codex window — and a
//!    Codex `usage_limit_reached` body that no header explains (7-day instead when its reset
//!    is more than 5 h away);
//! 4. else a **throttle**.
//!
//! # Cooldowns
//!
//! | Class | Deadline (first that is known and after `now`) | Streak |
//! |---|---|---|
//! | Throttle | `retry-after-ms` / `retry-after`; else the ladder | +1 if the ladder was used |
//! | 5-hour / 7-day exhausted | the latest reset of the exhausted windows (unified `5h`/`7d` reset, Codex `reset-at`, else `reset-after-seconds`); the unified reset; the error body's reset; retry-after; else the ladder | +1 if the ladder was used |
//! | Billing claim | max(retry-after, 24 h) | unchanged |
//! | Overload | max(retry-after, 15 s), at most the ladder's cap (5 min): the provider's trouble, not this account's quota, so a short rest and no climb | unchanged |
//!
//! The **ladder** ([`Ladder`], built with `backon`) is for responses without any usable
//! deadline: 10 s, 20 s, 40 s, 80 s, 160 s, then 5 min, deterministic, indexed by the stored
//! `rateLimitStreak` so every process climbs the same ladder; a success resets the streak
//! (`AccountStore::record_success`). [`apply`] never shortens a block: the new
//! `rateLimitResetAt` is the later of a deadline still ahead and the new one.
//!
//! # Scopes
//!
//! A limit blocks the whole account, or only one model family on it ([`scope`]): a 7-day
//! exhaustion whose representative claim is `seven_day_opus` / `seven_day_sonnet` while the
//! account's own windows are not full blocks only requests of that family
//! ([`ModelFamily::of_model`]). [`record`] writes account-wide deadlines only; the executor
//! keeps a family's deadline, and an overload's short rest (the provider's state, not the
//! account's), in its own memory rather than in the shared file.
//!
//! # Pacing
//!
//! [`Pacer`] (built on `governor`) optionally holds each account to N requests per minute
//! inside one process: off by default, keyed by the account's uuid, generic over `governor`'s
//! clock so tests never sleep. It answers [`Pace::Go`] or [`Pace::Wait`]; it never blocks.
//!
//! # Caps and parsing rules
//!
//! - Every deadline read from a response lies in `(now, now + 31 days]` ([`MAX_HORIZON`]);
//!   others are absent. A decision's deadline is capped there too.
//! - `retry-after-ms` wins over `retry-after`. `retry-after` is seconds (fractions allowed) or
//!   an HTTP-date (IMF-fixdate, RFC 850, asctime).
//! - Reset headers are epoch **seconds** as the providers send them; a value of at least
//!   10^11 is read as milliseconds (10^11 s is the year 5138, 10^11 ms is 1973), and an RFC
//!   3339 timestamp is accepted too.
//! - Unified utilization headers are fractions (`0.42`) and are stored as percent (42);
//!   Codex `used-percent` is already percent.
//! - Repeated headers: the most restrictive valid value wins (latest deadline, highest
//!   percentage, most severe status, a billing claim over other claims); see [`observe`] for
//!   the full rules.
//!
//! # Where this improves on the seed
//!
//! - The seed read only integer `retry-after` seconds: HTTP-dates were ignored and
//!   fractions truncated. Both are honoured here, and every provider header is read.
//! - The seed's 429 deadline took any cached window's reset regardless of utilization, and a
//!   usage fetch right after a 429 erased the backoff. Here the two sources stay apart and a
//!   window below 100 % never blocks. Consequently the seed's tested rule "fresh usage below
//!   100 % wins over a future `rateLimitResetAt`" no longer holds: the 429's deadline stands.
//! - Header-less 429s climbed nothing (a flat 60 s default); here they climb the
//!   ladder, shared across processes.

mod classify;
mod error_body;
mod headers;
mod in_band;
mod ladder;
mod observation;
mod pacing;
mod record;
mod scope;
mod state;
mod value;
mod wait;

pub use classify::{Basis, CooldownPolicy, Decision, RateLimitClass, classify, decide};
pub use headers::HEADER_NAMES;
pub use in_band::observe_in_band;
pub use ladder::Ladder;
pub use observation::{
    Codex, CodexWindow, ErrorBody, ErrorKind, MAX_HORIZON, OVERLOADED, Observation, Unified,
    UnifiedStatus, UnifiedWindow, is_billing_claim, observe,
};
pub use pacing::{Pace, Pacer};
pub use record::record;
pub use scope::{ModelFamily, Scope, scope};
pub use state::{
    apply, blocked_until, exceeds_soft_quota, header_blocked_until, is_rate_limited, is_usable,
    usage_exhausted_until,
};
pub use wait::{PoolWait, soonest_usable, soonest_usable_with};
