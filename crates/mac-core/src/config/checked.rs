//! A resolved configuration with the source of each value: what `mac config check` prints.

use std::fmt::{self, Write as _};

use super::MacConfig;
use super::error::Position;
use super::schema::{KeySpec, SCHEMA, lookup};
use super::section::Section;
use super::value::Value;

/// Where the effective value of a setting comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Nothing set it.
    Default,
    /// `config.toml` (at the key's position).
    File {
        /// The file's name or path.
        file: String,
        /// The key's position.
        position: Position,
    },
    /// A `MAC_*` environment variable.
    Env {
        /// Its name.
        var: String,
    },
}

impl fmt::Display for Source {
    /// `default`, `config.toml:3:1` or `env MAC_POOL_STRATEGY`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { file, position } => {
                write!(f, "{file}:{}:{}", position.line, position.column)
            }
            Source::Env { var } => write!(f, "env {var}"),
        }
    }
}

/// A configuration with where each value came from, as `mac config check` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    /// The effective configuration.
    pub config: MacConfig,
    /// The source of each key of the schema, by index.
    sources: Vec<Source>,
}

impl Checked {
    pub(crate) fn new(config: MacConfig, sources: Vec<Source>) -> Self {
        Self { config, sources }
    }

    /// Where the effective value of `key` in `section` comes from; `None` for an unknown key.
    pub fn source(&self, section: Section, key: &str) -> Option<&Source> {
        lookup(section, key).and_then(|(index, _)| self.sources.get(index))
    }

    /// Every key with its effective value and its source, in schema order.
    pub fn entries(&self) -> impl Iterator<Item = (&'static KeySpec, Value, &Source)> {
        SCHEMA
            .iter()
            .zip(&self.sources)
            .map(|(spec, source)| (spec, spec.get(&self.config), source))
    }

    /// The effective configuration as `config.toml` text, each value followed by a comment
    /// naming its source. The text reads back as the same configuration, but for secrets: an
    /// unset one is a comment, a set one shows as `"[redacted]"` (never its value).
    pub fn to_toml(&self) -> String {
        let mut out =
            String::from("# The effective configuration; each value's source in its comment.\n");
        let mut section = None;
        for (spec, value, source) in self.entries() {
            if section != Some(spec.section) {
                section = Some(spec.section);
                let _ = writeln!(out, "\n{}", spec.section);
            }
            if value == Value::Secret(None) {
                let _ = writeln!(out, "# {} is not set  # {source}", spec.key);
            } else {
                let _ = writeln!(out, "{} = {value}  # {source}", spec.key);
            }
        }
        out
    }
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_toml())
    }
}
