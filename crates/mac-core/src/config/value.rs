//! What a setting may hold ([`Kind`]), a setting's value ([`Value`]), and reading one from a
//! TOML value or an environment variable's text, with the problem as a message on failure.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use mac_adapters::ProviderDescriptor;
use mac_storage::Secret;
use toml::de::DeValue;

use super::duration::{DURATION_FORMS, format_duration, parse_duration};

/// The type and accepted range of a setting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// `true` or `false`.
    Bool,
    /// A whole number from `min` to `max`; `max` = `u32::MAX` means "no upper bound".
    Integer {
        /// The smallest accepted value.
        min: u64,
        /// The largest accepted value.
        max: u64,
    },
    /// A number (integer or float) from 0 to 100.
    Percent,
    /// A human duration (`"90s"`, `"1h30m"`, …) or a whole number of seconds.
    Duration {
        /// The shortest accepted duration.
        min: Duration,
        /// The longest accepted duration.
        max: Duration,
    },
    /// One of a fixed list of names.
    Choice(&'static [&'static str]),
    /// An `http://` or `https://` URL.
    Url,
    /// A non-empty string.
    Text,
    /// An IP address and port: `127.0.0.1:8765`, `[::1]:8765`.
    Address,
    /// A non-empty string that is a secret: held in a `Secret`, never shown.
    Secret,
}

/// The longest duration of a setting without a stated maximum: beyond it, deadlines would be
/// further away than any provider limit (31 days) and `Instant` arithmetic could overflow.
pub const LONGEST_DURATION: Duration = Duration::from_secs(30 * 86_400);

impl Kind {
    /// The type's name for the docs: `boolean`, `integer`, `number`, `duration`, `string`,
    /// `URL`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Bool => "boolean",
            Kind::Integer { .. } => "integer",
            Kind::Percent => "number",
            Kind::Duration { .. } => "duration",
            Kind::Choice(_) | Kind::Text => "string",
            Kind::Url => "URL",
            Kind::Address => "address",
            Kind::Secret => "secret",
        }
    }

    /// The accepted values for the docs: `0–100`, `≥ 1`, `60s–30d`, `"a", "b"`, ….
    pub fn range(&self) -> String {
        match *self {
            Kind::Bool => "true, false".to_owned(),
            Kind::Integer { min, max } if max >= u64::from(u32::MAX) => format!("≥ {min}"),
            Kind::Integer { min, max } => format!("{min}–{max}"),
            Kind::Percent => "0–100".to_owned(),
            Kind::Duration { min, max } => {
                format!("{}–{}", format_duration(min), format_duration(max))
            }
            Kind::Choice(names) => quoted_list(names),
            Kind::Url => "http(s) URL".to_owned(),
            Kind::Text => "non-empty".to_owned(),
            Kind::Address => "IP:port".to_owned(),
            Kind::Secret => "non-empty, never shown".to_owned(),
        }
    }

    /// What an error message says is accepted: `expected a whole number from 0 to 10`, ….
    pub fn expected(&self) -> String {
        match *self {
            Kind::Bool => "expected true or false".to_owned(),
            Kind::Integer { min: 0, max } if max >= u64::from(u32::MAX) => {
                "expected a whole number (0 or more)".to_owned()
            }
            Kind::Integer { min, max } if max >= u64::from(u32::MAX) => {
                format!("expected a whole number of at least {min}")
            }
            Kind::Integer { min, max } => format!("expected a whole number from {min} to {max}"),
            Kind::Percent => "expected a number from 0 to 100".to_owned(),
            Kind::Duration { min, max } => format!(
                "expected a duration from {} to {}",
                format_duration(min),
                format_duration(max)
            ),
            Kind::Choice(names) => format!("expected one of {}", quoted_list(names)),
            Kind::Url => "expected an http:// or https:// URL".to_owned(),
            Kind::Text | Kind::Secret => "expected a non-empty string".to_owned(),
            Kind::Address => {
                "expected an IP address and port, such as \"127.0.0.1:8765\"".to_owned()
            }
        }
    }

    /// Reads a value of this kind from `config.toml`.
    pub(crate) fn parse_toml(&self, value: &DeValue<'_>) -> Result<Value, String> {
        let wrong_type = || format!("{}, found {}", self.expected(), a_toml_type(value));
        let parsed = match (self, value) {
            (Kind::Bool, DeValue::Boolean(flag)) => Value::Bool(*flag),
            (Kind::Integer { .. }, DeValue::Integer(int)) => {
                Value::Integer(integer(int.as_str(), int.radix()).ok_or_else(|| self.expected())?)
            }
            (Kind::Percent, DeValue::Integer(int)) => Value::Number(
                integer(int.as_str(), int.radix())
                    .and_then(|n| u32::try_from(n).ok())
                    .map_or(f64::INFINITY, f64::from),
            ),
            (Kind::Percent, DeValue::Float(float)) => {
                Value::Number(float.as_str().parse().map_err(|_| self.expected())?)
            }
            (Kind::Duration { .. }, DeValue::Integer(int)) => Value::Duration(Duration::from_secs(
                integer(int.as_str(), int.radix()).ok_or_else(|| self.expected())?,
            )),
            (
                Kind::Duration { .. }
                | Kind::Choice(_)
                | Kind::Url
                | Kind::Text
                | Kind::Address
                | Kind::Secret,
                DeValue::String(text),
            ) => {
                return self.parse_text(text);
            }
            _ => return Err(wrong_type()),
        };
        self.check(parsed)
    }

    /// Reads a value of this kind from text, as an environment variable gives it: `true`, `42`,
    /// `85.5`, `90s`, `hybrid`, `https://…`.
    pub fn parse_text(&self, text: &str) -> Result<Value, String> {
        let parsed = match self {
            Kind::Bool => match text.trim() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(self.expected()),
            },
            Kind::Integer { .. } => {
                Value::Integer(integer(text.trim(), 10).ok_or_else(|| self.expected())?)
            }
            Kind::Percent => Value::Number(text.trim().parse().map_err(|_| self.expected())?),
            Kind::Duration { .. } => Value::Duration(
                parse_duration(text)
                    .map_err(|why| format!("{why}; {}, {DURATION_FORMS}", self.expected()))?,
            ),
            Kind::Choice(_) | Kind::Url => Value::Text(text.trim().to_owned()),
            Kind::Text => Value::Text(text.to_owned()),
            Kind::Address => Value::Address(text.trim().parse().map_err(|_| self.expected())?),
            Kind::Secret => Value::Secret(Some(Secret::new(text))),
        };
        self.check(parsed)
    }

    /// `value` if it is of this kind and in range, else what is accepted.
    pub fn check(&self, value: Value) -> Result<Value, String> {
        let fits = match (self, &value) {
            (Kind::Bool, Value::Bool(_))
            | (Kind::Address, Value::Address(_))
            | (Kind::Secret, Value::Secret(None)) => true,
            (Kind::Integer { min, max }, Value::Integer(n)) => (min..=max).contains(&n),
            (Kind::Percent, Value::Number(n)) => (0.0..=100.0).contains(n),
            (Kind::Duration { min, max }, Value::Duration(d)) => (min..=max).contains(&d),
            (Kind::Choice(names), Value::Text(text)) => names.contains(&text.as_str()),
            (Kind::Url, Value::Text(url)) => {
                check_url(url)?;
                true
            }
            (Kind::Text, Value::Text(text)) => !text.trim().is_empty(),
            (Kind::Secret, Value::Secret(Some(secret))) => !secret.expose().trim().is_empty(),
            _ => false,
        };
        if fits { Ok(value) } else { Err(self.expected()) }
    }
}

/// A whole number written in `radix` (TOML's `0x`, `0o`, `0b` forms come without their prefix),
/// if it is not negative and fits.
fn integer(digits: &str, radix: u32) -> Option<u64> {
    u64::from_str_radix(digits.strip_prefix('+').unwrap_or(digits), radix).ok()
}

/// `"a", "b", "c"`.
fn quoted_list(names: &[&str]) -> String {
    names.iter().map(|name| format!("{name:?}")).collect::<Vec<_>>().join(", ")
}

/// A TOML value's type with its article: `a string`, `an integer`, ….
fn a_toml_type(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Whether `text` is a URL a descriptor accepts as an endpoint, with an http(s) scheme; else
/// why not.
fn check_url(text: &str) -> Result<(), String> {
    let mut scratch = ProviderDescriptor::anthropic();
    if let Err(err) = scratch.set_endpoint("token_url", text) {
        // The URL parser's reason, below the descriptor's two wrappers.
        let reason = std::error::Error::source(&err)
            .and_then(std::error::Error::source)
            .map_or_else(|| err.to_string(), ToString::to_string);
        return Err(format!("expected an http:// or https:// URL: {reason}"));
    }
    let scheme = scratch.endpoints.token_url.scheme();
    if scheme == "http" || scheme == "https" {
        Ok(())
    } else {
        Err(format!("expected an http:// or https:// URL, found scheme `{scheme}`"))
    }
}

/// The value of a setting.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A whole number.
    Integer(u64),
    /// A number (percentages).
    Number(f64),
    /// A duration.
    Duration(Duration),
    /// A string: a choice, a URL or text.
    Text(String),
    /// An IP address and port.
    Address(SocketAddr),
    /// A secret; `None` when none is set (the default of an optional secret).
    Secret(Option<Secret>),
}

impl fmt::Display for Value {
    /// As written in `config.toml`: `true`, `3`, `85.5`, `"90s"`, `"hybrid"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(flag) => write!(f, "{flag}"),
            Value::Integer(n) => write!(f, "{n}"),
            Value::Number(n) => write!(f, "{n}"),
            Value::Duration(d) => write!(f, "\"{}\"", format_duration(*d)),
            Value::Text(text) => write!(f, "{}", toml::Value::String(text.clone())),
            Value::Address(addr) => write!(f, "\"{addr}\""),
            // Never the value: `mac config show` and the docs say only whether one is set.
            Value::Secret(Some(_)) => f.write_str("\"[redacted]\""),
            Value::Secret(None) => f.write_str("\"\""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_values_are_checked_per_kind() {
        let secs = |n| Kind::Duration { min: Duration::from_secs(n), max: LONGEST_DURATION };
        assert_eq!(secs(0).parse_text("5m"), Ok(Value::Duration(Duration::from_secs(300))));
        assert_eq!(secs(60).parse_text("30s"), Err("expected a duration from 1m to 30d".into()));
        let port = Kind::Integer { min: 0, max: 65_535 };
        assert_eq!(port.parse_text("65535"), Ok(Value::Integer(65_535)));
        assert_eq!(port.parse_text("65536"), Err("expected a whole number from 0 to 65535".into()));
        assert_eq!(port.parse_text("-1"), Err("expected a whole number from 0 to 65535".into()));
        assert_eq!(Kind::Bool.parse_text("yes"), Err("expected true or false".into()));
        assert_eq!(Kind::Percent.parse_text("NaN"), Err("expected a number from 0 to 100".into()));
        assert_eq!(Kind::Text.parse_text(" "), Err("expected a non-empty string".into()));
    }

    #[test]
    fn urls_must_parse_and_be_http() {
        assert!(Kind::Url.parse_text("http://127.0.0.1:1/t").is_ok());
        assert_eq!(
            Kind::Url.parse_text("/oauth/token"),
            Err("expected an http:// or https:// URL: relative URL without a base".into())
        );
        assert_eq!(
            Kind::Url.parse_text("file:///etc/passwd"),
            Err("expected an http:// or https:// URL, found scheme `file`".into())
        );
    }

    #[test]
    fn addresses_parse_and_secrets_never_show() {
        let addr = Kind::Address.parse_text(" [::1]:8080 ").unwrap();
        assert_eq!(addr.to_string(), "\"[::1]:8080\"");
        assert!(Kind::Address.parse_text("localhost:80").is_err());
        assert!(Kind::Address.parse_text("127.0.0.1").is_err());
        let secret = Kind::Secret.parse_text("sk-gateway-123").unwrap();
        assert_eq!(secret.to_string(), "\"[redacted]\"");
        assert!(!format!("{secret:?}").contains("sk-gateway-123"));
        assert!(Kind::Secret.parse_text("  ").is_err());
        assert_eq!(Kind::Secret.check(Value::Secret(None)), Ok(Value::Secret(None)));
    }

    #[test]
    fn values_display_as_toml() {
        assert_eq!(Value::Number(100.0).to_string(), "100");
        assert_eq!(Value::Number(85.5).to_string(), "85.5");
        assert_eq!(Value::Duration(Duration::from_secs(5400)).to_string(), "\"1h30m\"");
        assert_eq!(Value::Text("a \"b\"".into()).to_string(), r#"'a "b"'"#);
        assert_eq!(Value::Text("it's".into()).to_string(), r#""it's""#);
    }
}
