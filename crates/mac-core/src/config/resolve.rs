//! Defaults, then the file, then the environment: every setting validated on its own, every
//! problem collected, then the cross-checks between settings.

use std::fmt::Write as _;
use std::str::FromStr;
use std::time::Duration;

use mac_storage::Provider;
use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::MacConfig;
use super::checked::{Checked, Source};
use super::error::{ConfigError, ConfigErrors, Origin, Position};
use super::schema::{SCHEMA, duration_text, lookup};
use super::section::Section;
use super::value::{Kind, Value};

/// The configuration of `text` (`None`: no file) named `file` in messages, overridden by `env`.
pub(crate) fn resolve(
    text: Option<&str>,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Checked, ConfigErrors> {
    let mut state = State {
        config: MacConfig::default(),
        sources: vec![Source::Default; SCHEMA.len()],
        failed: vec![false; SCHEMA.len()],
        file_errors: Vec::new(),
        env_errors: Vec::new(),
    };
    if let Some(text) = text {
        FileReader { text, file, state: &mut state }.read();
    }
    state.read_env(env);
    state.cross_check();
    let State { config, sources, mut file_errors, env_errors, .. } = state;
    file_errors.sort_by_key(|(position, _)| *position);
    let errors = file_errors.into_iter().map(|(_, error)| error).chain(env_errors).collect();
    match ConfigErrors::from_vec(errors) {
        Some(errors) => Err(errors),
        None => Ok(Checked::new(config, sources)),
    }
}

/// The configuration being resolved.
struct State {
    config: MacConfig,
    sources: Vec<Source>,
    /// Keys whose file or environment value was refused: no cross-check involves them.
    failed: Vec<bool>,
    /// With their position, to report in file order.
    file_errors: Vec<(Position, ConfigError)>,
    env_errors: Vec<ConfigError>,
}

impl State {
    fn read_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        for (index, spec) in SCHEMA.iter().enumerate() {
            let var = spec.env_var();
            let Some(text) = env(&var) else { continue };
            match spec.parse_text(&text).and_then(|value| spec.set(&mut self.config, value)) {
                Ok(()) => self.sources[index] = Source::Env { var },
                Err(problem) => {
                    self.failed[index] = true;
                    self.env_errors.push(ConfigError {
                        origin: Origin::Env { var },
                        key: Some(spec.to_string()),
                        // A secret's text is never repeated, not even a wrong one.
                        value: (spec.kind != Kind::Secret).then(|| format!("{text:?}")),
                        problem,
                    });
                }
            }
        }
    }

    /// The relations between settings ([`RULES`]), each checked once both settings are valid.
    fn cross_check(&mut self) {
        for rule in RULES {
            let (Some((l, left)), Some((r, right))) =
                (lookup(rule.left.0, rule.left.1), lookup(rule.right.0, rule.right.1))
            else {
                continue;
            };
            let values = (left.get(&self.config), right.get(&self.config));
            let (Value::Duration(a), Value::Duration(b)) = values else { continue };
            if self.failed[l] || self.failed[r] || rule.relation.holds(a, b) {
                continue;
            }
            // Blame the key the user set: the left one, unless only the right one was set.
            let blame_right =
                self.sources[l] == Source::Default && self.sources[r] != Source::Default;
            let (blamed, index, relation, other, value, other_value) = if blame_right {
                (right, r, rule.relation.inverse(), left, b, a)
            } else {
                (left, l, rule.relation, right, a, b)
            };
            let origin = match self.sources[index].clone() {
                Source::File { file, position } => Origin::File { file, position: Some(position) },
                Source::Env { var } => Origin::Env { var },
                Source::Default => continue, // cannot be: the defaults satisfy every rule
            };
            let error = ConfigError {
                origin,
                key: Some(blamed.to_string()),
                value: Some(format!("\"{}\"", duration_text(value))),
                problem: format!("{} {other} ({})", relation.says(), duration_text(other_value)),
            };
            self.push(error);
        }
    }

    /// Files errors by position, environment errors in schema order.
    fn push(&mut self, error: ConfigError) {
        match &error.origin {
            Origin::File { position, .. } => {
                self.file_errors.push((position.unwrap_or(Position { line: 0, column: 0 }), error));
            }
            Origin::Env { .. } => self.env_errors.push(error),
        }
    }
}

/// A relation between two duration settings that must hold.
struct Rule {
    left: (Section, &'static str),
    relation: Relation,
    right: (Section, &'static str),
}

/// Every cross-check: the claims heartbeat must renew before a claim expires; the ladder must
/// not shrink; an overload rest is capped by the ladder (mac-ratelimit would cut it silently).
const RULES: [Rule; 3] = [
    Rule {
        left: (Section::Claims, "heartbeat"),
        relation: Relation::ShorterThan,
        right: (Section::Claims, "expiry"),
    },
    Rule {
        left: (Section::RateLimit, "ladder_max"),
        relation: Relation::AtLeast,
        right: (Section::RateLimit, "ladder_start"),
    },
    Rule {
        left: (Section::RateLimit, "overload_cooldown"),
        relation: Relation::AtMost,
        right: (Section::RateLimit, "ladder_max"),
    },
];

#[derive(Clone, Copy)]
enum Relation {
    ShorterThan,
    LongerThan,
    AtLeast,
    AtMost,
}

impl Relation {
    fn holds(self, a: Duration, b: Duration) -> bool {
        match self {
            Relation::ShorterThan => a < b,
            Relation::LongerThan => a > b,
            Relation::AtLeast => a >= b,
            Relation::AtMost => a <= b,
        }
    }

    /// The same relation seen from the other side.
    fn inverse(self) -> Self {
        match self {
            Relation::ShorterThan => Relation::LongerThan,
            Relation::LongerThan => Relation::ShorterThan,
            Relation::AtLeast => Relation::AtMost,
            Relation::AtMost => Relation::AtLeast,
        }
    }

    fn says(self) -> &'static str {
        match self {
            Relation::ShorterThan => "must be shorter than",
            Relation::LongerThan => "must be longer than",
            Relation::AtLeast => "must be at least",
            Relation::AtMost => "must be at most",
        }
    }
}

/// Reads one file's text into the state.
struct FileReader<'a> {
    text: &'a str,
    file: &'a str,
    state: &'a mut State,
}

type Entry<'i> = (&'i Spanned<DeString<'i>>, &'i Spanned<DeValue<'i>>);

impl FileReader<'_> {
    fn read(mut self) {
        let (root, syntax_errors) = DeTable::parse_recoverable(self.text);
        if !syntax_errors.is_empty() {
            for error in syntax_errors {
                let offset = error.span().map_or(self.text.len(), |span| span.start);
                let message = error.message().lines().collect::<Vec<_>>().join("; ");
                self.error(offset, None, None, format!("TOML syntax error: {message}"));
            }
            return;
        }
        for (name, value) in root.get_ref() {
            if name.get_ref() == "providers" {
                self.providers(name, value);
            } else if let Some(section) = Section::top_level(name.get_ref()) {
                self.section(section, name, value);
            } else {
                let problem = format!("unknown section; expected one of {}", section_list());
                self.error(name.span().start, Some(format!("[{}]", name.get_ref())), None, problem);
            }
        }
    }

    fn providers(&mut self, name: &Spanned<DeString<'_>>, value: &Spanned<DeValue<'_>>) {
        let DeValue::Table(table) = value.get_ref() else {
            let problem = "expected tables [providers.anthropic] and [providers.codex]".to_owned();
            self.error(
                name.span().start,
                Some("providers".to_owned()),
                self.source_text(value),
                problem,
            );
            return;
        };
        for (provider_name, value) in table {
            match Provider::from_str(provider_name.get_ref()) {
                Ok(provider) => self.section(Section::Provider(provider), provider_name, value),
                Err(_) => self.error(
                    provider_name.span().start,
                    Some(format!("[providers.{}]", provider_name.get_ref())),
                    None,
                    "unknown provider; expected [providers.anthropic] or [providers.codex]"
                        .to_owned(),
                ),
            }
        }
    }

    fn section(
        &mut self,
        section: Section,
        name: &Spanned<DeString<'_>>,
        value: &Spanned<DeValue<'_>>,
    ) {
        let DeValue::Table(table) = value.get_ref() else {
            let problem = format!("expected a table (the section {section})");
            self.error(
                name.span().start,
                Some(name.get_ref().to_string()),
                self.source_text(value),
                problem,
            );
            return;
        };
        for entry in table {
            self.key(section, entry);
        }
    }

    fn key(&mut self, section: Section, (key, value): Entry<'_>) {
        let offset = key.span().start;
        let Some((index, spec)) = lookup(section, key.get_ref()) else {
            let problem = unknown_key(section, key.get_ref());
            self.error(offset, Some(format!("{section} {}", key.get_ref())), None, problem);
            return;
        };
        let parsed = spec.kind.parse_toml(value.get_ref());
        match parsed.and_then(|parsed| spec.set(&mut self.state.config, parsed)) {
            Ok(()) => {
                let position = Position::of(self.text, offset);
                self.state.sources[index] = Source::File { file: self.file.to_owned(), position };
            }
            Err(problem) => {
                self.state.failed[index] = true;
                let written =
                    (spec.kind != Kind::Secret).then(|| self.source_text(value)).flatten();
                self.error(offset, Some(spec.to_string()), written, problem);
            }
        }
    }

    fn error(
        &mut self,
        offset: usize,
        key: Option<String>,
        value: Option<String>,
        problem: String,
    ) {
        let position = Position::of(self.text, offset);
        let origin = Origin::File { file: self.file.to_owned(), position: Some(position) };
        self.state.file_errors.push((position, ConfigError { origin, key, value, problem }));
    }

    /// A value as written, on one line, shortened past 60 characters.
    fn source_text(&self, value: &Spanned<DeValue<'_>>) -> Option<String> {
        let written = self.text.get(value.span())?;
        let first_line = written.lines().next().unwrap_or_default().trim_end();
        let mut short: String = first_line.chars().take(60).collect();
        if short.len() < written.trim_end().len() {
            short.push('…');
        }
        Some(short)
    }
}

/// `[pool], [sessions], …, [providers.codex]`.
fn section_list() -> String {
    Section::ALL.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Why `key` is not a key of `section`, with a suggestion when one is near.
fn unknown_key(section: Section, key: &str) -> String {
    let known: Vec<&str> = section.keys().map(|spec| spec.key).collect();
    let mut problem = format!("unknown key; {section} has {}", known.join(", "));
    if let Some(elsewhere) = SCHEMA.iter().find(|spec| spec.key == key && spec.section != section) {
        let _ = write!(problem, " (did you mean {elsewhere}?)");
    } else if let Some(near) = known.iter().find(|known| edit_distance(known, key) <= 2) {
        let _ = write!(problem, " (did you mean {near}?)");
    }
    problem
}

/// Levenshtein distance (small inputs only).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("strategy", "strategy"), 0);
        assert_eq!(edit_distance("strategy", "stratgey"), 2);
        assert_eq!(edit_distance("max_wait", "max_wiat"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
