//! Configuration errors: each names where the bad setting is (file, line and column, or the
//! environment variable), the key, the value as written, and what is accepted. A file's errors
//! are reported together ([`ConfigErrors`]).

use std::fmt;

use snafu::Snafu;

/// A 1-based line and column (in characters) of `config.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1, counted in characters.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` of `text` (clamped to its end).
    pub(crate) fn of(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

/// Where a setting, or an error, comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The configuration file, named as the caller named it; `position` is `None` for errors
    /// about the whole file (it cannot be read).
    File {
        /// The file's name or path.
        file: String,
        /// Where in the file.
        position: Option<Position>,
    },
    /// An environment variable.
    Env {
        /// Its name: `MAC_POOL_STRATEGY`.
        var: String,
    },
}

impl fmt::Display for Origin {
    /// `config.toml:7:1`, `config.toml`, or `env MAC_POOL_STRATEGY`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { file, position: Some(Position { line, column }) } => {
                write!(f, "{file}:{line}:{column}")
            }
            Origin::File { file, position: None } => f.write_str(file),
            Origin::Env { var } => write!(f, "env {var}"),
        }
    }
}

/// One problem of a configuration:
/// `config.toml:7:1: [pool] strategy = "fastest": expected one of "sticky", "round-robin",
/// "hybrid"`.
#[derive(Clone, Debug, PartialEq, Eq, Snafu)]
#[snafu(display("{}", render(origin, key.as_deref(), value.as_deref(), problem)))]
pub struct ConfigError {
    /// Where: file, line and column, or environment variable.
    pub origin: Origin,
    /// The key or section concerned, as `[pool] strategy` or `[poll]`; `None` for errors of
    /// the whole file (syntax, unreadable).
    pub key: Option<String>,
    /// The value as written (TOML source text, or the variable's text quoted).
    pub value: Option<String>,
    /// What is wrong, and what is accepted.
    pub problem: String,
}

impl ConfigError {
    /// The file, if the error is in one.
    pub fn file(&self) -> Option<&str> {
        match &self.origin {
            Origin::File { file, .. } => Some(file),
            Origin::Env { .. } => None,
        }
    }

    /// The 1-based line in the file, if the error has a position.
    pub fn line(&self) -> Option<usize> {
        self.position().map(|position| position.line)
    }

    /// The 1-based column in the file, if the error has a position.
    pub fn column(&self) -> Option<usize> {
        self.position().map(|position| position.column)
    }

    /// The environment variable, if the error is in one.
    pub fn env_var(&self) -> Option<&str> {
        match &self.origin {
            Origin::Env { var } => Some(var),
            Origin::File { .. } => None,
        }
    }

    fn position(&self) -> Option<Position> {
        match &self.origin {
            Origin::File { position, .. } => *position,
            Origin::Env { .. } => None,
        }
    }
}

fn render(origin: &Origin, key: Option<&str>, value: Option<&str>, problem: &str) -> String {
    match (key, value) {
        (Some(key), Some(value)) => format!("{origin}: {key} = {value}: {problem}"),
        (Some(key), None) => format!("{origin}: {key}: {problem}"),
        (None, _) => format!("{origin}: {problem}"),
    }
}

/// Every problem of a configuration (at least one), file errors in file order, then those of
/// environment variables. `Display` writes one per line.
#[derive(Clone, Debug, PartialEq, Eq, Snafu)]
#[snafu(display("{}", lines(errors)))]
pub struct ConfigErrors {
    errors: Vec<ConfigError>,
}

fn lines(errors: &[ConfigError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

impl ConfigErrors {
    /// `None` when there is nothing to report.
    pub(crate) fn from_vec(errors: Vec<ConfigError>) -> Option<Self> {
        (!errors.is_empty()).then_some(Self { errors })
    }

    /// Just `error`.
    pub(crate) fn one(error: ConfigError) -> Self {
        Self { errors: vec![error] }
    }

    /// The errors, in report order.
    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }

    /// Iterates over the errors, in report order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }

    /// How many there are (at least one).
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always `false`: there is at least one error.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        let text = "a = 1\n[pööl]\nx = 2";
        assert_eq!(Position::of(text, 0), Position { line: 1, column: 1 });
        assert_eq!(Position::of(text, 6), Position { line: 2, column: 1 });
        let x = text.find('x').unwrap();
        assert_eq!(Position::of(text, x), Position { line: 3, column: 1 });
        let close = text.find(']').unwrap();
        assert_eq!(Position::of(text, close), Position { line: 2, column: 6 });
        assert_eq!(Position::of(text, 999), Position { line: 3, column: 6 });
    }
}
