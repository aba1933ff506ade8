//! What commands show of an account, built from the stored account and the live claims.
//! These are the JSON documents (`--json`, camelCase like the accounts file) and the rows of
//! the tables; no view has a field that could hold a token.

use mac_claims::ClaimsSnapshot;
use mac_storage::{EpochMs, Provider, StoredAccount, UsageWindow, parse_rfc3339};
use mac_ui::{Badge, wait_time};
use serde::Serialize;

/// One account.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccountView {
    /// The `#` `<ID>` accepts (1-based, in the listing's order).
    pub(crate) index: usize,
    /// The pool.
    #[serde(serialize_with = "provider_name")]
    pub(crate) provider: Provider,
    /// The local uuid (empty for an old account without one).
    pub(crate) id: String,
    /// Label, else email, else a short id.
    pub(crate) name: String,
    /// The label, if set.
    pub(crate) label: Option<String>,
    /// The email, if known.
    pub(crate) email: Option<String>,
    /// The plan (`max`, `pro`, `plus`, …); empty when unknown.
    pub(crate) plan: String,
    /// The user's on/off switch.
    pub(crate) enabled: bool,
    /// Whether it is the pool's active (last selected) account.
    pub(crate) active: bool,
    /// `ready`, `rate-limited`, `exhausted`, `needs-login` or `disabled`.
    #[serde(serialize_with = "badge_name")]
    pub(crate) state: Badge,
    /// Why, for every state but `ready`.
    pub(crate) reason: Option<String>,
    /// Until when it is blocked (rate-limited or exhausted), epoch ms.
    pub(crate) blocked_until: Option<EpochMs>,
    /// The 5-hour window.
    pub(crate) five_hour: Option<WindowView>,
    /// The 7-day window.
    pub(crate) seven_day: Option<WindowView>,
    /// When the usage was fetched, epoch ms.
    pub(crate) usage_fetched_at: Option<EpochMs>,
    /// When the access token expires, epoch ms.
    pub(crate) token_expires_at: Option<EpochMs>,
    /// The process holding the account now, if any.
    pub(crate) held_by_pid: Option<u32>,
    /// The last successful use, epoch ms.
    pub(crate) last_used: EpochMs,
    /// When it was added, epoch ms.
    pub(crate) added_at: EpochMs,
}

/// A provider as its name (`anthropic`, `codex`).
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's serialize_with passes a reference
pub(crate) fn provider_name<S: serde::Serializer>(
    provider: &Provider,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(provider.as_str())
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's serialize_with passes a reference
fn badge_name<S: serde::Serializer>(badge: &Badge, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(badge.as_str())
}

/// One usage window.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WindowView {
    /// Percent used (may exceed 100).
    pub(crate) utilization: f64,
    /// When it resets, epoch ms, if known.
    pub(crate) resets_at: Option<EpochMs>,
}

impl WindowView {
    fn of(window: &UsageWindow) -> Self {
        Self {
            utilization: window.utilization,
            resets_at: window.resets_at.as_deref().and_then(parse_rfc3339),
        }
    }

    /// `42% (resets in 1h 5m)`.
    pub(crate) fn human(&self, now: EpochMs) -> String {
        let reset = match self.resets_at {
            Some(at) if at > now => format!(" (resets in {})", wait_time(at.duration_since(now))),
            Some(_) => " (reset)".to_owned(),
            None => String::new(),
        };
        format!("{:.0}%{reset}", self.utilization)
    }
}

/// An account's state and why: disabled, then needs login, then a rate-limit answer's
/// deadline, then a used-up window, else ready.
pub(crate) fn state_of(
    account: &StoredAccount,
    now: EpochMs,
) -> (Badge, Option<String>, Option<EpochMs>) {
    if !account.enabled {
        return (Badge::Disabled, Some("switched off".to_owned()), None);
    }
    if account.is_auth_disabled {
        let reason = account.auth_disabled_reason.clone().unwrap_or_else(|| "login failed".into());
        return (Badge::NeedsLogin, Some(reason), None);
    }
    let header = mac_ratelimit::header_blocked_until(account, now);
    let usage = mac_ratelimit::usage_exhausted_until(account, now);
    match (header, usage) {
        (Some(h), u) if u.is_none_or(|u| h >= u) => {
            (Badge::RateLimited, Some(RATE_LIMITED.to_owned()), Some(h))
        }
        (_, Some(u)) => (Badge::Exhausted, Some(EXHAUSTED.to_owned()), Some(u)),
        _ => (Badge::Ready, None, None),
    }
}

/// Why a rate-limited account waits.
pub(crate) const RATE_LIMITED: &str = "the provider answered with a rate limit";
/// Why an exhausted account waits.
pub(crate) const EXHAUSTED: &str = "a usage window is used up";

impl AccountView {
    /// The view of `account`, the `index`-th of its listing.
    pub(crate) fn of(
        index: usize,
        provider: Provider,
        account: &StoredAccount,
        active: Option<&str>,
        claims: &ClaimsSnapshot,
        now: EpochMs,
    ) -> Self {
        let id = account.uuid.clone().unwrap_or_default();
        let (state, reason, blocked_until) = state_of(account, now);
        let usage = account.cached_usage.as_ref();
        Self {
            index,
            provider,
            name: account.display_name(),
            label: account.label.clone(),
            email: account.email.clone(),
            plan: account.plan_tier.clone(),
            enabled: account.enabled,
            active: !id.is_empty() && active == Some(id.as_str()),
            state,
            reason,
            blocked_until,
            five_hour: usage.and_then(|u| u.five_hour.as_ref()).map(WindowView::of),
            seven_day: usage.and_then(|u| u.seven_day.as_ref()).map(WindowView::of),
            usage_fetched_at: account.cached_usage_at,
            token_expires_at: account.expires_at,
            held_by_pid: claims.get(&id).map(|claim| claim.pid),
            last_used: account.last_used,
            added_at: account.added_at,
            id,
        }
    }

    /// `expires in 2h`, `expired 3m ago`, `none`.
    pub(crate) fn token_human(&self, now: EpochMs) -> String {
        match self.token_expires_at {
            None => "none".to_owned(),
            Some(at) if at > now => format!("expires in {}", wait_time(at.duration_since(now))),
            Some(at) => format!("expired {} ago", wait_time(now.duration_since(at))),
        }
    }

    /// The first 8 characters of the uuid.
    pub(crate) fn short_id(&self) -> &str {
        self.id.get(..8).unwrap_or(&self.id)
    }
}
