//! The storage URL: parsed from a [`Secret`] into the client's configuration, and described
//! for messages without its password ([`Target`]).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use std::path::PathBuf;

use mac_storage::{Provider, Secret};
use tokio_postgres::config::Host;

use crate::error::PostgresError;
use crate::ssl_params::SslParams;

/// Where the storage is, as printed in messages and logs: `postgres://USER@HOST:PORT/DATABASE`
/// and the schema. Never holds the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `postgres://USER@HOST:PORT/DATABASE`.
    server: String,
    schema: String,
}

impl Target {
    /// The description of `config`'s server, database and user, with `schema`.
    pub(crate) fn of(config: &tokio_postgres::Config, schema: &str) -> Self {
        let user = config.get_user().unwrap_or("");
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(host)) if host.contains(':') => format!("[{host}]:{port}"),
            Some(Host::Tcp(host)) => format!("{host}:{port}"),
            #[cfg(unix)]
            Some(Host::Unix(path)) => format!("{}:{port}", path.display()),
            None => format!("localhost:{port}"),
        };
        let database = config.get_dbname().unwrap_or(user);
        Self { server: format!("postgres://{user}@{host}/{database}"), schema: schema.to_owned() }
    }

    /// The server and database: `postgres://USER@HOST:PORT/DATABASE`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Where `provider`'s accounts document is, for [`mac_storage::AccountsBackend::location`].
    pub(crate) fn accounts_location(&self, provider: Provider) -> PathBuf {
        PathBuf::from(format!("{} (schema {}, {provider} accounts)", self.server, self.schema))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (schema {})", self.server, self.schema)
    }
}

/// The client configuration of `url` and its TLS parameters ([`SslParams::take`]), with mac's
/// defaults for what the URL leaves out: the application name `mac` (so `pg_stat_activity`
/// names mac's sessions) and `connect_timeout`.
pub(crate) fn parse(
    url: &Secret,
    connect_timeout: Duration,
) -> Result<(tokio_postgres::Config, SslParams), PostgresError> {
    let (rest, ssl) =
        SslParams::take(url.expose()).map_err(|reason| PostgresError::Url { reason })?;
    let rest = Secret::new(rest);
    let mut config = tokio_postgres::Config::from_str(rest.expose())
        .map_err(|err| PostgresError::Url { reason: parse_reason(&err) })?;
    config.ssl_mode(ssl.mode.for_client());
    if config.get_user().is_none_or(str::is_empty) {
        return Err(PostgresError::Url { reason: "it names no user".to_owned() });
    }
    if config.get_hosts().is_empty() {
        return Err(PostgresError::Url { reason: "it names no host".to_owned() });
    }
    if config.get_application_name().is_none() {
        config.application_name("mac");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(connect_timeout);
    }
    Ok((config, ssl))
}

/// The parser's reason when it only names an option; otherwise a general one, since other
/// parser messages quote characters of the URL (which may be the password's).
fn parse_reason(err: &tokio_postgres::Error) -> String {
    let cause = std::error::Error::source(err).map(ToString::to_string).unwrap_or_default();
    if cause.starts_with("invalid value for option") || cause.starts_with("unknown option") {
        cause
    } else {
        "malformed".to_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_target_names_user_host_database_and_schema_but_never_the_password() {
        let url = Secret::new("postgres://alice:hunter2-pw@db.example:6543/pools");
        let (config, _) = parse(&url, Duration::from_secs(5)).unwrap();
        let target = Target::of(&config, "mac");
        assert_eq!(target.to_string(), "postgres://alice@db.example:6543/pools (schema mac)");
        assert_eq!(
            target.accounts_location(Provider::Codex).display().to_string(),
            "postgres://alice@db.example:6543/pools (schema mac, codex accounts)"
        );
        assert_eq!(config.get_application_name(), Some("mac"));
    }

    #[test]
    fn malformed_urls_are_refused_without_quoting_them() {
        for text in [
            "postgres://alice:hunter2-pw@db.example:port/pools",
            "postgres://alice:hunter2-pw@db.example/pools?sslmode=hunter2-pw",
            "postgres://alice:hunter2-pw@db.example/pools?connect_timeout=x",
            "host=db.example password='hunter2-pw",
            "postgres://:hunter2-pw@db.example/pools",
        ] {
            let err = parse(&Secret::new(text), Duration::from_secs(5)).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(matches!(err, PostgresError::Url { .. }), "{text}: {shown}");
            assert!(!shown.contains("hunter2"), "{text}: {shown}");
        }
    }
}
