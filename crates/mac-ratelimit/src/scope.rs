//! What a limit blocks: the whole account, or only requests of one model family on it.
//!
//! Anthropic's subscriptions have weekly limits per model family besides the account's own
//! windows: a 429 whose representative claim is `seven_day_opus` (or `seven_day_sonnet`) says
//! the account's Opus (Sonnet) week is used up, while requests for other models still pass.
//! Blocking the whole account for such a limit parks it for days for nothing.
//!
//! A request names its model; [`ModelFamily::of_model`] maps it to a family, and a scoped
//! block applies only to requests of that family. A request that names no model, or a model of
//! no known family, is not blocked by a family's limit (the provider answers a 429 if it is).

use crate::classify::{RateLimitClass, classify};
use crate::observation::{Observation, UnifiedStatus};

/// A model family with limits of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelFamily {
    /// Claude Opus models (`claude-opus-4-1`, `claude-3-opus-…`).
    Opus,
    /// Claude Sonnet models (`claude-sonnet-4-5`, …).
    Sonnet,
}

impl ModelFamily {
    /// Every family.
    pub const ALL: [ModelFamily; 2] = [ModelFamily::Opus, ModelFamily::Sonnet];

    /// The family of a model name (any case): `opus` or `sonnet` in the name; `None` for
    /// every other model.
    pub fn of_model(model: &str) -> Option<Self> {
        let model = model.to_ascii_lowercase();
        if model.contains("opus") {
            Some(ModelFamily::Opus)
        } else if model.contains("sonnet") {
            Some(ModelFamily::Sonnet)
        } else {
            None
        }
    }

    /// The family a representative claim limits: `seven_day_opus` → Opus, `seven_day_sonnet`
    /// → Sonnet (any case); `None` for every other claim.
    pub fn of_claim(claim: &str) -> Option<Self> {
        let claim = claim.to_ascii_lowercase();
        match claim.strip_prefix("seven_day_")? {
            "opus" => Some(ModelFamily::Opus),
            "sonnet" => Some(ModelFamily::Sonnet),
            _ => None,
        }
    }

    /// Its name in logs, events and JSON: `opus`, `sonnet`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelFamily::Opus => "opus",
            ModelFamily::Sonnet => "sonnet",
        }
    }

    /// The family's index in [`ModelFamily::ALL`].
    pub fn index(self) -> usize {
        match self {
            ModelFamily::Opus => 0,
            ModelFamily::Sonnet => 1,
        }
    }
}

/// What a limit blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every request on the account.
    Account,
    /// Only requests of this family on the account.
    Family(ModelFamily),
}

/// The scope of a rate-limit response: a family when it is a 7-day exhaustion whose
/// representative claim names a family (`seven_day_opus`, `seven_day_sonnet`) and the
/// account's own 7-day and 5-hour windows are not exhausted; the account otherwise (including
/// every response that is not a rate limit).
pub fn scope(observation: &Observation) -> Scope {
    if classify(observation) != Some(RateLimitClass::SevenDayExhausted) {
        return Scope::Account;
    }
    let unified = &observation.unified;
    let full = |status: Option<UnifiedStatus>, utilization: Option<f64>| {
        status == Some(UnifiedStatus::Rejected) || utilization.is_some_and(|u| u >= 100.0)
    };
    let account_window_full = full(unified.seven_day.status, unified.seven_day.utilization)
        || full(unified.five_hour.status, unified.five_hour.utilization);
    match unified.representative_claim.as_deref().and_then(ModelFamily::of_claim) {
        Some(family) if !account_window_full => Scope::Family(family),
        _ => Scope::Account,
    }
}
