//! [`ClaimsSnapshot`]: the live claims of a pool at one moment, as the selector and
//! `mac status` ask about them.

use std::collections::HashMap;

use mac_storage::EpochMs;

/// A live claim, as [`ClaimsSnapshot`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveClaim {
    /// The claimed account's local uuid.
    pub account: String,
    /// The holding process.
    pub pid: u32,
    /// The holder's host, where the claims are shared by several hosts (`None` in a claims
    /// file: this host).
    pub host: Option<String>,
    /// Whether the holder is the [`crate::Claims`] instance that took this snapshot (another
    /// instance in the same process is another holder).
    pub mine: bool,
    /// When the claim was taken.
    pub claimed_at: EpochMs,
    /// Its last heartbeat.
    pub heartbeat_at: EpochMs,
}

/// The live claims of a pool at one moment: dead and expired entries already left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimsSnapshot {
    live: HashMap<String, LiveClaim>,
}

impl ClaimsSnapshot {
    pub(crate) fn new(live: HashMap<String, LiveClaim>) -> Self {
        Self { live }
    }

    /// Whether another live holder — another process, or another [`crate::Claims`] instance
    /// in this one — holds `account` (what the selector asks).
    pub fn is_claimed_by_other(&self, account: &str) -> bool {
        self.live.get(account).is_some_and(|claim| !claim.mine)
    }

    /// The live claim on `account`, if any.
    pub fn get(&self, account: &str) -> Option<&LiveClaim> {
        self.live.get(account)
    }

    /// Every live claim, by account uuid (for `mac status`: which process holds what).
    pub fn live(&self) -> impl Iterator<Item = &LiveClaim> {
        self.live.values()
    }

    /// How many live claims there are.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no account is claimed.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}
