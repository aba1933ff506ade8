//! The settings `MacConfig` keeps itself, where no lower crate has an options struct that
//! could hold them as written: the rate-limit ladder's bounds (as written, before
//! `mac_ratelimit::Ladder` clamps them) and the providers' overrides of their built-in facts.

use std::collections::BTreeMap;
use std::time::Duration;

use mac_ratelimit::{CooldownPolicy, Ladder};
use mac_storage::Provider;

/// `[ratelimit] ladder_start` and `ladder_max` as written. `Ladder::new` raises a maximum
/// below the start to the start, which would hide the mistake the cross-check of the two
/// keys reports; the ladder is built from these in `MacConfig::pool_config`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LadderBounds {
    /// `ladder_start`: the first rest of a rate limit that names no deadline.
    pub start: Duration,
    /// `ladder_max`: the longest such rest (the ladder doubles up to it).
    pub max: Duration,
}

impl LadderBounds {
    /// The ladder of these bounds, growing by `factor`.
    pub fn ladder(self, factor: f32) -> Ladder {
        Ladder::new(self.start, factor, self.max)
    }
}

impl Default for LadderBounds {
    fn default() -> Self {
        let ladder = CooldownPolicy::default().ladder;
        Self { start: ladder.first(), max: ladder.cap() }
    }
}

/// `[providers.<name>]`: overrides of a provider's built-in facts. `None` (or a missing
/// endpoint key) keeps the built-in value of `mac_adapters::ProviderDescriptor`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProviderSettings {
    /// Endpoint URLs by their key in `mac_adapters::ENDPOINTS` (`token_url`, …).
    pub endpoints: BTreeMap<String, String>,
    /// `user_agent`: the `User-Agent` of token, usage and API requests.
    pub user_agent: Option<String>,
    /// `originator` (Codex): the `originator` header value.
    pub originator: Option<String>,
    /// `callback_port` (Codex): the loopback port of the browser login.
    pub callback_port: Option<u16>,
    /// `client_id`: the OAuth client id.
    pub client_id: Option<String>,
}

/// `[providers.anthropic]` and `[providers.codex]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProvidersSettings {
    /// Claude Pro/Max.
    pub anthropic: ProviderSettings,
    /// ChatGPT Plus/Pro.
    pub codex: ProviderSettings,
}

impl ProvidersSettings {
    /// The settings of `provider`.
    pub fn get(&self, provider: Provider) -> &ProviderSettings {
        match provider {
            Provider::Anthropic => &self.anthropic,
            Provider::Codex => &self.codex,
        }
    }

    /// The settings of `provider`, to change them.
    pub fn get_mut(&mut self, provider: Provider) -> &mut ProviderSettings {
        match provider {
            Provider::Anthropic => &mut self.anthropic,
            Provider::Codex => &mut self.codex,
        }
    }
}
