//! The sections of `config.toml`.

use std::fmt;

use mac_storage::Provider;

use super::schema::{KeySpec, SCHEMA};

/// A section of `config.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    /// `[pool]`
    Pool,
    /// `[sessions]`
    Sessions,
    /// `[refresh]`
    Refresh,
    /// `[retry]`
    Retry,
    /// `[ratelimit]`
    RateLimit,
    /// `[storage]`
    Storage,
    /// `[claims]`
    Claims,
    /// `[gateway]`
    Gateway,
    /// `[providers.anthropic]`, `[providers.codex]`
    Provider(Provider),
}

impl Section {
    /// Every section, in the order of the docs.
    pub const ALL: [Section; 10] = [
        Section::Pool,
        Section::Sessions,
        Section::Refresh,
        Section::Retry,
        Section::RateLimit,
        Section::Storage,
        Section::Claims,
        Section::Gateway,
        Section::Provider(Provider::Anthropic),
        Section::Provider(Provider::Codex),
    ];

    /// The name in the file: `pool`, …, `providers.anthropic`.
    pub const fn name(self) -> &'static str {
        match self {
            Section::Pool => "pool",
            Section::Sessions => "sessions",
            Section::Refresh => "refresh",
            Section::Retry => "retry",
            Section::RateLimit => "ratelimit",
            Section::Storage => "storage",
            Section::Claims => "claims",
            Section::Gateway => "gateway",
            Section::Provider(Provider::Anthropic) => "providers.anthropic",
            Section::Provider(Provider::Codex) => "providers.codex",
        }
    }

    /// The section of a top-level table name (`providers` is not one: its sub-tables are).
    pub fn top_level(name: &str) -> Option<Section> {
        Section::ALL
            .into_iter()
            .find(|section| !matches!(section, Section::Provider(_)) && section.name() == name)
    }

    /// The keys of this section, in table order.
    pub fn keys(self) -> impl Iterator<Item = &'static KeySpec> {
        SCHEMA.iter().filter(move |spec| spec.section == self)
    }
}

impl fmt::Display for Section {
    /// `[pool]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.name())
    }
}
