//! Test support (cargo feature `testing`): a fresh database per test on the server named by
//! `MAC_TEST_POSTGRES_URL` (default [`DEFAULT_URL`]), dropped when the test ends; and
//! [`PrivateCluster`], a server of one test's own for tests that restart or stop it.
//!
//! When no server answers, [`TestDatabase::create`] says so on stderr and returns `None` (the
//! test skips) — unless `MAC_REQUIRE_POSTGRES=1` (CI sets it), where it panics: a missing
//! server must not pass as a green run there.

// A skipped test explains itself on stderr; a required server that is missing fails the test.
#![allow(clippy::print_stderr, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use mac_storage::Secret;

use crate::driver::Driver;
use crate::tls::Tls;

mod certificates;
mod cluster;

use crate::{PostgresError, PostgresOptions, PostgresStorage};
pub use certificates::TestCertificates;
pub use cluster::{BIN_ENV, PrivateCluster};

/// The variable naming the test server (a URL whose database the tests may connect to).
pub const URL_ENV: &str = "MAC_TEST_POSTGRES_URL";

/// The variable that turns a skip into a failure when set to `1`.
pub const REQUIRE_ENV: &str = "MAC_REQUIRE_POSTGRES";

/// The test server unless `MAC_TEST_POSTGRES_URL` names another.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database of one test's own, dropped (with its connections) when this value is.
pub struct TestDatabase {
    driver: Driver,
    admin: tokio_postgres::Config,
    /// The admin URL's TLS (its `sslmode` and `sslrootcert`, as the storage reads them).
    tls: Tls,
    name: String,
    url: Secret,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase").field("name", &self.name).finish_non_exhaustive()
    }
}

impl TestDatabase {
    /// A new empty database for the test `test`; `None` (with a message) when no server
    /// answers and `MAC_REQUIRE_POSTGRES` is not `1`.
    ///
    /// # Panics
    /// When no server answers and `MAC_REQUIRE_POSTGRES=1`.
    #[allow(
        clippy::disallowed_methods,
        reason = "the test server and the requirement are the test run's, read where they apply"
    )]
    pub fn create(test: &str) -> Option<Self> {
        let admin_url = std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1");
        match Self::try_create(&admin_url, test) {
            Ok(database) => Some(database),
            Err(reason) if required => {
                panic!("{test}: PostgreSQL is required ({REQUIRE_ENV}=1) but {reason}")
            }
            Err(reason) => {
                eprintln!(
                    "SKIPPED {test}: {reason}; start PostgreSQL or set {URL_ENV} \
                     ({REQUIRE_ENV}=1 makes this a failure)"
                );
                None
            }
        }
    }

    fn try_create(admin_url: &str, test: &str) -> Result<Self, String> {
        let (admin, ssl) = crate::url::parse(&Secret::new(admin_url), Duration::from_secs(3))
            .map_err(|err| format!("{URL_ENV}: {err}"))?;
        let tls = Tls::new(&ssl).map_err(|err| err.to_string())?;
        let admin_shown = crate::url::Target::of(&admin, "-").server().to_owned();
        let (before, after) = split_database(admin_url)
            .ok_or_else(|| format!("{URL_ENV} must be a postgres://…/DATABASE URL"))?;
        let slug: String = test
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .take(30)
            .collect();
        let random = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("mac_t_{slug}_{}", &random[..12]);
        let driver = Driver::start().map_err(|err| err.to_string())?;
        let database =
            Self { driver, admin, tls, url: Secret::new(format!("{before}{name}{after}")), name };
        database
            .admin_execute(&format!("CREATE DATABASE \"{}\"", database.name))
            .map_err(|reason| format!("no server answered at {admin_shown} ({reason})"))?;
        Ok(database)
    }

    /// The URL of this database (same server and user as the test server's).
    pub fn url(&self) -> &Secret {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A storage on this database in `schema` (created on first use).
    pub fn storage(&self, schema: &str) -> Result<Arc<PostgresStorage>, PostgresError> {
        let options = PostgresOptions { schema: schema.to_owned(), ..PostgresOptions::default() };
        PostgresStorage::connect(&self.url, &options)
    }

    /// Runs `sql` as the test server's user in this test's database (to set up or inspect
    /// what a test needs).
    pub fn execute(&self, sql: &str) -> Result<(), String> {
        let mut config = self.admin.clone();
        config.dbname(&self.name);
        run(&self.driver, config, &self.tls, sql)
    }

    /// Runs `sql` in the test server's own database (the one its URL names), for what
    /// cannot run inside this test's database: changing whether it accepts connections.
    pub fn execute_in_server_database(&self, sql: &str) -> Result<(), String> {
        self.admin_execute(sql)
    }

    fn admin_execute(&self, sql: &str) -> Result<(), String> {
        run(&self.driver, self.admin.clone(), &self.tls, sql)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(reason) = self.admin_execute(&sql) {
            eprintln!("could not drop the test database {}: {reason}", self.name);
        }
    }
}

/// Runs `sql` on a new connection made from `config`.
fn run(
    driver: &Driver,
    config: tokio_postgres::Config,
    tls: &Tls,
    sql: &str,
) -> Result<(), String> {
    let sql = sql.to_owned();
    let tls = tls.clone();
    let task = driver.handle().spawn(async move {
        let (client, connection) = config.connect(tls).await?;
        let connection = tokio::spawn(connection);
        let result = client.batch_execute(&sql).await;
        drop(client);
        let _ = connection.await;
        result
    });
    match driver.wait(task) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(crate::ClientFailure::from_client(&err).to_string()),
        Err(_) => Err("the test client's runtime stopped".to_owned()),
    }
}

/// `url` split around its database name: `(…/, ?…)`.
fn split_database(url: &str) -> Option<(&str, &str)> {
    let scheme_end = url.find("://")? + 3;
    let path_start = scheme_end + url[scheme_end..].find('/')? + 1;
    let path_end = url[path_start..].find('?').map_or(url.len(), |i| path_start + i);
    Some((&url[..path_start], &url[path_end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_in_place() {
        assert_eq!(
            split_database("postgres://u:p@h:5432/test?sslmode=disable"),
            Some(("postgres://u:p@h:5432/", "?sslmode=disable"))
        );
        assert_eq!(split_database("postgres://u@h/test"), Some(("postgres://u@h/", "")));
        assert_eq!(split_database("host=h dbname=test"), None);
    }
}
